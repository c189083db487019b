// Publish Chromium's fake camera and microphone over WHIP with the relay's publish page, keep it
// up for a while, then stop (DELETE) or leave (close the browser), and print one JSON line.
//
// usage: node whip.mjs PAGE_URL SECONDS [END=delete|close]
//   PAGE_URL: http://HOST:PORT/publish.html?path=live/x&codec=vp8&autostart=1 ...
// env: CHROMIUM (default /usr/bin/chromium); TERN_WHIP_INSECURE=1 accepts any certificate
//
// Exit 0 with {"ok": true, ...} once the page was connected for SECONDS; exit 1 with
// {"ok": false, "reason": ...} otherwise. Every wait is bounded.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { launch } from './browser.mjs';

const [pageUrl, secondsArg, end = 'delete'] = process.argv.slice(2);
if (!pageUrl || !secondsArg) {
  console.error('usage: node whip.mjs PAGE_URL SECONDS [delete|close]');
  process.exit(2);
}
const seconds = Number(secondsArg);
const userDataDir = mkdtempSync(join(tmpdir(), 'tern-whip-'));
const result = { ok: false, page: pageUrl, console: [] };
const hardStop = setTimeout(() => {
  result.reason = 'hard timeout';
  console.log(JSON.stringify(result));
  process.exit(1);
}, (seconds + 60) * 1000);

let context;
try {
  context = await launch(userDataDir, {
    extraArgs: [
      '--use-fake-device-for-media-stream',
      '--use-fake-ui-for-media-stream',
      // A relay off loopback serves HTTPS with its self-signed certificate.
      ...(process.env.TERN_WHIP_INSECURE ? ['--ignore-certificate-errors'] : []),
    ],
  });
  const page = await context.newPage();
  page.on('console', (m) => result.console.push(m.text()));
  await page.goto(pageUrl);
  await page.waitForFunction(
    () => ['connected', 'failed'].includes(window.ternWhip && window.ternWhip.state),
    null,
    { timeout: 20000 },
  );
  let s = await page.evaluate(() => window.ternWhip);
  result.location = s.location;
  if (s.state !== 'connected') {
    result.reason = `the page said ${s.state}: ${s.error}`;
    throw new Error(result.reason);
  }
  const connectedAt = Date.now();
  while (Date.now() - connectedAt < seconds * 1000) {
    await page.waitForTimeout(250);
    s = await page.evaluate(() => window.ternWhip);
    if (s.state !== 'connected') {
      result.reason = `dropped after ${Date.now() - connectedAt} ms: ${s.state} ${s.error}`;
      throw new Error(result.reason);
    }
  }
  if (end === 'delete') {
    await page.evaluate(() => window.ternWhipStop());
    s = await page.evaluate(() => window.ternWhip);
    result.stopped = s.state;
  }
  result.ok = true;
} catch (e) {
  result.reason = result.reason || String(e);
} finally {
  clearTimeout(hardStop);
  if (context) await context.close().catch(() => {});
  rmSync(userDataDir, { recursive: true, force: true });
}
console.log(JSON.stringify(result));
process.exit(result.ok ? 0 : 1);
