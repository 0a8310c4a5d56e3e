// The signer's attestation checks:
// - boundKeys: anima_signer_api/binding.py bound_keys, rewritten here (the explorer
//   only parses the document; the enclave writes it).
// - bindReportData, verifySimQuote: the browser explorer's own checks
//   (web/anima_web/static/js/attestation.js), so one JavaScript verifier is tested
//   against the real signer; here with the signer's development key pinned and
//   Buffers for node:assert's strict comparisons.
import {
  bindReportData as bindReportDataBytes,
  verifySimQuote as verifySimQuoteBytes,
} from '../../../web/anima_web/static/js/attestation.js';

const BINDING_VERSION = 1;

/**
 * The canonical JSON the enclave binds for an agent (GetAgent's Agent message):
 * Python's json.dumps(sort_keys=True, separators=(",", ":")), ASCII-only.
 */
export function boundKeys(agent) {
  const hex = (bytes) => Buffer.from(bytes).toString('hex');
  const document = {
    agent_id: agent.agent_id,
    key_derivation_version: agent.key_derivation_version,
    log_public_key: hex(agent.log_public_key),
    log_verifier_key: agent.log_verifier_key,
    signing_public_key: hex(agent.signing_public_key),
    v: BINDING_VERSION,
    wallets: agent.wallets.map((w) => [w.index, w.address, hex(w.public_key)]),
  }; // keys in sorted order, as Python's sort_keys writes them
  const json = JSON.stringify(document).replace(
    /[\u0080-\uffff]/g, // ensure_ascii
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
  return Buffer.from(json, 'ascii');
}

/** SHA-512 over the domain tag and the length-prefixed (4-byte big-endian) fields. */
export function bindReportData(fields) {
  return Buffer.from(bindReportDataBytes(fields));
}

/**
 * Check an INSECURE simulated quote: layout, the fixed sim measurements, the
 * Ed25519 signature, and who signed it (`trustedKey`, the development
 * attestation key of the signer the test started). Returns its report_data.
 */
export async function verifySimQuote(quote, { trustedKey }) {
  const { reportData, developmentKey } = await verifySimQuoteBytes(new Uint8Array(quote));
  if (!Buffer.from(developmentKey).equals(Buffer.from(trustedKey))) {
    throw new Error(`quote signed by development key ${Buffer.from(developmentKey).toString('hex')}, not the trusted one`);
  }
  return Buffer.from(reportData);
}
