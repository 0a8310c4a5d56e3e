// C2SP tlog-proof (https://c2sp.org/tlog-proof): an entry's inclusion proof
// with the checkpoint it verifies against, offline-verifiable. The `extra`
// line carries the entry itself (its canonical bytes), so the proof holds
// everything needed to recompute the leaf hash.
import { decodeUtf8, fromBase64, toBase64 } from './bytes.js';
import { Reason, fail } from './errors.js';

export const TLOG_PROOF_HEADER = 'c2sp.org/tlog-proof@v1';

export function formatTlogProof({ index, proof, checkpointNote, entry }) {
  const lines = [TLOG_PROOF_HEADER];
  if (entry) lines.push(`extra ${toBase64(entry)}`);
  lines.push(`index ${index}`);
  for (const hash of proof) lines.push(toBase64(hash));
  return `${lines.join('\n')}\n\n${decodeUtf8(checkpointNote)}`;
}

/** Parse a tlog-proof; the checkpoint is returned as bytes, to be opened by the caller. */
export function parseTlogProof(text) {
  const split = text.indexOf('\n\n');
  if (split < 0) fail(Reason.INVALID_PROOF, 'a tlog-proof has a blank line before its checkpoint');
  const lines = text.slice(0, split).split('\n');
  if (lines.shift() !== TLOG_PROOF_HEADER) fail(Reason.INVALID_PROOF, `a tlog-proof starts with ${TLOG_PROOF_HEADER}`);
  const decode = (line, what) => {
    try {
      return fromBase64(line);
    } catch {
      fail(Reason.INVALID_PROOF, `the tlog-proof's ${what} is not valid base64`);
    }
  };
  let extra = null;
  if (lines[0]?.startsWith('extra ')) extra = decode(lines.shift().slice('extra '.length), 'extra data');
  const indexLine = lines.shift() ?? '';
  if (!/^index (0|[1-9][0-9]*)$/.test(indexLine)) fail(Reason.INVALID_PROOF, 'a tlog-proof names its index as "index N"');
  const proof = lines.map((line, i) => {
    if (!line) fail(Reason.INVALID_PROOF, 'empty proof line');
    return decode(line, `proof line ${i + 1}`);
  });
  return { index: Number(indexLine.slice('index '.length)), extra, proof, checkpoint: text.slice(split + 2) };
}
