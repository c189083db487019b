// One draft-18 MoQ session over WebTransport, or over a WebSocket with QMux framing (@moq/qmux's
// session is a WebTransport object; which one, and the race between them: `openTransport` and
// transport.ts): SETUP, then any number of subscriptions (each on
// its own request stream, optionally with a Joining FETCH), objects routed to them by Track
// Alias (subgroup streams) or Request ID (fetch streams). As a publisher (a viewer's events) it
// announces namespaces and answers the SUBSCRIBEs the relay forwards (see `publisher.ts`).

import Session from '@moq/qmux';

import { Publisher } from './publisher';
import {
  Attempt,
  TRANSPORT_NAMES,
  Transport,
  TransportMode,
  WinnerStore,
  raceTransports,
  rememberWinner,
  rememberedWinner,
  transportPlan,
} from './transport';
import {
  ALPN,
  MSG_FETCH_OK,
  MSG_GOAWAY,
  MSG_PUBLISH_DONE,
  MSG_REQUEST_ERROR,
  MSG_REQUEST_OK,
  MSG_SETUP,
  MSG_SUBSCRIBE_OK,
  MoqObject,
  Payload,
  ProtocolError,
  STREAM_FETCH_HEADER,
  STREAM_PADDING,
  StreamReader,
  SubscribeFilter,
  fetchMessage,
  requestUpdateMessage,
  isSubgroupType,
  joiningFetchMessage,
  publishNamespaceMessage,
  readFetchObjects,
  readSubgroupHeader,
  readSubgroupObjects,
  requestErrorText,
  setupMessage,
  subscribeMessage,
} from './wire';

/** How long the relay may take to answer a SUBSCRIBE. */
const ANSWER_TIMEOUT_MS = 10_000;

/** The relay refused a request (REQUEST_ERROR) or closed its stream without an answer. */
export class RequestRefused extends Error {}

/** The first message on a request stream, or null when none came within ANSWER_TIMEOUT_MS. */
async function answer(reader: StreamReader): Promise<{ type: number; payload: Payload } | null> {
  let timer = 0;
  const timeout = new Promise<null>((resolve) => {
    timer = self.setTimeout(() => resolve(null), ANSWER_TIMEOUT_MS);
  });
  return Promise.race([reader.message(), timeout]).finally(() => self.clearTimeout(timer));
}

export interface SubscribeOptions {
  /** Called for each object, from subgroup streams and from the Joining FETCH (replaceable). */
  onObject: (o: MoqObject) => void;
  /** The subscription ended (PUBLISH_DONE, stream closed); not called after `close()`. */
  onEnd?: (reason: string) => void;
  /** Ask for the current group from its first object (a Relative Joining FETCH, offset 0). */
  joiningFetch?: boolean;
  /** Subscriber Priority (0 is the highest). */
  priority?: number;
  /** Where the subscription starts (default: the next object). */
  filter?: SubscribeFilter;
  /** False: the relay holds the subscription ready and sends nothing until `update({forward: true})`. */
  forward?: boolean;
}

export interface FetchOptions {
  /** Called for each object of the FETCH stream. */
  onObject?: (o: MoqObject) => void;
  /** Subscriber Priority (0 is the highest). */
  priority?: number;
}

/** How a FETCH went: its objects' bytes and when its data stream's chunks arrived. */
export interface FetchResult {
  /** The data stream ended (false: cancelled or broken). */
  complete: boolean;
  objects: number;
  /** Bytes of the data stream (headers included). */
  bytes: number;
  /** Bytes of its first chunk (they arrived at once, at `firstChunkAt`). */
  firstChunkBytes: number;
  /** performance.now() of the first and last chunk (null when no data came). */
  firstChunkAt: number | null;
  lastChunkAt: number | null;
}

/** A standalone FETCH in progress. */
export class FetchRequest {
  cancelled = false;
  reader: StreamReader | null = null;
  objects = 0;
  readonly done: Promise<FetchResult>;
  resolve: (r: FetchResult) => void = () => {};

  constructor(
    readonly requestId: number,
    readonly track: string,
    readonly options: FetchOptions,
  ) {
    this.done = new Promise((r) => (this.resolve = r));
  }

  /** What arrived so far. */
  progress(complete: boolean): FetchResult {
    const r = this.reader;
    return {
      complete,
      objects: this.objects,
      bytes: r?.bytesRead ?? 0,
      firstChunkBytes: r?.firstChunkBytes ?? 0,
      firstChunkAt: r?.firstChunkAt ?? null,
      lastChunkAt: r?.lastChunkAt ?? null,
    };
  }

  /** Stop reading (STOP_SENDING on the data stream); `done` resolves with what arrived. */
  cancel(): void {
    if (this.cancelled) return;
    this.cancelled = true;
    this.reader?.cancel();
    this.resolve(this.progress(false));
  }
}

export class Subscription {
  closed = false;
  trackAlias = -1;
  /** Objects received on subgroup streams and fetch streams. */
  objects = 0;
  /** Groups from this one on are not wanted (another rendition plays them). */
  dropFrom: number | null = null;
  /** Groups below this one are not wanted (the player moved on to a newer group). */
  dropBelow = -1;
  /** Subgroup streams being read, with their group. */
  readonly streams = new Map<StreamReader, number>();

  constructor(
    readonly session: MoqSession,
    readonly requestId: number,
    readonly track: string,
    readonly options: SubscribeOptions,
    private writer: WritableStreamDefaultWriter<Uint8Array>,
  ) {}

  /** Whether objects of `group` are still wanted. */
  wants(group: number): boolean {
    return group >= this.dropBelow && (this.dropFrom === null || group < this.dropFrom);
  }

  /**
   * Stop reading the streams of groups no longer wanted (STOP_SENDING): the relay stops
   * sending them, which leaves the link to what is still wanted.
   */
  prune(): void {
    for (const [r, group] of this.streams) {
      if (!this.wants(group)) {
        this.streams.delete(r);
        r.cancel();
      }
    }
  }

  deliver(o: MoqObject): void {
    if (this.closed || !this.wants(o.group)) return;
    this.objects += 1;
    try {
      this.options.onObject(o);
    } catch (e) {
      this.session.log(`${this.track}: object handler failed: ${errorText(e)}`);
    }
  }

  /** REQUEST_UPDATE: start or stop forwarding, change the priority. */
  update(u: { forward?: boolean; priority?: number }): void {
    if (this.closed) return;
    this.writer.write(requestUpdateMessage(this.session.nextId(), u)).catch(() => {});
  }

  /** Unsubscribe: finish the request stream (draft-18 has no UNSUBSCRIBE message). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.session.forget(this);
    this.writer.close().catch(() => {});
  }
}

/** Thrown inside a stream reader to stop reading a stream nobody wants any more. */
class Cancelled extends Error {}

export function errorText(e: unknown): string {
  if (e instanceof Error) return e.message;
  return String(e);
}

/** Which way to connect (see transport.ts). */
export interface ConnectOptions {
  /** The WebSocket URL (ws:// or wss://) to play MoQ over QMux; null or absent: none. */
  websocket?: string | null;
  /** Race the two (the default), or one only. */
  mode?: TransportMode;
  /** Where races' winners are remembered (default: localStorage, when the page may use it). */
  store?: WinnerStore | null;
}

function localStore(): WinnerStore | null {
  try {
    return typeof localStorage === 'undefined' ? null : localStorage;
  } catch {
    // A page that may not use storage (SecurityError).
    return null;
  }
}

/** `url` without its query (which may carry a viewer's token), for the log. */
function shown(url: string): string {
  const u = new URL(url);
  return `${u.origin}${u.pathname}`;
}

/**
 * An open transport to the relay, WebTransport (`url`, with `options`) or MoQ over a WebSocket
 * (QMux draft-01, subprotocol `qmux-01.moqt-18`), chosen as `transportPlan` says: when both are
 * tried, the first ready wins, the other is closed (or never started), and the winner is
 * remembered for this relay. One failing leaves the other to win; both failing is an error
 * naming both failures.
 */
async function openTransport(
  url: string,
  options: WebTransportOptions,
  o: ConnectOptions,
  log: (text: string) => void,
): Promise<{ transport: WebTransport; kind: Transport }> {
  const websocket = o.websocket ?? null;
  const store = o.store !== undefined ? o.store : localStore();
  const plan = transportPlan({
    mode: o.mode ?? 'race',
    webTransport: typeof WebTransport !== 'undefined',
    userAgent: typeof navigator === 'undefined' ? '' : navigator.userAgent,
    websocket,
    remembered: websocket === null ? null : rememberedWinner(store, url),
  });
  const raced = plan.webtransport && plan.websocketDelayMs !== null;
  if (raced) log(`transport: racing WebTransport and WebSocket (${plan.why})`);
  else if (websocket !== null) log(`transport: ${plan.webtransport ? 'WebTransport' : 'WebSocket'} only (${plan.why})`);

  const attempts: Attempt<WebTransport>[] = [];
  if (plan.webtransport) {
    attempts.push({ kind: 'webtransport', target: url, delayMs: 0, open: () => new WebTransport(url, options) });
  }
  if (websocket !== null && plan.websocketDelayMs !== null) {
    attempts.push({
      kind: 'websocket',
      target: websocket,
      delayMs: plan.websocketDelayMs,
      open: () =>
        new Session(websocket, {
          protocols: [ALPN],
          versions: { [ALPN]: 'qmux-01' },
          requireProtocol: true,
        }),
    });
  }
  const opened = await raceTransports(attempts);
  const target = opened.kind === 'websocket' && websocket !== null ? websocket : url;
  log(`transport: connected over ${TRANSPORT_NAMES[opened.kind]} to ${shown(target)}${raced ? ' (won the race)' : ''}`);
  if (raced) rememberWinner(store, url, opened.kind);
  return opened;
}

export class MoqSession {
  private nextRequestId = 0;
  private byAlias = new Map<number, Subscription>();
  private byRequest = new Map<number, Subscription>();
  private fetches = new Map<number, FetchRequest>();
  /** Objects of subgroup streams that arrived before their SUBSCRIBE_OK (bounded). */
  private early = new Map<number, MoqObject[]>();
  private earlyCount = 0;
  /** Track Aliases of subscriptions this side closed: their streams are cancelled. */
  private closedAliases = new Set<number>();
  readonly closed: Promise<string>;
  goingAway = false;
  /** The tracks this side publishes. */
  readonly publisher: Publisher;

  private constructor(
    private transport: WebTransport,
    /** Which way the session runs: WebTransport, or MoQ over a WebSocket (QMux). */
    readonly transportKind: Transport,
    private incoming: ReadableStreamDefaultReader<ReadableStream<Uint8Array>>,
    private serverControl: StreamReader,
    readonly log: (text: string) => void,
    private onProtocolError: (e: Error) => void,
  ) {
    this.closed = transport.closed.then(
      (info) => `session closed${info && info.reason ? `: ${info.reason}` : ''}`,
      (e) => `session failed: ${errorText(e)}`,
    );
    this.publisher = new Publisher(() => this.transport.createUnidirectionalStream(), log);
    this.dataLoop().catch((e) => this.onProtocolError(e instanceof Error ? e : new Error(String(e))));
    this.controlLoop().catch(() => {});
    this.requestLoop().catch(() => {});
  }

  /**
   * Connect to `url` (https://host:port) pinning `fingerprintHex` when given, and do SETUP. With
   * `transport.websocket` (a ws(s) URL), over WebTransport or that WebSocket as
   * `transport.mode` says (`openTransport`; default: WebTransport only).
   */
  static async connect(
    url: string,
    fingerprintHex: string | null,
    log: (text: string) => void,
    onProtocolError: (e: Error) => void,
    transport_: ConnectOptions = {},
  ): Promise<MoqSession> {
    const options: WebTransportOptions & { protocols?: string[] } = { protocols: [ALPN] };
    if (fingerprintHex) {
      const hex = fingerprintHex.replace(/[^0-9a-fA-F]/g, '');
      if (hex.length !== 64) throw new Error(`certificate fingerprint is not a SHA-256 hex string: ${fingerprintHex}`);
      const value = new Uint8Array(32);
      for (let i = 0; i < 32; i++) value[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
      options.serverCertificateHashes = [{ algorithm: 'sha-256', value }];
    }
    const { transport, kind } = await openTransport(url, options, transport_, log);
    const chosen = (transport as WebTransport & { protocol?: string }).protocol;
    if (chosen !== undefined && chosen !== '' && chosen !== ALPN) {
      transport.close();
      throw new Error(`the relay chose protocol ${chosen}, not ${ALPN}`);
    }
    const control = await transport.createUnidirectionalStream();
    const controlWriter = control.getWriter();
    await controlWriter.write(setupMessage('tern-player'));
    controlWriter.releaseLock();

    // The relay's control stream is its first unidirectional stream; data streams follow.
    const incoming = transport.incomingUnidirectionalStreams.getReader();
    const first = await incoming.read();
    if (first.done || !first.value) throw new Error('the relay closed the session before its SETUP');
    const serverControl = new StreamReader(first.value);
    const setup = await serverControl.message();
    if (!setup || setup.type !== MSG_SETUP) {
      throw new ProtocolError(
        `expected SETUP from the relay, got ${setup ? `type 0x${setup.type.toString(16)}` : 'end of stream'}`,
      );
    }
    return new MoqSession(transport, kind, incoming, serverControl, log, onProtocolError);
  }

  /** A Request ID for a message on an existing request stream (REQUEST_UPDATE). */
  nextId(): number {
    return this.allocRequestId();
  }

  private allocRequestId(): number {
    // The client opened the session: even Request IDs.
    const id = this.nextRequestId;
    this.nextRequestId += 2;
    return id;
  }

  /** SUBSCRIBE to `track`; resolves at SUBSCRIBE_OK, throws RequestRefused on REQUEST_ERROR. */
  async subscribe(namespace: string[], track: string, options: SubscribeOptions): Promise<Subscription> {
    const requestId = this.allocRequestId();
    const stream = await this.transport.createBidirectionalStream();
    const writer = stream.writable.getWriter();
    const sub = new Subscription(this, requestId, track, options, writer);
    await writer.write(subscribeMessage(requestId, namespace, track, options.priority ?? 128, options.filter, options.forward ?? true));
    const reader = new StreamReader(stream.readable);
    const reply = await answer(reader);
    if (!reply) {
      writer.close().catch(() => {});
      reader.cancel();
      throw new RequestRefused(`SUBSCRIBE ${track}: no answer from the relay`);
    }
    if (reply.type === MSG_REQUEST_ERROR) {
      writer.close().catch(() => {});
      throw new RequestRefused(`SUBSCRIBE ${track} refused: ${requestErrorText(reply.payload)}`);
    }
    if (reply.type !== MSG_SUBSCRIBE_OK) {
      throw new ProtocolError(`expected SUBSCRIBE_OK for ${track}, got type 0x${reply.type.toString(16)}`);
    }
    sub.trackAlias = reply.payload.varint();
    this.byAlias.set(sub.trackAlias, sub);
    this.byRequest.set(requestId, sub);
    const early = this.early.get(sub.trackAlias);
    if (early) {
      this.early.delete(sub.trackAlias);
      this.earlyCount -= early.length;
      for (const o of early) sub.deliver(o);
    }
    // PUBLISH_DONE (or the end of the stream) ends the subscription.
    (async () => {
      for (;;) {
        const m = await reader.message();
        if (!m) break;
        if (m.type === MSG_PUBLISH_DONE) break;
      }
      if (!sub.closed) {
        this.forget(sub);
        sub.closed = true;
        options.onEnd?.('the publisher is done');
      }
    })().catch(() => {
      if (!sub.closed) options.onEnd?.('the request stream broke');
    });
    if (options.joiningFetch) this.joiningFetch(sub);
    return sub;
  }

  /** The current group's objects from object 0, delivered to `sub` like subgroup objects. */
  private joiningFetch(sub: Subscription): void {
    const requestId = this.allocRequestId();
    this.byRequest.set(requestId, sub);
    (async () => {
      const stream = await this.transport.createBidirectionalStream();
      const w = stream.writable.getWriter();
      await w.write(joiningFetchMessage(requestId, sub.requestId));
      const r = new StreamReader(stream.readable);
      const ok = await r.message();
      if (!ok) this.log(`${sub.track}: joining FETCH: no answer`);
      else if (ok.type === MSG_REQUEST_ERROR) this.log(`${sub.track}: joining FETCH refused: ${requestErrorText(ok.payload)}`);
      else if (ok.type !== MSG_FETCH_OK) throw new ProtocolError(`expected FETCH_OK, got type 0x${ok.type.toString(16)}`);
      w.close().catch(() => {});
    })().catch((e) => this.log(`${sub.track}: joining FETCH failed: ${errorText(e)}`));
  }

  /**
   * Standalone FETCH of `track` from `start` to `end` (End Location: Object ID plus one, or
   * Object 0 for the whole end group). Resolves once the relay accepted it; its `done` resolves
   * when the data stream ends or the request is cancelled. Throws RequestRefused on
   * REQUEST_ERROR.
   */
  async fetch(
    namespace: string[],
    track: string,
    start: { group: number; object: number },
    end: { group: number; object: number },
    options: FetchOptions = {},
  ): Promise<FetchRequest> {
    const requestId = this.allocRequestId();
    const req = new FetchRequest(requestId, track, options);
    this.fetches.set(requestId, req);
    req.done.then(() => this.fetches.delete(requestId));
    const stream = await this.transport.createBidirectionalStream();
    const w = stream.writable.getWriter();
    await w.write(fetchMessage(requestId, namespace, track, start, end, options.priority ?? 128));
    const r = new StreamReader(stream.readable);
    const reply = await answer(r);
    w.close().catch(() => {});
    if (!reply || reply.type === MSG_REQUEST_ERROR) {
      req.cancel();
      if (!reply) r.cancel();
      throw new RequestRefused(
        `FETCH ${track}: ${reply ? `refused: ${requestErrorText(reply.payload)}` : 'no answer from the relay'}`,
      );
    }
    if (reply.type !== MSG_FETCH_OK) {
      req.cancel();
      throw new ProtocolError(`expected FETCH_OK for ${track}, got type 0x${reply.type.toString(16)}`);
    }
    return req;
  }

  /**
   * PUBLISH_NAMESPACE `namespace`: resolves at REQUEST_OK (throws RequestRefused on
   * REQUEST_ERROR) with a function that withdraws it.
   */
  async publishNamespace(namespace: string[]): Promise<() => void> {
    const requestId = this.allocRequestId();
    const stream = await this.transport.createBidirectionalStream();
    const writer = stream.writable.getWriter();
    await writer.write(publishNamespaceMessage(requestId, namespace));
    const reader = new StreamReader(stream.readable);
    const reply = await answer(reader);
    const what = `PUBLISH_NAMESPACE ${namespace.join('/')}`;
    if (!reply || reply.type !== MSG_REQUEST_OK) {
      writer.close().catch(() => {});
      reader.cancel();
      if (!reply) throw new RequestRefused(`${what}: no answer from the relay`);
      if (reply.type === MSG_REQUEST_ERROR) throw new RequestRefused(`${what} refused: ${requestErrorText(reply.payload)}`);
      throw new ProtocolError(`expected REQUEST_OK for ${what}, got type 0x${reply.type.toString(16)}`);
    }
    return () => {
      writer.close().catch(() => {});
      reader.cancel();
    };
  }

  /** Request streams the relay opens: SUBSCRIBEs for what this side publishes. */
  private async requestLoop(): Promise<void> {
    const incoming = this.transport.incomingBidirectionalStreams.getReader();
    for (;;) {
      const { value, done } = await incoming.read();
      if (done || !value) return;
      this.publisher.accept(value).catch((e) => this.log(`a request from the relay failed: ${errorText(e)}`));
    }
  }

  forget(sub: Subscription): void {
    if (this.byAlias.get(sub.trackAlias) === sub) {
      this.byAlias.delete(sub.trackAlias);
      this.closedAliases.add(sub.trackAlias);
    }
    for (const [id, s] of this.byRequest) if (s === sub) this.byRequest.delete(id);
  }

  close(): void {
    try {
      this.transport.close();
    } catch {
      // Already closed.
    }
  }

  private async dataLoop(): Promise<void> {
    for (;;) {
      const { value, done } = await this.incoming.read();
      if (done || !value) return;
      const r = new StreamReader(value);
      this.readDataStream(r).catch((e) => {
        // A reset stream (the relay skipped ahead, or we unsubscribed) is normal.
        if (e instanceof ProtocolError) this.onProtocolError(e);
      });
    }
  }

  private async readDataStream(r: StreamReader): Promise<void> {
    const t = await r.varint();
    if (isSubgroupType(t)) {
      const header = await readSubgroupHeader(t, r);
      const known = this.byAlias.get(header.trackAlias);
      if (this.closedAliases.has(header.trackAlias) || (known && !known.wants(header.group))) {
        r.cancel();
        return;
      }
      known?.streams.set(r, header.group);
      await readSubgroupObjects(header, r, (o) => {
        const sub = this.byAlias.get(header.trackAlias);
        if (sub && !sub.wants(o.group)) throw new Cancelled();
        if (sub) {
          if (!sub.streams.has(r)) sub.streams.set(r, header.group);
          sub.deliver(o);
        } else if (this.closedAliases.has(header.trackAlias)) throw new Cancelled();
        else this.keepEarly(header.trackAlias, o);
      })
        .catch((e) => {
          if (e instanceof Cancelled) r.cancel();
          else throw e;
        })
        .finally(() => this.byAlias.get(header.trackAlias)?.streams.delete(r));
    } else if (t === STREAM_FETCH_HEADER) {
      const requestId = await r.varint();
      const req = this.fetches.get(requestId);
      if (req) {
        req.reader = r;
        if (req.cancelled) {
          r.cancel();
          return;
        }
        try {
          await readFetchObjects(r, (o) => {
            if (req.cancelled) throw new Cancelled();
            req.objects += 1;
            req.options.onObject?.(o);
          });
          req.resolve(req.progress(true));
        } catch (e) {
          req.resolve(req.progress(false));
          if (!(e instanceof Cancelled)) throw e;
          r.cancel();
        }
        return;
      }
      const sub = this.byRequest.get(requestId);
      if (!sub) {
        r.cancel();
        return;
      }
      let n = 0;
      await readFetchObjects(r, (o) => {
        n += 1;
        sub.deliver(o);
      });
      this.log(`${sub.track}: joining FETCH delivered ${n} objects`);
    } else if (t === STREAM_PADDING) {
      r.cancel();
    } else {
      throw new ProtocolError(`unknown data stream type 0x${t.toString(16)}`);
    }
  }

  private keepEarly(alias: number, o: MoqObject): void {
    // Objects for a Track Alias whose SUBSCRIBE_OK is still on its way (or for a subscription
    // just closed). Bounded: the oldest are dropped.
    if (this.earlyCount >= 512) return;
    const list = this.early.get(alias) ?? [];
    list.push(o);
    this.early.set(alias, list);
    this.earlyCount += 1;
  }

  private async controlLoop(): Promise<void> {
    for (;;) {
      const m = await this.serverControl.message();
      if (!m) return;
      if (m.type === MSG_GOAWAY) {
        this.goingAway = true;
        this.log('the relay is going away (GOAWAY)');
      }
    }
  }
}
