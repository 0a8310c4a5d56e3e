// What the explorer verifies, with no DOM: the agent's log key (attested, or
// pinned by the visitor), the checkpoint's signature, consistency with earlier
// visits, and a range of entries against the signed root. The page (app.js)
// and the tests drive it; every failure is a VerificationError with a reason.
import { decodeUtf8, equalBytes, toHex } from './bytes.js';
import { verifyAttestation } from './attestation.js';
import { openCheckpoint } from './checkpoint.js';
import { decodeEntry } from './entry.js';
import { Reason, VerificationError, fail } from './errors.js';
import { checkAgainstHistory } from './history.js';
import { inclusionProof, leafHash, verifyInclusion } from './merkle.js';
import { parseVerifierKey } from './note.js';
import { TILE_WIDTH, TileStore } from './tiles.js';
import { checkWitnesses } from './witness.js';

/**
 * Which key the checkpoint must be signed by. The attestation's bound key,
 * unless the visitor pinned one (which must then agree with the attestation
 * when there is one). Returns {logKey, attestation}.
 */
export async function trustedLogKey(api, agentId, { pinnedKey = null, measurements = {} } = {}) {
  let attestation;
  try {
    attestation = await verifyAttestation(api, agentId, { measurements });
  } catch (exc) {
    if (!(exc instanceof VerificationError)) throw exc;
    attestation = { state: 'failed', reason: exc.reason, detail: exc.message };
  }
  const pinned = pinnedKey ? parseVerifierKey(pinnedKey) : null;
  if (attestation.keys && pinned && attestation.keys.logKey.text !== pinned.text) {
    fail(Reason.KEY_CHANGED, `the attestation binds log key ${attestation.keys.logKey.text}, not the pinned ${pinned.text}`);
  }
  // Without a pinned key, a failed attestation leaves nothing to trust: say why it failed.
  if (attestation.state === 'failed' && !pinned) fail(attestation.reason, attestation.detail);
  const logKey = pinned ?? attestation.keys?.logKey;
  if (!logKey) fail(Reason.NO_TRUSTED_KEY, 'no log key to check the checkpoint against');
  return { logKey, attestation };
}

/**
 * The signed checkpoint, checked against `logKey`, the visitor's witness policy
 * (null: UNWITNESSED, which the page must name as insecure) and the history of
 * earlier visits. `witnessed` is the pinned witnesses that cosigned, or null.
 */
export async function openLog(api, { logKey, witnessPolicy = null, history, historyKey }) {
  const note = await api.read('checkpoint');
  if (note === null) fail(Reason.FETCH_FAILED, 'the log serves no checkpoint');
  const signed = await openCheckpoint(note, [logKey]);
  const { checkpoint } = signed;
  const witnessed = witnessPolicy ? await checkWitnesses(signed.note, witnessPolicy) : null;
  const tiles = new TileStore(api, checkpoint.size);
  const previous = history?.load(historyKey) ?? null;
  const seen = await checkAgainstHistory(previous, { logKey: logKey.text, checkpoint, tiles });
  // Lines by keys neither the log's nor a pinned witness's: shown, never counted.
  const known = [logKey, ...(witnessPolicy?.witnesses ?? [])];
  const cosignatures = signed.note.signatures.filter((s) => !known.some((k) => s.name === k.name && equalBytes(s.keyId, k.keyId)));
  return { ...signed, tiles, seen, witnessed, cosignatures };
}

/** Remember the checkpoint as verified (only after openLog accepted it). */
export function rememberCheckpoint(history, historyKey, { logKey, checkpoint, bytes }) {
  return history?.save(historyKey, { logKey: logKey.text, checkpoint, noteText: decodeUtf8(bytes) });
}

/**
 * Entries [start, end) of the log at the checkpoint, each decoded, its leaf
 * hash compared with the level-0 hash tile and its inclusion proof (built from
 * the tiles) verified against the signed root. Returns the entries newest
 * first, each with {index, entry, bytes, leafHash, proof, status, error}; an
 * entry that fails carries its error. Bundle-level failures throw.
 */
export async function verifyEntries({ tiles, checkpoint, agentId, start, end }) {
  const size = checkpoint.size;
  if (!(0 <= start && start <= end && end <= size)) throw new RangeError(`range [${start}, ${end}) is outside a log of size ${size}`);
  const results = [];
  for (let bundle = Math.floor(start / TILE_WIDTH); bundle * TILE_WIDTH < end; bundle++) {
    const [{ path, entries }, leafTile] = await Promise.all([tiles.readBundle(bundle), tiles.leafTile(bundle)]);
    const first = Math.max(start, bundle * TILE_WIDTH);
    const last = Math.min(end, (bundle + 1) * TILE_WIDTH);
    for (let index = first; index < last; index++) {
      const bytes = entries[index - bundle * TILE_WIDTH];
      results.push({ index, bytes, leafHash: leafHash(bytes), bundlePath: path, tileHash: leafTile.hashes[index - bundle * TILE_WIDTH], tilePath: leafTile.path });
    }
  }
  const proofs = await tiles.run((reader) => results.map((r) => inclusionProof(reader, r.index, size)));
  results.forEach((r, i) => {
    r.proof = proofs[i];
    try {
      r.claimed = decodeEntry(r.bytes); // shown (marked unverified) even when a check below fails
    } catch {
      r.claimed = null;
    }
    try {
      if (!equalBytes(r.leafHash, r.tileHash)) {
        fail(Reason.TILE_MISMATCH, `hash tile ${r.tilePath} holds ${toHex(r.tileHash)} for entry ${r.index}, but the entry in ${r.bundlePath} hashes to ${toHex(r.leafHash)}`);
      }
      verifyInclusion({ leafHash: r.leafHash, index: r.index, size, proof: r.proof, root: checkpoint.rootHash });
      r.entry = decodeEntry(r.bytes);
      if (r.entry.index !== r.index) fail(Reason.MALFORMED_ENTRY, `the entry at position ${r.index} says it is entry ${r.entry.index}`);
      if (r.entry.agent !== agentId) fail(Reason.MALFORMED_ENTRY, `entry ${r.index} belongs to agent ${JSON.stringify(r.entry.agent)}`);
      r.status = 'included';
    } catch (exc) {
      if (!(exc instanceof VerificationError)) throw exc;
      r.status = 'failed';
      r.error = exc;
    }
  });
  return results.reverse();
}
