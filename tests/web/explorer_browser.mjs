// Drives Debian's Chromium (headless, no sandbox) through playwright-core over
// the explorer pages that tests/web/test_explorer_browser.py lists in
// ANIMA_EXPLORER_VISITS: [{name, url, context, downloadIndex?}]. Visits
// sharing a `context` share the browser's storage (earlier visits). Saves a
// screenshot of each state and prints one line: RESULTS <json>.
import { chromium } from 'playwright-core';

const executablePath = process.env.ANIMA_CHROMIUM;
const artifacts = process.env.ANIMA_EXPLORER_ARTIFACTS;
const visits = JSON.parse(process.env.ANIMA_EXPLORER_VISITS);
const TIMEOUT_MS = Number(process.env.ANIMA_EXPLORER_TIMEOUT_MS ?? 60000);

const browser = await chromium.launch({ executablePath, headless: true, args: ['--headless', '--no-sandbox'] });
const contexts = new Map();
const results = {};
try {
  for (const visit of visits) {
    if (!contexts.has(visit.context)) contexts.set(visit.context, await browser.newContext({ acceptDownloads: true, viewport: { width: 1280, height: 900 } }));
    const page = await contexts.get(visit.context).newPage();
    const errors = [];
    page.on('pageerror', (exc) => errors.push(String(exc)));
    page.on('console', (msg) => msg.type() === 'error' && errors.push(msg.text()));
    await page.goto(visit.url);
    await page.waitForSelector('body[data-done="true"]', { timeout: TIMEOUT_MS });
    for (let i = 0; i < (visit.clickOlder ?? 0); i++) {
      await page.click('#older');
      await page.waitForSelector('body[data-done="true"]', { timeout: TIMEOUT_MS });
    }
    if (visit.filterKind) await page.selectOption('#filter-kind', visit.filterKind);
    const result = await page.evaluate(() => ({
      state: document.body.dataset.state,
      reason: document.body.dataset.reason ?? null,
      title: document.getElementById('banner-title').textContent,
      detail: document.getElementById('banner-detail').textContent,
      attestation: document.getElementById('attestation-badge').textContent,
      attestationDetail: document.getElementById('attestation-detail').textContent,
      history: document.getElementById('history').textContent,
      witnesses: document.getElementById('witnesses').textContent,
      cosignatures: document.getElementById('cosignatures').textContent,
      olderHidden: document.getElementById('older').hidden,
      rows: [...document.querySelectorAll('#entries tr')].map((tr) => ({
        index: Number(tr.dataset.index),
        status: tr.dataset.status,
        kind: tr.cells[2].textContent,
        proof: tr.cells[5].textContent,
        payload: tr.cells[6].textContent,
      })),
      bannerColor: getComputedStyle(document.getElementById('banner')).backgroundColor,
      badgeColor: getComputedStyle(document.getElementById('attestation-badge')).backgroundColor,
      timings: globalThis.explorer?.timings ?? {},
      // From navigation start: page, modules, attestation, checkpoint, tiles, proofs.
      lastVisibleVerifiedSinceNavigationMs: performance.getEntriesByName('explorer:last-visible-verified')[0]?.startTime ?? null,
    }));
    result.errors = errors;
    await page.screenshot({ path: `${artifacts}/${visit.name}.png`, fullPage: true });
    if (visit.downloadIndex !== undefined) {
      const [download] = await Promise.all([
        page.waitForEvent('download'),
        page.click(`tr[data-index="${visit.downloadIndex}"] button.download-proof`),
      ]);
      result.proofPath = `${artifacts}/${download.suggestedFilename()}`;
      await download.saveAs(result.proofPath);
    }
    results[visit.name] = result;
    await page.close();
  }
} finally {
  await browser.close();
}
console.log(`RESULTS ${JSON.stringify(results)}`);
