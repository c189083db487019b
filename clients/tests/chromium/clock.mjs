// Open tern's clock page in Debian's headless Chromium, wait until it shows enough distinct
// clock values, take a screenshot and print one JSON line with what the page saw.
//
// usage: node clock.mjs PAGE_URL SCREENSHOT_PNG [TIMEOUT_MS=30000] [MIN_VALUES=3]
// env: CHROMIUM (default /usr/bin/chromium)
//
// Exit 0 with {"ok": true, ...} when the page showed MIN_VALUES distinct clock values in
// time; exit 1 with {"ok": false, "reason": ...} otherwise. Every wait is bounded.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { launch } from './browser.mjs';

const [pageUrl, screenshot, timeoutArg, minArg] = process.argv.slice(2);
if (!pageUrl || !screenshot) {
  console.error('usage: node clock.mjs PAGE_URL SCREENSHOT_PNG [TIMEOUT_MS] [MIN_VALUES]');
  process.exit(2);
}
const timeoutMs = Number(timeoutArg || 30000);
const minValues = Number(minArg || 3);

const userDataDir = mkdtempSync(join(tmpdir(), 'tern-chromium-'));
const result = { ok: false, page: pageUrl, console: [] };
let context;
const hardStop = setTimeout(() => {
  // Last resort if the browser itself hangs: report and exit.
  result.reason = `hard timeout after ${timeoutMs + 30000} ms`;
  console.log(JSON.stringify(result));
  process.exit(1);
}, timeoutMs + 30000);

try {
  context = await launch(userDataDir, { viewport: { width: 900, height: 520 } });
  const page = context.pages()[0] || (await context.newPage());
  page.on('console', (m) => result.console.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => result.console.push(`pageerror: ${e.message}`));
  await page.goto(pageUrl, { timeout: 15000 });
  try {
    await page.waitForFunction(
      (n) => {
        const s = window.ternClock;
        return !!s && (new Set(s.values).size >= n || s.state === 'failed');
      },
      minValues,
      { timeout: timeoutMs, polling: 100 },
    );
  } catch (e) {
    result.reason = `timed out after ${timeoutMs} ms waiting for ${minValues} clock values`;
  }
  const status = await page.evaluate(() => window.ternClock || null);
  result.browser = context.browser()?.version() ?? null;
  result.state = status?.state ?? null;
  result.values = status ? [...new Set(status.values)] : [];
  result.objects = status?.objects ?? 0;
  result.errors = status?.errors ?? [];
  result.clock = await page.textContent('#clock', { timeout: 5000 });
  result.shownState = await page.textContent('#state', { timeout: 5000 });
  await page.screenshot({ path: screenshot, timeout: 10000 });
  result.screenshot = screenshot;
  result.ok = result.values.length >= minValues && result.errors.length === 0;
  if (!result.ok && !result.reason) {
    result.reason = result.errors.length ? `page errors: ${result.errors.join('; ')}` : 'too few values';
  }
} catch (e) {
  result.reason = `browser: ${e && e.message ? e.message : e}`;
} finally {
  clearTimeout(hardStop);
  if (context) await context.close().catch(() => {});
  rmSync(userDataDir, { recursive: true, force: true });
}
console.log(JSON.stringify(result));
process.exit(result.ok ? 0 : 1);
