// RFC 9162 Merkle trees, as anima_verify/tlog/merkle.py: hashing, proof
// verification (the transparency-dev/merkle decomposition, so a proof of the
// wrong length is named as such) and proof construction over a hash reader.
// Sizes and indices are BigInt inside the bit arithmetic (JS bit operators
// are 32-bit); callers pass Numbers or BigInts.
import { sha256 } from '../vendor/noble.js';
import { equalBytes, toHex } from './bytes.js';
import { Reason, fail } from './errors.js';

export const HASH_SIZE = 32;
export const EMPTY_ROOT = sha256(new Uint8Array(0));

/** SHA-256(0x00 || entry). */
export function leafHash(entry) {
  const h = sha256.create();
  h.update(new Uint8Array([0]));
  h.update(entry);
  return h.digest();
}

/** SHA-256(0x01 || left || right). */
export function nodeHash(left, right) {
  const h = sha256.create();
  h.update(new Uint8Array([1]));
  h.update(left);
  h.update(right);
  return h.digest();
}

const big = (n) => BigInt(n);
const bitLength = (n) => (n === 0n ? 0 : n.toString(2).length);
const bitCount = (n) => [...n.toString(2)].filter((c) => c === '1').length;

function checkHash(value, what) {
  if (!(value instanceof Uint8Array) || value.length !== HASH_SIZE) {
    fail(Reason.INVALID_PROOF, `${what} is ${value?.length} bytes, want ${HASH_SIZE}`);
  }
}

function decompose(index, size) {
  const inner = bitLength(index ^ (size - 1n));
  const border = bitCount(index >> big(inner));
  return [inner, border];
}

function chainInner(seed, proof, index) {
  proof.forEach((sibling, i) => {
    seed = ((index >> big(i)) & 1n) === 0n ? nodeHash(seed, sibling) : nodeHash(sibling, seed);
  });
  return seed;
}

function chainInnerRight(seed, proof, index) {
  proof.forEach((sibling, i) => {
    if ((index >> big(i)) & 1n) seed = nodeHash(sibling, seed);
  });
  return seed;
}

function chainBorderRight(seed, proof) {
  for (const sibling of proof) seed = nodeHash(sibling, seed);
  return seed;
}

/** The root an inclusion proof implies; VerificationError(INVALID_PROOF) when malformed. */
export function rootFromInclusionProof({ leafHash: leaf, index, size, proof }) {
  index = big(index);
  size = big(size);
  if (index < 0n || size < 0n) fail(Reason.INVALID_PROOF, 'index and size must be non-negative');
  if (index >= size) fail(Reason.INVALID_PROOF, `leaf index ${index} is outside a tree of size ${size}`);
  checkHash(leaf, 'leaf hash');
  proof.forEach((node, i) => checkHash(node, `proof node ${i}`));
  const [inner, border] = decompose(index, size);
  if (proof.length !== inner + border) {
    fail(
      Reason.INVALID_PROOF,
      `inclusion proof has ${proof.length} nodes, want ${inner + border} for leaf ${index} in a tree of size ${size}`,
    );
  }
  return chainBorderRight(chainInner(leaf, proof.slice(0, inner), index), proof.slice(inner));
}

/** Throws unless `proof` shows leaf `index` with `leafHash` is in the tree `root`. */
export function verifyInclusion({ leafHash: leaf, index, size, proof, root }) {
  checkHash(root, 'root');
  const computed = rootFromInclusionProof({ leafHash: leaf, index, size, proof });
  if (!equalBytes(computed, root)) {
    fail(
      Reason.ROOT_MISMATCH,
      `inclusion proof for leaf ${index} leads to root ${toHex(computed)}, not the expected ${toHex(root)}`,
    );
  }
}

/** Throws unless the tree (size2, root2) extends (size1, root1); 0 < size1 <= size2. */
export function verifyConsistency({ size1, size2, root1, root2, proof }) {
  size1 = big(size1);
  size2 = big(size2);
  if (size1 < 0n || size2 < 0n) fail(Reason.INVALID_PROOF, 'tree sizes must be non-negative');
  checkHash(root1, 'root1');
  checkHash(root2, 'root2');
  proof.forEach((node, i) => checkHash(node, `proof node ${i}`));
  if (size2 < size1) fail(Reason.INVALID_PROOF, `size2 ${size2} is smaller than size1 ${size1}`);
  if (size1 === size2) {
    if (proof.length) fail(Reason.INVALID_PROOF, `trees of equal size need an empty proof, got ${proof.length} nodes`);
    if (!equalBytes(root1, root2)) {
      fail(Reason.ROOT_MISMATCH, `two different roots for size ${size1}: ${toHex(root1)} and ${toHex(root2)}`);
    }
    return;
  }
  if (size1 === 0n) {
    fail(Reason.INVALID_PROOF, `a consistency proof from the empty tree to size ${size2} proves nothing: 0 < size1 is required`);
  }
  if (!proof.length) fail(Reason.INVALID_PROOF, `consistency proof from ${size1} to ${size2} is empty`);
  let [inner, border] = decompose(size1 - 1n, size2);
  const shift = bitLength(size1 & -size1) - 1;
  inner -= shift;
  const perfect = size1 === 1n << big(shift);
  const [seed, start] = perfect ? [root1, 0] : [proof[0], 1];
  if (proof.length !== start + inner + border) {
    fail(
      Reason.INVALID_PROOF,
      `consistency proof has ${proof.length} nodes, want ${start + inner + border} from size ${size1} to ${size2}`,
    );
  }
  const rest = proof.slice(start);
  const mask = (size1 - 1n) >> big(shift);
  const hash1 = chainBorderRight(chainInnerRight(seed, rest.slice(0, inner), mask), rest.slice(inner));
  if (!equalBytes(hash1, root1)) {
    fail(Reason.ROOT_MISMATCH, `consistency proof leads to root ${toHex(hash1)} at size ${size1}, not the expected ${toHex(root1)}`);
  }
  const hash2 = chainBorderRight(chainInner(seed, rest.slice(0, inner), mask), rest.slice(inner));
  if (!equalBytes(hash2, root2)) {
    fail(Reason.ROOT_MISMATCH, `consistency proof leads to root ${toHex(hash2)} at size ${size2}, not the expected ${toHex(root2)}`);
  }
}

// ---------------------------------------------------------------- construction
// A reader answers node(level, index): the hash of leaves [index * 2**level, (index + 1) * 2**level).

/** The largest power of two smaller than n (n > 1), as a Number. */
function split(n) {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

function log2Exact(n) {
  let level = 0;
  while (2 ** level < n) level++;
  return level;
}

export function subtreeHash(reader, start, end) {
  const n = end - start;
  if (n <= 0) throw new Error('empty range');
  if (2 ** log2Exact(n) === n) {
    const level = log2Exact(n);
    return reader.node(level, start / 2 ** level);
  }
  const k = split(n);
  return nodeHash(subtreeHash(reader, start, start + k), subtreeHash(reader, start + k, end));
}

export function treeRoot(reader, size) {
  return size === 0 ? EMPTY_ROOT : subtreeHash(reader, 0, size);
}

/** PATH(index, D[0:size]) (RFC 9162 §2.1.3.1), deepest sibling first. */
export function inclusionProof(reader, index, size) {
  if (!(index >= 0 && index < size)) fail(Reason.INVALID_PROOF, `leaf index ${index} is outside a tree of size ${size}`);
  const proof = [];
  let start = 0;
  let end = size;
  while (end - start > 1) {
    const k = split(end - start);
    if (index < start + k) {
      proof.push(subtreeHash(reader, start + k, end));
      end = start + k;
    } else {
      proof.push(subtreeHash(reader, start, start + k));
      start += k;
    }
  }
  return proof.reverse();
}

/** PROOF(size1, D[0:size2]) (RFC 9162 §2.1.4.1); 0 < size1 <= size2. */
export function consistencyProof(reader, size1, size2) {
  if (!(size1 >= 0 && size1 <= size2)) fail(Reason.INVALID_PROOF, `no consistency proof from size ${size1} to ${size2}`);
  if (size1 === size2) return [];
  if (size1 === 0) fail(Reason.INVALID_PROOF, 'no consistency proof from the empty tree');
  const proof = [];
  let [start, end, m, complete] = [0, size2, size1, true];
  for (;;) {
    const n = end - start;
    if (m === n) {
      if (!complete) proof.push(subtreeHash(reader, start, end));
      break;
    }
    const k = split(n);
    if (m <= k) {
      proof.push(subtreeHash(reader, start + k, end));
      end = start + k;
    } else {
      proof.push(subtreeHash(reader, start, start + k));
      [start, m, complete] = [start + k, m - k, false];
    }
  }
  return proof.reverse();
}
