// What it checks: an agent created through the runtime's gRPC API has keys
// the signer attests (the demo's owner check, from Node), and a message sent
// through SendMessage is answered with every step's log index.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';

import { bindReportData, boundKeys, verifySimQuote } from './lib/attestation.mjs';
import {
  clientFromCertFile,
  fetchServerCertificate,
  grpc,
  loadPackage,
  pinnedClient,
  requireEnv,
  spkiOf,
  unary,
} from './lib/grpc.mjs';

// The contract (proto/anima/runtime/v1/runtime.proto), in one place.
const RUNTIME = {
  proto: 'anima/runtime/v1/runtime.proto',
  service: (pkg) => pkg.anima.runtime.v1.RuntimeService,
  createAgent: 'CreateAgent',
  // character_json is bytes: the character file as it is.
  createAgentRequest: (characterText) => ({ character_json: Buffer.from(characterText, 'utf8'), start: true }),
  agentOf: (response) => response.agent,
  sendMessage: 'SendMessage',
  turnOf: (response) => response.turn,
};

const CHARACTER = new URL('../../examples/characters/ada.character.json', import.meta.url);

const runtimeAddress = requireEnv('ANIMA_RUNTIME_GRPC_ADDRESS');
const runtimeToken = requireEnv('ANIMA_RUNTIME_API_TOKEN');
// The runtime's gRPC listener serves TLS on the certificate it publishes (as memory does).
const runtimeCert = requireEnv('ANIMA_RUNTIME_GRPC_CERT');
const runtimeServerName = requireEnv('ANIMA_RUNTIME_TLS_NAME');
const signerAddress = requireEnv('ANIMA_SIGNER_ADDRESS');
const signerServerName = requireEnv('ANIMA_SIGNER_TLS_NAME');
const signerAdminToken = requireEnv('ANIMA_SIGNER_ADMIN_TOKEN');
const trustedSimKey = Buffer.from(requireEnv('ANIMA_SIGNER_SIM_KEY'), 'hex');

describe('runtime, from Node over its gRPC API', () => {
  let runtime;
  let signer;
  let signerTlsKey;
  let agent;

  before(async () => {
    const RuntimeService = RUNTIME.service(loadPackage(RUNTIME.proto));
    runtime = clientFromCertFile(RuntimeService, runtimeAddress, runtimeCert, runtimeServerName);
    const { SignerService } = loadPackage('anima/signer/v1/signer.proto').anima.signer.v1;
    const certificate = await fetchServerCertificate(signerAddress, signerServerName);
    signerTlsKey = spkiOf(certificate.der);
    signer = pinnedClient(SignerService, signerAddress, certificate.pem, signerServerName);
  });

  after(() => {
    runtime?.close();
    signer?.close();
  });

  test('an agent created through the runtime has the keys the signer attests', async () => {
    const response = await unary(runtime, RUNTIME.createAgent, RUNTIME.createAgentRequest(readFileSync(CHARACTER, 'utf8')), {
      token: runtimeToken,
    });
    agent = RUNTIME.agentOf(response);
    assert.equal(agent.name, 'Ada');
    assert.ok(agent.running);

    // The owner does not take the host's word for the keys: fresh evidence binds them.
    const keys = (await unary(signer, 'GetAgent', { agent_id: agent.agent_id }, { token: signerAdminToken })).agent;
    const nonce = randomBytes(32);
    const evidence = await unary(signer, 'GetAttestation', { nonce, agent_id: agent.agent_id });
    assert.deepEqual(evidence.tls_public_key, signerTlsKey);
    assert.deepEqual(evidence.bound_keys, boundKeys(keys));
    const reportData = await verifySimQuote(evidence.evidence.quote, { trustedKey: trustedSimKey });
    assert.deepEqual(reportData, bindReportData({ boundKeys: evidence.bound_keys, tlsPublicKey: signerTlsKey, nonce }));
    assert.equal(agent.wallets[0], keys.wallets[0].address);
    assert.equal(agent.log_verifier_key, keys.log_verifier_key);
  });

  test('a message sent through the runtime is answered, every step logged', async (t) => {
    if (!agent) return t.skip('needs the agent created above');
    const response = await unary(
      runtime,
      RUNTIME.sendMessage,
      { agent_id: agent.agent_id, room_id: 'node-room', entity_id: 'node', user_name: 'Node', text: 'What is Anima?' },
      { token: runtimeToken },
    );
    const turn = RUNTIME.turnOf(response);
    assert.ok(BigInt(turn.message_log_index) > 0n, 'index 0 is the agent creation');
    assert.ok(turn.responses.length > 0, 'the agent answered');
    for (const reply of turn.responses) {
      assert.ok(reply.text.length > 0);
      assert.ok(BigInt(reply.log_index) > BigInt(turn.message_log_index));
    }
  });
});
