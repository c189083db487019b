// Watch a broadcast over WHEP in Debian's headless Chromium, read what it decodes from
// getStats(), then end the session (DELETE), and print one JSON line.
//
// usage: node whep.mjs WHEP_URL SECONDS [CLIENT=pc|whip-whep] [TOKEN]
//   WHEP_URL: http://HOST:PORT/whep/live/x
//   CLIENT:   pc        RTCPeerConnection + fetch, written here (the default)
//             whip-whep npm whip-whep's WHEPClient (medooze)
// env: CHROMIUM (default /usr/bin/chromium); TERN_WHEP_INSECURE=1 accepts any certificate (a
//      relay off loopback serves HTTPS with its self-signed one)
//
// stdout, one line: {json}
//   answer:  {status, text (when refused), audioInactive, ladder, links, location}
//   samples: every 500 ms, {t, state, video: {codec (its mimeType), framesDecoded, framesDropped, keyFramesDecoded,
//            freezeCount, totalFreezesDuration, width, height, nackCount, pliCount, packetsLost,
//            retransmitted (RTX packets received),
//            jitterBufferMs (mean jitter buffer delay)}, audio: {packetsReceived,
//            totalSamplesReceived, concealedSamples}}
//   glassMs: with TERN_WHEP_STAMP=1, per frame shown, the wall clock then minus the wall-clock
//            stamp the glass bench's source drew into the picture (benches/src/bin/glass/stamp.rs),
//            read with the player's own reader (clients/web/player/src/stamp.ts), ms
//   stampsUnread: frames shown whose stamp could not be read
//   deleted: the DELETE's status
//   errors:  page errors and exceptions

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { build } from 'esbuild';
import { launch } from './browser.mjs';

const [url, secondsArg, client = 'pc', token = ''] = process.argv.slice(2);
if (!url) {
  console.error('usage: node whep.mjs WHEP_URL SECONDS [pc|whip-whep] [TOKEN]');
  process.exit(2);
}
const seconds = Number(secondsArg || 10);
const require = createRequire(import.meta.url);
const whepJs = readFileSync(require.resolve('whip-whep/whep.js'), 'utf8')
  .replace('export class WHEPClient', 'class WHEPClient')
  .concat('\nwindow.WHEPClient = WHEPClient;\n');
const stamp = Boolean(process.env.TERN_WHEP_STAMP);
// The player's stamp reader, bundled for the page as `window.ternStamp`.
const here = dirname(fileURLToPath(import.meta.url));
const stampJs = stamp
  ? (await build({
      entryPoints: [join(here, '../../web/player/src/stamp.ts')], bundle: true, format: 'iife',
      globalName: 'ternStamp', target: 'chrome110', write: false, logLevel: 'warning',
    })).outputFiles[0].text
  : null;

const userDataDir = mkdtempSync(join(tmpdir(), 'tern-whep-'));
const errors = [];
let context;
let report = null;
const hardStop = setTimeout(() => {
  process.stdout.write(`${JSON.stringify({ errors: [...errors, 'hard timeout'], samples: [] })}\n`);
  process.exit(1);
}, (seconds + 60) * 1000);
try {
  context = await launch(userDataDir, {
    extraArgs: [
      '--autoplay-policy=no-user-gesture-required',
      ...(process.env.TERN_WHEP_INSECURE ? ['--ignore-certificate-errors'] : []),
    ],
  });
  const page = context.pages()[0] || (await context.newPage());
  page.on('pageerror', (e) => errors.push(e.message));
  // A page of the endpoint's own origin (made here), as a player on the CDN's site.
  const blank = new URL('/.whep-test-page', url).href;
  await page.route(blank, (route) =>
    route.fulfill({ contentType: 'text/html', body: '<!doctype html><html><head></head><body></body></html>' }),
  );
  await page.goto(blank, { timeout: 15000 });
  if (client === 'whip-whep') await page.addScriptTag({ content: whepJs });
  if (stampJs) await page.addScriptTag({ content: stampJs });
  await page.evaluate(
    async ({ src, client, token, stamp }) => {
      const r = { answer: {}, samples: [], errors: [], glassMs: [], stampsUnread: 0 };
      window.whepReport = r;
      const video = document.createElement('video');
      video.muted = true;
      video.autoplay = true;
      video.playsInline = true;
      document.body.appendChild(video);
      const pc = new RTCPeerConnection();
      window.pc = pc;
      pc.addTransceiver('video', { direction: 'recvonly' });
      pc.addTransceiver('audio', { direction: 'recvonly' });
      const stream = new MediaStream();
      pc.ontrack = (e) => {
        stream.addTrack(e.track);
        video.srcObject = stream;
        video.play().catch(() => {});
      };
      if (stamp) {
        // The glass bench's barcode, in the picture's top-left corner: that corner is copied to
        // a canvas at the picture's scale and read there.
        const { CELLS_PER_ROW, cellSize, readStamp } = window.ternStamp;
        const canvas = document.createElement('canvas');
        const ctx = canvas.getContext('2d', { willReadFrequently: true });
        const read = () => {
          const w = video.videoWidth;
          const h = video.videoHeight;
          const cell = cellSize(w);
          canvas.width = CELLS_PER_ROW * cell;
          canvas.height = 2 * cell;
          ctx.drawImage(video, 0, 0, canvas.width, canvas.height, 0, 0, canvas.width, canvas.height);
          return readStamp(ctx, w, h);
        };
        const onFrame = () => {
          const now = Date.now();
          const s = read();
          if (s === null) r.stampsUnread += 1;
          else if (r.glassMs.length < 100000) r.glassMs.push(now - s);
          video.requestVideoFrameCallback(onFrame);
        };
        video.requestVideoFrameCallback(onFrame);
      }
      if (client === 'whip-whep') {
        const whep = new window.WHEPClient();
        // Its answer's headers are not exposed: the status and location are read from the
        // resource it keeps.
        await whep.view(pc, src, token || undefined);
        r.answer = { status: 201, location: String(whep.resourceURL) };
        window.whepResource = String(whep.resourceURL);
      } else {
        const offer = await pc.createOffer();
        await pc.setLocalDescription(offer);
        const headers = { 'Content-Type': 'application/sdp' };
        if (token) headers.Authorization = `Bearer ${token}`;
        const res = await fetch(src, { method: 'POST', body: offer.sdp, headers });
        const text = await res.text();
        r.answer = {
          status: res.status,
          audioInactive: res.headers.get('tern-audio-inactive'),
          ladder: res.headers.get('tern-video-ladder'),
          links: res.headers.get('link'),
          location: res.headers.get('location'),
        };
        if (res.status !== 201) {
          r.answer.text = text;
          return;
        }
        r.answer.sdp = text;
        window.whepResource = new URL(res.headers.get('location'), src).href;
        await pc.setRemoteDescription({ type: 'answer', sdp: text });
      }
      const start = performance.now();
      setInterval(async () => {
        const stats = await pc.getStats();
        const s = { t: Math.round(performance.now() - start), state: pc.connectionState, video: null, audio: null };
        stats.forEach((x) => {
          if (x.type !== 'inbound-rtp') return;
          if (x.kind === 'video') {
            const codec = x.codecId && stats.get(x.codecId);
            s.video = {
              codec: codec ? codec.mimeType : null,
              framesDecoded: x.framesDecoded || 0,
              framesDropped: x.framesDropped || 0,
              keyFramesDecoded: x.keyFramesDecoded || 0,
              freezeCount: x.freezeCount || 0,
              totalFreezesDuration: x.totalFreezesDuration || 0,
              width: x.frameWidth || 0,
              height: x.frameHeight || 0,
              nackCount: x.nackCount || 0,
              pliCount: x.pliCount || 0,
              packetsLost: x.packetsLost || 0,
              retransmitted: x.retransmittedPacketsReceived || 0,
              jitterBufferMs: x.jitterBufferEmittedCount
                ? (1000 * x.jitterBufferDelay) / x.jitterBufferEmittedCount
                : null,
            };
          } else if (x.kind === 'audio') {
            s.audio = {
              packetsReceived: x.packetsReceived || 0,
              totalSamplesReceived: x.totalSamplesReceived || 0,
              concealedSamples: x.concealedSamples || 0,
            };
          }
        });
        r.samples.push(s);
      }, 500);
    },
    { src: url, client, token, stamp },
  );
  const answered = await page.evaluate(() => window.whepReport.answer.status);
  if (answered === 201) await new Promise((r) => setTimeout(r, seconds * 1000));
  report = await page.evaluate(() => JSON.parse(JSON.stringify(window.whepReport)));
  if (answered === 201) {
    report.deleted = await page.evaluate(async () => {
      const res = await fetch(window.whepResource, { method: 'DELETE' });
      return res.status;
    });
  }
} catch (e) {
  errors.push(`browser: ${e && e.message ? e.message : e}`);
}
if (context) await context.close().catch(() => {});
rmSync(userDataDir, { recursive: true, force: true });
clearTimeout(hardStop);
const out = report || { answer: {}, samples: [] };
out.errors = errors;
// Exit once the whole report is written (a pipe takes 64 KiB at once).
process.stdout.write(`${JSON.stringify(out)}\n`, () => process.exit(0));
