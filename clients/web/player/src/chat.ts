// The chat box's side of a broadcast's events. The page reads the broadcast's ordered `events`
// track (every viewer gets the same records in the same order, `seq`) and publishes its own
// events on `<broadcast>/viewers/<viewer>`, track `events`, one JSON object per group, which
// the origin's sequencer subscribes to (through the relay) and puts in order. An event counts
// as delivered when it comes back on the ordered track.

import { LocalTrack } from './publisher';
import { MoqSession, RequestRefused, Subscription, errorText } from './session';
import type { MoqObject } from './wire';

export const EVENTS_TRACK = 'events';
export const VIEWERS = 'viewers';
/** Priority of event tracks: above audio and video. */
const EVENTS_PRIORITY = 0;
/** Records kept for the page. */
const MAX_RECORDS = 200;
/** Longest event sent, its JSON in bytes (under the origin's default limit of 1024). */
export const MAX_BODY_BYTES = 1000;

/** One event in the broadcast's order, as the origin republished it. */
export interface ChatRecord {
  seq: number;
  viewer: string;
  kind: string;
  body: string;
  /** The sender's clock when sent, the origin's when ordered, ours when received (Unix ms). */
  sentAt: number | null;
  sequencedAt: number;
  receivedAt: number;
  /** Sent to shown on this page (ms; across machines it includes their clocks' difference). */
  latencyMs: number | null;
}

export interface ChatStats {
  /** 'connecting', 'ready' (the origin listens to this viewer), 'read-only' or 'off'. */
  state: string;
  viewer: string;
  records: ChatRecord[];
  sent: number;
  /** Why it is read-only or off. */
  reason: string | null;
}

/** A viewer ID (1 to 32 of A-Z a-z 0-9 _ - .), as the origin accepts them. */
export function validViewer(id: string): boolean {
  return /^[A-Za-z0-9_.-]{1,32}$/.test(id);
}

export class Chat {
  readonly stats: ChatStats;
  private sub: Subscription | null = null;
  private own: LocalTrack | null = null;
  private withdraw: (() => void) | null = null;
  private seen = new Set<number>();
  private groupBase = Date.now();

  constructor(
    private session: MoqSession,
    private broadcast: string[],
    viewer: string,
    private onChange: () => void,
    private log: (text: string) => void,
  ) {
    this.stats = { state: 'connecting', viewer, records: [], sent: 0, reason: null };
  }

  /** Read the ordered track, then announce this viewer's own. */
  async start(): Promise<void> {
    try {
      this.sub = await this.session.subscribe(this.broadcast, EVENTS_TRACK, {
        onObject: (o) => this.record(o),
        onEnd: (reason) => this.off(`the events track ended: ${reason}`),
        joiningFetch: true,
        priority: EVENTS_PRIORITY,
      });
    } catch (e) {
      this.off(e instanceof RequestRefused ? `no events on this broadcast (${e.message})` : errorText(e));
      return;
    }
    const ns = [...this.broadcast, VIEWERS, this.stats.viewer];
    const own = new LocalTrack(ns, EVENTS_TRACK, EVENTS_PRIORITY);
    own.onSubscribers = () => this.set(own.subscribers.size > 0 ? 'ready' : 'connecting', null);
    this.session.publisher.serve(own);
    this.own = own;
    try {
      this.withdraw = await this.session.publishNamespace(ns);
      this.log(`chat: publishing as ${ns.join('/')}; waiting for the origin to listen`);
    } catch (e) {
      this.set('read-only', `cannot publish: ${errorText(e)}`);
    }
  }

  /** Send a chat message; resolves once it is on its way to the origin. */
  async send(body: string, kind = 'chat'): Promise<void> {
    const own = this.own;
    if (!own || this.stats.state !== 'ready') throw new Error(`chat is ${this.stats.state}${this.stats.reason ? `: ${this.stats.reason}` : ''}`);
    const text = body.trim();
    const payload = new TextEncoder().encode(JSON.stringify({ kind, body: text, sentAt: Date.now() }));
    if (text.length === 0) throw new Error('nothing to send');
    if (payload.length > MAX_BODY_BYTES) throw new Error(`the message is ${payload.length} bytes; at most ${MAX_BODY_BYTES}`);
    // One group per event, numbered from when the page started: never below an earlier run's.
    const group = this.groupBase + this.stats.sent;
    this.stats.sent += 1;
    await own.send(group, payload);
    this.onChange();
  }

  close(): void {
    this.sub?.close();
    this.withdraw?.();
  }

  private record(o: MoqObject): void {
    let r: Omit<ChatRecord, 'receivedAt' | 'latencyMs'>;
    try {
      r = JSON.parse(new TextDecoder().decode(o.payload));
    } catch {
      this.log(`events: object ${o.group}/${o.object} is not JSON`);
      return;
    }
    if (typeof r.seq !== 'number' || this.seen.has(r.seq)) return;
    this.seen.add(r.seq);
    const receivedAt = Date.now();
    const rec: ChatRecord = {
      seq: r.seq,
      viewer: String(r.viewer),
      kind: String(r.kind),
      body: String(r.body),
      sentAt: typeof r.sentAt === 'number' ? r.sentAt : null,
      sequencedAt: Number(r.sequencedAt),
      receivedAt,
      latencyMs: typeof r.sentAt === 'number' ? receivedAt - r.sentAt : null,
    };
    const list = this.stats.records;
    let i = list.length;
    while (i > 0 && list[i - 1].seq > rec.seq) i--;
    list.splice(i, 0, rec);
    while (list.length > MAX_RECORDS) this.seen.delete((list.shift() as ChatRecord).seq);
    this.onChange();
  }

  private off(reason: string): void {
    this.set('off', reason);
  }

  private set(state: string, reason: string | null): void {
    if (this.stats.state === 'off') return;
    this.stats.state = state;
    this.stats.reason = reason;
    if (reason) this.log(`chat: ${reason}`);
    this.onChange();
  }
}
