// What the explorer takes from @noble (pinned in package-lock.json): secp256k1
// recovery and keccak for Ethereum addresses, and sync SHA-2 for Merkle hashing
// (WebCrypto's digest is async and costs a promise per node). Bundled by
// web/build.mjs into anima_web/static/vendor/noble.js; a test checks the bundle
// is exactly what this file and the locked packages produce.
export { secp256k1 } from '@noble/curves/secp256k1.js';
export { keccak_256 } from '@noble/hashes/sha3.js';
export { sha256, sha384, sha512 } from '@noble/hashes/sha2.js';
