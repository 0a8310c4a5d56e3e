// One error family for everything the explorer refuses, each with a stable
// `reason` (as anima_verify's error reasons) and a message a person can act on.
// The page shows the reason and message in its red state; tests match the reason.

export class VerificationError extends Error {
  constructor(reason, message) {
    super(message);
    this.name = 'VerificationError';
    this.reason = reason;
  }
}

/** Reasons, named as anima_verify.tlog.errors and the attestation errors name them. */
export const Reason = Object.freeze({
  MALFORMED_NOTE: 'MALFORMED_NOTE',
  MALFORMED_VERIFIER_KEY: 'MALFORMED_VERIFIER_KEY',
  UNKNOWN_KEY: 'UNKNOWN_KEY', // not signed by the agent's log key
  INVALID_SIGNATURE: 'INVALID_SIGNATURE',
  MALFORMED_CHECKPOINT: 'MALFORMED_CHECKPOINT',
  INVALID_PROOF: 'INVALID_PROOF',
  ROOT_MISMATCH: 'ROOT_MISMATCH',
  TILE_MISMATCH: 'TILE_MISMATCH',
  MALFORMED_TILE: 'MALFORMED_TILE',
  MISSING_TILE: 'MISSING_TILE',
  MALFORMED_ENTRY: 'MALFORMED_ENTRY',
  INCONSISTENT_LOG: 'INCONSISTENT_LOG', // a fork
  EQUIVOCATION: 'EQUIVOCATION', // two roots for one size
  ROLLBACK: 'ROLLBACK', // smaller than a checkpoint seen before
  KEY_CHANGED: 'KEY_CHANGED', // the log key differs from the one seen before
  ORIGIN_MISMATCH: 'ORIGIN_MISMATCH',
  PAYLOAD_MISMATCH: 'PAYLOAD_MISMATCH',
  SIGNATURE_MISMATCH: 'SIGNATURE_MISMATCH', // a logged signature recovers to another address
  ATTESTATION_FAILED: 'ATTESTATION_FAILED',
  NO_TRUSTED_KEY: 'NO_TRUSTED_KEY',
  FETCH_FAILED: 'FETCH_FAILED',
  MALFORMED_WITNESS_KEY: 'MALFORMED_WITNESS_KEY', // a bad &witness= or &quorum=
  MALFORMED_COSIGNATURE: 'MALFORMED_COSIGNATURE',
  WITNESS_QUORUM_NOT_MET: 'WITNESS_QUORUM_NOT_MET', // fewer pinned witnesses cosigned than the quorum
});

export function fail(reason, message) {
  throw new VerificationError(reason, message);
}
