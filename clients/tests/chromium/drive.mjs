// Drive tern's player page in Debian's headless Chromium for a test that decides what to do
// while it plays (switch, pause, rewind, cap the network...).
//
// usage: node drive.mjs PAGE_URL TIMEOUT_MS
// env: CHROMIUM (default /usr/bin/chromium)
//
// stdout, one line each:
//   STATUS {json}  every 200 ms: window.ternPlayer without its latency and glass rings
//                  (`glassCount`: how many glass samples), its log cut to
//                  the last 12 lines (`logTail`), plus `latencyMedianMs` (median of the last 30
//                  samples), `now` (Date.now()), `perfNow` (the page's performance.now()) and
//                  `chat` (window.ternChat: the chat box's state and the events it shows)
//   REPLY {json}   the answer to a command: {"id": N, "ok": bool, "value": ...}
//   FINAL {json}   once, at the end: the whole player state, log, console, page errors
// stdin, one JSON command per line:
//   {"id": N, "op": "call", "fn": "select", "args": ["video-144p"]}  window.ternPlayer.fn(...args)
//   {"id": N, "op": "chat", "text": "hi"}  send a chat message from the page's chat box
//   {"id": N, "op": "canvas"}      distinct colours and mean brightness of the canvas
//   {"id": N, "op": "screenshot", "path": "/tmp/x.png"}
//   {"id": N, "op": "finish"}      print FINAL and exit
// The run is bounded by TIMEOUT_MS (then FINAL with a reason) and ends when stdin closes.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { launch } from './browser.mjs';

const [pageUrl, timeoutArg] = process.argv.slice(2);
if (!pageUrl) {
  console.error('usage: node drive.mjs PAGE_URL TIMEOUT_MS');
  process.exit(2);
}
const timeoutMs = Number(timeoutArg || 60000);
const userDataDir = mkdtempSync(join(tmpdir(), 'tern-chromium-'));
const consoleLines = [];
const pageErrors = [];
let context;
let page;
let finishing = false;

function line(kind, value) {
  process.stdout.write(`${kind} ${JSON.stringify(value)}\n`);
}

async function finish(reason) {
  if (finishing) return;
  finishing = true;
  let player = null;
  try {
    player = await page?.evaluate(() => (window.ternPlayer ? JSON.parse(JSON.stringify(window.ternPlayer)) : null));
  } catch (e) {
    reason = reason || `cannot read the page: ${e.message}`;
  }
  line('FINAL', {
    reason: reason || null,
    player,
    console: consoleLines,
    pageErrors,
    browser: context?.browser()?.version() ?? null,
  });
  if (context) await context.close().catch(() => {});
  rmSync(userDataDir, { recursive: true, force: true });
  process.exit(0);
}

setTimeout(() => void finish(`timed out after ${timeoutMs} ms`), timeoutMs);

async function status() {
  return page.evaluate(() => {
    const s = window.ternPlayer;
    if (!s) return null;
    const { log, latencyMs, glassMs, ...rest } = JSON.parse(JSON.stringify(s));
    rest.glassCount = glassMs ? glassMs.length : 0;
    const recent = latencyMs.slice(-30).sort((a, b) => a - b);
    rest.latencyMedianMs = recent.length ? recent[recent.length >> 1] : null;
    rest.now = Date.now();
    rest.perfNow = performance.now();
    rest.logTail = log.slice(-12);
    rest.chat = window.ternChat ? JSON.parse(JSON.stringify(window.ternChat)) : null;
    return rest;
  });
}

async function canvas() {
  return page.evaluate(() => {
    const c = document.getElementById('video');
    const { data } = c.getContext('2d').getImageData(0, 0, c.width, c.height);
    const colours = new Set();
    let sum = 0;
    for (let i = 0; i < data.length; i += 4 * 7) {
      colours.add((data[i] << 16) | (data[i + 1] << 8) | data[i + 2]);
      sum += data[i] + data[i + 1] + data[i + 2];
    }
    return { width: c.width, height: c.height, colours: colours.size, mean: sum / (3 * (data.length / (4 * 7))) };
  });
}

async function command(c) {
  switch (c.op) {
    case 'call':
      return page.evaluate(({ fn, args }) => {
        const r = window.ternPlayer[fn](...(args || []));
        return r === undefined ? null : r;
      }, c);
    case 'chat':
      return page.evaluate(async (text) => {
        await window.ternChat.send(text);
        return null;
      }, c.text);
    case 'canvas':
      return canvas();
    case 'screenshot':
      await page.screenshot({ path: c.path, timeout: 10000 });
      return c.path;
    case 'finish':
      await finish(null);
      return null;
    default:
      throw new Error(`unknown op ${c.op}`);
  }
}

try {
  context = await launch(userDataDir, {
    viewport: { width: 900, height: 760 },
    extraArgs: ['--autoplay-policy=no-user-gesture-required'],
  });
  page = context.pages()[0] || (await context.newPage());
  page.on('console', (m) => {
    if (consoleLines.length < 400) consoleLines.push(`${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => pageErrors.push(e.message));
  await page.goto(pageUrl, { timeout: 15000 });
} catch (e) {
  await finish(`browser: ${e && e.message ? e.message : e}`);
}

createInterface({ input: process.stdin })
  .on('line', (text) => {
    let c;
    try {
      c = JSON.parse(text);
    } catch {
      line('REPLY', { id: null, ok: false, value: `not JSON: ${text}` });
      return;
    }
    command(c).then(
      (value) => line('REPLY', { id: c.id ?? null, ok: true, value }),
      (e) => line('REPLY', { id: c.id ?? null, ok: false, value: String(e && e.message ? e.message : e) }),
    );
  })
  .on('close', () => void finish('stdin closed'));

for (;;) {
  if (finishing) break;
  try {
    const s = await status();
    if (s) line('STATUS', s);
  } catch (e) {
    if (!finishing) pageErrors.push(`status: ${e.message}`);
  }
  await new Promise((r) => setTimeout(r, 200));
}
