// The explorer's verification code (web/anima_web/static/js) under Node's test
// runner: the shared RFC 9162 and signed-note vectors, and parity with the
// Python verifier on a tiled log that tests/web/test_explorer_node.py writes
// with anima_verify (fixture path in ANIMA_EXPLORER_FIXTURE).
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';

import { fromBase64, toBase64, utf8 } from '../../web/anima_web/static/js/bytes.js';
import { openCheckpoint } from '../../web/anima_web/static/js/checkpoint.js';
import { decodeEntry } from '../../web/anima_web/static/js/entry.js';
import { Reason } from '../../web/anima_web/static/js/errors.js';
import { recoverAddress } from '../../web/anima_web/static/js/eth.js';
import { CheckpointHistory, checkAgainstHistory } from '../../web/anima_web/static/js/history.js';
import { verifyConsistency, verifyInclusion } from '../../web/anima_web/static/js/merkle.js';
import { openNote, parseVerifierKey } from '../../web/anima_web/static/js/note.js';
import { checkLifecyclePayload, checkSignaturePayload } from '../../web/anima_web/static/js/payloads.js';
import { decodeEntryBundle, decodeHashTile, TileStore } from '../../web/anima_web/static/js/tiles.js';
import { parseCheckpoint } from '../../web/anima_web/static/js/checkpoint.js';
import { parseNote } from '../../web/anima_web/static/js/note.js';
import { checkMeasurements, parseBoundKeys, verifyTdxQuote } from '../../web/anima_web/static/js/attestation.js';
import { initSync as initDcap, js_verify as dcapVerify } from '../../web/anima_web/static/vendor/dcap-qvl-web.js';
import { formatTlogProof, parseTlogProof } from '../../web/anima_web/static/js/tlogproof.js';
import { openLog, verifyEntries } from '../../web/anima_web/static/js/verifier.js';
import { checkWitnesses, cosignedMessage, parseCosignature, parseWitnessKey, witnessPolicy } from '../../web/anima_web/static/js/witness.js';

const VECTORS = process.env.ANIMA_VECTORS_DIR ?? new URL('../../../shared/vectors', import.meta.url).pathname;
const fixture = JSON.parse(readFileSync(process.env.ANIMA_EXPLORER_FIXTURE, 'utf8'));
const b64 = (list) => list.map(fromBase64);

function vectorFiles(kind) {
  const dir = join(VECTORS, 'merkle', kind);
  return readdirSync(dir).flatMap((sub) => readdirSync(join(dir, sub)).map((f) => join(dir, sub, f)));
}

function rejects(fn, reason) {
  assert.throws(fn, (exc) => exc.reason === reason, `expected ${reason}`);
}

async function rejectsAsync(promise, reason, pattern) {
  await assert.rejects(promise, (exc) => {
    assert.equal(exc.reason, reason, exc.message);
    if (pattern) assert.match(exc.message, pattern);
    return true;
  });
}

/** A tiled log in a directory, as the runtime serves it (404 -> null). */
function directorySource(root, { mutate = (path, data) => data } = {}) {
  return {
    async read(path) {
      try {
        return mutate(path, new Uint8Array(readFileSync(join(root, path))));
      } catch (exc) {
        if (exc.code === 'ENOENT') return null;
        throw exc;
      }
    },
  };
}

describe('RFC 9162 vectors (shared/vectors/merkle)', () => {
  test('every inclusion vector verifies or fails as it says', () => {
    const files = vectorFiles('inclusion');
    assert.ok(files.length >= 40);
    for (const file of files) {
      const v = JSON.parse(readFileSync(file, 'utf8'));
      const run = () =>
        verifyInclusion({ leafHash: fromBase64(v.leafHash ?? ''), index: v.leafIdx, size: v.treeSize, proof: b64(v.proof ?? []), root: fromBase64(v.root ?? '') });
      if (v.wantErr) assert.throws(run, (exc) => exc.name === 'VerificationError', file);
      else assert.doesNotThrow(run, file);
    }
  });

  test('every consistency vector verifies or fails as it says', () => {
    const files = vectorFiles('consistency');
    assert.ok(files.length >= 40);
    for (const file of files) {
      const v = JSON.parse(readFileSync(file, 'utf8'));
      const run = () =>
        verifyConsistency({ size1: v.size1, size2: v.size2, root1: fromBase64(v.root1 ?? ''), root2: fromBase64(v.root2 ?? ''), proof: b64(v.proof ?? []) });
      if (v.wantErr) assert.throws(run, (exc) => exc.name === 'VerificationError', file);
      else assert.doesNotThrow(run, file);
    }
  });
});

describe('signed notes (shared/vectors/note)', () => {
  const note = new Uint8Array(readFileSync(join(VECTORS, 'note', 'example.note')));
  const vkey = readFileSync(join(VECTORS, 'note', 'example.vkey'), 'utf8');

  test('the C2SP example verifies with its key', async () => {
    const opened = await openNote(note, [parseVerifierKey(vkey)]);
    assert.equal(opened.text, 'This is an example message.\n');
  });

  test('a note signed by another key is UNKNOWN_KEY, a bad signature INVALID_SIGNATURE', async () => {
    await rejectsAsync(openNote(note, [parseVerifierKey(fixture.vkey)]), Reason.UNKNOWN_KEY, /not signed by the agent's log key/);
    const forged = note.slice();
    forged[forged.length - 10] ^= 1;
    await rejectsAsync(openNote(forged, [parseVerifierKey(vkey)]), Reason.INVALID_SIGNATURE);
  });

  test('signature lines by unknown keys (witness cosignatures) are accepted beside the log key', async () => {
    const witness = `\u2014 witness.example ${toBase64(new Uint8Array(4 + 72).fill(7))}\n`;
    const cosigned = new Uint8Array([...note, ...utf8.encode(witness)]);
    const opened = await openNote(cosigned, [parseVerifierKey(vkey)]);
    assert.equal(opened.signatures.length, 2);
  });

  test('malformed notes and keys are refused with their own reasons', async () => {
    await rejectsAsync(openNote(utf8.encode('no signatures\n'), [parseVerifierKey(vkey)]), Reason.MALFORMED_NOTE);
    await rejectsAsync(openNote(utf8.encode('a\u0007\n\n\u2014 x AAAAAAA=\n'), [parseVerifierKey(vkey)]), Reason.MALFORMED_NOTE);
    rejects(() => parseVerifierKey(vkey.replace('+530d903a+', '+530d903b+')), Reason.MALFORMED_VERIFIER_KEY);
    rejects(() => parseVerifierKey('name+only'), Reason.MALFORMED_VERIFIER_KEY);
  });
});

describe('parity with anima_verify on a tiled log', () => {
  const key = parseVerifierKey(fixture.vkey);
  const checkpointBytes = new Uint8Array(readFileSync(join(fixture.dir, 'checkpoint')));

  test('the checkpoint opens with the log key and names the size and root Python computed', async () => {
    const { checkpoint } = await openCheckpoint(checkpointBytes, [key]);
    assert.equal(checkpoint.size, fixture.size);
    assert.equal(toBase64(checkpoint.rootHash), fixture.root);
  });

  test('inclusion proofs built from the tiles equal the Python ones and verify', async () => {
    const { checkpoint } = await openCheckpoint(checkpointBytes, [key]);
    const tiles = new TileStore(directorySource(fixture.dir), checkpoint.size);
    const results = await verifyEntries({ tiles, checkpoint, agentId: fixture.agent, start: 0, end: checkpoint.size });
    assert.equal(results.length, fixture.size);
    assert.deepEqual(results.filter((r) => r.status !== 'included').map((r) => r.error?.message), []);
    for (const [index, proof] of Object.entries(fixture.proofs)) {
      const r = results.find((x) => x.index === Number(index));
      assert.deepEqual(r.proof.map(toBase64), proof, `entry ${index}`);
      assert.equal(r.entry.actor, fixture.actors[index]);
    }
  });

  test('a flipped byte in a hash tile fails the entries with TILE_MISMATCH', async () => {
    const { checkpoint } = await openCheckpoint(checkpointBytes, [key]);
    const source = directorySource(fixture.dir, {
      mutate: (path, data) => {
        if (path.startsWith('tile/0/002')) data[5 * 32 + 1] ^= 0x40;
        return data;
      },
    });
    const tiles = new TileStore(source, checkpoint.size);
    const results = await verifyEntries({ tiles, checkpoint, agentId: fixture.agent, start: 512, end: checkpoint.size });
    const failed = results.filter((r) => r.status === 'failed');
    assert.ok(failed.length > 0);
    assert.ok(failed.every((r) => [Reason.TILE_MISMATCH, Reason.ROOT_MISMATCH].includes(r.error.reason)));
    assert.ok(failed.some((r) => r.index === 517 && r.error.reason === Reason.TILE_MISMATCH));
  });

  test('an entry dropped from a bundle is MALFORMED_TILE, naming the bundle', async () => {
    const { checkpoint } = await openCheckpoint(checkpointBytes, [key]);
    const source = directorySource(fixture.dir, {
      mutate: (path, data) => {
        if (!path.startsWith('tile/entries/002')) return data;
        const length = (data[0] << 8) | data[1];
        return data.subarray(2 + length);
      },
    });
    const tiles = new TileStore(source, checkpoint.size);
    await rejectsAsync(verifyEntries({ tiles, checkpoint, agentId: fixture.agent, start: 600, end: checkpoint.size }), Reason.MALFORMED_TILE, /tile\/entries\/002\.p\/\d+ holds \d+ entries, want/);
  });

  test('history: a later visit proves consistency; rollback, equivocation and fork are caught', async () => {
    const { checkpoint } = await openCheckpoint(checkpointBytes, [key]);
    const tiles = new TileStore(directorySource(fixture.dir), checkpoint.size);
    const base = { logKey: key.text, origin: checkpoint.origin, seenAt: 'yesterday' };
    const earlier = { ...base, size: fixture.earlier.size, rootHash: fromBase64(fixture.earlier.root) };
    assert.equal((await checkAgainstHistory(earlier, { logKey: key.text, checkpoint, tiles })).state, 'extends');
    assert.equal((await checkAgainstHistory(null, { logKey: key.text, checkpoint, tiles })).state, 'first-visit');
    const later = { ...base, size: fixture.size + 1, rootHash: fromBase64(fixture.root) };
    await rejectsAsync(checkAgainstHistory(later, { logKey: key.text, checkpoint, tiles }), Reason.ROLLBACK, /rolled back/);
    const twin = { ...base, size: fixture.size, rootHash: fromBase64(fixture.fork.root) };
    await rejectsAsync(checkAgainstHistory(twin, { logKey: key.text, checkpoint, tiles }), Reason.EQUIVOCATION);
    const fork = { ...base, size: fixture.earlier.size, rootHash: fromBase64(fixture.fork.earlierRoot) };
    await rejectsAsync(checkAgainstHistory(fork, { logKey: key.text, checkpoint, tiles }), Reason.INCONSISTENT_LOG, /fork/);
    const otherKey = { ...earlier, logKey: fixture.otherVkey };
    await rejectsAsync(checkAgainstHistory(otherKey, { logKey: key.text, checkpoint, tiles }), Reason.KEY_CHANGED);
  });

  test('history storage keeps the checkpoint and reads it back', () => {
    const store = new Map();
    const storage = { getItem: (k) => store.get(k) ?? null, setItem: (k, v) => store.set(k, v) };
    const history = new CheckpointHistory(storage);
    const checkpoint = { origin: 'o', size: 3, rootHash: fromBase64(fixture.root) };
    history.save('http://x/v1/logs/a/', { logKey: key.text, checkpoint, noteText: 'n' });
    const loaded = history.load('http://x/v1/logs/a/');
    assert.equal(loaded.size, 3);
    assert.equal(toBase64(loaded.rootHash), fixture.root);
    storage.setItem('anima-explorer/v1/http://x/v1/logs/b/', '{not json');
    assert.equal(history.load('http://x/v1/logs/b/'), null);
  });

  test('a tlog-proof names the entry and proof, and verifies against its checkpoint', async () => {
    const index = Number(Object.keys(fixture.proofs)[0]);
    const { checkpoint } = await openCheckpoint(checkpointBytes, [key]);
    const tiles = new TileStore(directorySource(fixture.dir), checkpoint.size);
    const [r] = await verifyEntries({ tiles, checkpoint, agentId: fixture.agent, start: index, end: index + 1 });
    const text = formatTlogProof({ index, proof: r.proof, checkpointNote: checkpointBytes, entry: r.bytes });
    assert.ok(text.startsWith(`c2sp.org/tlog-proof@v1\nextra ${toBase64(r.bytes)}\nindex ${index}\n`));
    const parsed = parseTlogProof(text);
    const opened = await openCheckpoint(utf8.encode(parsed.checkpoint), [key]);
    const { leafHash } = await import('../../web/anima_web/static/js/merkle.js');
    verifyInclusion({ leafHash: leafHash(parsed.extra), index: parsed.index, size: opened.checkpoint.size, proof: parsed.proof, root: opened.checkpoint.rootHash });
  });
});

describe('entries', () => {
  test('the canonical encoding decodes; any other encoding of the same entry is refused', () => {
    const bytes = fromBase64(fixture.entries[1]);
    const entry = decodeEntry(bytes);
    assert.equal(entry.actor, fixture.actors[1]);
    const spaced = utf8.encode(new TextDecoder().decode(bytes).replace('{"actor":', '{ "actor":'));
    rejects(() => decodeEntry(spaced), Reason.MALFORMED_ENTRY);
    const reordered = JSON.stringify(Object.fromEntries(Object.entries(JSON.parse(new TextDecoder().decode(bytes))).reverse()));
    rejects(() => decodeEntry(utf8.encode(reordered)), Reason.MALFORMED_ENTRY);
    rejects(() => decodeEntry(utf8.encode('[1]')), Reason.MALFORMED_ENTRY);
    rejects(() => decodeEntry(new Uint8Array([0xff, 0xfe])), Reason.MALFORMED_ENTRY);
  });
});

describe('Ethereum signatures (as anima_verify.eth)', () => {
  const digest = () => Uint8Array.from(Buffer.from(fixture.eth.digest, 'hex'));
  const signature = () => Uint8Array.from(Buffer.from(fixture.eth.signature, 'hex'));

  test('a signature eth-account made recovers to its address', () => {
    assert.equal(recoverAddress(digest(), signature()), fixture.eth.address);
  });

  test('high-s, bad v and wrong lengths are refused', () => {
    rejects(() => recoverAddress(digest(), Uint8Array.from(Buffer.from(fixture.eth.high_s, 'hex'))), Reason.SIGNATURE_MISMATCH);
    const badV = signature();
    badV[64] = 29;
    rejects(() => recoverAddress(digest(), badV), Reason.SIGNATURE_MISMATCH);
    rejects(() => recoverAddress(digest(), signature().subarray(1)), Reason.SIGNATURE_MISMATCH);
  });

  test("a logged signature must recover to the address it names, one of the agent's wallets", () => {
    const payload = (over) => utf8.encode(JSON.stringify({ v: 1, request: 'personal_message', address: fixture.eth.address, digest: fixture.eth.digest, signature: fixture.eth.signature, ...over }));
    const wallets = [{ index: 1, address: fixture.eth.address }];
    assert.deepEqual(checkSignaturePayload(payload({}), wallets), { state: 'recovered', address: fixture.eth.address, wallet: 1, request: 'personal_message' });
    rejects(() => checkSignaturePayload(payload({}), [{ index: 1, address: '0x0000000000000000000000000000000000000001' }]), Reason.SIGNATURE_MISMATCH);
    const otherDigest = fixture.eth.digest.replace(/^../, 'ff');
    rejects(() => checkSignaturePayload(payload({ digest: otherDigest }), wallets), Reason.SIGNATURE_MISMATCH);
    assert.equal(checkSignaturePayload(payload({ request: 'transaction' }), wallets).state, 'not-checkable');
  });
});

describe('TDX quotes (shared/vectors/attestation) with the vendored dcap-qvl WebAssembly', () => {
  initDcap({ module: readFileSync(new URL('../../web/anima_web/static/vendor/dcap-qvl-web_bg.wasm', import.meta.url)) });
  const quote = () => new Uint8Array(readFileSync(fixture.tdx.quote));
  const collateral = () => JSON.parse(readFileSync(fixture.tdx.collateral, 'utf8'));
  const verify = dcapVerify;

  test('a genuine quote verifies to what anima_verify finds in it', async () => {
    const got = await verifyTdxQuote(quote(), collateral(), fixture.tdx.now, { verify });
    assert.equal(got.status, fixture.tdx.status);
    assert.deepEqual(got.measurements, fixture.tdx.measurements);
    assert.equal(Buffer.from(got.reportData).toString('hex'), fixture.tdx.reportData);
    checkMeasurements(got.measurements, { mrtd: [fixture.tdx.measurements.mrtd], rtmr0: [] });
    rejects(() => checkMeasurements(got.measurements, { mrtd: ['00'.repeat(48)] }), Reason.ATTESTATION_FAILED);
  });

  test('a tampered quote, or collateral past its validity, is refused', async () => {
    const tampered = quote();
    tampered[700] ^= 1;
    await rejectsAsync(verifyTdxQuote(tampered, collateral(), fixture.tdx.now, { verify }), Reason.ATTESTATION_FAILED, /does not verify/);
    await rejectsAsync(verifyTdxQuote(quote(), collateral(), fixture.tdx.now + 365 * 86400, { verify }), Reason.ATTESTATION_FAILED, /expired/);
  });
});

describe("the agent's creation entry", () => {
  test('must name the keys the attestation binds', () => {
    const keys = parseBoundKeys(utf8.encode(fixture.boundKeys), 'web-agent');
    const bound = JSON.parse(fixture.boundKeys);
    const created = (over) =>
      utf8.encode(JSON.stringify({ v: 1, event: 'agent_created', agent_id: 'web-agent', log_verifier_key: bound.log_verifier_key, wallets: [{ index: 0, address: bound.wallets[0][1] }], ...over }));
    assert.equal(checkLifecyclePayload(created({}), keys).state, 'matches-attestation');
    rejects(() => checkLifecyclePayload(created({ log_verifier_key: fixture.vkey }), keys), Reason.KEY_CHANGED);
    rejects(() => checkLifecyclePayload(created({ wallets: [{ index: 0, address: fixture.eth.address }] }), keys), Reason.KEY_CHANGED);
  });
});

describe('witness cosignatures (cosigned by anima_verify.tlog.cosignature)', () => {
  const w = fixture.witnessed;
  const cosigned = fromBase64(w.note);
  const text = new TextDecoder().decode(cosigned);
  const body = text.slice(0, text.lastIndexOf('\n\n') + 1);
  const lines = text.slice(body.length + 1, -1).split('\n'); // [log key, witness 0, 1, 2]
  const withLines = (chosen) => utf8.encode(`${body}\n${chosen.join('\n')}\n`);
  const check = (bytes, keys, quorum = null) => checkWitnesses(parseNote(bytes), witnessPolicy(keys, quorum));
  /** A witness line with its bytes changed by `edit` (key id 0-3, timestamp 4-11, signature 12-75). */
  const edited = (line, edit) => {
    const [dash, name, encoded] = line.split(' ');
    const raw = fromBase64(encoded);
    edit(raw);
    return `${dash} ${name} ${toBase64(raw)}`;
  };

  test('the cosigned message is byte for byte what Python signs', () => {
    assert.equal(toBase64(cosignedMessage(body, BigInt(w.times[0]))), w.message);
  });

  test('all three cosignatures verify, with their timestamps, up to 2^63-1', async () => {
    const by = await check(cosigned, w.vkeys);
    assert.deepEqual(by.map((c) => c.name), w.names);
    assert.deepEqual(by.map((c) => String(c.timestamp)), w.times.slice(0, 3));
  });

  test('quorum 2 of 3: two cosignatures meet it, one does not', async () => {
    const two = withLines([lines[0], lines[1], lines[3]]);
    assert.deepEqual((await check(two, w.vkeys, 2)).map((c) => c.name), [w.names[0], w.names[2]]);
    await rejectsAsync(check(withLines([lines[0], lines[2]]), w.vkeys, 2), Reason.WITNESS_QUORUM_NOT_MET, /from 1 of the 3 witnesses you trust \(witness-1\.test\); your policy needs 2/);
    // Without &quorum, every pinned witness must have cosigned.
    await rejectsAsync(check(two, w.vkeys), Reason.WITNESS_QUORUM_NOT_MET, /your policy needs 3/);
  });

  test('a stripped checkpoint (the log key alone) does not meet any quorum', async () => {
    await rejectsAsync(check(withLines([lines[0]]), w.vkeys, 1), Reason.WITNESS_QUORUM_NOT_MET, /from 0 of the 3 .*\(none of them\)/);
  });

  test('a forged cosignature, or one whose timestamp was changed, is INVALID_SIGNATURE', async () => {
    const forged = edited(lines[1], (raw) => { raw[40] ^= 1; });
    await rejectsAsync(check(withLines([lines[0], forged, lines[2], lines[3]]), w.vkeys, 1), Reason.INVALID_SIGNATURE, /witness witness-0\.test does not verify/);
    const redated = edited(lines[2], (raw) => { raw[11] ^= 1; }); // the time is part of what is signed
    await rejectsAsync(check(withLines([lines[0], redated]), [w.vkeys[1]]), Reason.INVALID_SIGNATURE);
  });

  test('the same cosignatures over another checkpoint body do not verify', async () => {
    const otherBody = body.replace(/\n\d+\n/, (m) => `\n${Number(m) + 1}\n`);
    const moved = utf8.encode(`${otherBody}\n${lines.slice(1).join('\n')}\n`);
    await rejectsAsync(check(moved, w.vkeys, 1), Reason.INVALID_SIGNATURE);
  });

  test('a cosignature by a key you did not pin is ignored; a wrong key does not count', async () => {
    await rejectsAsync(check(cosigned, [w.unused]), Reason.WITNESS_QUORUM_NOT_MET, /from 0 of the 1/);
    // Another key under a pinned witness's name has another key id: ignored, not trusted.
    const impostor = edited(lines[1], (raw) => { raw[0] ^= 1; });
    await rejectsAsync(check(withLines([lines[0], impostor]), [w.vkeys[0]]), Reason.WITNESS_QUORUM_NOT_MET);
  });

  test('malformed cosignatures by a pinned witness are refused: length, timestamp above 2^63-1', async () => {
    const [dash, name, encoded] = lines[1].split(' ');
    const short = `${dash} ${name} ${toBase64(fromBase64(encoded).slice(0, 70))}`;
    await rejectsAsync(check(withLines([lines[0], short]), [w.vkeys[0]]), Reason.MALFORMED_COSIGNATURE, /is 70 bytes, want 76/);
    const future = edited(lines[1], (raw) => { raw[4] |= 0x80; });
    await rejectsAsync(check(withLines([lines[0], future]), [w.vkeys[0]]), Reason.MALFORMED_COSIGNATURE, /above 2\^63-1/);
  });

  test('witness keys: algorithm 0x04 only (a log key is refused), checked key id, a sane quorum', () => {
    assert.equal(parseWitnessKey(w.vkeys[0]).name, w.names[0]);
    rejects(() => parseWitnessKey(fixture.vkey), Reason.MALFORMED_WITNESS_KEY);
    const [name, id, key] = [w.vkeys[0].slice(0, w.vkeys[0].indexOf('+')), ...w.vkeys[0].slice(w.vkeys[0].indexOf('+') + 1).split(/\+(.*)/s)];
    rejects(() => parseWitnessKey(`${name}+${id.replace(/^./, (c) => (c === '0' ? '1' : '0'))}+${key}`), Reason.MALFORMED_WITNESS_KEY);
    rejects(() => parseWitnessKey('name+only'), Reason.MALFORMED_WITNESS_KEY);
    rejects(() => witnessPolicy(w.vkeys, 4), Reason.MALFORMED_WITNESS_KEY);
    rejects(() => witnessPolicy(w.vkeys, 0), Reason.MALFORMED_WITNESS_KEY);
    rejects(() => witnessPolicy(w.vkeys, 'two'), Reason.MALFORMED_WITNESS_KEY);
    rejects(() => witnessPolicy([w.vkeys[0], w.vkeys[0]]), Reason.MALFORMED_WITNESS_KEY);
    rejects(() => witnessPolicy([], '1'), Reason.MALFORMED_WITNESS_KEY);
    assert.equal(witnessPolicy([]), null);
  });

  test('openLog: witnessed with a policy, null (UNWITNESSED) without, refused below the quorum', async () => {
    const serving = (note) => directorySource(fixture.dir, { mutate: (path, data) => (path === 'checkpoint' ? note : data) });
    const logKey = parseVerifierKey(fixture.vkey);
    const policy = witnessPolicy(w.vkeys, 2);
    const opened = await openLog(serving(cosigned), { logKey, witnessPolicy: policy });
    assert.deepEqual(opened.witnessed.map((c) => c.name), w.names);
    assert.deepEqual(opened.cosignatures, []);
    const unwitnessed = await openLog(serving(cosigned), { logKey });
    assert.equal(unwitnessed.witnessed, null);
    assert.deepEqual(unwitnessed.cosignatures.map((s) => s.name), w.names); // shown, not trusted
    await rejectsAsync(openLog(serving(withLines([lines[0], lines[1]])), { logKey, witnessPolicy: policy }), Reason.WITNESS_QUORUM_NOT_MET);
  });
});

describe('parsers refuse mutated input with their own errors, nothing else (fuzz)', () => {
  // A seeded generator, so a failure reproduces; ANIMA_FUZZ_EXAMPLES for a longer run.
  const EXAMPLES = Number(process.env.ANIMA_FUZZ_EXAMPLES ?? 2000);
  let seed = 0x9e3779b9;
  const random = () => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) / 2 ** 32;
  };
  const pick = (n) => Math.floor(random() * n);
  const INTERESTING = [0x00, 0x0a, 0x20, 0x2b, 0x2d, 0x22, 0x5c, 0x7b, 0x7d, 0xe2, 0x80, 0x94, 0xff];

  function mutate(bytes) {
    const out = [...bytes];
    for (let n = 1 + pick(4); n > 0; n--) {
      const at = pick(out.length + 1);
      switch (pick(5)) {
        case 0: if (out.length) out[at % out.length] ^= 1 << pick(8); break;
        case 1: out.splice(at, 1 + pick(8)); break;
        case 2: out.splice(at, 0, INTERESTING[pick(INTERESTING.length)]); break;
        case 3: out.splice(at, 0, ...out.slice(pick(out.length), pick(out.length))); break;
        default: out.length = at;
      }
    }
    return Uint8Array.from(out);
  }

  const KNOWN = new Set(Object.values(Reason));
  function onlyOurErrors(name, parse, sample) {
    for (let i = 0; i < EXAMPLES; i++) {
      const input = mutate(sample);
      try {
        parse(input);
      } catch (exc) {
        if (exc?.name !== 'VerificationError' || !KNOWN.has(exc.reason)) {
          assert.fail(`${name} threw ${exc?.name}: ${exc?.message} on ${Buffer.from(input).toString('base64')}`);
        }
      }
    }
  }

  const decoder = new TextDecoder();
  const note = new Uint8Array(readFileSync(join(fixture.dir, 'checkpoint')));

  test('notes, checkpoints and verifier keys', () => {
    onlyOurErrors('parseNote', parseNote, note);
    onlyOurErrors('parseCheckpoint', (b) => parseCheckpoint(decoder.decode(b)), utf8.encode(parseNote(note).text));
    onlyOurErrors('parseVerifierKey', (b) => parseVerifierKey(decoder.decode(b)), utf8.encode(fixture.vkey));
  });

  test('witness keys and cosignature lines', () => {
    onlyOurErrors('parseWitnessKey', (b) => parseWitnessKey(decoder.decode(b)), utf8.encode(fixture.witnessed.vkeys[0]));
    onlyOurErrors('parseCosignature', (b) => parseNote(b).signatures.forEach(parseCosignature), fromBase64(fixture.witnessed.note));
  });

  test('entries, entry bundles and hash tiles', () => {
    const entry = fromBase64(fixture.entries[2]);
    onlyOurErrors('decodeEntry', decodeEntry, entry);
    const bundle = new Uint8Array(readFileSync(join(fixture.dir, 'tile/entries/000')));
    onlyOurErrors('decodeEntryBundle', (b) => decodeEntryBundle(b, 256), bundle.subarray(0, 1200));
    onlyOurErrors('decodeHashTile', (b) => decodeHashTile(b, 4), new Uint8Array(128));
  });

  test('tlog-proofs and the attestation bound keys', () => {
    const proof = formatTlogProof({ index: 7, proof: b64(fixture.proofs['0']), checkpointNote: note, entry: fromBase64(fixture.entries[0]) });
    onlyOurErrors('parseTlogProof', (b) => parseTlogProof(decoder.decode(b)), utf8.encode(proof));
    onlyOurErrors('parseBoundKeys', (b) => parseBoundKeys(b, 'web-agent'), utf8.encode(fixture.boundKeys));
  });
});
