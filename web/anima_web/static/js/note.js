// C2SP signed notes (https://c2sp.org/signed-note) with Ed25519 keys, as
// anima_verify/tlog/note.py: the same strict grammar, signatures checked with
// WebCrypto. Signature lines by keys the caller does not name are kept but
// ignored (as the spec asks), so witness cosignatures (c2sp.org/tlog-cosignature)
// pass through; `verifyNoteSignatures` reports per key, so a witness quorum
// check can sit beside the log key's.
import { sha256 } from '../vendor/noble.js';
import { concatBytes, decodeUtf8, equalBytes, fromBase64, toHex, utf8 } from './bytes.js';
import { Reason, fail } from './errors.js';

const ED25519 = 0x01;
const SIGNATURE_PREFIX = '\u2014 '; // em dash, space
export const MAX_SIGNATURES = 100;
export const MAX_NOTE_BYTES = 1 << 20;

function validName(name) {
  return name.length > 0 && !/[\s+]/u.test(name);
}

/** The first four bytes of SHA-256(name || "\n" || 0x01 || public key). */
export function keyId(name, publicKey) {
  return sha256(concatBytes(utf8.encode(`${name}\n`), new Uint8Array([ED25519]), publicKey)).slice(0, 4);
}

/** Parse `name+keyid+base64(0x01 || key)`; the key id must match the key. */
export function parseVerifierKey(vkey) {
  const text = String(vkey).trim();
  const first = text.indexOf('+');
  const second = first < 0 ? -1 : text.indexOf('+', first + 1);
  if (second < 0) fail(Reason.MALFORMED_VERIFIER_KEY, 'a verifier key is name+keyid+base64key');
  const [name, idHex, encoded] = [text.slice(0, first), text.slice(first + 1, second), text.slice(second + 1)];
  if (!validName(name)) fail(Reason.MALFORMED_VERIFIER_KEY, `verifier key name ${JSON.stringify(name)} is not a valid key name`);
  if (!/^[0-9a-f]{8}$/.test(idHex)) fail(Reason.MALFORMED_VERIFIER_KEY, 'verifier key id is 8 hex digits');
  let raw;
  try {
    raw = fromBase64(encoded);
  } catch {
    fail(Reason.MALFORMED_VERIFIER_KEY, 'verifier key is not valid base64');
  }
  if (raw.length !== 33 || raw[0] !== ED25519) {
    fail(Reason.MALFORMED_VERIFIER_KEY, 'only Ed25519 verifier keys (algorithm 0x01, 32 bytes) are supported');
  }
  const publicKey = raw.slice(1);
  if (toHex(keyId(name, publicKey)) !== idHex) {
    fail(Reason.MALFORMED_VERIFIER_KEY, `verifier key id ${idHex} does not match the key`);
  }
  return { name, keyId: keyId(name, publicKey), publicKey, text };
}

function checkCharacters(message) {
  for (const c of message) {
    if (c.charCodeAt(0) < 0x20 && c !== '\n') {
      fail(Reason.MALFORMED_NOTE, `note contains the control character U+${c.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}`);
    }
  }
}

/** Split a signed note into its text and signature lines; syntax only. */
export function parseNote(data) {
  if (data.length > MAX_NOTE_BYTES) fail(Reason.MALFORMED_NOTE, `note is larger than ${MAX_NOTE_BYTES} bytes`);
  let message;
  try {
    message = decodeUtf8(data);
  } catch {
    fail(Reason.MALFORMED_NOTE, 'note is not valid UTF-8');
  }
  checkCharacters(message);
  const split = message.lastIndexOf('\n\n');
  if (split < 0) fail(Reason.MALFORMED_NOTE, 'note has no blank line before its signatures');
  const text = message.slice(0, split + 1);
  const block = message.slice(split + 2);
  if (!block) fail(Reason.MALFORMED_NOTE, 'note has no signature lines');
  if (!block.endsWith('\n')) fail(Reason.MALFORMED_NOTE, 'signature block must end with a newline');
  const signatures = block
    .slice(0, -1)
    .split('\n')
    .map((line, i) => parseSignatureLine(line, i + 1));
  if (signatures.length > MAX_SIGNATURES) fail(Reason.MALFORMED_NOTE, `note has more than ${MAX_SIGNATURES} signatures`);
  return { text, signatures };
}

function parseSignatureLine(line, number) {
  if (!line.startsWith(SIGNATURE_PREFIX)) fail(Reason.MALFORMED_NOTE, `signature line ${number} does not start with '— '`);
  const fields = line.slice(SIGNATURE_PREFIX.length).split(' ');
  if (fields.length !== 2 || !validName(fields[0])) {
    fail(Reason.MALFORMED_NOTE, `signature line ${number} is not '— <name> <base64>'`);
  }
  let raw;
  try {
    raw = fromBase64(fields[1]);
  } catch {
    fail(Reason.MALFORMED_NOTE, `signature line ${number} is not valid base64`);
  }
  if (raw.length < 5) fail(Reason.MALFORMED_NOTE, `signature line ${number} is too short`);
  return { name: fields[0], keyId: raw.slice(0, 4), signature: raw.slice(4) };
}

async function ed25519Verify(publicKey, signature, message) {
  const key = await crypto.subtle.importKey('raw', publicKey, { name: 'Ed25519' }, false, ['verify']);
  return crypto.subtle.verify({ name: 'Ed25519' }, key, signature, message);
}

/**
 * For each verifier, whether the note carries its signature and whether it
 * verifies: [{verifier, present, valid}]. Later lines by a key already seen are
 * skipped (as golang.org/x/mod/sumdb/note); lines by other keys are ignored.
 */
export async function verifyNoteSignatures(note, verifiers) {
  const message = utf8.encode(note.text);
  const results = [];
  for (const verifier of verifiers) {
    const line = note.signatures.find((s) => s.name === verifier.name && equalBytes(s.keyId, verifier.keyId));
    const valid = line ? await ed25519Verify(verifier.publicKey, line.signature, message) : false;
    results.push({ verifier, present: Boolean(line), valid });
  }
  return results;
}

/**
 * Parse a note and require a valid signature by at least one of `verifiers`
 * (the log key); a signature claiming a given key that fails is an error.
 */
export async function openNote(data, verifiers) {
  const note = parseNote(data);
  const results = await verifyNoteSignatures(note, verifiers);
  const forged = results.find((r) => r.present && !r.valid);
  if (forged) fail(Reason.INVALID_SIGNATURE, `the signature by ${forged.verifier.name} does not verify`);
  if (!results.some((r) => r.valid)) {
    const signers = note.signatures.map((s) => `${s.name}+${toHex(s.keyId)}`).join(', ');
    const wanted = verifiers.map((v) => `${v.name}+${toHex(v.keyId)}`).join(', ') || 'no key';
    fail(Reason.UNKNOWN_KEY, `the checkpoint is not signed by the agent's log key (${wanted}); it is signed by ${signers}`);
  }
  return note;
}
