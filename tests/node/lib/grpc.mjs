// gRPC plumbing for the Node client test: contracts loaded from proto/ at run
// time (no generated code), TLS pinned to the certificate the server presents,
// bearer tokens, promise-shaped unary calls.
import { readFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { connect } from 'node:tls';
import { fileURLToPath } from 'node:url';

import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

export { grpc };

export const PROTO_ROOT = fileURLToPath(new URL('../../../proto/', import.meta.url));
const CALL_TIMEOUT_MS = 10_000;

/** A variable the pytest that starts the services sets; missing is a harness bug. */
export function requireEnv(name) {
  const value = process.env[name];
  if (!value) {
    throw new Error(`${name} is not set: run this test through tests/contracts/test_node_client.py`);
  }
  return value;
}

/** The package namespace of one contract, e.g. loadPackage('anima/signer/v1/signer.proto'). */
export function loadPackage(file) {
  const definition = protoLoader.loadSync(file, {
    includeDirs: [PROTO_ROOT],
    keepCase: true, // the names the contract declares (buf breaking guards them)
    longs: String, // uint64 wei, chain ids, log indices: no precision lost
    enums: String,
    bytes: Buffer,
    defaults: true,
    oneofs: true, // response.result === 'transaction', ...
  });
  return grpc.loadPackageDefinition(definition);
}

/**
 * The certificate a TLS server presents, unverified: trust comes afterwards from
 * evidence that binds its key (RA-TLS style), as in anima_core.tls.fetch_server_certificate.
 */
export function fetchServerCertificate(address, serverName) {
  const { host, port } = splitAddress(address);
  return new Promise((resolve, reject) => {
    const socket = connect({
      host,
      port,
      servername: serverName,
      rejectUnauthorized: false,
      ALPNProtocols: ['h2'],
    });
    socket.setTimeout(CALL_TIMEOUT_MS, () => socket.destroy(new Error(`${address}: TLS timeout`)));
    socket.once('error', reject);
    socket.once('secureConnect', () => {
      const der = socket.getPeerCertificate(false).raw;
      socket.end();
      if (!der) {
        reject(new Error(`${address} presented no certificate`));
        return;
      }
      const base64 = der.toString('base64').match(/.{1,64}/g).join('\n');
      resolve({ der, pem: `-----BEGIN CERTIFICATE-----\n${base64}\n-----END CERTIFICATE-----\n` });
    });
  });
}

/** SubjectPublicKeyInfo DER of a certificate: what report_data binds as the TLS key. */
export function spkiOf(certDer) {
  return new X509Certificate(certDer).publicKey.export({ type: 'spki', format: 'der' });
}

/** A client whose channel trusts exactly `certPem`, under the name the server's certificate carries. */
export function pinnedClient(ServiceClient, address, certPem, serverName) {
  const credentials = grpc.credentials.createSsl(Buffer.from(certPem));
  return new ServiceClient(address, credentials, {
    'grpc.ssl_target_name_override': serverName,
    'grpc.default_authority': serverName,
  });
}

/** A client over a server's TLS certificate read from a file (the memory service publishes one). */
export function clientFromCertFile(ServiceClient, address, certPath, serverName) {
  return pinnedClient(ServiceClient, address, readFileSync(certPath, 'utf8'), serverName);
}

/** One unary call as a promise; `token` is sent as a bearer token when given. */
export function unary(client, method, request, { token } = {}) {
  const metadata = new grpc.Metadata();
  if (token) metadata.set('authorization', `Bearer ${token}`);
  const deadline = new Date(Date.now() + CALL_TIMEOUT_MS);
  return new Promise((resolve, reject) => {
    client[method](request, metadata, { deadline }, (error, response) =>
      error ? reject(error) : resolve(response),
    );
  });
}

function splitAddress(address) {
  const at = address.lastIndexOf(':');
  const port = Number(address.slice(at + 1));
  if (at <= 0 || !Number.isInteger(port)) throw new Error(`address must be host:port, got ${address}`);
  return { host: address.slice(0, at).replace(/^\[|\]$/g, ''), port };
}
