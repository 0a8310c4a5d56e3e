// A client in another language: Node talks to the real signer (INSECURE
// simulated TEE) on loopback, using only proto/ and the pinned npm packages.
// Started by tests/contracts/test_node_client.py, which sets the ANIMA_* variables.
//
// As SignerClient.connect_attested does in Python: fetch the server's TLS
// certificate, pin the channel to it, and trust it only once fresh evidence
// binds its key; then check that evidence for an agent binds the agent's keys,
// and that a transaction the enclave signs recovers to the agent's wallet.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';

import { addressOf, checksumAddress, decodeEip1559 } from './lib/eth.mjs';
import { bindReportData, boundKeys, verifySimQuote } from './lib/attestation.mjs';
import { fetchServerCertificate, grpc, loadPackage, pinnedClient, requireEnv, spkiOf, unary } from './lib/grpc.mjs';

const DEV_CHAIN_ID = 31337n;
const ONE_ETH = 10n ** 18n;
const DEAD = '0x000000000000000000000000000000000000dEaD';

const address = requireEnv('ANIMA_SIGNER_ADDRESS');
const serverName = requireEnv('ANIMA_SIGNER_TLS_NAME');
const adminToken = requireEnv('ANIMA_SIGNER_ADMIN_TOKEN');
const runtimeToken = requireEnv('ANIMA_SIGNER_RUNTIME_TOKEN');
const trustedSimKey = Buffer.from(requireEnv('ANIMA_SIGNER_SIM_KEY'), 'hex');

const { SignerService } = loadPackage('anima/signer/v1/signer.proto').anima.signer.v1;

/** Fresh evidence for `nonce` (and the agent's keys), checked down to report_data. */
async function attest(client, tlsPublicKey, agentId = '') {
  const nonce = randomBytes(32);
  const response = await unary(client, 'GetAttestation', { nonce, agent_id: agentId }); // public: no token
  assert.equal(response.evidence.tee, 'sim');
  assert.deepEqual(response.tls_public_key, tlsPublicKey, 'evidence binds another TLS key than this channel');
  const reportData = await verifySimQuote(response.evidence.quote, { trustedKey: trustedSimKey });
  const expected = bindReportData({ boundKeys: response.bound_keys, tlsPublicKey, nonce });
  assert.deepEqual(reportData, expected, 'report_data does not bind these keys, this channel and our nonce');
  return response;
}

describe('signer, from Node over attested TLS', () => {
  let client;
  let tlsPublicKey;
  let agent;
  const agentId = `node-${randomBytes(4).toString('hex')}`;

  before(async () => {
    const certificate = await fetchServerCertificate(address, serverName);
    tlsPublicKey = spkiOf(certificate.der);
    client = pinnedClient(SignerService, address, certificate.pem, serverName);
    // The channel is trusted (and a token sent) only after this.
    await attest(client, tlsPublicKey);
    const created = await unary(
      client,
      'CreateAgent',
      {
        agent_id: agentId,
        wallet_count: 1,
        policy: { allowed_chain_ids: [String(DEV_CHAIN_ID)], max_value_wei: String(ONE_ETH) },
      },
      { token: adminToken },
    );
    agent = (await unary(client, 'GetAgent', { agent_id: agentId }, { token: adminToken })).agent;
    assert.deepEqual(agent.wallets, created.agent.wallets);
  });

  after(() => client?.close());

  test("an agent's evidence binds its keys, this channel and a fresh nonce", async () => {
    const response = await attest(client, tlsPublicKey, agentId);
    assert.deepEqual(response.bound_keys, boundKeys(agent), 'evidence binds other keys than GetAgent reports');
    const bound = JSON.parse(response.bound_keys.toString('ascii'));
    assert.equal(bound.agent_id, agentId);
    // The wallet address is the one its bound public key makes.
    const [[index, wallet, publicKey]] = bound.wallets;
    assert.equal(index, 0);
    assert.equal(wallet, checksumAddress(wallet), 'wallet address is not EIP-55 checksummed');
    assert.equal(addressOf(Buffer.from(publicKey, 'hex')), wallet);
  });

  test('evidence for one nonce does not verify for another', async () => {
    const response = await unary(client, 'GetAttestation', { nonce: randomBytes(32), agent_id: '' });
    const reportData = await verifySimQuote(response.evidence.quote, { trustedKey: trustedSimKey });
    const other = bindReportData({ boundKeys: response.bound_keys, tlsPublicKey, nonce: randomBytes(32) });
    assert.notDeepEqual(reportData, other);
  });

  test("a transaction the enclave signs recovers to the agent's wallet", async () => {
    const transaction = {
      wallet_index: 0,
      type: 'TRANSACTION_TYPE_EIP1559',
      chain_id: String(DEV_CHAIN_ID),
      nonce: '0',
      gas_limit: '21000',
      to: DEAD,
      value: String(ONE_ETH / 100n),
      max_fee_per_gas: String(2n * 10n ** 9n),
      max_priority_fee_per_gas: String(10n ** 9n),
    };
    const response = await unary(
      client,
      'Sign',
      { agent_id: agentId, idempotency_key: 'node-transfer-1', transaction },
      { token: runtimeToken },
    );
    assert.equal(response.result, 'transaction');
    assert.ok(BigInt(response.log_index) > 0n, 'the signature is logged after the agent creation');
    const signed = response.transaction;
    const tx = decodeEip1559(signed.raw_transaction);
    // It signed what we asked, and nothing else.
    assert.equal(tx.chainId, DEV_CHAIN_ID);
    assert.equal(tx.to, DEAD);
    assert.equal(tx.value, ONE_ETH / 100n);
    assert.equal(tx.gasLimit, 21000n);
    assert.deepEqual(tx.hash, signed.transaction_hash);
    assert.deepEqual(tx.signature, signed.signature);
    // The sender, recovered here with @noble/curves, is the agent's attested wallet.
    assert.equal(tx.sender, agent.wallets[0].address);
    assert.equal(signed.address, agent.wallets[0].address);
  });

  test('signing needs the runtime token', async () => {
    const request = { agent_id: agentId, raw_ed25519: { message: Buffer.from('x') } };
    await assert.rejects(unary(client, 'Sign', request), { code: grpc.status.UNAUTHENTICATED });
    await assert.rejects(unary(client, 'Sign', request, { token: adminToken }), {
      code: grpc.status.PERMISSION_DENIED,
    });
  });
});
