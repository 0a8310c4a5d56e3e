// Checkpoints seen on earlier visits, kept in the browser's storage
// (localStorage), so a fork, a rollback or a changed log key shows up across
// visits: the latest verified checkpoint per log, replaced only by one that
// provably extends it (as anima_verify/tlog/monitor.py keeps its state file).
import { equalBytes, fromBase64, toBase64, toHex } from './bytes.js';
import { Reason, VerificationError, fail } from './errors.js';
import { consistencyProof, treeRoot, verifyConsistency } from './merkle.js';

const PREFIX = 'anima-explorer/v1/';

export class CheckpointHistory {
  constructor(storage = globalThis.localStorage) {
    this.storage = storage;
  }

  key(logUrl) {
    return PREFIX + logUrl;
  }

  load(logUrl) {
    const raw = this.storage?.getItem(this.key(logUrl));
    if (!raw) return null;
    try {
      const saved = JSON.parse(raw);
      return { ...saved, rootHash: fromBase64(saved.root) };
    } catch {
      return null; // unreadable: treated as a first visit, and replaced
    }
  }

  save(logUrl, { logKey, checkpoint, noteText }) {
    const record = {
      logKey,
      origin: checkpoint.origin,
      size: checkpoint.size,
      root: toBase64(checkpoint.rootHash),
      note: noteText,
      seenAt: new Date().toISOString(),
    };
    this.storage?.setItem(this.key(logUrl), JSON.stringify(record));
    return record;
  }
}

/**
 * Compare the checkpoint seen now with the one saved on an earlier visit.
 * `tiles` (a TileStore for the current size) builds the consistency proof;
 * its tiles must first reproduce the current signed root, so a bad tile is
 * never mistaken for a fork. Returns {state, previous}; throws on a rollback,
 * an equivocation, a fork or a changed key.
 */
export async function checkAgainstHistory(previous, { logKey, checkpoint, tiles }) {
  if (!previous) return { state: 'first-visit', previous: null };
  const when = `on an earlier visit (${previous.seenAt})`;
  if (previous.logKey !== logKey) {
    fail(Reason.KEY_CHANGED, `the log is signed by ${logKey}, but ${when} it was signed by ${previous.logKey}`);
  }
  if (previous.origin !== checkpoint.origin) {
    fail(Reason.ORIGIN_MISMATCH, `the checkpoint names origin ${checkpoint.origin}, but ${when} it named ${previous.origin}`);
  }
  if (checkpoint.size < previous.size) {
    fail(Reason.ROLLBACK, `the log is served at size ${checkpoint.size}, but ${when} you saw it at size ${previous.size}: it was rolled back or truncated`);
  }
  if (checkpoint.size === previous.size) {
    if (!equalBytes(checkpoint.rootHash, previous.rootHash)) {
      fail(Reason.EQUIVOCATION, `two signed roots for size ${checkpoint.size}: ${toHex(checkpoint.rootHash)} now and ${toHex(previous.rootHash)} ${when}`);
    }
    return { state: 'unchanged', previous };
  }
  const [root, proof] = await tiles.run((reader) => [treeRoot(reader, checkpoint.size), consistencyProof(reader, previous.size, checkpoint.size)]);
  if (!equalBytes(root, checkpoint.rootHash)) {
    fail(Reason.TILE_MISMATCH, `the log's hash tiles do not hash to the signed root of size ${checkpoint.size}`);
  }
  try {
    verifyConsistency({ size1: previous.size, size2: checkpoint.size, root1: previous.rootHash, root2: checkpoint.rootHash, proof });
  } catch (exc) {
    if (!(exc instanceof VerificationError)) throw exc;
    fail(Reason.INCONSISTENT_LOG, `the log at size ${checkpoint.size} does not extend the one you saw ${when} at size ${previous.size} (a fork): ${exc.message}`);
  }
  return { state: 'extends', previous };
}
