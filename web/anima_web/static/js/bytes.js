// Byte helpers: strict base64 and hex, UTF-8, comparison. Strict, because the
// server is hostile: base64 with stray characters or bad padding is refused
// rather than decoded leniently (atob ignores whitespace).

const B64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const HEX = /^(?:[0-9a-f]{2})*$/;

export const utf8 = new TextEncoder();
const utf8Strict = new TextDecoder('utf-8', { fatal: true });

/** Decode standard base64 (RFC 4648 §4, padded); throws on anything else. */
export function fromBase64(text) {
  if (typeof text !== 'string' || !B64.test(text)) throw new Error('not valid base64');
  const binary = atob(text);
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  // atob accepts non-zero padding bits; canonical encodings only.
  if (toBase64(out) !== text) throw new Error('not canonical base64');
  return out;
}

export function toBase64(bytes) {
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

/** Lowercase hex, even length; throws on anything else. */
export function fromHex(text) {
  if (typeof text !== 'string' || !HEX.test(text)) throw new Error('not lowercase hex');
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(text.slice(2 * i, 2 * i + 2), 16);
  return out;
}

export function toHex(bytes) {
  let out = '';
  for (const b of bytes) out += b.toString(16).padStart(2, '0');
  return out;
}

/** UTF-8 decode that refuses invalid sequences. */
export function decodeUtf8(bytes) {
  return utf8Strict.decode(bytes);
}

export function equalBytes(a, b) {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

export function concatBytes(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}
