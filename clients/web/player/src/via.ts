// Which way the watch page (watch.ts) plays a broadcast in this browser, decided from what the
// browser has: MoQ (over WebTransport, or over a WebSocket where there is no WebTransport and in
// Safari: transport.ts), else WHEP (WebRTC), else LL-HLS. Pure functions, so the choice is
// tested without a browser.

/** A way to play: MoQ (over WebTransport or a WebSocket), WHEP (WebRTC), LL-HLS. */
export type Via = 'moq' | 'whep' | 'hls';

/** Every way, best first. */
export const VIAS: readonly Via[] = ['moq', 'whep', 'hls'];

/** How each way is named to people. */
export const VIA_NAMES: Record<Via, string> = {
  moq: 'MoQ',
  whep: 'WHEP (WebRTC)',
  hls: 'LL-HLS',
};

/** What the browser offers, as far as the choice goes. */
export interface BrowserFeatures {
  userAgent: string;
  /** WebCodecs' VideoDecoder (the MoQ player decodes with it). */
  webCodecs: boolean;
  webRtc: boolean;
  /** `video.canPlayType('application/vnd.apple.mpegurl')` is not empty. */
  nativeHls: boolean;
  /** Media Source Extensions (hls.js needs them). */
  mediaSource: boolean;
}

/** One way in the plan: to try, or not (and why). */
export interface Step {
  via: Via;
  /** Why this way is not tried; null: try it. */
  skip: string | null;
}

/**
 * Safari (macOS, iOS, iPadOS; and every iOS browser, which are WebKit underneath), told by its
 * user agent: `Safari/` without the tokens of Chrome, Chromium, Edge or an Android WebView.
 */
export function isSafari(userAgent: string): boolean {
  if (!/\bSafari\//.test(userAgent)) return false;
  return !/(Chrome|Chromium|Edg|EdgA)\/|\bAndroid\b/.test(userAgent);
}

/**
 * Why MoQ is not tried in this browser, or null. (Without WebTransport, and in Safari, it plays
 * over a WebSocket to the relay's HTTP listener, which serves this page: transport.ts.)
 */
function moqSkip(b: BrowserFeatures): string | null {
  if (!b.webCodecs) return 'this browser has no WebCodecs';
  return null;
}

/**
 * The ways to try, in order: the ones `?via=` names (`forced`), tried whatever the browser
 * says; else every way, best first, with the ones this browser cannot use marked skipped.
 */
export function plan(b: BrowserFeatures, forced: Via[] | null): Step[] {
  if (forced) return forced.map((via) => ({ via, skip: null }));
  return VIAS.map((via) => {
    switch (via) {
      case 'moq':
        return { via, skip: moqSkip(b) };
      case 'whep':
        return { via, skip: b.webRtc ? null : 'this browser has no WebRTC' };
      case 'hls':
        return { via, skip: hlsPlayer(b) ? null : 'this browser plays neither HLS nor Media Source Extensions' };
    }
  });
}

/**
 * Which LL-HLS player: the browser's own where it has one and is Safari (or where hls.js
 * cannot run), else hls.js. (Chromium answers `canPlayType` with "maybe" too, but its own HLS
 * player does not do Low-Latency HLS; hls.js does.)
 */
export function hlsPlayer(b: BrowserFeatures): 'native' | 'hls.js' | null {
  if (b.nativeHls && (isSafari(b.userAgent) || !b.mediaSource)) return 'native';
  if (b.mediaSource) return 'hls.js';
  return b.nativeHls ? 'native' : null;
}

/**
 * `?via=`'s value: one way, or several in the order to try them (`whep,hls`); null when absent.
 * An unknown or repeated way is an error.
 */
export function parseVia(value: string | null): Via[] | null {
  if (value === null || value === '') return null;
  const ways: Via[] = [];
  for (const part of value.toLowerCase().split(',')) {
    const v = part.trim();
    if (!(VIAS as readonly string[]).includes(v) || ways.includes(v as Via)) {
      throw new Error(`?via=${value}: use moq, whep or hls, or several of them in order (whep,hls)`);
    }
    ways.push(v as Via);
  }
  return ways;
}

/**
 * The broadcast a `/watch/NAME` page path names, as its fields (decoded) and as the path to
 * put in URLs (each field percent-encoded); null when it names none.
 */
export function watchedBroadcast(pathname: string): { fields: string[]; urlPath: string } | null {
  const prefix = '/watch/';
  if (!pathname.startsWith(prefix)) return null;
  let fields: string[];
  try {
    fields = pathname
      .slice(prefix.length)
      .split('/')
      .filter((f) => f.length > 0)
      .map((f) => decodeURIComponent(f));
  } catch {
    return null;
  }
  if (fields.length === 0) return null;
  return { fields, urlPath: fields.map((f) => encodeURIComponent(f)).join('/') };
}

/** The relay's WebTransport URL carrying a viewer's token as `?jwt=` (what the relay reads). */
export function moqUrl(relay: string, token: string | null): string {
  if (!token) return relay;
  const u = new URL(relay);
  u.searchParams.set('jwt', token);
  return u.href;
}

/** The LL-HLS multivariant playlist of broadcast `urlPath`, carrying a viewer's token. */
export function hlsUrl(urlPath: string, token: string | null): string {
  return `/hls/${urlPath}/index.m3u8${token ? `?token=${encodeURIComponent(token)}` : ''}`;
}
