// C2SP tlog checkpoints (https://c2sp.org/tlog-checkpoint), as
// anima_verify/tlog/checkpoint.py: origin, decimal size, base64 root, then
// optional non-empty extension lines.
import { fromBase64 } from './bytes.js';
import { Reason, fail } from './errors.js';
import { HASH_SIZE } from './merkle.js';
import { openNote } from './note.js';

export function parseCheckpoint(text) {
  if (!text.endsWith('\n')) fail(Reason.MALFORMED_CHECKPOINT, 'checkpoint must end with a newline');
  const lines = text.slice(0, -1).split('\n');
  if (lines.length < 3) fail(Reason.MALFORMED_CHECKPOINT, 'checkpoint needs origin, size and root hash lines');
  const [origin, sizeText, rootText, ...extensions] = lines;
  if (!origin) fail(Reason.MALFORMED_CHECKPOINT, 'checkpoint origin is empty');
  if (!/^(0|[1-9][0-9]*)$/.test(sizeText)) {
    fail(Reason.MALFORMED_CHECKPOINT, `checkpoint size ${JSON.stringify(sizeText)} is not a decimal number without leading zeros`);
  }
  const size = BigInt(sizeText);
  if (size >= 1n << 64n) fail(Reason.MALFORMED_CHECKPOINT, 'checkpoint size does not fit in 64 bits');
  // Beyond 2**53 a Number loses precision; no browser will page through such a log.
  if (size > BigInt(Number.MAX_SAFE_INTEGER)) fail(Reason.MALFORMED_CHECKPOINT, `checkpoint size ${size} is too large to browse`);
  let root;
  try {
    root = fromBase64(rootText);
  } catch {
    fail(Reason.MALFORMED_CHECKPOINT, 'checkpoint root hash is not valid base64');
  }
  if (root.length !== HASH_SIZE) fail(Reason.MALFORMED_CHECKPOINT, `checkpoint root hash is ${root.length} bytes, want ${HASH_SIZE}`);
  if (extensions.some((line) => !line)) fail(Reason.MALFORMED_CHECKPOINT, 'checkpoint has an empty extension line');
  return { origin, size: Number(size), rootHash: root, extensions };
}

/** Verify the note's signature by one of `verifiers`, then parse its body. */
export async function openCheckpoint(data, verifiers) {
  const note = await openNote(data, verifiers);
  return { checkpoint: parseCheckpoint(note.text), note, bytes: data };
}
