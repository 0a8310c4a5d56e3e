// The log's public HTTP routes under /v1/logs/{agent}/ (a tlog-tiles URL
// prefix plus Anima's attestation and payload routes). Only fetching lives
// here; nothing fetched is trusted.
import { Reason, VerificationError } from './errors.js';

const MAX_RETRIES = 2; // attestation is rate-limited (429 with Retry-After)
const MAX_BODY_BYTES = 256 * (2 + 0xffff); // a full bundle of the largest entries

async function body(response, url) {
  const declared = Number(response.headers.get('content-length'));
  if (declared > MAX_BODY_BYTES) throw new VerificationError(Reason.FETCH_FAILED, `${url} is ${declared} bytes, more than any tile`);
  const bytes = new Uint8Array(await response.arrayBuffer());
  if (bytes.length > MAX_BODY_BYTES) throw new VerificationError(Reason.FETCH_FAILED, `${url} is larger than any tile`);
  return bytes;
}

export class LogApi {
  /** `base`: the log's URL prefix, ending in '/', e.g. new URL('/v1/logs/alice/', location). */
  constructor(base, { fetchImpl = globalThis.fetch.bind(globalThis), sleep = (ms) => new Promise((r) => setTimeout(r, ms)) } = {}) {
    this.base = String(base);
    this.fetch = fetchImpl;
    this.sleep = sleep;
  }

  url(path) {
    return new URL(path, this.base).href;
  }

  async get(path, init = {}) {
    const url = this.url(path);
    for (let attempt = 0; ; attempt++) {
      let response;
      try {
        response = await this.fetch(url, { credentials: 'omit', ...init });
      } catch (exc) {
        throw new VerificationError(Reason.FETCH_FAILED, `could not fetch ${path}: ${exc.message}`);
      }
      if (response.status === 429 && attempt < MAX_RETRIES) {
        const wait = Math.min(5, Number(response.headers.get('retry-after')) || 1);
        await this.sleep(wait * 1000);
        continue;
      }
      return response;
    }
  }

  /** A tlog-tiles path's bytes, or null when the log has nothing there (404). */
  async read(path) {
    const response = await this.get(path, path === 'checkpoint' ? { cache: 'no-store' } : {});
    if (response.status === 404) return null;
    if (!response.ok) throw new VerificationError(Reason.FETCH_FAILED, `${path}: HTTP ${response.status}`);
    return body(response, path);
  }

  async json(path) {
    const response = await this.get(path, { cache: 'no-store' });
    if (!response.ok) {
      let detail = '';
      try {
        detail = (await response.json())?.error?.message ?? '';
      } catch {
        // not the API's error shape
      }
      throw new VerificationError(Reason.FETCH_FAILED, `${path.split('?')[0]}: HTTP ${response.status} ${detail}`.trim());
    }
    return response.json();
  }

  /** An entry's payload: {state: 'public', bytes} | {state: 'private' | 'redacted' | 'absent'}. */
  async payload(index) {
    const response = await this.get(`entries/${index}/payload`);
    if (response.ok) return { state: 'public', bytes: await body(response, 'payload') };
    if (response.status === 401 || response.status === 403) return { state: 'private' };
    if (response.status === 410) return { state: 'redacted' };
    return { state: 'absent', status: response.status };
  }
}
