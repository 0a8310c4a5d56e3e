// The attestation that binds the agent's log key, as anima_verify/attestation:
// report_data = SHA-512(len||"anima/attestation/report-data/v1" || len||bound keys
// || len||TLS key || len||nonce) with the visitor's own fresh nonce, and the
// bound keys (anima_signer_api/binding.py) name the log verifier key.
// Simulated evidence ("sim") is checked (layout, measurements, signature,
// binding) and always reported INSECURE: anyone can make one. TDX quotes are
// verified with dcap-qvl compiled to WebAssembly (the library anima_verify
// uses, Intel's root CA built in) against the collateral the host attaches, at
// the browser's clock; they count as attested only when the visitor names the
// measurements to expect (`mrtd`, optionally `rtmr0`..`rtmr3`), since a genuine
// quote from an enclave running other code proves nothing about this agent.
import initDcap, { js_verify as dcapVerify } from '../vendor/dcap-qvl-web.js';
import { sha384, sha512 } from '../vendor/noble.js';
import { decodeUtf8, equalBytes, fromBase64, fromHex, toHex, utf8 } from './bytes.js';
import { Reason, VerificationError, fail } from './errors.js';
import { addressOf } from './eth.js';
import { parseVerifierKey } from './note.js';

const REPORT_DATA_DOMAIN = utf8.encode('anima/attestation/report-data/v1');
const SIM_QUOTE_MAGIC = utf8.encode('ANIMA-INSECURE-SIM-QUOTE/v1');
const MEASUREMENT_SIZE = 48;
const REPORT_DATA_SIZE = 64;
const PUBLIC_KEY_SIZE = 32;
const SIGNATURE_SIZE = 64;
const SIM_SIGNED_SIZE = SIM_QUOTE_MAGIC.length + 5 * MEASUREMENT_SIZE + REPORT_DATA_SIZE + PUBLIC_KEY_SIZE;
const REGISTERS = ['mrtd', 'rtmr0', 'rtmr1', 'rtmr2', 'rtmr3'];
const SIM_MEASUREMENTS = REGISTERS.map((r) => sha384(utf8.encode(`anima/sim/${r}`)));
export const NONCE_SIZE = 32;
export const ALLOWED_TCB_STATUSES = new Set(['UpToDate']); // as MeasurementPolicy's default
const TDX_REGISTERS = { mrtd: 'mr_td', rtmr0: 'rt_mr0', rtmr1: 'rt_mr1', rtmr2: 'rt_mr2', rtmr3: 'rt_mr3' };

let dcapReady = null;
/** dcap-qvl's verify function, its WebAssembly loaded once, on the first TDX quote. */
async function loadDcap() {
  dcapReady ??= initDcap({ module_or_path: new URL('../vendor/dcap-qvl-web_bg.wasm', import.meta.url) });
  await dcapReady;
  return dcapVerify;
}

/**
 * Verify a TDX quote against its collateral (a parsed JSON object) at
 * `nowSeconds`: the signature chain to Intel's root, the collateral's
 * signatures and validity, the platform's TCB status (UpToDate only). Returns
 * {status, advisoryIds, measurements: {mrtd, rtmr0..3} (hex), reportData}.
 */
export async function verifyTdxQuote(quote, collateral, nowSeconds, { verify = null } = {}) {
  const run = verify ?? (await loadDcap());
  let verified;
  try {
    verified = run(quote, collateral, BigInt(Math.floor(nowSeconds)));
  } catch (exc) {
    throw bad(`the TDX quote does not verify: ${exc?.message ?? exc}`);
  }
  const report = verified?.report?.TD10 ?? verified?.report?.TD15;
  if (!report) throw bad('the quote is not a TDX TD report');
  if (!ALLOWED_TCB_STATUSES.has(verified.status)) {
    const advisories = (verified.advisory_ids ?? []).join(', ') || 'none';
    throw bad(`the platform's TCB status is ${verified.status} (advisories: ${advisories}); only ${[...ALLOWED_TCB_STATUSES].join(', ')} is accepted`);
  }
  const measurements = Object.fromEntries(Object.entries(TDX_REGISTERS).map(([name, field]) => [name, report[field]]));
  return { status: verified.status, advisoryIds: verified.advisory_ids ?? [], measurements, reportData: fromHex(report.report_data) };
}

/** Which registers the visitor pinned ({mrtd: [hex], rtmr0: [hex], ...}) must hold. */
export function checkMeasurements(measurements, expected) {
  for (const [register, allowed] of Object.entries(expected)) {
    if (allowed.length && !allowed.includes(measurements[register])) {
      throw bad(`${register} is ${measurements[register]}, not one of the ${allowed.length} value(s) expected`);
    }
  }
}

export function bindReportData({ boundKeys, tlsPublicKey, nonce }) {
  const h = sha512.create();
  for (const part of [REPORT_DATA_DOMAIN, boundKeys, tlsPublicKey, nonce]) {
    const length = new Uint8Array(4);
    new DataView(length.buffer).setUint32(0, part.length);
    h.update(length);
    h.update(part);
  }
  return h.digest();
}

const bad = (message) => new VerificationError(Reason.ATTESTATION_FAILED, message);

/** Check an INSECURE simulated quote; its report_data and the development key that signed it. */
export async function verifySimQuote(quote) {
  if (!equalBytes(quote.subarray(0, SIM_QUOTE_MAGIC.length), SIM_QUOTE_MAGIC)) throw bad('not a simulated quote (bad magic)');
  if (quote.length !== SIM_SIGNED_SIZE + SIGNATURE_SIZE) {
    throw bad(`a simulated quote is ${SIM_SIGNED_SIZE + SIGNATURE_SIZE} bytes, got ${quote.length}`);
  }
  let offset = SIM_QUOTE_MAGIC.length;
  for (const [i, register] of REGISTERS.entries()) {
    if (!equalBytes(quote.subarray(offset, offset + MEASUREMENT_SIZE), SIM_MEASUREMENTS[i])) {
      throw bad(`${register} is not the simulated enclave's value`);
    }
    offset += MEASUREMENT_SIZE;
  }
  const reportData = quote.slice(offset, offset + REPORT_DATA_SIZE);
  const signed = quote.subarray(0, SIM_SIGNED_SIZE);
  const developmentKey = quote.slice(SIM_SIGNED_SIZE - PUBLIC_KEY_SIZE, SIM_SIGNED_SIZE);
  const key = await crypto.subtle.importKey('raw', developmentKey, { name: 'Ed25519' }, false, ['verify']);
  if (!(await crypto.subtle.verify({ name: 'Ed25519' }, key, quote.subarray(SIM_SIGNED_SIZE), signed))) {
    throw bad('the simulated quote signature does not verify: the quote was altered');
  }
  return { reportData, developmentKey };
}

/** The agent's public keys from the bound-keys document, checked for consistency. */
export function parseBoundKeys(bytes, agentId) {
  let doc;
  try {
    doc = JSON.parse(decodeUtf8(bytes));
  } catch {
    throw bad('the bound keys are not JSON');
  }
  if (doc?.v !== 1) throw bad(`the bound keys have version ${doc?.v}, want 1`);
  if (doc.agent_id !== agentId) throw bad(`the attestation binds the keys of agent ${JSON.stringify(doc.agent_id)}, not ${JSON.stringify(agentId)}`);
  const logKey = parseVerifierKey(doc.log_verifier_key);
  if (toHex(logKey.publicKey) !== doc.log_public_key) throw bad('the bound log verifier key and log public key differ');
  if (!Array.isArray(doc.wallets)) throw bad('the bound keys have no wallets');
  const wallets = doc.wallets.map((w) => {
    if (!Array.isArray(w) || w.length !== 3) throw bad('a bound wallet is not [index, address, public key]');
    const [index, address, publicKey] = w;
    let derived;
    try {
      derived = addressOf(fromHex(publicKey));
    } catch {
      throw bad(`wallet ${index}: its public key is not a secp256k1 point`);
    }
    if (derived !== address) throw bad(`wallet ${index}: address ${address} is not its public key's (${derived})`);
    return { index, address, publicKey };
  });
  return { agentId, logKey, wallets, signingPublicKey: doc.signing_public_key };
}

/**
 * Fetch fresh evidence for `agentId` with our own nonce and verify it.
 * Returns {tee, state: 'insecure' | 'unverified', keys, detail}; throws
 * VerificationError(ATTESTATION_FAILED) when the evidence is wrong.
 */
export async function verifyAttestation(api, agentId, { measurements = {}, now = () => Date.now() / 1000 } = {}) {
  const nonce = crypto.getRandomValues(new Uint8Array(NONCE_SIZE));
  const body = await api.json(`attestation?nonce=${toHex(nonce)}`);
  let boundKeys;
  let tlsPublicKey;
  let quote;
  try {
    boundKeys = fromBase64(body.bound_keys);
    tlsPublicKey = fromBase64(body.tls_public_key);
    quote = fromBase64(body.quote);
  } catch {
    throw bad('the attestation response is not well formed (base64 fields)');
  }
  const keys = parseBoundKeys(boundKeys, agentId);
  const expected = bindReportData({ boundKeys, tlsPublicKey, nonce });
  if (body.tee === 'sim') {
    const { reportData, developmentKey } = await verifySimQuote(quote);
    if (!equalBytes(reportData, expected)) {
      throw bad("the quote's report_data does not bind these keys and this visit's nonce (a replay, or other keys)");
    }
    return {
      tee: 'sim',
      state: 'insecure',
      keys,
      detail: `simulated TEE (no hardware); the quote is signed by development key ${toHex(developmentKey).slice(0, 16)}…, which anyone can run: it proves nothing about this agent`,
    };
  }
  if (body.tee === 'tdx') {
    if (!body.collateral_json) throw bad('the TDX evidence carries no collateral to verify it against');
    let collateral;
    try {
      collateral = JSON.parse(decodeUtf8(fromBase64(body.collateral_json)));
    } catch {
      throw bad('the TDX collateral is not base64 JSON');
    }
    const verified = await verifyTdxQuote(quote, collateral, now());
    if (!equalBytes(verified.reportData, expected)) {
      throw bad("the quote's report_data does not bind these keys and this visit's nonce (a replay, or other keys)");
    }
    const pinned = Object.values(measurements).some((values) => values.length);
    checkMeasurements(verified.measurements, measurements);
    const mrtd = `MRTD ${verified.measurements.mrtd.slice(0, 16)}…`;
    return {
      tee: 'tdx',
      state: pinned ? 'attested' : 'unpinned',
      keys,
      measurements: verified.measurements,
      detail: pinned
        ? `Intel TDX, TCB ${verified.status}, ${mrtd}: the measurements you named; binds this log key and this visit's nonce`
        : `a genuine Intel TDX quote (TCB ${verified.status}, ${mrtd}) binds this log key, but no measurements were named (&mrtd=...): it could be any code in a TDX enclave`,
    };
  }
  fail(Reason.ATTESTATION_FAILED, `unknown TEE ${JSON.stringify(body.tee)}`);
}
