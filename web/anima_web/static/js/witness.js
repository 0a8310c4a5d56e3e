// Witness cosignatures (https://c2sp.org/tlog-cosignature, Ed25519 cosignature/v1)
// and the visitor's witness policy, as anima_verify/tlog/cosignature.py: a
// cosignature line's bytes are key id (4) || timestamp (8, big-endian) ||
// Ed25519 signature (64) over "cosignature/v1\ntime <t>\n" + checkpoint body.
// A witness key's algorithm byte is 0x04, so a log key (0x01) never passes for one.
// Only keys the visitor pins count: lines by any other key are shown, never trusted.
import { sha256 } from '../vendor/noble.js';
import { concatBytes, equalBytes, fromBase64, toHex, utf8 } from './bytes.js';
import { Reason, fail } from './errors.js';

const COSIGNATURE_V1 = 0x04;
const MAX_TIMESTAMP = (1n << 63n) - 1n;
const COSIGNATURE_BYTES = 8 + 64;

function validName(name) {
  return name.length > 0 && !/[\s+]/u.test(name);
}

/** The first four bytes of SHA-256(name || "\n" || 0x04 || public key). */
export function witnessKeyId(name, publicKey) {
  return sha256(concatBytes(utf8.encode(`${name}\n`), new Uint8Array([COSIGNATURE_V1]), publicKey)).slice(0, 4);
}

/** Parse a witness's verifier key `name+keyid+base64(0x04 || key)`. */
export function parseWitnessKey(vkey) {
  const text = String(vkey).trim();
  // Split at the first two '+' only: the base64 key may contain '+' itself.
  const first = text.indexOf('+');
  const second = first < 0 ? -1 : text.indexOf('+', first + 1);
  if (second < 0) fail(Reason.MALFORMED_WITNESS_KEY, 'a witness key is name+keyid+base64key');
  const [name, idHex, encoded] = [text.slice(0, first), text.slice(first + 1, second), text.slice(second + 1)];
  if (!validName(name)) fail(Reason.MALFORMED_WITNESS_KEY, `witness key name ${JSON.stringify(name)} is not a valid key name`);
  if (!/^[0-9a-f]{8}$/.test(idHex)) fail(Reason.MALFORMED_WITNESS_KEY, 'witness key id is 8 hex digits');
  let raw;
  try {
    raw = fromBase64(encoded);
  } catch {
    fail(Reason.MALFORMED_WITNESS_KEY, 'witness key is not valid base64');
  }
  if (raw.length !== 33 || raw[0] !== COSIGNATURE_V1) {
    fail(Reason.MALFORMED_WITNESS_KEY, 'a witness key is an Ed25519 cosignature/v1 key (algorithm 0x04, 32 bytes)');
  }
  const publicKey = raw.slice(1);
  const keyId = witnessKeyId(name, publicKey);
  if (toHex(keyId) !== idHex) fail(Reason.MALFORMED_WITNESS_KEY, `witness key id ${idHex} does not match the key`);
  return { name, keyId, publicKey, text };
}

/**
 * The visitor's policy: witness keys and how many must have cosigned (default:
 * all of them, as `anima log verify --witness`). No keys: null, the unwitnessed case.
 */
export function witnessPolicy(vkeys, quorum = null) {
  if (!vkeys.length) {
    if (quorum !== null) fail(Reason.MALFORMED_WITNESS_KEY, 'a quorum needs witness keys (&witness=name+keyid+base64key)');
    return null;
  }
  const witnesses = vkeys.map(parseWitnessKey);
  const names = witnesses.map((w) => w.name);
  if (new Set(names).size !== names.length) fail(Reason.MALFORMED_WITNESS_KEY, 'each witness appears once in a policy');
  const needed = quorum === null ? witnesses.length : Number(quorum);
  if (!Number.isInteger(needed) || needed < 1 || needed > witnesses.length) {
    fail(Reason.MALFORMED_WITNESS_KEY, `quorum ${quorum} must be between 1 and the ${witnesses.length} witnesses`);
  }
  return { witnesses, quorum: needed };
}

/** What a cosignature/v1 signs: header, time line, then the checkpoint body. */
export function cosignedMessage(body, timestamp) {
  return utf8.encode(`cosignature/v1\ntime ${BigInt(timestamp)}\n${body}`);
}

/** A note signature line as a cosignature: {timestamp (BigInt), signature}. */
export function parseCosignature(line) {
  if (line.signature.length !== COSIGNATURE_BYTES) {
    fail(Reason.MALFORMED_COSIGNATURE, `cosignature by ${line.name} is ${line.signature.length + 4} bytes, want ${COSIGNATURE_BYTES + 4} (key id, timestamp, Ed25519 signature)`);
  }
  const timestamp = new DataView(line.signature.buffer, line.signature.byteOffset, 8).getBigUint64(0);
  if (timestamp > MAX_TIMESTAMP) fail(Reason.MALFORMED_COSIGNATURE, `cosignature by ${line.name} has a timestamp above 2^63-1`);
  return { name: line.name, keyId: line.keyId, timestamp, signature: line.signature.slice(8) };
}

async function ed25519Verify(publicKey, signature, message) {
  const key = await crypto.subtle.importKey('raw', publicKey, { name: 'Ed25519' }, false, ['verify']);
  return crypto.subtle.verify({ name: 'Ed25519' }, key, signature, message);
}

/**
 * Check a parsed note's cosignatures against the policy. Returns the pinned
 * witnesses whose cosignatures verify, [{name, timestamp}]. A line by a pinned
 * witness (its name and key id) that is not a cosignature or does not verify is
 * an error, as is fewer verified witnesses than the quorum.
 */
export async function checkWitnesses(note, policy) {
  const message = (timestamp) => cosignedMessage(note.text, timestamp);
  const cosignedBy = [];
  for (const witness of policy.witnesses) {
    for (const line of note.signatures) {
      if (line.name !== witness.name || !equalBytes(line.keyId, witness.keyId)) continue;
      const cosignature = parseCosignature(line);
      if (!(await ed25519Verify(witness.publicKey, cosignature.signature, message(cosignature.timestamp)))) {
        fail(Reason.INVALID_SIGNATURE, `the cosignature by witness ${witness.name} does not verify`);
      }
      if (!cosignedBy.some((c) => c.name === witness.name)) cosignedBy.push({ name: witness.name, timestamp: cosignature.timestamp });
    }
  }
  if (cosignedBy.length < policy.quorum) {
    const named = cosignedBy.map((c) => c.name).join(', ') || 'none of them';
    fail(
      Reason.WITNESS_QUORUM_NOT_MET,
      `the checkpoint carries valid cosignatures from ${cosignedBy.length} of the ${policy.witnesses.length} witnesses you trust (${named}); your policy needs ${policy.quorum}`,
    );
  }
  return cosignedBy;
}
