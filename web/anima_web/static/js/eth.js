// Ethereum signature recovery, as anima_verify/eth.py: only canonical
// signatures (65 bytes r || s || v, 0 < r, s < n, low s, v in {27, 28}).
// secp256k1 and keccak are not in WebCrypto: @noble (vendor/noble.js).
import { keccak_256, secp256k1 } from '../vendor/noble.js';
import { toHex, utf8 } from './bytes.js';
import { Reason, fail } from './errors.js';

const N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
const toBig = (bytes) => BigInt(`0x${toHex(bytes) || '0'}`);

export function checksumAddress(hex40) {
  const lower = hex40.toLowerCase().replace(/^0x/, '');
  const hash = toHex(keccak_256(utf8.encode(lower)));
  return `0x${[...lower].map((c, i) => (parseInt(hash[i], 16) >= 8 ? c.toUpperCase() : c)).join('')}`;
}

/** The EIP-55 address of a secp256k1 public key (compressed or not). */
export function addressOf(publicKey) {
  const point = secp256k1.Point.fromBytes(publicKey);
  return checksumAddress(toHex(keccak_256(point.toBytes(false).subarray(1)).subarray(12)));
}

/** The EIP-55 address that made `signature` (r || s || v) over the 32-byte `digest`. */
export function recoverAddress(digest, signature) {
  if (digest.length !== 32) fail(Reason.SIGNATURE_MISMATCH, 'the digest must be 32 bytes');
  if (signature.length !== 65) fail(Reason.SIGNATURE_MISMATCH, `an Ethereum signature is 65 bytes, got ${signature.length}`);
  const r = toBig(signature.subarray(0, 32));
  const s = toBig(signature.subarray(32, 64));
  const v = signature[64];
  if (!(r > 0n && r < N && s > 0n && s < N)) fail(Reason.SIGNATURE_MISMATCH, 'r and s must be in 1..n-1');
  if (s > N / 2n) fail(Reason.SIGNATURE_MISMATCH, 'non-canonical signature: s is in the upper half of the order (EIP-2)');
  if (v !== 27 && v !== 28) fail(Reason.SIGNATURE_MISMATCH, `v must be 27 or 28, got ${v}`);
  let point;
  try {
    point = secp256k1.Signature.fromBytes(signature.subarray(0, 64), 'compact').addRecoveryBit(v - 27).recoverPublicKey(digest);
  } catch {
    fail(Reason.SIGNATURE_MISMATCH, 'the signature does not recover to a public key');
  }
  return addressOf(point.toBytes(true));
}
