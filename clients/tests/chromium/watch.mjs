// Open tern's watch page (/watch/NAME on a relay's HTTP listener) in Debian's headless
// Chromium, let it play, leave the page (the relay sees a WHEP session's DELETE then; the
// browser does not report that request), and print one JSON line with what it did.
//
// usage: node watch.mjs PAGE_URL SECONDS [OPTIONS_JSON]
//   OPTIONS_JSON: {"userAgent": "..."}: the user agent the browser gives (navigator.userAgent
//   and requests)
// env: CHROMIUM (default /usr/bin/chromium)
//
// stdout, one line: {json}
//   samples:   every 500 ms, {t, via, hls, state, frames, width, height} of window.ternWatch
//   watch:     window.ternWatch when the time is up (reason, error, steps, ...)
//   status:    the page's status line then
//   userAgent: navigator.userAgent as the page saw it
//   requests:  {method, path, status, authorization} of every request to the page's origin
//              but LL-HLS's
//   hls:       LL-HLS's requests: {count, tokens (the distinct values of their `token` query
//              parameter, null for none)}
//   foreign:   URLs of requests to any other origin
//   errors:    page errors and browser failures

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { launch } from './browser.mjs';

const [pageUrl, secondsArg, optionsArg] = process.argv.slice(2);
if (!pageUrl) {
  console.error('usage: node watch.mjs PAGE_URL SECONDS [OPTIONS_JSON]');
  process.exit(2);
}
const seconds = Number(secondsArg || 10);
const options = JSON.parse(optionsArg || '{}');
const origin = new URL(pageUrl).origin;

const userDataDir = mkdtempSync(join(tmpdir(), 'tern-watch-'));
const out = {
  samples: [],
  watch: null,
  status: null,
  userAgent: null,
  requests: [],
  hls: { count: 0, tokens: [] },
  foreign: [],
  console: [],
  errors: [],
};
let context;
const hardStop = setTimeout(() => {
  out.errors.push('hard timeout');
  process.stdout.write(`${JSON.stringify(out)}\n`);
  process.exit(1);
}, (seconds + 60) * 1000);

function record(request, status) {
  const url = new URL(request.url());
  if (url.protocol === 'data:' || url.protocol === 'blob:' || url.href === 'about:blank') return;
  if (url.origin !== origin) {
    out.foreign.push(url.href);
    return;
  }
  if (url.pathname.startsWith('/hls/')) {
    out.hls.count += 1;
    const token = url.searchParams.get('token');
    if (!out.hls.tokens.includes(token)) out.hls.tokens.push(token);
  } else {
    const authorization = request.headers().authorization ?? null;
    out.requests.push({ method: request.method(), path: url.pathname, status, authorization });
  }
}

try {
  context = await launch(userDataDir, {
    extraArgs: ['--autoplay-policy=no-user-gesture-required'],
    userAgent: options.userAgent,
  });
  context.on('requestfinished', async (r) => {
    const res = await r.response().catch(() => null);
    record(r, res ? res.status() : null);
  });
  context.on('requestfailed', (r) => record(r, `failed: ${r.failure()?.errorText ?? '?'}`));
  const page = context.pages()[0] || (await context.newPage());
  page.on('pageerror', (e) => out.errors.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (out.console.length < 100 && (m.type() === 'error' || m.type() === 'warning')) out.console.push(`${m.type()}: ${m.text()}`);
  });
  await page.goto(pageUrl, { timeout: 15000 });
  out.userAgent = await page.evaluate(() => navigator.userAgent);
  const started = Date.now();
  while (Date.now() - started < seconds * 1000) {
    await page.waitForTimeout(500);
    const s = await page.evaluate(() => {
      const w = window.ternWatch;
      return w ? { via: w.via, hls: w.hls, state: w.state, frames: w.frames, width: w.width, height: w.height } : null;
    });
    out.samples.push({ t: Date.now() - started, ...s });
  }
  out.watch = await page.evaluate(() => JSON.parse(JSON.stringify(window.ternWatch ?? null)));
  out.status = await page.textContent('#status', { timeout: 5000 });
  // Leave the page (a WHEP session is DELETEd as it goes), and give that request a second.
  await page.goto('about:blank', { timeout: 15000 });
  await new Promise((r) => setTimeout(r, 1000));
} catch (e) {
  out.errors.push(`browser: ${e && e.message ? e.message : e}`);
}
clearTimeout(hardStop);
if (context) await context.close().catch(() => {});
rmSync(userDataDir, { recursive: true, force: true });
// Exit once the whole report is written (a pipe takes 64 KiB at once).
process.stdout.write(`${JSON.stringify(out)}\n`, () => process.exit(0));
