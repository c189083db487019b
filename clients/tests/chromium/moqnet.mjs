// Subscribe to a track on a relay with @moq/net 0.3.4 (moq-dev's browser client) in
// headless Chromium over WebTransport (moqt-18), or over a WebSocket (QMux) with WebTransport
// taken away from the page, as @moq/net does on Safari; print one JSON line with what it got.
//
// usage: node moqnet.mjs RELAY_URL FINGERPRINT_HEX [TIMEOUT_MS=90000] [MIN_OBJECTS=3]
//        [WEBSOCKET_URL] [NAMESPACE=clock] [TRACK=now]
//   WEBSOCKET_URL: ws://HOST:PORT/ — connect over WebSocket only (no WebTransport)
// env: CHROMIUM (default /usr/bin/chromium)
// The page and its esbuild bundle are served from 127.0.0.1 (a secure context, as
// WebTransport needs). Every wait is bounded.
import { createServer } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { launch } from './browser.mjs';

const [relay, fingerprint, timeoutArg, minArg, websocket = '', namespace = 'clock', track = 'now'] =
  process.argv.slice(2);
if (!relay || !fingerprint) {
  console.error('usage: node moqnet.mjs RELAY_URL FINGERPRINT_HEX [TIMEOUT_MS] [MIN_OBJECTS]');
  process.exit(2);
}
const timeoutMs = Number(timeoutArg || 90000);
const minObjects = Number(minArg || 3);
const here = dirname(fileURLToPath(import.meta.url));
const bundle = (await build({
  entryPoints: [join(here, 'moqnet-page.js')], bundle: true, format: 'esm', target: 'chrome110',
  write: false, logLevel: 'warning',
})).outputFiles[0].text;
const html = '<!doctype html><meta charset="utf-8"><title>@moq/net</title><script type="module" src="/page.js"></script>';
const server = createServer((req, res) => {
  const path = new URL(req.url, 'http://x').pathname;
  const [type, body] = path === '/' ? ['text/html', html] : path === '/page.js' ? ['text/javascript', bundle] : [null, null];
  res.writeHead(type ? 200 : 404, type ? { 'content-type': type, 'cache-control': 'no-store' } : {});
  res.end(body ?? '');
}).listen(0, '127.0.0.1');
await new Promise((r) => server.once('listening', r));
const pageUrl = `http://127.0.0.1:${server.address().port}/?` +
  new URLSearchParams({ relay, fingerprint, namespace, track, websocket });

const userDataDir = mkdtempSync(join(tmpdir(), 'tern-moqnet-'));
const result = { ok: false, page: pageUrl, console: [] };
let context;
const hardStop = setTimeout(() => {
  result.reason = `hard timeout after ${timeoutMs + 30000} ms`;
  console.log(JSON.stringify(result));
  process.exit(1);
}, timeoutMs + 30000);
try {
  context = await launch(userDataDir);
  const page = context.pages()[0] || (await context.newPage());
  page.on('console', (m) => result.console.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => result.console.push(`pageerror: ${e.message}`));
  await page.goto(pageUrl, { timeout: 15000 });
  try {
    await page.waitForFunction(
      (n) => { const s = window.ternMoqNet; return !!s && (s.objects >= n || s.state === 'failed'); },
      minObjects, { timeout: timeoutMs, polling: 100 });
  } catch {
    result.reason = `timed out after ${timeoutMs} ms waiting for ${minObjects} objects`;
  }
  const s = await page.evaluate(() => window.ternMoqNet || null);
  Object.assign(result, { state: s?.state ?? null, version: s?.version ?? null,
    transport: s?.transport ?? null,
    values: s?.values ?? [], objects: s?.objects ?? 0, errors: s?.errors ?? [] });
  result.ok = result.objects >= minObjects && result.errors.length === 0;
  if (!result.ok && !result.reason) result.reason = result.errors.join('; ') || 'too few objects';
} catch (e) {
  result.reason = `browser: ${e?.message ?? e}`;
} finally {
  clearTimeout(hardStop);
  if (context) await context.close().catch(() => {});
  rmSync(userDataDir, { recursive: true, force: true });
  server.close();
}
console.log(JSON.stringify(result));
process.exit(result.ok ? 0 : 1);
