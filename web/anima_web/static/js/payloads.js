// Checks on an entry's payload, where the log serves it publicly: its SHA-256
// and size against the entry (the leaf commits to them), and for the enclave's
// signature entries, that the logged signature recovers to the address it
// names, one of the agent's attested wallets (anima_signer/log_payloads.py).
import { sha256 } from '../vendor/noble.js';
import { decodeUtf8, equalBytes, fromHex, toHex } from './bytes.js';
import { Reason, fail } from './errors.js';
import { recoverAddress } from './eth.js';

/** {state: 'matches' | 'private' | 'redacted' | 'absent', bytes?}; throws PAYLOAD_MISMATCH. */
export async function checkPayload(api, entry) {
  const got = await api.payload(entry.index);
  if (got.state !== 'public') return got;
  if (got.bytes.length !== entry.payloadSize || !equalBytes(sha256(got.bytes), entry.payloadDigest)) {
    fail(
      Reason.PAYLOAD_MISMATCH,
      `the payload served for entry ${entry.index} (${got.bytes.length} bytes, SHA-256 ${toHex(sha256(got.bytes))}) is not the one the entry commits to (${entry.payloadSize} bytes, ${entry.payloadSha256})`,
    );
  }
  return { state: 'matches', bytes: got.bytes };
}

/**
 * A signature entry's payload: {state: 'recovered', address, wallet} when the
 * signature over the logged digest recovers to the named address and that is
 * an attested wallet; {state: 'not-checkable', why} for what the log does not
 * carry enough to check; throws SIGNATURE_MISMATCH otherwise.
 */
export function checkSignaturePayload(payloadBytes, wallets) {
  let doc;
  try {
    doc = JSON.parse(decodeUtf8(payloadBytes));
  } catch {
    fail(Reason.SIGNATURE_MISMATCH, 'the signature entry payload is not JSON');
  }
  if (doc.request === 'raw_ed25519') return { state: 'not-checkable', why: 'an Ed25519 signature over a message the log keeps only the hash of' };
  if (doc.request === 'transaction') {
    return { state: 'not-checkable', why: 'a transaction: the log keeps its hash and signature, not the signing digest, so the sender cannot be recovered here' };
  }
  if (typeof doc.digest !== 'string' || typeof doc.signature !== 'string' || typeof doc.address !== 'string') {
    fail(Reason.SIGNATURE_MISMATCH, 'the signature entry payload lacks digest, signature or address');
  }
  let digest;
  let signature;
  try {
    digest = fromHex(doc.digest);
    signature = fromHex(doc.signature);
  } catch {
    fail(Reason.SIGNATURE_MISMATCH, 'the logged digest or signature is not hex');
  }
  const recovered = recoverAddress(digest, signature);
  if (recovered !== doc.address) fail(Reason.SIGNATURE_MISMATCH, `the logged signature recovers to ${recovered}, not the ${doc.address} the entry names`);
  const wallet = wallets?.find((w) => w.address === recovered);
  if (!wallet) fail(Reason.SIGNATURE_MISMATCH, `the logged signature recovers to ${recovered}, which is not one of the agent's attested wallets`);
  return { state: 'recovered', address: recovered, wallet: wallet.index, request: doc.request };
}

/**
 * The agent's creation entry (the enclave's first entry) names its public keys:
 * they must be the ones the attestation binds. {state: 'matches-attestation'}
 * or {state: 'not-checkable'} without attested keys; throws KEY_CHANGED.
 */
export function checkLifecyclePayload(payloadBytes, keys) {
  let doc;
  try {
    doc = JSON.parse(decodeUtf8(payloadBytes));
  } catch {
    return { state: 'not-checkable', why: 'the payload is not JSON' };
  }
  if (doc?.event !== 'agent_created' || !keys) return { state: 'not-checkable', why: 'no attested keys to compare' };
  if (doc.log_verifier_key !== keys.logKey.text) {
    fail(Reason.KEY_CHANGED, `the agent was created with log key ${doc.log_verifier_key}, not the attested ${keys.logKey.text}`);
  }
  const attested = keys.wallets.map((w) => `${w.index}:${w.address}`).join(',');
  const created = (doc.wallets ?? []).map((w) => `${w.index}:${w.address}`).join(',');
  if (attested !== created) fail(Reason.KEY_CHANGED, `the agent was created with wallets ${created}, not the attested ${attested}`);
  return { state: 'matches-attestation' };
}

