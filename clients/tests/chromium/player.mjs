// Open tern's player page in Debian's headless Chromium, wait until it plays (frames drawn,
// audio decoded), check the picture is not blank, optionally switch renditions, take a
// screenshot and print one JSON line with what the page saw.
//
// usage: node player.mjs PAGE_URL SCREENSHOT_PNG [TIMEOUT_MS=30000] [OPTIONS_JSON]
//   OPTIONS_JSON: {"minFrames": 30, "audio": true, "switchTo": "TRACK"}
// env: CHROMIUM (default /usr/bin/chromium)
//
// Exit 0 with {"ok": true, ...} when every check passed; exit 1 with {"ok": false, "reason": ...}
// otherwise. Every wait is bounded.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { launch } from './browser.mjs';

const [pageUrl, screenshot, timeoutArg, optionsArg] = process.argv.slice(2);
if (!pageUrl || !screenshot) {
  console.error('usage: node player.mjs PAGE_URL SCREENSHOT_PNG [TIMEOUT_MS] [OPTIONS_JSON]');
  process.exit(2);
}
const timeoutMs = Number(timeoutArg || 30000);
const options = { minFrames: 30, audio: true, switchTo: null, ...JSON.parse(optionsArg || '{}') };

const userDataDir = mkdtempSync(join(tmpdir(), 'tern-chromium-'));
const result = { ok: false, page: pageUrl, console: [], checks: {} };
let context;
let started = Date.now();
const hardStop = setTimeout(() => {
  result.reason = `hard timeout after ${timeoutMs + 60000} ms`;
  console.log(JSON.stringify(result));
  process.exit(1);
}, timeoutMs + 60000);

/** What the page exposes, copied out of the browser. */
async function status(page) {
  return page.evaluate(() => {
    const s = window.ternPlayer;
    if (!s) return null;
    return JSON.parse(JSON.stringify(s));
  });
}

/** Distinct colours and mean brightness of the canvas (a blank canvas has one colour). */
async function canvasStats(page) {
  return page.evaluate(() => {
    const c = document.getElementById('video');
    const ctx = c.getContext('2d');
    const { data } = ctx.getImageData(0, 0, c.width, c.height);
    const colours = new Set();
    let sum = 0;
    for (let i = 0; i < data.length; i += 4 * 7) {
      colours.add((data[i] << 16) | (data[i + 1] << 8) | data[i + 2]);
      sum += data[i] + data[i + 1] + data[i + 2];
    }
    return { width: c.width, height: c.height, colours: colours.size, mean: sum / (3 * (data.length / (4 * 7))) };
  });
}

async function waitFor(page, what, fn, arg, ms) {
  try {
    await page.waitForFunction(fn, arg, { timeout: ms, polling: 100 });
    return true;
  } catch {
    result.reason = result.reason || `timed out after ${ms} ms waiting for ${what}`;
    return false;
  }
}

/** Frames drawn and advancing, a picture, audio; optionally a rendition switch both ways. */
async function playChecks(page, deadline) {
  // 1. Playing: enough frames drawn (and audio decoded), or a failure.
  const playing = await waitFor(
    page,
    `${options.minFrames} frames${options.audio ? ' and decoded audio' : ''}`,
    (o) => {
      const s = window.ternPlayer;
      if (!s) return false;
      if (s.state === 'failed' || s.state === 'unsupported codec') return true;
      return s.framesDrawn >= o.minFrames && (!o.audio || s.audioChunksDecoded > 0);
    },
    options,
    deadline(),
  );
  result.firstFrameMs = Date.now() - started;
  const before = await status(page);
  result.checks.playing = playing && before && before.state !== 'failed' && before.framesDrawn >= options.minFrames;

  // 2. Frames keep advancing for two more seconds, the canvas shows a picture.
  await page.waitForTimeout(2000);
  const after = await status(page);
  result.checks.advancing = !!(before && after && after.framesDrawn > before.framesDrawn + 20 && after.lastFrameTimestamp > before.lastFrameTimestamp);
  result.canvas = await canvasStats(page);
  result.checks.picture = result.canvas.colours > 20;
  if (options.audio) result.checks.audio = !!(after && after.audioChunksDecoded > 0);

  // 3. Optional rendition switch: the new track is drawn, the old one no longer.
  if (options.switchTo) {
    const from = after?.rendition ?? null;
    await page.evaluate((name) => window.ternPlayer.select(name), options.switchTo);
    const switched = await waitFor(
      page,
      `rendition ${options.switchTo}`,
      (name) => {
        const s = window.ternPlayer;
        return s.rendition === name && (s.drawnByRendition[name] ?? 0) >= 15;
      },
      options.switchTo,
      Math.min(deadline(), 15000),
    );
    const s = await status(page);
    result.switch = {
      from,
      to: options.switchTo,
      rendition: s?.rendition,
      switches: s?.switches,
      drawnByRendition: s?.drawnByRendition,
      size: s ? `${s.width}x${s.height}` : null,
    };
    result.checks.switched = switched && s?.rendition === options.switchTo;
    // Back to the first one, so both directions are exercised.
    if (result.checks.switched && from) {
      const drawnFrom = s.drawnByRendition[from] ?? 0;
      await page.evaluate((name) => window.ternPlayer.select(name), from);
      result.checks.switchedBack = await waitFor(
        page,
        `rendition ${from} again`,
        (o) => {
          const x = window.ternPlayer;
          return x.rendition === o.from && (x.drawnByRendition[o.from] ?? 0) >= o.drawnFrom + 15;
        },
        { from, drawnFrom },
        Math.min(deadline(), 15000),
      );
    }
  }

}

try {
  context = await launch(userDataDir, {
    viewport: { width: 900, height: 760 },
    extraArgs: ['--autoplay-policy=no-user-gesture-required'],
  });
  const page = context.pages()[0] || (await context.newPage());
  page.on('console', (m) => {
    if (result.console.length < 200) result.console.push(`${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => result.console.push(`pageerror: ${e.message}`));
  started = Date.now();
  await page.goto(pageUrl, { timeout: 15000 });
  const deadline = () => Math.max(1000, timeoutMs - (Date.now() - started));

  if (options.expectUnsupported) {
    // The page must say it cannot decode the video codec (and may play the audio).
    const said = await waitFor(
      page,
      'the unsupported-codec message',
      (o) => {
        const s = window.ternPlayer;
        return !!s && s.state === 'unsupported codec' && (!o.audio || s.audioChunksDecoded > 20);
      },
      options,
      deadline(),
    );
    result.message = await page.textContent('#message', { timeout: 5000 });
    result.checks.unsupported = said && (result.message || '').includes(options.expectUnsupported);
  } else {
    await playChecks(page, deadline);
  }

  // 4. A last look: one more frame-count sample, the screenshot.
  await page.waitForTimeout(500);
  const last = await status(page);
  result.text = {
    state: await page.textContent('#state', { timeout: 5000 }),
    video: await page.textContent('#shown', { timeout: 5000 }),
    latency: await page.textContent('#latency', { timeout: 5000 }),
    audio: await page.textContent('#audio', { timeout: 5000 }),
  };
  await page.screenshot({ path: screenshot, timeout: 10000 });
  result.screenshot = screenshot;
  result.browser = context.browser()?.version() ?? null;
  if (last) {
    const { log, latencyMs, ...rest } = last;
    result.player = rest;
    result.latencySamples = latencyMs.length;
    result.latencyMedianMs = latencyMs.length ? latencyMs.slice().sort((a, b) => a - b)[latencyMs.length >> 1] : null;
    result.log = log.slice(-60);
    result.errors = last.errors;
  } else {
    result.errors = ['window.ternPlayer is missing'];
  }
  // In the unsupported-codec case the page reports exactly that error.
  const errorsOk = options.expectUnsupported ? result.errors.length === 1 : result.errors.length === 0;
  result.ok = Object.keys(result.checks).length > 0 && Object.values(result.checks).every(Boolean) && errorsOk;
  if (!result.ok && !result.reason) {
    const failed = Object.entries(result.checks)
      .filter(([, v]) => !v)
      .map(([k]) => k);
    result.reason = result.errors.length ? `page errors: ${result.errors.join('; ')}` : `failed checks: ${failed.join(', ')}`;
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
