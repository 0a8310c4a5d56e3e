// Anima's log entry, as anima_verify/tlog/entry.py: canonical JSON v1 (sorted
// keys, no whitespace, UTF-8, integers only). Decoding re-encodes and requires
// identical bytes, so an entry has one encoding and one leaf hash.
import { decodeUtf8, fromHex } from './bytes.js';
import { Reason, fail } from './errors.js';

export const ENTRY_VERSION = 1;
export const MAX_ENTRY_BYTES = 2048;
export const KINDS = ['message_in', 'response', 'action', 'evaluator', 'signature', 'policy_decision', 'lifecycle'];
/** Kinds only the enclave writes (the sequencer refuses them from the host), under its actor. */
export const ENCLAVE_ONLY_KINDS = new Set(['signature', 'policy_decision']);
export const ENCLAVE_ACTOR = 'signer';
const FIELDS = ['actor', 'agent', 'index', 'kind', 'payload_sha256', 'payload_size', 'room', 'time_ms', 'v'];

const isUint63 = (n) => Number.isSafeInteger(n) && n >= 0;

/** The canonical encoding (the enclave's LogEntry.encode). */
export function encodeEntry(e) {
  const s = JSON.stringify; // escapes exactly as Python's encode_basestring for valid strings
  return (
    `{"actor":${s(e.actor)},"agent":${s(e.agent)},"index":${e.index},"kind":"${e.kind}",` +
    `"payload_sha256":"${e.payloadSha256}","payload_size":${e.payloadSize},` +
    `"room":${s(e.room)},"time_ms":${e.timeMs},"v":${ENTRY_VERSION}}`
  );
}

export function decodeEntry(bytes) {
  if (bytes.length > MAX_ENTRY_BYTES) fail(Reason.MALFORMED_ENTRY, `entry is larger than ${MAX_ENTRY_BYTES} bytes`);
  let text;
  let raw;
  try {
    text = decodeUtf8(bytes);
    raw = JSON.parse(text);
  } catch {
    fail(Reason.MALFORMED_ENTRY, 'entry is not UTF-8 JSON');
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw) || Object.keys(raw).sort().join() !== FIELDS.join()) {
    fail(Reason.MALFORMED_ENTRY, `entry must have exactly the fields ${FIELDS.join(', ')}`);
  }
  if (raw.v !== ENTRY_VERSION) fail(Reason.MALFORMED_ENTRY, `entry version ${raw.v} is not ${ENTRY_VERSION}`);
  if (!KINDS.includes(raw.kind)) fail(Reason.MALFORMED_ENTRY, `entry kind ${JSON.stringify(raw.kind)} is unknown`);
  for (const name of ['index', 'time_ms', 'payload_size']) {
    if (!isUint63(raw[name])) fail(Reason.MALFORMED_ENTRY, `${name} must be a non-negative integer`);
  }
  for (const name of ['agent', 'actor', 'room']) {
    if (typeof raw[name] !== 'string') fail(Reason.MALFORMED_ENTRY, `${name} must be a string`);
  }
  if (typeof raw.payload_sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(raw.payload_sha256)) {
    fail(Reason.MALFORMED_ENTRY, 'payload_sha256 must be 32 bytes of lowercase hex');
  }
  const entry = {
    agent: raw.agent,
    index: raw.index,
    timeMs: raw.time_ms,
    kind: raw.kind,
    actor: raw.actor,
    room: raw.room,
    payloadSha256: raw.payload_sha256,
    payloadSize: raw.payload_size,
  };
  if (encodeEntry(entry) !== text) fail(Reason.MALFORMED_ENTRY, 'entry is not in canonical form');
  entry.payloadDigest = fromHex(entry.payloadSha256);
  return entry;
}
