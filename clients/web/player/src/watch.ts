// The watch page (watch.html, `<body data-page="watch">`, served at /watch/NAME for any
// broadcast NAME): plays NAME the best way this browser can (see via.ts): MoQ with the player
// (the relay and certificate hash from /config.json and /fingerprint, as the player page), over
// WebTransport raced against a WebSocket to this page's own origin (the relay's HTTP listener
// takes MoQ over WebSocket on any path), and over the WebSocket alone in Safari and browsers
// without WebTransport (transport.ts), else WHEP (whep.ts), else LL-HLS (the browser's own
// player in Safari, else hls.js, which the relay serves at /watch.assets/hls.min.js). A way that
// fails (no session, a refusal, no picture in time, a fatal error later) hands over to the next;
// every way skipped or failed is recorded, in order, with why.
//
// Query: `?via=moq|whep|hls` plays that way only (`?via=whep,hls`: those, in that order);
// `?transport=webtransport|websocket` plays MoQ over that one only, `?websocket=URL` over that
// WebSocket rather than this origin's; `?token=T` is passed on: to MoQ as `?jwt=T` on
// the WebTransport and WebSocket URLs, to WHEP as `Authorization: Bearer T`, to LL-HLS as
// `?token=T` on the playlist URL. The status is on `window.ternWatch` for tests and scripts.

import { $, pageConfig } from './page';
import { Player } from './player';
import { errorText } from './session';
import { TRANSPORT_NAMES, Transport, TransportMode, parseTransportMode, websocketUrl } from './transport';
import { BrowserFeatures, VIA_NAMES, Via, hlsPlayer, hlsUrl, moqUrl, parseVia, plan, watchedBroadcast } from './via';
import { WhepClient } from './whep';

/** How long (in visible time) a way may take to show its first frame before the next is tried. */
const FIRST_FRAME_MS: Record<Via, number> = { moq: 10_000, whep: 10_000, hls: 15_000 };
/** WHEP: ICE and DTLS must be up within this. */
const WHEP_CONNECT_MS = 8_000;
/** How often the page looks at the playback (frames, size, sound). */
const TICK_MS = 250;
/** Where the relay serves hls.js. */
const HLS_JS = '/watch.assets/hls.min.js';

/** A way passed over: skipped (the browser cannot use it) or failed. */
export interface WatchStep {
  via: Via;
  outcome: 'skipped' | 'failed';
  reason: string;
}

/** What the page shows, on `window.ternWatch`. */
export interface WatchStatus {
  /** The broadcast, `a/b`. */
  broadcast: string;
  /** The way playing or being tried. */
  via: Via | null;
  /** With `via` = hls: whose player. */
  hls: 'native' | 'hls.js' | null;
  /** With `via` = moq: which way the session runs, once it is up. */
  transport: Transport | null;
  state: 'starting' | 'connecting' | 'playing' | 'failed';
  /** Why this way (what was passed over before it, or the query). */
  reason: string;
  /** The last failure. */
  error: string | null;
  /** Every way passed over, in order. */
  steps: WatchStep[];
  /** Video frames the current way has shown, and the picture's size. */
  frames: number;
  width: number;
  height: number;
}

interface HlsErrorData {
  fatal: boolean;
  type: string;
  details: string;
}

interface HlsInstance {
  on(event: string, callback: (event: string, data: HlsErrorData) => void): void;
  loadSource(src: string): void;
  attachMedia(media: HTMLMediaElement): void;
  destroy(): void;
}

interface HlsConstructor {
  new (config: Record<string, unknown>): HlsInstance;
  isSupported(): boolean;
  Events: { ERROR: string };
}

declare global {
  interface Window {
    ternWatch: WatchStatus;
    Hls?: HlsConstructor;
  }
}

/** One way, playing or setting up. */
interface Playback {
  /** Resolves, with why, when the way fails (while setting up or later). */
  readonly failed: Promise<string>;
  frames(): number;
  size(): [number, number];
  /** The sound waits for a click. */
  muted(): boolean;
  /** MoQ: which way the session runs, once it is up. */
  transport?(): Transport | null;
  unmute(): void;
  stop(): void;
}

/** What every way needs. */
interface Target {
  fields: string[];
  urlPath: string;
  token: string | null;
  /** MoQ: `?websocket=`, null for this page's origin. */
  websocket: string | null;
  /** MoQ: `?transport=`. */
  transport: TransportMode;
  features: BrowserFeatures;
  canvas: HTMLCanvasElement;
  video: HTMLVideoElement;
}

/** A promise that `fail` resolves, once. */
function failure(): { failed: Promise<string>; fail: (reason: string) => void } {
  let fail: (reason: string) => void = () => {};
  const failed = new Promise<string>((resolve) => (fail = resolve));
  return { failed, fail };
}

function show(target: Target, what: 'canvas' | 'video'): void {
  target.canvas.hidden = what !== 'canvas';
  target.video.hidden = what !== 'video';
}

/** Frames a media element has shown. */
function videoFrames(video: HTMLVideoElement): number {
  if (typeof video.getVideoPlaybackQuality === 'function') return video.getVideoPlaybackQuality().totalVideoFrames;
  return (video as HTMLVideoElement & { webkitDecodedFrameCount?: number }).webkitDecodedFrameCount ?? 0;
}

/** A media element's playback, the parts every element-based way shares. */
function elementPlayback(video: HTMLVideoElement, failed: Promise<string>, stop: () => void): Playback {
  return {
    failed,
    frames: () => videoFrames(video),
    size: () => [video.videoWidth, video.videoHeight],
    muted: () => video.muted,
    unmute: () => {
      video.muted = false;
      video.play().catch(() => {});
    },
    stop,
  };
}

function resetVideo(video: HTMLVideoElement): void {
  video.pause();
  video.srcObject = null;
  video.removeAttribute('src');
  video.load();
  video.muted = true;
}

function playMoq(target: Target): Playback {
  show(target, 'canvas');
  const { failed, fail } = failure();
  let player: Player | null = null;
  let stopped = false;
  void (async () => {
    const config = await pageConfig();
    if (stopped) return;
    // This page is served by the relay's HTTP listener, which takes MoQ over WebSocket too.
    const websocket = websocketUrl(config.relay, target.websocket, location.origin);
    const p = new Player({
      relay: moqUrl(config.relay, target.token),
      websocket: websocket && moqUrl(websocket, target.token),
      transport: target.transport,
      fingerprint: config.fingerprint,
      namespace: target.fields,
      canvas: target.canvas,
      onSession: (s) => void s.closed.then(fail),
    });
    player = p;
    await p.start();
  })().catch((e) => fail(errorText(e)));
  return {
    failed,
    frames: () => player?.stats.framesDrawn ?? 0,
    size: () => [player?.stats.width ?? 0, player?.stats.height ?? 0],
    muted: () => player?.stats.audioState === 'suspended',
    transport: () => player?.stats.transport ?? null,
    unmute: () => player?.unmute(),
    stop: () => {
      stopped = true;
      player?.stop();
    },
  };
}

function playWhep(target: Target): Playback {
  show(target, 'video');
  const { failed, fail } = failure();
  const client = new WhepClient({ url: `/whep/${target.urlPath}`, token: target.token, video: target.video });
  const onHide = (): void => client.stop();
  window.addEventListener('pagehide', onHide);
  client
    .start()
    .then(() => client.connected(WHEP_CONNECT_MS))
    .then(() => {
      client.pc.addEventListener('connectionstatechange', () => {
        const s = client.pc.connectionState;
        if (s === 'failed' || s === 'closed') fail(`WebRTC connection ${s}`);
      });
    })
    .catch((e) => fail(errorText(e)));
  return elementPlayback(target.video, failed, () => {
    window.removeEventListener('pagehide', onHide);
    client.stop();
    resetVideo(target.video);
  });
}

/** Load a classic script (hls.js is UMD: it sets `window.Hls`). */
function loadScript(src: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = document.createElement('script');
    s.src = src;
    s.onload = () => resolve();
    s.onerror = () => reject(new Error(`cannot load ${src}`));
    document.head.append(s);
  });
}

function playHls(target: Target, status: WatchStatus): Playback {
  show(target, 'video');
  const { failed, fail } = failure();
  const video = target.video;
  const src = hlsUrl(target.urlPath, target.token);
  const which = hlsPlayer(target.features);
  status.hls = which;
  let hls: HlsInstance | null = null;
  let stopped = false;
  const onError = (): void => {
    const e = video.error;
    fail(`the browser's HLS player: ${e ? `${e.code} ${e.message}`.trim() : 'error'}`);
  };
  if (which === 'native') {
    video.addEventListener('error', onError);
    video.src = src;
    video.play().catch(() => {});
  } else {
    loadScript(HLS_JS)
      .then(() => {
        const Hls = window.Hls;
        if (stopped) return;
        if (!Hls) throw new Error(`${HLS_JS} did not define Hls`);
        if (!Hls.isSupported()) throw new Error('hls.js cannot play in this browser');
        const h = new Hls({ lowLatencyMode: true });
        hls = h;
        h.on(Hls.Events.ERROR, (_, d) => {
          if (d.fatal) fail(`hls.js: ${d.type}: ${d.details}`);
        });
        h.loadSource(src);
        h.attachMedia(video);
        video.play().catch(() => {});
      })
      .catch((e) => fail(errorText(e)));
  }
  return elementPlayback(video, failed, () => {
    stopped = true;
    video.removeEventListener('error', onError);
    hls?.destroy();
    resetVideo(video);
  });
}

function features(video: HTMLVideoElement): BrowserFeatures {
  return {
    userAgent: navigator.userAgent,
    webCodecs: typeof VideoDecoder !== 'undefined',
    webRtc: typeof RTCPeerConnection !== 'undefined',
    nativeHls: video.canPlayType('application/vnd.apple.mpegurl') !== '',
    mediaSource: typeof MediaSource !== 'undefined',
  };
}

/** The ways passed over, for people: "WHEP (WebRTC) failed: ...; ...". */
function stepsText(steps: WatchStep[]): string {
  return steps.map((s) => `${VIA_NAMES[s.via]} ${s.outcome}: ${s.reason}`).join('; ');
}

/** The way's name, with whose HLS player or which way MoQ runs. */
function viaName(status: WatchStatus): string {
  if (!status.via) return '';
  if (status.via === 'hls' && status.hls) return `${VIA_NAMES.hls} (${status.hls})`;
  if (status.via === 'moq' && status.transport) return `${VIA_NAMES.moq} (${TRANSPORT_NAMES[status.transport]})`;
  return VIA_NAMES[status.via];
}

export async function runWatch(): Promise<void> {
  const canvas = $('picture') as HTMLCanvasElement;
  const video = $('media') as HTMLVideoElement;
  const unmute = $('unmute') as HTMLButtonElement;
  const status: WatchStatus = {
    broadcast: '',
    via: null,
    hls: null,
    transport: null,
    state: 'starting',
    reason: '',
    error: null,
    steps: [],
    frames: 0,
    width: 0,
    height: 0,
  };
  window.ternWatch = status;
  const render = (): void => {
    const name = viaName(status);
    const why = status.reason ? `: ${status.reason}` : '';
    $('status').textContent =
      status.state === 'playing'
        ? `Playing over ${name}${why}`
        : status.state === 'connecting'
          ? `Trying ${name}${why}`
          : status.state === 'failed'
            ? `Cannot play${status.steps.length ? `: ${stepsText(status.steps)}` : ''}`
            : 'Starting';
    $('error').textContent = status.error ?? '';
  };
  const failed = (text: string): void => {
    status.state = 'failed';
    status.error = text;
    render();
  };

  const target = watchedBroadcast(location.pathname);
  if (!target) return failed(`${location.pathname} names no broadcast: open /watch/NAME`);
  status.broadcast = target.fields.join('/');
  $('broadcast').textContent = status.broadcast;
  document.title = `${status.broadcast} · tern`;
  const params = new URLSearchParams(location.search);
  let forced: Via[] | null;
  let transport: TransportMode;
  try {
    forced = parseVia(params.get('via'));
    transport = parseTransportMode(params.get('transport'));
  } catch (e) {
    return failed(errorText(e));
  }
  const t: Target = {
    ...target,
    token: params.get('token') || null,
    websocket: params.get('websocket') || null,
    transport,
    features: features(video),
    canvas,
    video,
  };
  // A page restored from the back-forward cache has no session left: start again.
  window.addEventListener('pageshow', (e) => {
    if (e.persisted) location.reload();
  });

  let current: Playback | null = null;
  let visibleMs = 0;
  const sample = (): void => {
    if (!current) return;
    status.frames = current.frames();
    [status.width, status.height] = current.size();
    status.transport = current.transport?.() ?? null;
    unmute.hidden = !(status.state === 'playing' && current.muted());
  };
  setInterval(() => {
    if (!document.hidden) visibleMs += TICK_MS;
    sample();
  }, TICK_MS);
  unmute.addEventListener('click', () => {
    current?.unmute();
    unmute.hidden = true;
  });

  for (const step of plan(t.features, forced)) {
    if (step.skip) {
      status.steps.push({ via: step.via, outcome: 'skipped', reason: step.skip });
      continue;
    }
    status.via = step.via;
    status.hls = null;
    status.transport = null;
    status.frames = status.width = status.height = 0;
    const why = [forced ? `asked for with ?via=${forced.join(',')}` : '', stepsText(status.steps)].filter((w) => w);
    status.reason = why.length ? why.join('; ') : 'the best way this browser has';
    status.state = 'connecting';
    const playback =
      step.via === 'moq' ? playMoq(t) : step.via === 'whep' ? playWhep(t) : playHls(t, status);
    current = playback;
    render();
    // The first frame, in time (counted while the page is visible: a hidden page draws nothing).
    const deadline = visibleMs + FIRST_FRAME_MS[step.via];
    let timer = 0;
    let reason: string | null = await Promise.race([
      playback.failed,
      new Promise<string | null>((resolve) => {
        timer = window.setInterval(() => {
          if (playback.frames() > 0) resolve(null);
          else if (visibleMs >= deadline) resolve(`no picture within ${FIRST_FRAME_MS[step.via] / 1000} s`);
        }, 100);
      }),
    ]);
    window.clearInterval(timer);
    if (reason === null) {
      status.state = 'playing';
      status.error = null;
      sample();
      render();
      reason = await playback.failed;
    }
    playback.stop();
    current = null;
    status.steps.push({ via: step.via, outcome: 'failed', reason });
    status.error = `${VIA_NAMES[step.via]}: ${reason}`;
    render();
  }
  status.via = null;
  unmute.hidden = true;
  show(t, 'video');
  failed(status.error ?? 'no way to play in this browser');
}
