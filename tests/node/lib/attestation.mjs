// The signer's attestation checks, rewritten from the Python verifier:
// - boundKeys:      anima_signer_api/binding.py bound_keys
// - bindReportData: anima_verify/attestation/evidence.py bind_report_data
// - verifySimQuote: anima_verify/attestation/sim.py verify_sim_quote, plus the
//   measurements MeasurementPolicy.insecure_simulated_for_development expects.
import { ed25519 } from '@noble/curves/ed25519.js';
import { sha384, sha512 } from '@noble/hashes/sha2.js';

const encoder = new TextEncoder();
const REPORT_DATA_DOMAIN = encoder.encode('anima/attestation/report-data/v1');
const BINDING_VERSION = 1;

const SIM_QUOTE_MAGIC = encoder.encode('ANIMA-INSECURE-SIM-QUOTE/v1');
const MEASUREMENT_SIZE = 48;
const REPORT_DATA_SIZE = 64;
const PUBLIC_KEY_SIZE = 32;
const SIGNATURE_SIZE = 64;
const SIGNED_SIZE = SIM_QUOTE_MAGIC.length + 5 * MEASUREMENT_SIZE + REPORT_DATA_SIZE + PUBLIC_KEY_SIZE;
const REGISTERS = ['mrtd', 'rtmr0', 'rtmr1', 'rtmr2', 'rtmr3'];
// The fixed sim values: SHA-384 of a label per register.
const SIM_MEASUREMENTS = REGISTERS.map((r) => sha384(encoder.encode(`anima/sim/${r}`)));

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
export function bindReportData({ boundKeys, tlsPublicKey, nonce }) {
  const h = sha512.create();
  for (const part of [REPORT_DATA_DOMAIN, boundKeys, tlsPublicKey, nonce]) {
    const length = new Uint8Array(4);
    new DataView(length.buffer).setUint32(0, part.length);
    h.update(length);
    h.update(part);
  }
  return Buffer.from(h.digest());
}

/**
 * Check an INSECURE simulated quote: layout, the fixed sim measurements, the
 * Ed25519 signature, and who signed it (`trustedKey`, the development
 * attestation key of the signer the test started). Returns its report_data.
 */
export function verifySimQuote(quote, { trustedKey }) {
  quote = Buffer.from(quote);
  if (!quote.subarray(0, SIM_QUOTE_MAGIC.length).equals(Buffer.from(SIM_QUOTE_MAGIC))) {
    throw new Error('not a simulated quote (bad magic)');
  }
  if (quote.length !== SIGNED_SIZE + SIGNATURE_SIZE) {
    throw new Error(`simulated quote must be ${SIGNED_SIZE + SIGNATURE_SIZE} bytes, got ${quote.length}`);
  }
  let offset = SIM_QUOTE_MAGIC.length;
  for (const [i, register] of REGISTERS.entries()) {
    const value = quote.subarray(offset, offset + MEASUREMENT_SIZE);
    if (!value.equals(Buffer.from(SIM_MEASUREMENTS[i]))) {
      throw new Error(`${register} is not the simulated value: ${value.toString('hex')}`);
    }
    offset += MEASUREMENT_SIZE;
  }
  const reportData = quote.subarray(offset, offset + REPORT_DATA_SIZE);
  const signed = quote.subarray(0, SIGNED_SIZE);
  const publicKey = quote.subarray(SIGNED_SIZE - PUBLIC_KEY_SIZE, SIGNED_SIZE);
  if (!ed25519.verify(quote.subarray(SIGNED_SIZE), signed, publicKey)) {
    throw new Error('simulated quote signature does not verify');
  }
  if (!publicKey.equals(Buffer.from(trustedKey))) {
    throw new Error(`quote signed by development key ${publicKey.toString('hex')}, not the trusted one`);
  }
  return Buffer.from(reportData);
}
