// Just enough Ethereum to check a signed transaction's sender independently of
// the signer: RLP, EIP-1559 signing hashes, secp256k1 recovery, EIP-55.
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { keccak_256 } from '@noble/hashes/sha3.js';

const EIP1559_TYPE = 0x02;

/** Decode one RLP item (a Buffer or a nested array of them); the input must hold exactly one. */
export function rlpDecode(bytes) {
  const [item, end] = decodeAt(Buffer.from(bytes), 0);
  if (end !== bytes.length) throw new Error('trailing bytes after RLP item');
  return item;
}

function decodeAt(buf, at) {
  const prefix = buf[at];
  if (prefix === undefined) throw new Error('truncated RLP');
  if (prefix < 0x80) return [buf.subarray(at, at + 1), at + 1];
  const isList = prefix >= 0xc0;
  const base = isList ? 0xc0 : 0x80;
  let start = at + 1;
  let length = prefix - base;
  if (length > 55) {
    const lengthOfLength = length - 55;
    length = Number(BigInt(`0x${buf.subarray(start, start + lengthOfLength).toString('hex')}`));
    start += lengthOfLength;
  }
  const end = start + length;
  if (end > buf.length) throw new Error('truncated RLP');
  if (!isList) return [buf.subarray(start, end), end];
  const items = [];
  for (let i = start; i < end; ) {
    const [item, next] = decodeAt(buf, i);
    items.push(item);
    i = next;
  }
  return [items, end];
}

export function rlpEncode(item) {
  if (Array.isArray(item)) {
    return withLength(Buffer.concat(item.map(rlpEncode)), 0xc0);
  }
  const bytes = Buffer.from(item);
  if (bytes.length === 1 && bytes[0] < 0x80) return bytes;
  return withLength(bytes, 0x80);
}

function withLength(payload, base) {
  if (payload.length <= 55) return Buffer.concat([Buffer.from([base + payload.length]), payload]);
  let hex = payload.length.toString(16);
  if (hex.length % 2) hex = `0${hex}`;
  const length = Buffer.from(hex, 'hex');
  return Buffer.concat([Buffer.from([base + 55 + length.length]), length, payload]);
}

const pad32 = (bytes) => Buffer.concat([Buffer.alloc(32 - bytes.length), bytes]);

export const toBigInt = (bytes) => (bytes.length ? BigInt(`0x${Buffer.from(bytes).toString('hex')}`) : 0n);

/** EIP-55 checksummed address of a secp256k1 public key (compressed or not). */
export function addressOf(publicKey) {
  const point = secp256k1.Point.fromBytes(Uint8Array.from(publicKey));
  const uncompressed = point.toBytes(false);
  return checksumAddress(Buffer.from(keccak_256(uncompressed.subarray(1))).subarray(12).toString('hex'));
}

export function checksumAddress(address) {
  const lower = address.toLowerCase().replace(/^0x/, '');
  const hash = Buffer.from(keccak_256(Buffer.from(lower, 'ascii'))).toString('hex');
  return `0x${[...lower].map((c, i) => (parseInt(hash[i], 16) >= 8 ? c.toUpperCase() : c)).join('')}`;
}

/**
 * Decode a signed EIP-1559 transaction and recover its sender from (y_parity, r, s)
 * over keccak256(0x02 || rlp(the nine unsigned fields)).
 */
export function decodeEip1559(raw) {
  raw = Buffer.from(raw);
  if (raw[0] !== EIP1559_TYPE) throw new Error(`not an EIP-1559 transaction (type ${raw[0]})`);
  const fields = rlpDecode(raw.subarray(1));
  if (!Array.isArray(fields) || fields.length !== 12) throw new Error('an EIP-1559 transaction has 12 fields');
  const [chainId, nonce, maxPriorityFee, maxFee, gasLimit, to, value, data, accessList, yParity, r, s] = fields;
  const digest = keccak_256(Buffer.concat([Buffer.from([EIP1559_TYPE]), rlpEncode(fields.slice(0, 9))]));
  const recovery = Number(toBigInt(yParity));
  const compact = Buffer.concat([pad32(r), pad32(s)]);
  const signature = secp256k1.Signature.fromBytes(compact, 'compact').addRecoveryBit(recovery);
  if (signature.hasHighS()) throw new Error('high-s signature (not EIP-2 canonical)');
  const sender = addressOf(signature.recoverPublicKey(digest).toBytes(true));
  return {
    chainId: toBigInt(chainId),
    nonce: toBigInt(nonce),
    maxPriorityFeePerGas: toBigInt(maxPriorityFee),
    maxFeePerGas: toBigInt(maxFee),
    gasLimit: toBigInt(gasLimit),
    to: to.length ? checksumAddress(Buffer.from(to).toString('hex')) : null,
    value: toBigInt(value),
    data: Buffer.from(data),
    accessList,
    signature: Buffer.concat([compact, Buffer.from([recovery])]), // r || s || y_parity
    hash: Buffer.from(keccak_256(raw)),
    sender,
  };
}
