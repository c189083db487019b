// Which way the player reaches the relay: MoQ over WebTransport, or MoQ over a WebSocket with
// QMux framing (@moq/qmux, whose session is a WebTransport object too, so nothing after
// connecting differs). The decisions and the race are here, tested without a browser;
// `openTransport` in session.ts runs them with the browser's WebTransport and @moq/qmux.
//
// The race (mode 'race', the default), as moq-dev's player runs it: WebTransport starts at once,
// the WebSocket after WebTransport's head start (QUIC needs fewer round trips, so where UDP gets
// through it wins), or at once when WebSocket won the last race to this relay (remembered in
// localStorage) or WebTransport already failed. The first session ready wins and is remembered;
// the other is closed. A browser without WebTransport, and Safari (whose WebTransport stalls,
// see `isSafari`), go straight to the WebSocket; with no WebSocket URL there is WebTransport
// only. `?transport=webtransport|websocket` forces one.

import { isSafari } from './via';

/** The two ways to the relay. */
export type Transport = 'webtransport' | 'websocket';

/** What `?transport=` asks for: race the two (the default), or one of them only. */
export type TransportMode = 'race' | Transport;

/** How each way is named to people. */
export const TRANSPORT_NAMES: Record<Transport, string> = {
  webtransport: 'WebTransport',
  websocket: 'WebSocket',
};

/** How long WebTransport runs alone in a race before the WebSocket starts (moq-dev's too). */
export const WEBSOCKET_HEAD_START_MS = 500;

/** `?transport=`'s value: webtransport, websocket or race; absent or empty: race. */
export function parseTransportMode(value: string | null): TransportMode {
  if (value === null || value === '') return 'race';
  const v = value.trim().toLowerCase();
  if (v === 'race' || v === 'webtransport' || v === 'websocket') return v;
  throw new Error(`?transport=${value}: use webtransport, websocket or race`);
}

/** `u` with an http(s) scheme read as ws(s); a scheme that is neither is an error. */
function wsUrl(u: URL, what: string): string {
  if (u.protocol === 'http:') u.protocol = 'ws:';
  else if (u.protocol === 'https:') u.protocol = 'wss:';
  else if (u.protocol !== 'ws:' && u.protocol !== 'wss:') throw new Error(`${what}: not a ws(s) or http(s) URL`);
  return u.href;
}

/**
 * The WebSocket URL to play MoQ over, or null for none.
 *
 * - `explicit` (the page's `?websocket=URL`): that URL, an http(s) scheme read as ws(s).
 * - Else `pageOrigin`, given when the page was served by the relay's HTTP listener, which takes
 *   MoQ over WebSocket on any path (/watch/NAME; and the player page when the listener's
 *   /config.json says `"websocket": true`): the page's origin, http→ws and https→wss, with the
 *   WebTransport URL's path and query (the relay reads them as it reads a WebTransport URL's,
 *   `?jwt=` included).
 * - Else none.
 */
export function websocketUrl(relay: string, explicit: string | null, pageOrigin: string | null): string | null {
  if (explicit) {
    let u: URL;
    try {
      u = new URL(explicit);
    } catch {
      throw new Error(`?websocket=${explicit}: not a URL`);
    }
    return wsUrl(u, `?websocket=${explicit}`);
  }
  if (!pageOrigin) return null;
  const page = new URL(pageOrigin);
  const wt = new URL(relay);
  page.pathname = wt.pathname;
  page.search = wt.search;
  page.hash = '';
  return wsUrl(page, pageOrigin);
}

/**
 * The localStorage key under which a race's winner for `relay` is kept: the WebTransport URL
 * without its query (a viewer's token is neither kept nor a reason to forget).
 */
export function winnerKey(relay: string): string {
  const u = new URL(relay);
  return `tern.transport ${u.origin}${u.pathname}`;
}

/** The part of `Storage` the memory of winners uses (localStorage; a Map-backed one in tests). */
export interface WinnerStore {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
}

/** The way that won the last race to `relay`, if one is remembered (and storage works). */
export function rememberedWinner(store: WinnerStore | null, relay: string): Transport | null {
  try {
    const v = store?.getItem(winnerKey(relay)) ?? null;
    return v === 'webtransport' || v === 'websocket' ? v : null;
  } catch {
    return null;
  }
}

/** Remember that `winner` won a race to `relay` (nothing when storage does not work). */
export function rememberWinner(store: WinnerStore | null, relay: string, winner: Transport): void {
  try {
    store?.setItem(winnerKey(relay), winner);
  } catch {
    // Storage full or forbidden: the next race gives WebTransport its head start again.
  }
}

/** What the page knows when it connects. */
export interface TransportSituation {
  mode: TransportMode;
  /** The browser has WebTransport (`typeof WebTransport !== 'undefined'`). */
  webTransport: boolean;
  userAgent: string;
  /** The WebSocket URL (`websocketUrl`), null for none. */
  websocket: string | null;
  /** The last race's winner for this relay (`rememberedWinner`). */
  remembered: Transport | null;
}

/** How to connect: which attempts, when. */
export interface TransportPlan {
  /** Try WebTransport, at once. */
  webtransport: boolean;
  /** Try the WebSocket after this many ms (0: at once; cut short when WebTransport fails), or not (null). */
  websocketDelayMs: number | null;
  /** Why, for the log. */
  why: string;
}

/** How to connect in `s` (see the top of this file); an error when there is no way. */
export function transportPlan(s: TransportSituation): TransportPlan {
  const ws = s.websocket !== null;
  switch (s.mode) {
    case 'webtransport':
      if (!s.webTransport) throw new Error('?transport=webtransport: this browser has no WebTransport');
      return { webtransport: true, websocketDelayMs: null, why: 'asked for with ?transport=webtransport' };
    case 'websocket':
      if (!ws) throw new Error('?transport=websocket: no WebSocket URL (give one with ?websocket=ws://host:port/)');
      return { webtransport: false, websocketDelayMs: 0, why: 'asked for with ?transport=websocket' };
    case 'race':
      break;
  }
  if (!s.webTransport) {
    if (!ws) throw new Error('this browser has no WebTransport, and there is no WebSocket URL to play over instead');
    return { webtransport: false, websocketDelayMs: 0, why: 'this browser has no WebTransport' };
  }
  if (!ws) return { webtransport: true, websocketDelayMs: null, why: 'no WebSocket URL' };
  if (isSafari(s.userAgent)) {
    return { webtransport: false, websocketDelayMs: 0, why: "Safari: WebKit's WebTransport has flow-control and stream-count bugs" };
  }
  if (s.remembered === 'websocket') {
    return { webtransport: true, websocketDelayMs: 0, why: 'WebSocket won the last race to this relay' };
  }
  return {
    webtransport: true,
    websocketDelayMs: WEBSOCKET_HEAD_START_MS,
    why: `WebTransport first, WebSocket after ${WEBSOCKET_HEAD_START_MS} ms`,
  };
}

/** What the race needs of a transport: a WebTransport, or @moq/qmux's session. */
export interface Raced {
  readonly ready: Promise<unknown>;
  readonly closed: Promise<unknown>;
  close(): void;
}

/** One way to try in a race. */
export interface Attempt<T extends Raced> {
  kind: Transport;
  /** Its URL, for the error. */
  target: string;
  /** Start after this many ms (cut short when the WebTransport attempt fails). */
  delayMs: number;
  /** Open it (may throw). */
  open: () => T;
}

function closeQuietly(t: Raced): void {
  try {
    t.close();
  } catch {
    // Already closed, or never opened.
  }
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * Race `attempts`: the first transport ready wins; the others are closed, or never opened when
 * they had not started yet. A failed WebTransport attempt ends the others' wait at once; one
 * failing leaves the others to win; all failing rejects with every failure named, in the order
 * of `attempts` ("WebTransport to URL failed: ...; WebSocket to URL failed: ...").
 */
export function raceTransports<T extends Raced>(attempts: Attempt<T>[]): Promise<{ transport: T; kind: Transport }> {
  // Settled when an attempt won: the others stop (or never start).
  let won = false;
  let decide: () => void = () => {};
  const decided = new Promise<void>((resolve) => (decide = resolve));
  // Settled when WebTransport failed: the head start is over.
  let webTransportFailed: () => void = () => {};
  const webTransportGone = new Promise<void>((resolve) => (webTransportFailed = resolve));

  /** One attempt: its transport once ready, null when another won first; throws when it fails. */
  const run = async (a: Attempt<T>): Promise<T | null> => {
    if (a.delayMs > 0) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const waited = new Promise<void>((resolve) => (timer = setTimeout(resolve, a.delayMs)));
      await Promise.race([waited, decided, webTransportGone]);
      clearTimeout(timer);
    }
    if (won) return null;
    try {
      const t = a.open();
      // Both `ready` and `closed` reject when it fails; `ready` is awaited here.
      t.closed.catch(() => {});
      const ready = await Promise.race([t.ready.then(() => true), decided.then(() => false)]);
      if (!ready) {
        closeQuietly(t);
        return null;
      }
      return t;
    } catch (e) {
      if (a.kind === 'webtransport') webTransportFailed();
      throw new Error(`${TRANSPORT_NAMES[a.kind]} to ${a.target} failed: ${message(e)}`);
    }
  };

  return new Promise((resolve, reject) => {
    if (attempts.length === 0) {
      reject(new Error('no way to the relay'));
      return;
    }
    let left = attempts.length;
    const failures: string[] = attempts.map(() => '');
    const settled = (): void => {
      left -= 1;
      if (left === 0 && !won) reject(new Error(failures.filter((f) => f).join('; ')));
    };
    attempts.forEach((a, i) => {
      run(a).then(
        (transport) => {
          // Two ready in the same turn: the later one is closed.
          if (transport && won) closeQuietly(transport);
          else if (transport) {
            won = true;
            decide();
            resolve({ transport, kind: a.kind });
          }
          settled();
        },
        (e) => {
          failures[i] = message(e);
          settled();
        },
      );
    });
  });
}
