// Unit tests of the player's parsers, run in Node (`npm test`: esbuild bundles this file).

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

import { Abr, probeRate } from '../src/abr';
import { GroupAssembler } from '../src/assembler';
import { DEFAULT_LIVE_EDGE, LiveEdge } from '../src/live-edge';
import { audioTracks, parseCatalogFormat01, parseMsf, videoRenditions } from '../src/catalog';
import { ntpToUnixMs, parseChunk, parseInit } from '../src/mp4';
import { CELLS_PER_ROW, STAMP_BITS, cellSize, readStamp } from '../src/stamp';
import {
  WEBSOCKET_HEAD_START_MS,
  TransportSituation,
  Raced,
  WinnerStore,
  parseTransportMode,
  raceTransports,
  rememberWinner,
  rememberedWinner,
  transportPlan,
  websocketUrl,
  winnerKey,
} from '../src/transport';
import { BrowserFeatures, hlsPlayer, hlsUrl, isSafari, moqUrl, parseVia, plan, watchedBroadcast } from '../src/via';
import { parseIceServers } from '../src/whep';
import {
  MSG_SUBSCRIBE,
  MoqObject,
  StreamReader,
  decodeVarint,
  encodeVarint,
  isSubgroupType,
  parseSubscribe,
  readSubgroupHeader,
  readSubgroupObjects,
  singleObjectStream,
  subscribeMessage,
} from '../src/wire';

const fixture = (name: string): Uint8Array =>
  new Uint8Array(readFileSync(`${process.cwd()}/test/fixtures/${name}`));

test('draft-18 varints: minimal encodings round-trip', () => {
  const cases: [number, number[]][] = [
    [0, [0x00]],
    [127, [0x7f]],
    [128, [0x80, 0x80]],
    [16383, [0xbf, 0xff]],
    [16384, [0xc0, 0x40, 0x00]],
  ];
  for (const [v, bytes] of cases) {
    assert.deepEqual([...encodeVarint(v)], bytes, `encode ${v}`);
    assert.deepEqual(decodeVarint(new Uint8Array(bytes)), [v, bytes.length], `decode ${v}`);
  }
  for (const v of [2 ** 20, 2 ** 35, 2 ** 53 - 1]) {
    const e = encodeVarint(v);
    assert.deepEqual(decodeVarint(e), [v, e.length]);
  }
  assert.equal(decodeVarint(new Uint8Array([0xc0, 0x40])), null, 'short input');
});

test('NTP timestamps convert to Unix milliseconds', () => {
  assert.equal(ntpToUnixMs(2208988800, 0), 0);
  assert.equal(ntpToUnixMs(2208988801, 2 ** 31), 1500);
});

test('init segment: ffmpeg avc1 + mp4a', () => {
  const init = parseInit(fixture('init-avc1-mp4a.mp4'));
  const video = init.tracks.get(1);
  const audio = init.tracks.get(2);
  assert.ok(video && audio);
  assert.equal(video.kind, 'video');
  assert.match(video.codec, /^avc1\.[0-9a-f]{6}$/);
  assert.equal(video.width, 320);
  assert.equal(video.height, 240);
  assert.ok(video.description && video.description[0] === 1, 'avcC record');
  assert.equal(audio.kind, 'audio');
  assert.equal(audio.codec, 'mp4a.40.2');
  assert.equal(audio.sampleRate, 48000);
  assert.equal(audio.channels, 2);
  // AudioSpecificConfig: AAC LC, 48 kHz, 2 channels (ffmpeg adds a 3-byte SBR sync extension).
  assert.deepEqual([...(audio.description ?? [])].slice(0, 2), [0x11, 0x90]);
});

// Boxes for synthetic chunks.
function box(type: string, ...parts: Uint8Array[]): Uint8Array {
  const size = 8 + parts.reduce((n, p) => n + p.length, 0);
  const out = new Uint8Array(size);
  new DataView(out.buffer).setUint32(0, size);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  let at = 8;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function u32s(...values: number[]): Uint8Array {
  const out = new Uint8Array(values.length * 4);
  const v = new DataView(out.buffer);
  values.forEach((x, i) => v.setUint32(i * 4, x >>> 0));
  return out;
}

/** prft v1 + moof (tfhd default-base-is-moof, tfdt v1, one-sample trun) + mdat. */
function chunk(trackId: number, dts: number, duration: number, sync: boolean, data: Uint8Array, ntp?: [number, number]): Uint8Array {
  const flags = sync ? 0x02000000 : 0x01010000;
  const tfhd = box('tfhd', u32s(0x00020000, trackId));
  const tfdt = box('tfdt', u32s(0x01000000, Math.floor(dts / 2 ** 32), dts >>> 0));
  // trun: data-offset, duration, size, flags, composition offset (version 1, signed).
  const trunBody = (offset: number) => u32s(0x01000f01, 1, offset, duration, data.length, flags, 0);
  const mfhd = box('mfhd', u32s(0, 1));
  const moofLen = 8 + mfhd.length + 8 + tfhd.length + tfdt.length + 8 + trunBody(0).length;
  const moof = box('moof', mfhd, box('traf', tfhd, tfdt, box('trun', trunBody(moofLen + 8))));
  const parts = [moof, box('mdat', data)];
  if (ntp) parts.unshift(box('prft', u32s(0x01000000, trackId, ntp[0], ntp[1], 0, dts)));
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

test('chunk: prft publish stamp, tfdt, trun sample and its bytes', () => {
  const init = parseInit(fixture('init-avc1-mp4a.mp4'));
  const data = new Uint8Array([1, 2, 3, 4, 5]);
  // 2026-11-30T00:00:00.250Z as NTP.
  const unix = Date.UTC(2026, 10, 30) / 1000;
  const c = parseChunk(chunk(1, 90_000, 512, true, data, [unix + 2208988800, 2 ** 30]), init);
  assert.equal(c.publishedMs, unix * 1000 + 250);
  assert.equal(c.samples.length, 1);
  const s = c.samples[0];
  assert.equal(s.trackId, 1);
  assert.equal(s.dts, 90_000);
  assert.equal(s.pts, 90_000);
  assert.equal(s.duration, 512);
  assert.equal(s.sync, true);
  assert.deepEqual([...s.data], [1, 2, 3, 4, 5]);

  const d = parseChunk(chunk(1, 2 ** 33, 512, false, data), init);
  assert.equal(d.publishedMs, null, 'no prft: unknown');
  assert.equal(d.samples[0].sync, false);
  assert.equal(d.samples[0].dts, 2 ** 33, '64-bit tfdt');
});

const enc = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));

test('MSF catalog: tracks, roles, initData; delta updates', () => {
  const initData = Buffer.from(fixture('init-avc1-mp4a.mp4')).toString('base64');
  const c = parseMsf(
    enc({
      version: 1,
      generatedAt: 1,
      tracks: [
        { name: 'video-240p', packaging: 'cmaf', isLive: true, role: 'video', codec: 'avc1.64000d', width: 320, height: 240, bitrate: 500000, altGroup: 1, initData },
        { name: 'video-720p', packaging: 'cmaf', isLive: true, role: 'video', codec: 'avc1.64001f', width: 1280, height: 720, bitrate: 3000000, altGroup: 1, initData },
        { name: 'audio-aac', packaging: 'cmaf', isLive: true, role: 'audio', codec: 'mp4a.40.2', samplerate: 48000, channelConfig: '2', initData },
      ],
    }),
  );
  assert.equal(c.format, 'msf');
  assert.deepEqual(
    videoRenditions(c).map((t) => t.name),
    ['video-720p', 'video-240p'],
  );
  const audio = c.tracks[2];
  assert.equal(audio.role, 'audio');
  assert.equal(audio.samplerate, 48000);
  assert.ok(audio.initData && parseInit(audio.initData).tracks.size === 2);

  const d = parseMsf(enc({ deltaUpdate: true, removeTracks: [{ name: 'video-720p' }], addTracks: [{ name: 'video-1080p', role: 'video', height: 1080 }] }), c);
  assert.deepEqual(
    videoRenditions(d).map((t) => t.name),
    ['video-1080p', 'video-240p'],
  );
});

test('audio: AAC before Opus before the rest, within the first audio track\'s alternate group', () => {
  const c = parseMsf(
    enc({
      version: 1,
      tracks: [
        { name: 'video-360p', role: 'video', codec: 'avc1.64001e', height: 360, altGroup: 1 },
        { name: 'audio-opus', role: 'audio', codec: 'opus', altGroup: 2 },
        { name: 'audio-flac', role: 'audio', codec: 'flac', altGroup: 2 },
        { name: 'audio-aac', role: 'audio', codec: 'mp4a.40.2', altGroup: 2 },
        { name: 'commentary', role: 'audio', codec: 'mp4a.40.2', altGroup: 3 },
      ],
    }),
  );
  assert.deepEqual(
    audioTracks(c).map((t) => t.name),
    ['audio-aac', 'audio-opus', 'audio-flac'],
  );
  const opusOnly = parseMsf(enc({ version: 1, tracks: [{ name: 'a', role: 'audio', codec: 'opus' }] }));
  assert.deepEqual(
    audioTracks(opusOnly).map((t) => t.name),
    ['a'],
  );
});

test("catalogformat-01 catalog (moq-pub's)", () => {
  const c = parseCatalogFormat01(
    enc({
      version: 1,
      streamingFormat: 1,
      streamingFormatVersion: '0.2',
      supportsDeltaUpdates: true,
      commonTrackFields: { namespace: 'e2e/x', packaging: 'cmaf', renderGroup: 1 },
      tracks: [
        { name: '1.m4s', initTrack: '0.mp4', selectionParams: { codec: 'avc1.64000d', width: 320, height: 240 } },
        { name: '2.m4s', initTrack: '0.mp4', selectionParams: { codec: 'mp4a.40.2', samplerate: 48000, channelConfig: '2', bitrate: 69000 } },
      ],
    }),
  );
  assert.equal(c.format, 'catalogformat-01');
  assert.deepEqual(
    c.tracks.map((t) => [t.name, t.role, t.initTrack, t.packaging]),
    [
      ['1.m4s', 'video', '0.mp4', 'cmaf'],
      ['2.m4s', 'audio', '0.mp4', 'cmaf'],
    ],
  );
});

test('group assembler: joining FETCH and subscription interleaved, newer groups win', () => {
  const out: string[] = [];
  const a = new GroupAssembler((o, start) => out.push(`${o.group}/${o.object}${start ? '*' : ''}`));
  const o = (group: number, object: number, fetched = false): MoqObject => ({
    group,
    subgroup: 0,
    object,
    status: 0,
    payload: new Uint8Array([1]),
    fetched,
  });
  // The subscription's objects of group 5 arrive before the fetch's.
  a.push(o(5, 3));
  a.push(o(5, 4));
  assert.deepEqual(out, []);
  a.push(o(5, 0, true));
  a.push(o(5, 1, true));
  a.push(o(5, 2, true));
  assert.deepEqual(out, ['5/0*', '5/1', '5/2', '5/3', '5/4']);
  a.push(o(5, 2, true)); // duplicate
  // Group 6 starts while 5/5 is missing: 5 is abandoned.
  a.push(o(6, 1));
  a.push(o(6, 0));
  a.push(o(5, 5));
  assert.deepEqual(out.slice(5), ['6/0*', '6/1']);
  assert.equal(a.dropped, 2);
});

// Auto mode's decisions, fed synthetic arrivals: 30 video objects a second, audio alongside.
const RENDITIONS = [
  { name: 'video-360p', bitrate: 420_000 },
  { name: 'video-240p', bitrate: 210_000 },
  { name: 'video-144p', bitrate: 117_000 },
];

/** Feed `seconds` of media from `t0` (ms): each object `delay(t)` ms after its media time. */
function feed(abr: Abr, t0: number, seconds: number, bytesPerSecond: number, delay: (t: number) => number): number {
  const n = Math.round(seconds * 30);
  for (let i = 0; i < n; i++) {
    const media = t0 + (i * 1000) / 30;
    const at = media + delay(media);
    abr.onVideo(at, media);
    abr.onBytes(at, bytesPerSecond / 30);
    abr.onBytes(at, 15_000 / 30, true);
  }
  return t0 + seconds * 1000;
}

test('auto mode: stays while the rendition keeps up, steps down to what fits when it falls behind', () => {
  const abr = new Abr();
  let t = feed(abr, 0, 10, 56_000, () => 20);
  for (let now = 1000; now <= t; now += 250) {
    const d = abr.decide(now, RENDITIONS, 'video-360p', false, 480, 120_000);
    assert.ok(d.kind === 'none' || d.kind === 'probe', `no switch while keeping up: ${JSON.stringify(d)}`);
  }
  // The link now carries 80 % of what 360p needs: every object later than the one before.
  const capped = t;
  t = feed(abr, t, 1.5, 45_000, (m) => 20 + (m - capped) * 0.25);
  const d = abr.decide(t + 20, RENDITIONS, 'video-360p', false, 300, 120_000);
  assert.equal(d.kind, 'switch');
  assert.equal(d.kind === 'switch' && d.to, 'video-240p', JSON.stringify(abr.stats));
  assert.match(d.kind === 'switch' ? d.reason : '', /falls behind/);
  // While a switch is in progress, and during the grace period after it: nothing.
  assert.equal(abr.decide(t + 300, RENDITIONS, 'video-240p', true, 200, 120_000).kind, 'none');
  abr.switched(t + 500);
  assert.equal(abr.decide(t + 600, RENDITIONS, 'video-240p', false, 200, 120_000).kind, 'none');
});

test('auto mode: a backlog draining after a step down is not a reason to step down again', () => {
  const abr = new Abr();
  let t = feed(abr, 0, 10, 28_000, () => 20);
  const start = t;
  // 800 ms late at first, catching up by 300 ms a second.
  t = feed(abr, t, 2, 28_000, (m) => 20 + Math.max(0, 800 - (m - start) * 0.3));
  const d = abr.decide(t + 20, RENDITIONS, 'video-240p', false, 100, 120_000);
  assert.notEqual(d.kind, 'switch', JSON.stringify(abr.stats));
});

test('auto mode: steps up only on a finished probe that shows room; probes less often when there is none', () => {
  const abr = new Abr();
  let fed = feed(abr, 0, 10, 15_000, () => 20);
  // Media keeps arriving on time up to `now`.
  const at = (now: number): number => {
    if (now > fed) fed = feed(abr, fed, (now - fed) / 1000, 15_000, () => 20);
    return now;
  };
  const decide = (now: number) => abr.decide(at(now), RENDITIONS, 'video-144p', false, 480, 120_000);
  const t = fed;
  const d1 = decide(t);
  assert.equal(d1.kind, 'probe');
  assert.ok(d1.kind === 'probe' && d1.bytes >= 12_000 && d1.bytes <= 32_000);
  abr.probeStarted();
  assert.equal(decide(t + 100).kind, 'none');
  // Little room: no switch, and the next probe comes later.
  abr.probeDone(at(t + 500), { spareBps: 50_000, bytes: 20_000, complete: true });
  assert.equal(decide(t + 600).kind, 'none');
  assert.equal(decide(t + 500 + 3500).kind, 'none');
  assert.equal(decide(t + 500 + 6100).kind, 'probe');
  abr.probeStarted();
  // A cancelled probe says nothing good, however fast its first bytes came.
  abr.probeDone(at(t + 7000), { spareBps: 5_000_000, bytes: 20_000, complete: false });
  assert.equal(decide(t + 7100).kind, 'none');
  // Plenty of room: straight to the largest rendition that fits.
  abr.probeStarted();
  abr.probeDone(at(t + 20_000), { spareBps: 50_000_000, bytes: 20_000, complete: true });
  const up = decide(t + 20_100);
  assert.equal(up.kind === 'switch' && up.to, 'video-360p', JSON.stringify(up));
});

test('auto mode: lateness while probing cancels the probe rather than stepping down', () => {
  const abr = new Abr();
  let t = feed(abr, 0, 10, 28_000, () => 20);
  abr.probeStarted();
  const start = t;
  t = feed(abr, t, 1.5, 28_000, (m) => 20 + (m - start) * 0.3);
  const d = abr.decide(t + 20, RENDITIONS, 'video-240p', false, 200, 120_000);
  assert.equal(d.kind, 'cancel-probe', JSON.stringify(d));
  abr.probeDone(t + 50, null);
  assert.equal(abr.decide(t + 100, RENDITIONS, 'video-240p', false, 200, 120_000).kind, 'none');
});

test('probe rate: bytes after the first chunk over the chunks\' spread', () => {
  assert.equal(probeRate({ bytes: 10_000, firstChunkBytes: 2000, firstChunkAt: 100, lastChunkAt: 200, complete: true }, 50, 300), 640_000);
  assert.equal(probeRate({ bytes: 10_000, firstChunkBytes: 10_000, firstChunkAt: 100, lastChunkAt: 100, complete: true }, 50, 300), 40_000_000);
  assert.equal(probeRate({ bytes: 10_000, firstChunkBytes: 2000, firstChunkAt: 100, lastChunkAt: 900, complete: false }, 0, 1000), 80_000);
  assert.equal(probeRate({ bytes: 0, firstChunkBytes: 0, firstChunkAt: null, lastChunkAt: null, complete: false }, 0, 1000), 0);
});

test('live edge: a fixed target never moves', () => {
  const e = new LiveEdge(300);
  assert.equal(e.targetUs, 300_000);
  e.restart(0);
  assert.equal(e.arrived(0, 500_000, 5000), 0);
  assert.equal(e.targetUs, 300_000);
});

test('live edge: late media raises the target by its lateness and a margin; steady room lowers it', () => {
  const c = { ...DEFAULT_LIVE_EDGE };
  const e = new LiveEdge(null, c);
  assert.equal(e.targetUs, c.startMs * 1000);
  e.restart(0);
  // The joining burst (old media) is not judged.
  assert.equal(e.arrived(0, 400_000, c.graceMs - 100), 0);
  // 100 ms late after the grace: 100 + margin more, the clock moved back as much.
  const shift = e.arrived(1_000_000, 1_100_000, 2000);
  assert.equal(shift, -(100 + c.raiseMarginMs) * 1000);
  assert.equal(e.targetUs, (c.startMs + 100 + c.raiseMarginMs) * 1000);
  assert.equal(e.raises, 1);
  // A window in which every arrival had 400 ms of room: lowered.
  let t = 2000;
  let moved = 0;
  for (let i = 0; i * 33 <= c.windowMs + 33; i++) {
    t += 33;
    moved += e.arrived(10_000_000 + i * 33_000, 10_000_000 + i * 33_000 - 400_000, t);
  }
  // Lowered, but not below what the raise just before asked for.
  const raisedTo = (c.startMs + 100 + c.raiseMarginMs) * 1000;
  assert.equal(moved, 400_000 - raisedTo);
  assert.equal(e.targetUs, raisedTo);
  assert.equal(e.lowerings, 1);
  // Never past the bounds.
  for (let i = 0; i < 100; i++) e.arrived(0, 10_000_000, 10_000 + i);
  assert.equal(e.targetUs, c.maxMs * 1000);
  const low = new LiveEdge(null, c);
  low.restart(0);
  let w = 2000;
  for (let n = 0; n < 10; n++) {
    for (let i = 0; i * 33 <= c.windowMs + 33; i++) {
      w += 33;
      low.arrived(5_000_000, 0, w);
    }
  }
  assert.equal(low.targetUs, c.minMs * 1000);
});

const readerOf = (bytes: Uint8Array): StreamReader =>
  new StreamReader(
    new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(bytes);
        c.close();
      },
    }),
  );

test('publishing: a SUBSCRIBE names its track; a one-object stream reads back', async () => {
  const sub = readerOf(subscribeMessage(6, ['live', 'demo', 'viewers', 'web-1'], 'events', 0));
  const m = await sub.message();
  assert.ok(m);
  assert.equal(m.type, MSG_SUBSCRIBE);
  assert.deepEqual(parseSubscribe(m.payload), { requestId: 6, namespace: ['live', 'demo', 'viewers', 'web-1'], track: 'events' });

  const payload = new TextEncoder().encode('{"body":"hi"}');
  const r = readerOf(singleObjectStream(3, 1_700_000_000_123, 0, payload));
  const t = await r.varint();
  assert.ok(isSubgroupType(t));
  const header = await readSubgroupHeader(t, r);
  assert.equal(header.trackAlias, 3);
  assert.equal(header.group, 1_700_000_000_123);
  const objects: MoqObject[] = [];
  await readSubgroupObjects(header, r, (o) => objects.push(o));
  assert.equal(objects.length, 1);
  assert.equal(objects[0].object, 0);
  assert.deepEqual([...objects[0].payload], [...payload]);
});

test('live edge: a join with room to spare settles within the first short window', () => {
  const c = { ...DEFAULT_LIVE_EDGE };
  const e = new LiveEdge(null, c);
  e.restart(0);
  let moved = 0;
  let t = c.graceMs;
  while (t <= c.graceMs + c.firstWindowMs + 40) {
    moved += e.arrived(t * 1000, t * 1000 - 250_000, t);
    t += 33;
  }
  assert.equal(e.lowerings, 1, 'lowered after the first window');
  assert.equal(moved, (250 - Math.max(c.keepMs, c.minMs)) * 1000);
});

/** A `width` x `height` RGBA picture carrying `ms` as `stamp.ts` lays it out (its check byte
 * wrong if `corrupt`), grey around. */
function stamped(ms: number, width: number, height: number, corrupt = false): CanvasRenderingContext2D {
  const data = new Uint8ClampedArray(width * height * 4).fill(100);
  const bytes: number[] = [];
  for (let i = 5; i >= 0; i--) bytes.push(Math.floor(ms / 256 ** i) % 256);
  bytes.push(bytes.reduce((a, b) => a ^ b, 0) ^ (corrupt ? 1 : 0));
  const cell = cellSize(width);
  for (let i = 0; i < STAMP_BITS; i++) {
    const on = (bytes[i >> 3] & (0x80 >> (i & 7))) !== 0;
    const x0 = (i % CELLS_PER_ROW) * cell;
    const y0 = Math.floor(i / CELLS_PER_ROW) * cell;
    for (let y = y0; y < y0 + cell; y++) {
      for (let x = x0; x < x0 + cell; x++) {
        // Values a codec leaves near black and white.
        data.fill(on ? 230 : 20, (y * width + x) * 4, (y * width + x) * 4 + 3);
      }
    }
  }
  const ctx = {
    getImageData: (x: number, y: number, w: number, h: number) => {
      const out = new Uint8ClampedArray(w * h * 4);
      for (let row = 0; row < h; row++) {
        out.set(data.subarray(((y + row) * width + x) * 4, ((y + row) * width + x + w) * 4), row * w * 4);
      }
      return { data: out, width: w, height: h };
    },
  };
  return ctx as unknown as CanvasRenderingContext2D;
}

test('source stamps: the wall clock drawn into a picture reads back; a bad check byte reads as none', () => {
  const ms = 1_796_000_000_123;
  assert.equal(readStamp(stamped(ms, 640, 360), 640, 360), ms);
  assert.equal(readStamp(stamped(ms, 1280, 720), 1280, 720), ms);
  assert.equal(readStamp(stamped(ms, 640, 360, true), 640, 360), null);
  // Too small a picture for the cells.
  assert.equal(readStamp(stamped(ms, 640, 360), 96, 54), null);
});

// Real user agents (2025 releases).
const UA = {
  macSafari:
    'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.5 Safari/605.1.15',
  iphoneSafari:
    'Mozilla/5.0 (iPhone; CPU iPhone OS 18_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.5 Mobile/15E148 Safari/604.1',
  iphoneChrome:
    'Mozilla/5.0 (iPhone; CPU iPhone OS 18_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/138.0.7204.119 Mobile/15E148 Safari/604.1',
  chrome:
    'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/138.0.0.0 Safari/537.36',
  headlessChrome:
    'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/156.0.0.0 Safari/537.36',
  edge: 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/138.0.0.0 Safari/537.36 Edg/138.0.3351.83',
  androidWebView:
    'Mozilla/5.0 (Linux; Android 14; Pixel 8 Build/AP2A.240805.005; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/138.0.7204.63 Mobile Safari/537.36',
  firefox: 'Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0',
};

const chromium = (over: Partial<BrowserFeatures> = {}): BrowserFeatures => ({
  userAgent: UA.chrome,
  webCodecs: true,
  webRtc: true,
  nativeHls: true,
  mediaSource: true,
  ...over,
});

test('watch: Safari and every iOS browser are Safari; Chromium-based browsers and Firefox are not', () => {
  for (const ua of [UA.macSafari, UA.iphoneSafari, UA.iphoneChrome]) assert.equal(isSafari(ua), true, ua);
  for (const ua of [UA.chrome, UA.headlessChrome, UA.edge, UA.androidWebView, UA.firefox]) assert.equal(isSafari(ua), false, ua);
});

test('watch: MoQ first (Safari too: over a WebSocket), then WHEP, then LL-HLS', () => {
  assert.deepEqual(plan(chromium(), null), [
    { via: 'moq', skip: null },
    { via: 'whep', skip: null },
    { via: 'hls', skip: null },
  ]);
  // Safari plays MoQ too: transport.ts sends it over the WebSocket, never WebTransport.
  assert.deepEqual(plan(chromium({ userAgent: UA.macSafari }), null), plan(chromium(), null));
  assert.match(plan(chromium({ webCodecs: false }), null)[0].skip ?? '', /no WebCodecs/);
  assert.match(plan(chromium({ webRtc: false }), null)[1].skip ?? '', /no WebRTC/);
  assert.match(plan(chromium({ nativeHls: false, mediaSource: false }), null)[2].skip ?? '', /neither/);
  // ?via= plays that way alone, whatever the browser says.
  assert.deepEqual(plan(chromium({ userAgent: UA.macSafari }), ['moq']), [{ via: 'moq', skip: null }]);
  assert.deepEqual(plan(chromium(), ['hls']), [{ via: 'hls', skip: null }]);
  assert.deepEqual(plan(chromium({ webRtc: false }), ['whep', 'hls']), [
    { via: 'whep', skip: null },
    { via: 'hls', skip: null },
  ]);
});

test("watch: LL-HLS with Safari's own player, hls.js elsewhere (Chromium says it plays HLS too)", () => {
  assert.equal(hlsPlayer(chromium({ userAgent: UA.macSafari })), 'native');
  assert.equal(hlsPlayer(chromium({ userAgent: UA.iphoneSafari, mediaSource: false })), 'native');
  assert.equal(hlsPlayer(chromium()), 'hls.js');
  assert.equal(hlsPlayer(chromium({ nativeHls: false })), 'hls.js');
  assert.equal(hlsPlayer(chromium({ userAgent: UA.firefox, nativeHls: false })), 'hls.js');
  assert.equal(hlsPlayer(chromium({ mediaSource: false })), 'native');
  assert.equal(hlsPlayer(chromium({ nativeHls: false, mediaSource: false })), null);
});

test('watch: the page path names the broadcast; ?via= takes the three ways only', () => {
  assert.deepEqual(watchedBroadcast('/watch/live/cam1'), { fields: ['live', 'cam1'], urlPath: 'live/cam1' });
  assert.deepEqual(watchedBroadcast('/watch/live//cam%201/'), { fields: ['live', 'cam 1'], urlPath: 'live/cam%201' });
  assert.equal(watchedBroadcast('/watch/'), null);
  assert.equal(watchedBroadcast('/watch/%E0%A4%A'), null);
  assert.equal(watchedBroadcast('/player.html'), null);
  assert.equal(parseVia(null), null);
  assert.deepEqual(parseVia('WHEP'), ['whep']);
  assert.deepEqual(parseVia('whep, hls'), ['whep', 'hls']);
  assert.throws(() => parseVia('rtmp'), /use moq, whep or hls/);
  assert.throws(() => parseVia('hls,hls'), /use moq, whep or hls/);
  assert.throws(() => parseVia('whep,'), /use moq, whep or hls/);
});

test('watch: a token rides as ?jwt= on the WebTransport URL and as ?token= on the playlist', () => {
  assert.equal(moqUrl('https://127.0.0.1:4443', null), 'https://127.0.0.1:4443');
  assert.equal(moqUrl('https://127.0.0.1:4443', 'a b&c'), 'https://127.0.0.1:4443/?jwt=a+b%26c');
  assert.equal(moqUrl('https://relay.example/moq?x=1', 'T'), 'https://relay.example/moq?x=1&jwt=T');
  assert.equal(hlsUrl('live/cam%201', null), '/hls/live/cam%201/index.m3u8');
  assert.equal(hlsUrl('live/cam1', 'a b&c'), '/hls/live/cam1/index.m3u8?token=a%20b%26c');
});

test('WHEP: the ice-server Link headers become RTCIceServers, other links are ignored', () => {
  const link =
    '<turn:turn.example.net:3478?transport=udp>; rel="ice-server"; username="u"; credential="p"; ' +
    'credential-type="password", <stun:stun.example.net>; rel="ice-server", ' +
    '</whep-session/x/events>; rel="urn:ietf:params:whep:ext:core:server-sent-events"';
  assert.deepEqual(parseIceServers(link), [
    { urls: 'turn:turn.example.net:3478?transport=udp', username: 'u', credential: 'p' },
    { urls: 'stun:stun.example.net' },
  ]);
  assert.deepEqual(parseIceServers(null), []);
  assert.deepEqual(parseIceServers('garbage'), []);
});

test('transport: ?transport= takes webtransport, websocket or race (the default)', () => {
  assert.equal(parseTransportMode(null), 'race');
  assert.equal(parseTransportMode(''), 'race');
  assert.equal(parseTransportMode('race'), 'race');
  assert.equal(parseTransportMode('WebSocket'), 'websocket');
  assert.equal(parseTransportMode('webtransport'), 'webtransport');
  assert.throws(() => parseTransportMode('quic'), /use webtransport, websocket or race/);
});

test("transport: the WebSocket URL is ?websocket=, else the relay listener's own origin with the WebTransport URL's path and query", () => {
  // Explicit: as given, http(s) read as ws(s).
  assert.equal(websocketUrl('https://127.0.0.1:4443', 'ws://127.0.0.1:8080/', null), 'ws://127.0.0.1:8080/');
  assert.equal(websocketUrl('https://127.0.0.1:4443', 'https://relay.example/moq?x=1', 'http://page'), 'wss://relay.example/moq?x=1');
  assert.throws(() => websocketUrl('https://127.0.0.1:4443', '/moq', null), /not a URL/);
  assert.throws(() => websocketUrl('https://127.0.0.1:4443', 'ftp://relay.example/', null), /not a ws\(s\) or http\(s\) URL/);
  // Derived: the page's origin (the relay's HTTP listener), the WebTransport URL's path and query.
  assert.equal(websocketUrl('https://127.0.0.1:4443', null, 'http://127.0.0.1:8080'), 'ws://127.0.0.1:8080/');
  assert.equal(
    websocketUrl('https://relay.example:4443/moq?jwt=T', null, 'https://relay.example'),
    'wss://relay.example/moq?jwt=T',
  );
  // A page not served by the relay's listener, and no ?websocket=: none.
  assert.equal(websocketUrl('https://127.0.0.1:4443', null, null), null);
  assert.equal(websocketUrl('https://127.0.0.1:4443', '', null), null);
});

const situation = (over: Partial<TransportSituation> = {}): TransportSituation => ({
  mode: 'race',
  webTransport: true,
  userAgent: UA.chrome,
  websocket: 'ws://127.0.0.1:8080/',
  remembered: null,
  ...over,
});

test('transport: WebTransport gets a head start; WebSocket at once when it won last time, in Safari, without WebTransport', () => {
  const p = transportPlan(situation());
  assert.deepEqual([p.webtransport, p.websocketDelayMs], [true, WEBSOCKET_HEAD_START_MS]);
  assert.equal(WEBSOCKET_HEAD_START_MS, 500);
  // Remembered: WebSocket won the last race to this relay: both start at once.
  const won = transportPlan(situation({ remembered: 'websocket' }));
  assert.deepEqual([won.webtransport, won.websocketDelayMs], [true, 0]);
  const wtWon = transportPlan(situation({ remembered: 'webtransport' }));
  assert.deepEqual([wtWon.webtransport, wtWon.websocketDelayMs], [true, WEBSOCKET_HEAD_START_MS]);
  // Safari (and every iOS browser) and a browser without WebTransport: the WebSocket alone.
  for (const s of [situation({ userAgent: UA.macSafari }), situation({ userAgent: UA.iphoneChrome }), situation({ webTransport: false })]) {
    const q = transportPlan(s);
    assert.deepEqual([q.webtransport, q.websocketDelayMs], [false, 0], s.userAgent);
  }
  assert.match(transportPlan(situation({ userAgent: UA.macSafari })).why, /Safari/);
  // No WebSocket URL: WebTransport alone (Safari too: there is nothing else), or no way at all.
  for (const ua of [UA.chrome, UA.macSafari]) {
    const q = transportPlan(situation({ websocket: null, userAgent: ua }));
    assert.deepEqual([q.webtransport, q.websocketDelayMs], [true, null]);
  }
  assert.throws(() => transportPlan(situation({ websocket: null, webTransport: false })), /no WebTransport/);
  // Forced.
  const ws = transportPlan(situation({ mode: 'websocket' }));
  assert.deepEqual([ws.webtransport, ws.websocketDelayMs], [false, 0]);
  const wt = transportPlan(situation({ mode: 'webtransport', userAgent: UA.macSafari, remembered: 'websocket' }));
  assert.deepEqual([wt.webtransport, wt.websocketDelayMs], [true, null]);
  assert.throws(() => transportPlan(situation({ mode: 'websocket', websocket: null })), /no WebSocket URL/);
  assert.throws(() => transportPlan(situation({ mode: 'webtransport', webTransport: false })), /no WebTransport/);
});

test("transport: a race's winner is remembered per relay URL, its query left out", () => {
  const map = new Map<string, string>();
  const store: WinnerStore = {
    getItem: (k) => map.get(k) ?? null,
    setItem: (k, v) => void map.set(k, v),
  };
  const relay = 'https://relay.example:4443/moq?jwt=T1';
  assert.equal(rememberedWinner(store, relay), null);
  rememberWinner(store, relay, 'websocket');
  assert.equal(winnerKey(relay), 'tern.transport https://relay.example:4443/moq');
  assert.deepEqual([...map.values()], ['websocket']);
  // Another token, same relay: remembered; another relay: not.
  assert.equal(rememberedWinner(store, 'https://relay.example:4443/moq?jwt=T2'), 'websocket');
  assert.equal(rememberedWinner(store, 'https://relay.example:4444/moq'), null);
  rememberWinner(store, relay, 'webtransport');
  assert.equal(rememberedWinner(store, relay), 'webtransport');
  // Junk stored, no storage, storage that throws: nothing remembered, nothing thrown.
  map.set(winnerKey(relay), 'carrier-pigeon');
  assert.equal(rememberedWinner(store, relay), null);
  assert.equal(rememberedWinner(null, relay), null);
  const broken: WinnerStore = {
    getItem: () => {
      throw new Error('SecurityError');
    },
    setItem: () => {
      throw new Error('QuotaExceededError');
    },
  };
  assert.equal(rememberedWinner(broken, relay), null);
  rememberWinner(broken, relay, 'websocket');
});

/** A transport for the race tests: ready (or failed) when the test says, or after `readyMs`. */
class FakeTransport implements Raced {
  readonly ready: Promise<void>;
  readonly closed: Promise<void>;
  closedByRace = false;
  succeed: () => void = () => {};
  fail: (e: Error) => void = () => {};
  constructor(readonly name: string, readyMs: number | null, failMs: number | null = null) {
    this.ready = new Promise<void>((resolve, reject) => {
      this.succeed = resolve;
      this.fail = reject;
    });
    this.closed = this.ready.then(() => new Promise<void>(() => {}));
    if (readyMs !== null) setTimeout(() => this.succeed(), readyMs);
    if (failMs !== null) setTimeout(() => this.fail(new Error(`${name} refused`)), failMs);
  }
  close(): void {
    this.closedByRace = true;
  }
}

/** Attempts of a race: WebTransport at once, the WebSocket after `delayMs`; which were opened. */
function race(wt: () => FakeTransport, ws: () => FakeTransport, delayMs: number) {
  const opened: FakeTransport[] = [];
  const open = (make: () => FakeTransport) => () => {
    const t = make();
    opened.push(t);
    return t;
  };
  const result = raceTransports([
    { kind: 'webtransport', target: 'https://relay', delayMs: 0, open: open(wt) },
    { kind: 'websocket', target: 'ws://relay/', delayMs, open: open(ws) },
  ]);
  return { result, opened };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('transport race: WebTransport ready within its head start wins; the WebSocket never opens', async () => {
  const { result, opened } = race(() => new FakeTransport('wt', 5), () => new FakeTransport('ws', 0), 100);
  const won = await result;
  assert.equal(won.kind, 'webtransport');
  await sleep(150);
  assert.deepEqual(opened.map((t) => t.name), ['wt']);
  assert.equal(won.transport.closedByRace, false);
});

test('transport race: a slow WebTransport loses to the WebSocket and is closed', async () => {
  const { result, opened } = race(() => new FakeTransport('wt', 300), () => new FakeTransport('ws', 5), 20);
  const won = await result;
  assert.equal(won.kind, 'websocket');
  assert.equal(won.transport.name, 'ws');
  assert.deepEqual(opened.map((t) => t.name), ['wt', 'ws']);
  await sleep(10);
  assert.equal(opened[0].closedByRace, true, 'the loser is closed');
  assert.equal(won.transport.closedByRace, false);
});

test('transport race: a failed WebTransport ends the head start; the WebSocket wins', async () => {
  const started = Date.now();
  const { result } = race(() => new FakeTransport('wt', null, 5), () => new FakeTransport('ws', 5), 10_000);
  const won = await result;
  assert.equal(won.kind, 'websocket');
  assert.ok(Date.now() - started < 5_000, 'did not wait out the head start');
});

test('transport race: a failed WebSocket leaves WebTransport to win; both failing names both', async () => {
  const one = race(() => new FakeTransport('wt', 50), () => new FakeTransport('ws', null, 1), 0);
  assert.equal((await one.result).kind, 'webtransport');
  const both = race(
    () => new FakeTransport('wt', null, 30),
    () => {
      throw new Error('no WebSocket here');
    },
    0,
  );
  await assert.rejects(both.result, (e: Error) => {
    assert.equal(e.message, 'WebTransport to https://relay failed: wt refused; WebSocket to ws://relay/ failed: no WebSocket here');
    return true;
  });
});
