// Play an LL-HLS stream with hls.js (lowLatencyMode) in Debian's headless Chromium, and parse
// every playlist it fetched with hls-parser in strict mode.
//
// usage: node hls.mjs MULTIVARIANT_URL SECONDS
// env: CHROMIUM (default /usr/bin/chromium)
//
// stdout, one line: {json}
//   samples:   every 500 ms, {t, currentTime, frames (decoded video frames), level, latency
//              (hls.js's estimate, s), readyState}
//   levels:    the renditions hls.js read from the multivariant playlist ({height, bitrate})
//   switches:  the levels hls.js switched to, in order
//   loaded:    {fragments, parts}: media hls.js loaded
//   errors:    hls.js's errors ({type, details, fatal}) and page errors
//   playlists: {fetched, rejected: [{url, error, text}], failed: [{url, status}], texts:
//              [{url, text}]}: every playlist response in the order it came, each 200 answer
//              parsed by hls-parser with strictMode (the first 20 rejections), the others
//              listed as failed (the first 20)

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import HLS from 'hls-parser';
import { launch } from './browser.mjs';

const [url, secondsArg] = process.argv.slice(2);
if (!url) {
  console.error('usage: node hls.mjs MULTIVARIANT_URL SECONDS');
  process.exit(2);
}
const seconds = Number(secondsArg || 20);
const require = createRequire(import.meta.url);
const hlsJs = require.resolve('hls.js/dist/hls.min.js');
HLS.setOptions({ strictMode: true, silent: true });

const userDataDir = mkdtempSync(join(tmpdir(), 'tern-hls-'));
const playlists = { fetched: 0, rejected: [], failed: [], texts: [] };
const pending = [];
const pageErrors = [];
let context;
let report = null;
try {
  context = await launch(userDataDir, { extraArgs: ['--autoplay-policy=no-user-gesture-required'] });
  const page = context.pages()[0] || (await context.newPage());
  page.on('pageerror', (e) => pageErrors.push(e.message));
  page.on('response', (r) => {
    const u = r.url();
    if (!new URL(u).pathname.endsWith('.m3u8')) return;
    // Its place in the order the answers came, kept while its body is read.
    const entry = { url: u, text: null };
    playlists.texts.push(entry);
    if (r.status() !== 200) {
      if (playlists.failed.length < 20) playlists.failed.push({ url: u, status: r.status() });
      return;
    }
    pending.push(
      r.text().then(
        (text) => {
          playlists.fetched += 1;
          entry.text = text;
          try {
            HLS.parse(text);
          } catch (e) {
            if (playlists.rejected.length < 20) playlists.rejected.push({ url: u, error: String(e.message || e), text });
          }
        },
        () => {},
      ),
    );
  });
  // An empty page of the stream's own origin (made here, never asked of the server): hls.js's
  // requests are then same-origin, as from a page the CDN serves (Chromium refuses loopback
  // requests from a page with no origin).
  const blank = new URL('/.hls-test-page', url).href;
  await page.route(blank, (route) =>
    route.fulfill({ contentType: 'text/html', body: '<!doctype html><html><head></head><body></body></html>' }),
  );
  await page.goto(blank, { timeout: 15000 });
  await page.addScriptTag({ path: hlsJs });
  await page.evaluate((src) => {
    const video = document.createElement('video');
    video.muted = true;
    video.autoplay = true;
    document.body.appendChild(video);
    const r = { samples: [], levels: [], switches: [], loaded: { fragments: 0, parts: 0 }, errors: [] };
    window.hlsReport = r;
    const hls = new window.Hls({ lowLatencyMode: true });
    window.hls = hls;
    hls.on(window.Hls.Events.MANIFEST_PARSED, (_, d) => {
      r.levels = d.levels.map((l) => ({ height: l.height, bitrate: l.bitrate }));
    });
    hls.on(window.Hls.Events.LEVEL_SWITCHED, (_, d) => r.switches.push(d.level));
    hls.on(window.Hls.Events.FRAG_LOADED, (_, d) => {
      if (d.part) r.loaded.parts += 1;
      else r.loaded.fragments += 1;
    });
    hls.on(window.Hls.Events.ERROR, (_, d) => {
      if (r.errors.length < 50) r.errors.push({ type: d.type, details: d.details, fatal: d.fatal });
    });
    hls.loadSource(src);
    hls.attachMedia(video);
    video.play().catch(() => {});
    const start = performance.now();
    setInterval(() => {
      const q = video.getVideoPlaybackQuality();
      r.samples.push({
        t: Math.round(performance.now() - start),
        currentTime: video.currentTime,
        frames: q.totalVideoFrames,
        level: hls.currentLevel,
        latency: hls.latency,
        readyState: video.readyState,
      });
    }, 500);
  }, url);
  await new Promise((r) => setTimeout(r, seconds * 1000));
  report = await page.evaluate(() => JSON.parse(JSON.stringify(window.hlsReport)));
  await Promise.all(pending);
} catch (e) {
  pageErrors.push(`browser: ${e && e.message ? e.message : e}`);
}
if (context) await context.close().catch(() => {});
rmSync(userDataDir, { recursive: true, force: true });
const out = report || { samples: [], levels: [], switches: [], loaded: { fragments: 0, parts: 0 }, errors: [] };
out.errors.push(...pageErrors.map((m) => ({ type: 'page', details: m, fatal: true })));
playlists.texts = playlists.texts.filter((p) => p.text !== null);
out.playlists = playlists;
// Exit once the report is written: stdout is a pipe, written asynchronously.
process.stdout.write(`${JSON.stringify(out)}\n`, () => process.exit(0));
