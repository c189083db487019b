// The page as a publisher: tracks it serves (a viewer's own events), answered when the relay
// forwards a SUBSCRIBE on a request stream the relay opens. Each object goes out on its own
// subgroup stream (one object per group) to every subscriber. Bounded: a few tracks, a few
// subscribers each, objects of at most MAX_OBJECT bytes.

import {
  ERROR_DOES_NOT_EXIST,
  ERROR_NOT_SUPPORTED,
  MSG_SUBSCRIBE,
  ProtocolError,
  StreamReader,
  parseSubscribe,
  requestErrorMessage,
  singleObjectStream,
  subscribeOkMessage,
} from './wire';

const MAX_TRACKS = 8;
const MAX_SUBSCRIBERS = 16;
const MAX_OBJECT = 16 * 1024;

interface Subscriber {
  requestId: number;
  trackAlias: number;
}

/** A track this page publishes. */
export class LocalTrack {
  readonly subscribers = new Map<number, Subscriber>();
  /** Called when a subscriber comes or goes. */
  onSubscribers: (() => void) | null = null;
  /** @internal set by the publisher that serves it */
  open: (() => Promise<WritableStream<Uint8Array>>) | null = null;

  constructor(
    readonly namespace: string[],
    readonly name: string,
    readonly priority: number,
  ) {}

  get key(): string {
    return trackKey(this.namespace, this.name);
  }

  /** Send `payload` as object 0 of `group` to every subscriber; resolves with how many. */
  async send(group: number, payload: Uint8Array): Promise<number> {
    if (payload.length === 0 || payload.length > MAX_OBJECT) {
      throw new RangeError(`an object of ${payload.length} bytes (1 to ${MAX_OBJECT})`);
    }
    const open = this.open;
    if (!open) throw new Error(`${this.name} is not served on a session`);
    const subscribers = [...this.subscribers.values()];
    await Promise.all(
      subscribers.map(async (s) => {
        const stream = await open();
        const w = stream.getWriter();
        await w.write(singleObjectStream(s.trackAlias, group, this.priority, payload));
        await w.close();
      }),
    );
    return subscribers.length;
  }
}

function trackKey(namespace: string[], name: string): string {
  return JSON.stringify([namespace, name]);
}

export class Publisher {
  private tracks = new Map<string, LocalTrack>();
  private nextAlias = 0;

  constructor(
    private openStream: () => Promise<WritableStream<Uint8Array>>,
    private log: (text: string) => void,
  ) {}

  /** Answer SUBSCRIBEs for `track` from now on. */
  serve(track: LocalTrack): void {
    if (this.tracks.size >= MAX_TRACKS && !this.tracks.has(track.key)) throw new Error(`at most ${MAX_TRACKS} tracks published`);
    track.open = this.openStream;
    this.tracks.set(track.key, track);
  }

  /** A request stream the relay opened: a SUBSCRIBE for one of our tracks, held until it ends. */
  async accept(stream: WebTransportBidirectionalStream): Promise<void> {
    const reader = new StreamReader(stream.readable);
    const writer = stream.writable.getWriter();
    const m = await reader.message();
    if (!m) return;
    if (m.type !== MSG_SUBSCRIBE) {
      await writer.write(requestErrorMessage(ERROR_NOT_SUPPORTED, `request type 0x${m.type.toString(16)} is not supported by a player`));
      await writer.close().catch(() => {});
      return;
    }
    const req = parseSubscribe(m.payload);
    const track = this.tracks.get(trackKey(req.namespace, req.track));
    const where = `${req.namespace.join('/')}/${req.track}`;
    if (!track || track.subscribers.size >= MAX_SUBSCRIBERS) {
      await writer.write(requestErrorMessage(ERROR_DOES_NOT_EXIST, track ? 'too many subscribers' : `${where} is not published here`));
      await writer.close().catch(() => {});
      return;
    }
    const sub = { requestId: req.requestId, trackAlias: this.nextAlias++ };
    await writer.write(subscribeOkMessage(sub.trackAlias));
    track.subscribers.set(sub.requestId, sub);
    track.onSubscribers?.();
    this.log(`${where}: the relay subscribed`);
    try {
      // Later messages (REQUEST_UPDATE) change nothing for a track of single-object groups; the
      // end of the stream is the end of the subscription.
      while (await reader.message()) {
        // (ignored)
      }
    } catch (e) {
      if (e instanceof ProtocolError) this.log(`${where}: ${e.message}`);
    } finally {
      track.subscribers.delete(sub.requestId);
      track.onSubscribers?.();
      this.log(`${where}: the subscription ended`);
    }
  }
}
