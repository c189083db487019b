#!/usr/bin/env node
// Publish-to-render latency and join time of tern's browser player.
//
// Starts `tern relay` (127.0.0.1, port 0), `tern origin --clip` (the embedded three-rendition
// clip, every object stamped with a `prft` publish time), serves player.html + player.js from
// clients/web/, and opens the page in headless Chromium (Debian's, through playwright-core from
// clients/tests/chromium/node_modules). Then:
//
// 1. join time: the page is loaded --joins times; each load reports the time from its video
//    SUBSCRIBE to the first frame drawn (and from navigation to the first frame). The first
//    load finds a relay that has subscribed nothing yet (cold: it subscribes to the origin
//    then); the others find the tracks cached (warm). The first frame is drawn as soon as it is
//    decoded; playback follows at the page's latency target. Each load also reports the time
//    from its video SUBSCRIBE until the latency of the frames drawn is under 250 ms (live edge).
// 2. latency: one page plays until --frames frames were drawn; for each one the page records
//    its wall clock at draw minus the object's `prft` stamp (same host, same clock).
//
// Prints p50/p95/max of both and one JSON line (also written to --json FILE when given).
//
// usage: node benches/player-latency/run.mjs [--tern PATH] [--frames 2000] [--joins 20]
//          [--rendition auto|video-360p|...] [--latency MS] [--json FILE] [--serve SECONDS]
// --latency: a fixed playout delay target (`?latency=`; the player's default adapts).
// --serve: start the relay, the origin and the page server only, print the page's URL and keep
// them for that long (for a browser of your own).
// env: CHROMIUM (default /usr/bin/chromium)
// Needs `npm ci` in clients/tests/chromium and a built tern (cargo build -p tern).

import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createInterface } from 'node:readline';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

const target = process.env.CARGO_TARGET_DIR || join(root, 'target');
const ternBin = arg('tern', process.env.TERN || join(target, 'release/tern'));
const frames = Number(arg('frames', 2000));
const joins = Number(arg('joins', 20));
const rendition = arg('rendition', 'auto');
const latencyTarget = arg('latency', null);
const jsonOut = arg('json', null);
const serveSeconds = Number(arg('serve', 0));
const chromiumPath = process.env.CHROMIUM || '/usr/bin/chromium';
const namespace = 'bench/player';

if (!existsSync(ternBin)) {
  console.error(`no tern binary at ${ternBin}: cargo build --release -p tern, or pass --tern PATH`);
  process.exit(2);
}
const playwright = join(root, 'clients/tests/chromium/node_modules/playwright-core/index.mjs');
if (!existsSync(playwright)) {
  console.error('playwright-core is missing: (cd clients/tests/chromium && npm ci)');
  process.exit(2);
}
const { chromium } = await import(pathToFileURL(playwright).href);

const children = [];
function stopAll() {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
}
process.on('exit', stopAll);
for (const s of ['SIGINT', 'SIGTERM']) process.on(s, () => process.exit(130));
// Nothing waits forever: the whole run is bounded.
const hardStop = setTimeout(
  () => {
    console.error('bench: hard timeout');
    process.exit(1);
  },
  (frames / 30 + joins * 20 + 120) * 1000,
);

function start(name, args) {
  const c = spawn(ternBin, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, TERN_LOG_LEVEL: 'warn' } });
  children.push(c);
  c.on('exit', (code) => {
    if (!stopping) console.error(`bench: ${name} exited (${code})`);
  });
  return c;
}
let stopping = false;

/** Lines of `stream` until `pred` has matched for every key, bounded. */
function waitLines(stream, parsers, ms) {
  return new Promise((ok, fail) => {
    const got = {};
    const rl = createInterface({ input: stream });
    const timer = setTimeout(() => fail(new Error(`no ${Object.keys(parsers).join(', ')} within ${ms} ms`)), ms);
    rl.on('line', (line) => {
      for (const [k, re] of Object.entries(parsers)) {
        const m = re.exec(line);
        if (m) got[k] = m[1];
      }
      if (Object.keys(parsers).every((k) => k in got)) {
        clearTimeout(timer);
        ok(got);
      }
    });
  });
}

function pct(xs, p) {
  if (xs.length === 0) return null;
  const s = xs.slice().sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

function summary(xs) {
  return {
    n: xs.length,
    p50: pct(xs, 50),
    p95: pct(xs, 95),
    min: xs.length ? Math.min(...xs) : null,
    max: xs.length ? Math.max(...xs) : null,
  };
}

// 1. Relay, origin.
const relay = start('tern relay', ['relay', '--bind', '127.0.0.1:0', '--admin-bind', '127.0.0.1:0']);
relay.stderr.resume();
const banner = await waitLines(
  relay.stdout,
  { addr: /^tern relay listening on (\S+)/, fp: /^certificate sha-256: (\S+)/ },
  30000,
);
const relayUrl = `https://${banner.addr}`;
const origin = start('tern origin', ['origin', relayUrl, '--tls-disable-verify', '--namespace', namespace, '--clip']);
origin.stdout.resume();
// It says `tern: publishing NAMESPACE (TRACKS) at URL` on stderr once its tracks are announced.
await waitLines(origin.stderr, { up: /^tern: (publishing) / }, 30000);

// 2. The page.
const web = join(root, 'clients/web');
const server = createServer((req, res) => {
  const path = new URL(req.url, 'http://x').pathname;
  const send = (type, body) => {
    res.writeHead(200, { 'content-type': type, 'cache-control': 'no-store' });
    res.end(body);
  };
  if (path === '/player.html') send('text/html; charset=utf-8', readFileSync(join(web, 'player.html')));
  else if (path === '/player.js') send('text/javascript; charset=utf-8', readFileSync(join(web, 'player.js')));
  else if (path === '/config.json') send('application/json', JSON.stringify({ relay: relayUrl, namespace, track: '' }));
  else if (path === '/fingerprint') send('text/plain', `${banner.fp}\n`);
  else {
    res.writeHead(404);
    res.end();
  }
});
await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
const query = new URLSearchParams();
if (rendition !== 'auto') query.set('rendition', rendition);
if (latencyTarget !== null) query.set('latency', latencyTarget);
const pageUrl = `http://127.0.0.1:${server.address().port}/player.html${query.size ? `?${query}` : ''}`;

if (serveSeconds > 0) {
  // Only the relay, the origin and the page, for a browser of your own.
  console.log(`page: ${pageUrl}`);
  await new Promise((r) => setTimeout(r, serveSeconds * 1000));
  stopping = true;
  server.close();
  stopAll();
  process.exit(0);
}

const userDataDir = mkdtempSync(join(tmpdir(), 'tern-bench-chromium-'));
const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath: chromiumPath,
  headless: true,
  timeout: 30000,
  viewport: { width: 900, height: 760 },
  args: [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--autoplay-policy=no-user-gesture-required',
  ],
});
const page = context.pages()[0] || (await context.newPage());
const errors = [];
page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));

const stats = () => page.evaluate(() => (window.ternPlayer ? JSON.parse(JSON.stringify(window.ternPlayer)) : null));

// 3. Joins: a fresh page each time (a new WebTransport session, catalog, subscriptions).
const joinMs = [];
const loadToFrameMs = [];
/** Per join: video SUBSCRIBE → latency under LIVE_EDGE_MS (null: not within 10 s). */
const liveEdgeMs = [];
const LIVE_EDGE_MS = 250;
for (let i = 0; i < joins; i++) {
  const t0 = Date.now();
  await page.goto(pageUrl, { timeout: 15000 });
  await page.waitForFunction(() => window.ternPlayer && window.ternPlayer.framesDrawn > 0, null, {
    timeout: 20000,
    polling: 20,
  });
  // The live edge: the median latency of the last 5 frames drawn under LIVE_EDGE_MS.
  const edge = await page
    .waitForFunction(
      (limit) => {
        const p = window.ternPlayer;
        if (p.latencyMs.length < 5) return false;
        const last = p.latencyMs.slice(-5).sort((a, b) => a - b);
        return last[2] < limit ? performance.now() - p.timing.videoSubscribe : false;
      },
      LIVE_EDGE_MS,
      { timeout: 10000, polling: 20 },
    )
    .then((h) => h.jsonValue())
    .catch(() => null);
  liveEdgeMs.push(edge);
  const s = await stats();
  joinMs.push(s.timing.firstFrame - s.timing.videoSubscribe);
  loadToFrameMs.push(s.timing.firstFrame);
  for (const e of s.errors) errors.push(`join ${i}: ${e}`);
  process.stderr.write(
    `join ${i + 1}/${joins}: ${joinMs[joinMs.length - 1].toFixed(0)} ms, under ${LIVE_EDGE_MS} ms latency after ${edge === null ? '> 10 s' : `${edge.toFixed(0)} ms`} (${Date.now() - t0} ms wall)\n`,
  );
  // Let the relay see the session close before the next one (and vary the join point in the GOP).
  await page.waitForTimeout(300 + ((i * 137) % 700));
}

// 4. Latency: one page playing until `frames` frames were drawn with a stamp.
await page.goto(pageUrl, { timeout: 15000 });
const latency = [];
let seen = 0;
const began = Date.now();
let last = null;
while (latency.length < frames) {
  await page.waitForTimeout(1000);
  const s = await stats();
  if (!s) continue;
  last = s;
  const fresh = s.latencyCount - seen;
  if (fresh > 0) {
    // The page keeps its last 300 samples; polled every second at 30 fps none are lost.
    latency.push(...s.latencyMs.slice(-Math.min(fresh, s.latencyMs.length)));
    seen = s.latencyCount;
  }
  if (Date.now() - began > (frames / 30) * 1000 * 2 + 30000) {
    errors.push(`only ${latency.length} latency samples in ${((Date.now() - began) / 1000).toFixed(0)} s`);
    break;
  }
  process.stderr.write(`\rlatency: ${latency.length}/${frames} samples`);
}
process.stderr.write('\n');
if (last) for (const e of last.errors) errors.push(`latency page: ${e}`);

stopping = true;
clearTimeout(hardStop);
await context.close().catch(() => {});
rmSync(userDataDir, { recursive: true, force: true });
server.close();
stopAll();

const warm = joinMs.slice(1);
const round = (o) => Object.fromEntries(Object.entries(o).map(([k, v]) => [k, typeof v === 'number' ? Math.round(v * 10) / 10 : v]));
const result = {
  relay: relayUrl,
  browser: context.browser()?.version() ?? null,
  rendition: last?.rendition ?? null,
  audio: last ? `${last.audioTrack} ${last.audioState}` : null,
  latencyMs: round(summary(latency)),
  latencyTarget: latencyTarget === null ? `adaptive (ended at ${last?.targetMs} ms, ${last?.targetRaises} raises, ${last?.targetLowerings} lowerings)` : `${latencyTarget} ms`,
  liveEdgeMs: round(summary(liveEdgeMs.filter((v) => v !== null))),
  liveEdgeMissed: liveEdgeMs.filter((v) => v === null).length,
  coldJoinMs: joinMs.length ? Math.round(joinMs[0] * 10) / 10 : null,
  joinMs: round(summary(warm)),
  navigationToFirstFrameMs: round(summary(loadToFrameMs)),
  framesSkipped: last?.framesSkipped ?? null,
  catchUps: last?.catchUps ?? null,
  errors,
};
console.log(`publish-to-render latency: p50 ${result.latencyMs.p50} ms, p95 ${result.latencyMs.p95} ms, max ${result.latencyMs.max} ms (${latency.length} frames)`);
console.log(
  `join (video SUBSCRIBE → first frame drawn), warm relay: p50 ${result.joinMs.p50} ms, p95 ${result.joinMs.p95} ms (${warm.length} joins); cold relay: ${result.coldJoinMs} ms`,
);
console.log(
  `join → latency under ${LIVE_EDGE_MS} ms: p50 ${result.liveEdgeMs.p50} ms, p95 ${result.liveEdgeMs.p95} ms, max ${result.liveEdgeMs.max} ms; not within 10 s: ${result.liveEdgeMissed} of ${liveEdgeMs.length}`,
);
console.log(`page load → first frame drawn: p50 ${result.navigationToFirstFrameMs.p50} ms, p95 ${result.navigationToFirstFrameMs.p95} ms`);
console.log(JSON.stringify(result));
if (jsonOut) writeFileSync(jsonOut, `${JSON.stringify(result, null, 2)}\n`);
process.exit(errors.length ? 1 : 0);
