// The explorer page: drives verifier.js and shows what it found. The page
// state (body[data-state]: verifying, verified, unwitnessed, failed) and the reason
// (body[data-reason]) are what a visitor sees as the banner's colour and text.
import { VerificationError } from './errors.js';
import { CheckpointHistory } from './history.js';
import { checkLifecyclePayload, checkPayload, checkSignaturePayload } from './payloads.js';
import { LogApi } from './source.js';
import { formatTlogProof } from './tlogproof.js';
import { openLog, rememberCheckpoint, trustedLogKey, verifyEntries } from './verifier.js';
import { witnessPolicy } from './witness.js';

export const PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 256; // one entry bundle
let pageSize = PAGE_SIZE;
const PAYLOAD_CONCURRENCY = 4;
const $ = (id) => document.getElementById(id);

function text(el, value) {
  el.textContent = value; // never innerHTML: entries and errors are the server's words
  return el;
}

function cell(row, value, className = '') {
  const td = row.insertCell();
  text(td, value);
  if (className) td.className = className;
  return td;
}

const state = { entries: [], next: 0, failures: [] };
export const timings = {};
globalThis.explorer = { timings, state };

function setBanner(kind, title, detail = '', reason = '') {
  document.body.dataset.state = kind;
  if (reason) document.body.dataset.reason = reason;
  else delete document.body.dataset.reason;
  text($('banner-title'), title);
  text($('banner-detail'), detail);
}

function failPage(error) {
  const reason = error instanceof VerificationError ? error.reason : 'INTERNAL';
  setBanner('failed', `Verification FAILED (${reason})`, error.message, reason);
}

function showIdentity(agentId, trust) {
  $('identity').hidden = false;
  text($('agent-id'), agentId);
  const { attestation, logKey } = trust;
  const badge = $('attestation-badge');
  const labels = { insecure: 'INSECURE', unpinned: 'UNPINNED', failed: 'FAILED', attested: 'ATTESTED' };
  text(badge, labels[attestation.state] ?? attestation.state);
  badge.className = `badge ${attestation.state}`;
  text($('attestation-detail'), attestation.detail ?? '');
  text($('log-key'), logKey.text);
  const wallets = $('wallets');
  wallets.replaceChildren();
  for (const w of attestation.keys?.wallets ?? []) {
    const line = document.createElement('div');
    text(line, `#${w.index} ${w.address}`);
    wallets.append(line);
  }
}

function showLog(opened) {
  $('log').hidden = false;
  const { checkpoint, seen, cosignatures } = opened;
  text($('checkpoint'), `${checkpoint.origin}, size ${checkpoint.size}, root ${[...checkpoint.rootHash.slice(0, 8)].map((b) => b.toString(16).padStart(2, '0')).join('')}…, signature verified`);
  const history = {
    'first-visit': 'first visit from this browser: this checkpoint is remembered, and the next visit must extend it',
    unchanged: `the same checkpoint as on your visit of ${seen.previous?.seenAt}`,
    extends: `extends (consistency proof verified) the checkpoint of size ${seen.previous?.size} you saw on ${seen.previous?.seenAt}`,
  };
  text($('history'), history[seen.state]);
  const when = (t) => new Date(Number(t) * 1000).toISOString().replace('.000Z', 'Z');
  text(
    $('witnesses'),
    opened.witnessed
      ? `cosigned by ${opened.witnessed.map((c) => `${c.name} at ${when(c.timestamp)}`).join(', ')} (quorum ${opened.witnessPolicy.quorum} of the ${opened.witnessPolicy.witnesses.length} witnesses you pinned)`
      : 'UNWITNESSED: no witness keys pinned (&witness=name+keyid+base64key), so a host that rolled the signer back could show you a forked log',
  );
  text(
    $('cosignatures'),
    cosignatures.length ? `${cosignatures.length} by keys you did not pin (${cosignatures.map((s) => s.name).join(', ')}), not trusted` : 'none',
  );
}

function fillFilter(select, values) {
  const current = select.value;
  select.replaceChildren(new Option('any', ''));
  for (const v of [...values].sort()) select.append(new Option(v, v));
  select.value = current;
}

function matchesFilters(r) {
  if (!r.entry) return true; // failed entries are always shown
  const f = (id) => $(id).value;
  if (f('filter-kind') && r.entry.kind !== f('filter-kind')) return false;
  if (f('filter-actor') && r.entry.actor !== f('filter-actor')) return false;
  if (f('filter-room') && r.entry.room !== f('filter-room')) return false;
  if (f('filter-since') && r.entry.timeMs < new Date(f('filter-since')).getTime()) return false;
  if (f('filter-until') && r.entry.timeMs >= new Date(f('filter-until')).getTime()) return false;
  return true;
}

function payloadText(r) {
  const p = r.payload;
  if (r.status === 'failed') return ['not checked', 'muted'];
  if (!p) return ['…', 'muted'];
  if (p.error) return [`✗ ${p.error.reason}: ${p.error.message}`, 'bad'];
  const sig = p.signature;
  const sigText = !sig ? '' : sig.state === 'recovered' ? `; signature recovers to wallet #${sig.wallet} ${sig.address}` : `; signature not checkable: ${sig.why}`;
  const creationText = p.creation?.state === 'matches-attestation' ? '; names the attested keys' : '';
  const labels = { matches: '✓ hash matches', private: 'private', redacted: 'redacted', absent: 'not served' };
  return [`${labels[p.state] ?? p.state}${sigText}${creationText}`, p.state === 'matches' ? 'ok' : 'muted'];
}

function renderEntries(opened) {
  const body = $('entries');
  body.replaceChildren();
  for (const r of state.entries.filter(matchesFilters)) {
    const row = body.insertRow();
    row.dataset.index = r.index;
    row.dataset.status = r.status;
    if (r.status === 'failed') row.className = 'failed';
    const shown = r.entry ?? r.claimed; // a failed entry: what the server claims, unverified
    cell(row, String(r.index));
    cell(row, shown ? new Date(shown.timeMs).toISOString().replace('T', ' ').slice(0, 19) : '', 'time');
    cell(row, shown?.kind ?? '');
    cell(row, shown?.actor ?? '');
    cell(row, shown?.room ?? '');
    if (r.status === 'included') cell(row, '✓ included', 'ok');
    else cell(row, `✗ ${r.error.reason}: ${r.error.message}`, 'bad');
    const [ptext, pclass] = payloadText(r);
    cell(row, ptext, pclass).className += ' payload';
    const action = row.insertCell();
    if (r.status === 'included') {
      const button = document.createElement('button');
      button.type = 'button';
      button.className = 'download-proof';
      text(button, 'proof');
      button.title = 'Download this entry\'s inclusion proof (C2SP tlog-proof)';
      button.addEventListener('click', () => downloadProof(r, opened));
      action.append(button);
    }
  }
  const loaded = state.entries.filter((r) => r.entry);
  fillFilter($('filter-kind'), new Set(loaded.map((r) => r.entry.kind)));
  fillFilter($('filter-actor'), new Set(loaded.map((r) => r.entry.actor)));
  fillFilter($('filter-room'), new Set(loaded.map((r) => r.entry.room)));
  $('older').hidden = state.next <= 0;
}

function downloadProof(r, opened) {
  const proofText = formatTlogProof({ index: r.index, proof: r.proof, checkpointNote: opened.bytes, entry: r.bytes });
  const link = document.createElement('a');
  link.href = URL.createObjectURL(new Blob([proofText], { type: 'text/plain' }));
  link.download = `entry-${r.index}.tlog-proof`;
  link.click();
  setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
}

async function checkPayloads(api, results, keys, opened) {
  const queue = results.filter((r) => r.entry);
  const worker = async () => {
    for (let r = queue.shift(); r; r = queue.shift()) {
      try {
        const payload = await checkPayload(api, r.entry);
        if (payload.state === 'matches' && r.entry.kind === 'signature') payload.signature = checkSignaturePayload(payload.bytes, keys?.wallets);
        if (payload.state === 'matches' && r.entry.kind === 'lifecycle' && r.entry.actor === 'signer') payload.creation = checkLifecyclePayload(payload.bytes, keys);
        r.payload = payload;
      } catch (exc) {
        if (!(exc instanceof VerificationError)) throw exc;
        r.payload = { error: exc };
        state.failures.push(exc);
      }
    }
  };
  await Promise.all(Array.from({ length: PAYLOAD_CONCURRENCY }, worker));
  renderEntries(opened);
}

async function loadPage(api, opened, agentId) {
  const end = state.next;
  const start = Math.max(0, end - pageSize);
  const results = await verifyEntries({ tiles: opened.tiles, checkpoint: opened.checkpoint, agentId, start, end });
  state.entries.push(...results);
  state.next = start;
  state.failures.push(...results.filter((r) => r.error).map((r) => r.error));
  renderEntries(opened);
  return results;
}

// When several checks fail, the most specific reason leads: a hash tile that
// disagrees with its entries also breaks every proof that passes through it.
const FAILURE_PRIORITY = ['TILE_MISMATCH', 'MALFORMED_TILE', 'MALFORMED_ENTRY', 'PAYLOAD_MISMATCH', 'SIGNATURE_MISMATCH'];
const rank = (exc) => {
  const at = FAILURE_PRIORITY.indexOf(exc.reason);
  return at < 0 ? FAILURE_PRIORITY.length : at;
};

function summarize(opened) {
  if (state.failures.length) {
    failPage([...state.failures].sort((a, b) => rank(a) - rank(b))[0]);
    return;
  }
  const shown = state.entries.length;
  const entries = `${shown} entr${shown === 1 ? 'y' : 'ies'} shown, each included in it`;
  if (!opened.witnessed) {
    // Never green without witnesses: a rolled-back signer's fork would look the same.
    setBanner(
      'unwitnessed',
      'UNWITNESSED checkpoint (INSECURE)',
      `checkpoint of size ${opened.checkpoint.size} signed by the agent's log key, but no witness you trust cosigned it: pin witness keys with &witness=; ${entries}`,
      'UNWITNESSED',
    );
    return;
  }
  const names = opened.witnessed.map((c) => c.name).join(', ');
  setBanner('verified', 'Verified', `checkpoint of size ${opened.checkpoint.size} signed by the agent's log key and cosigned by ${names}; ${entries}`);
}

/**
 * Where the log is: this page's own host, or `server` (an http(s) origin) when
 * the page is served from somewhere the visitor trusts more than the log's host
 * (a copy of these files on another origin; the log host must allow it by CORS).
 */
function logBase(agentId, server) {
  const path = `v1/logs/${encodeURIComponent(agentId)}/`;
  if (!server) return new URL(`../${path}`, location.href);
  const origin = new URL(server);
  if (origin.protocol !== 'https:' && origin.protocol !== 'http:') throw new VerificationError('FETCH_FAILED', `server ${server} is not an http(s) URL`);
  return new URL(`/${path}`, origin);
}

export async function explore(agentId, { pinnedKey = null, server = null, measurements = {}, witnessKeys = [], quorum = null } = {}) {
  const t0 = performance.now();
  setBanner('verifying', 'Verifying…', agentId);
  Object.assign(state, { entries: [], next: 0, failures: [] });
  $('timeline').hidden = true;
  $('identity').hidden = true;
  $('log').hidden = true;
  let base;
  try {
    base = logBase(agentId, server);
  } catch (exc) {
    failPage(exc instanceof VerificationError ? exc : new VerificationError('FETCH_FAILED', `bad server URL: ${exc.message}`));
    document.body.dataset.done = 'true';
    return;
  }
  const api = new LogApi(base);
  const history = new CheckpointHistory(globalThis.localStorage);
  // One history per agent on this host, whatever path the page was reached by.
  const historyKey = `${base.origin}/${agentId}`;
  try {
    const trust = await trustedLogKey(api, agentId, { pinnedKey, measurements });
    showIdentity(agentId, trust);
    timings.keyMs = performance.now() - t0;
    const policy = witnessPolicy(witnessKeys, quorum);
    const opened = { ...(await openLog(api, { logKey: trust.logKey, witnessPolicy: policy, history, historyKey })), witnessPolicy: policy };
    timings.checkpointMs = performance.now() - t0;
    globalThis.explorer.opened = opened;
    showLog(opened);
    $('timeline').hidden = false;
    state.next = opened.checkpoint.size;
    await loadPage(api, opened, agentId);
    timings.lastVisibleVerifiedMs = performance.now() - t0;
    performance.mark('explorer:last-visible-verified');
    if (!state.failures.length) rememberCheckpoint(history, historyKey, { logKey: trust.logKey, ...opened });
    summarize(opened);
    const keys = trust.attestation.keys;
    $('older').onclick = async () => {
      document.body.dataset.done = 'false';
      try {
        const results = await loadPage(api, opened, agentId);
        await checkPayloads(api, results, keys, opened);
        summarize(opened);
      } catch (exc) {
        failPage(exc);
      }
      document.body.dataset.done = 'true';
    };
    await checkPayloads(api, state.entries, keys, opened);
    timings.payloadsMs = performance.now() - t0;
    summarize(opened);
    document.body.dataset.done = 'true';
  } catch (exc) {
    failPage(exc);
    document.body.dataset.done = 'true';
    if (!(exc instanceof VerificationError)) throw exc;
  }
}

function main() {
  const params = new URLSearchParams(location.search);
  const agents = params.getAll('agent');
  const form = $('agent-form');
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const next = new URLSearchParams({ agent: $('agent-input').value.trim() });
    for (const name of ['server', 'quorum']) if (params.get(name)) next.set(name, params.get(name));
    for (const w of params.getAll('witness')) next.append('witness', w);
    location.search = next.toString();
  });
  for (const id of ['filter-kind', 'filter-actor', 'filter-room', 'filter-since', 'filter-until']) {
    $(id).addEventListener('change', () => renderEntries(globalThis.explorer.opened));
  }
  if (agents.length > 1) {
    const nav = $('agents');
    nav.hidden = false;
    for (const id of agents) {
      const link = document.createElement('a');
      // The chosen agent first (the one verified), the others kept for the list.
      link.href = `?${[id, ...agents.filter((a) => a !== id)].map((a) => `agent=${encodeURIComponent(a)}`).join('&')}`;
      text(link, id);
      nav.append(link);
    }
  }
  const asked = Number(params.get('page'));
  if (Number.isInteger(asked) && asked >= 1 && asked <= MAX_PAGE_SIZE) pageSize = asked;
  if (agents.length) {
    $('agent-input').value = agents[0];
    // Measurements the visitor expects of a TDX enclave: &mrtd=<hex>&rtmr0=<hex>...
    const measurements = Object.fromEntries(['mrtd', 'rtmr0', 'rtmr1', 'rtmr2', 'rtmr3'].map((r) => [r, params.getAll(r).map((v) => v.toLowerCase())]));
    // Witnesses the visitor trusts: &witness=<vkey> (repeatable), &quorum=N (default: all).
    // A key pasted unencoded has its '+' read as spaces; keys hold no spaces, so undo that.
    explore(agents[0], { pinnedKey: params.get('key'), server: params.get('server'), measurements, witnessKeys: params.getAll('witness').map((w) => w.replaceAll(' ', '+')), quorum: params.get('quorum') });
  }
}

main();
