// MoQ Transport draft-18 wire format: varints, control message framing, the messages the
// player sends and parsers for the data streams it receives.
//
// Same rules as tern's codec crate (relay/moq/src): draft-18 varints count leading 1 bits (1 to 9
// bytes), control messages are `Type (varint), Length (u16), Payload`, each side's control stream
// is a unidirectional stream that starts with SETUP (0x2F00), and every request has its own
// bidirectional stream.

export const ALPN = 'moqt-18';

export const MSG_SETUP = 0x2f00;
export const MSG_REQUEST_UPDATE = 0x2;
export const MSG_SUBSCRIBE = 0x3;
export const MSG_SUBSCRIBE_OK = 0x4;
export const MSG_REQUEST_ERROR = 0x5;
export const MSG_FETCH = 0x16;
export const MSG_FETCH_OK = 0x18;
export const MSG_PUBLISH_DONE = 0xb;
export const MSG_GOAWAY = 0x10;
export const MSG_PUBLISH_NAMESPACE = 0x6;
export const MSG_REQUEST_OK = 0x7;

export const STREAM_FETCH_HEADER = 0x05;
export const STREAM_PADDING = 0x132b3e28;

const SETUP_OPTION_MOQT_IMPLEMENTATION = 0x07;
const PARAM_FORWARD = 0x10;
const PARAM_SUBSCRIBER_PRIORITY = 0x20;
const PARAM_SUBSCRIPTION_FILTER = 0x21;
const PARAM_GROUP_ORDER = 0x22;
const FILTER_NEXT_GROUP_START = 0x1;
const FILTER_LARGEST_OBJECT = 0x2;
const FILTER_ABSOLUTE_START = 0x3;
const FETCH_STANDALONE = 0x1;
const FETCH_RELATIVE_JOINING = 0x2;

/** Largest control message (the u16 length allows 64 KiB). */
const MAX_CONTROL_MESSAGE = 65535;
/** Largest object payload the player buffers (a big keyframe fits). */
export const MAX_OBJECT_SIZE = 16 << 20;

/** The peer sent something draft-18 does not allow. */
export class ProtocolError extends Error {}

/** This side stopped reading the stream (`StreamReader.cancel`). */
export class StreamCancelled extends Error {}

// ---------------------------------------------------------------------------
// Varints (draft-18 §1.4.1). Values above 2^53 do not fit a JS number: refused.

export function encodeVarint(v: number): Uint8Array {
  if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`bad varint ${v}`);
  let big = BigInt(v);
  let len = 1;
  while (len < 8 && big >= 1n << BigInt(7 * len)) len++;
  if (len === 8 && big >= 1n << 56n) len = 9;
  const out = new Uint8Array(len);
  if (len === 9) {
    out[0] = 0xff;
    for (let i = 8; i >= 1; i--) {
      out[i] = Number(big & 0xffn);
      big >>= 8n;
    }
    return out;
  }
  for (let i = len - 1; i >= 0; i--) {
    out[i] = Number(big & 0xffn);
    big >>= 8n;
  }
  // (len - 1) leading one bits, then a zero bit.
  out[0] |= (0xff00 >> (len - 1)) & 0xff;
  return out;
}

export function varintLength(first: number): number {
  let n = 0;
  while (n < 8 && first & (0x80 >> n)) n++;
  return n + 1;
}

/** `[value, length]` of the varint at `offset`, or null when `bytes` ends first. */
export function decodeVarint(bytes: Uint8Array, offset = 0): [number, number] | null {
  if (offset >= bytes.length) return null;
  const first = bytes[offset];
  const len = varintLength(first);
  if (offset + len > bytes.length) return null;
  let v = len === 9 ? 0n : BigInt(first & (0xff >> len));
  for (let i = 1; i < len; i++) v = (v << 8n) | BigInt(bytes[offset + i]);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new ProtocolError(`varint ${v} too large`);
  return [Number(v), len];
}

export function concat(parts: Uint8Array[]): Uint8Array {
  const total = parts.reduce((n, p) => n + p.length, 0);
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder('utf-8', { fatal: false });

function lengthPrefixed(bytes: Uint8Array): Uint8Array {
  return concat([encodeVarint(bytes.length), bytes]);
}

/** Track Namespace: field count, then each field length-prefixed. */
export function encodeNamespace(fields: string[]): Uint8Array {
  return concat([encodeVarint(fields.length), ...fields.map((f) => lengthPrefixed(utf8.encode(f)))]);
}

/** Frame a control message: Type (varint), Length (u16), Payload. */
export function frameMessage(type: number, payload: Uint8Array): Uint8Array {
  if (payload.length > MAX_CONTROL_MESSAGE) throw new RangeError('control message too long');
  const len = new Uint8Array([payload.length >> 8, payload.length & 0xff]);
  return concat([encodeVarint(type), len, payload]);
}

// ---------------------------------------------------------------------------
// Buffered reading of a WebTransport stream.

export class StreamReader {
  private reader: ReadableStreamDefaultReader<Uint8Array>;
  private buf: Uint8Array = new Uint8Array(0);
  private done = false;
  private cancelled = false;
  /** Bytes read from the stream so far. */
  bytesRead = 0;
  /** performance.now() when the first and the latest chunk arrived (null before). */
  firstChunkAt: number | null = null;
  lastChunkAt: number | null = null;
  /** Size of the first chunk. */
  firstChunkBytes = 0;

  constructor(readable: ReadableStream<Uint8Array>) {
    this.reader = readable.getReader();
  }

  /** Read more bytes; false at the end of the stream. Throws StreamCancelled after `cancel`. */
  private async fill(): Promise<boolean> {
    if (this.cancelled) throw new StreamCancelled('stream cancelled');
    if (this.done) return false;
    const { value, done } = await this.reader.read();
    if (this.cancelled) throw new StreamCancelled('stream cancelled');
    if (done || !value) {
      this.done = true;
      return false;
    }
    this.buf = this.buf.length ? concat([this.buf, value]) : value;
    const now = performance.now();
    if (this.firstChunkAt === null) {
      this.firstChunkAt = now;
      this.firstChunkBytes = value.length;
    }
    this.lastChunkAt = now;
    this.bytesRead += value.length;
    return true;
  }

  /** True when the stream ended with nothing buffered. */
  async atEnd(): Promise<boolean> {
    while (this.buf.length === 0) {
      if (!(await this.fill())) return true;
    }
    return false;
  }

  async varint(): Promise<number> {
    for (;;) {
      const got = decodeVarint(this.buf, 0);
      if (got) {
        this.buf = this.buf.subarray(got[1]);
        return got[0];
      }
      if (!(await this.fill())) throw new ProtocolError('stream ended inside a varint');
    }
  }

  async bytes(n: number): Promise<Uint8Array> {
    while (this.buf.length < n) {
      if (!(await this.fill())) throw new ProtocolError(`stream ended: wanted ${n} bytes`);
    }
    const out = this.buf.slice(0, n);
    this.buf = this.buf.subarray(n);
    return out;
  }

  async u8(): Promise<number> {
    return (await this.bytes(1))[0];
  }

  /** One control message, or null at a clean end of stream. */
  async message(): Promise<{ type: number; payload: Payload } | null> {
    if (await this.atEnd()) return null;
    const type = await this.varint();
    const lenBytes = await this.bytes(2);
    const len = (lenBytes[0] << 8) | lenBytes[1];
    return { type, payload: new Payload(await this.bytes(len)) };
  }

  cancel(): void {
    this.cancelled = true;
    this.reader.cancel().catch(() => {});
  }
}

/** A cursor over one control message payload. */
export class Payload {
  private at = 0;
  constructor(readonly bytes: Uint8Array) {}

  varint(): number {
    const got = decodeVarint(this.bytes, this.at);
    if (!got) throw new ProtocolError('control message ended inside a varint');
    this.at += got[1];
    return got[0];
  }

  take(n: number): Uint8Array {
    if (this.at + n > this.bytes.length) throw new ProtocolError('control message too short');
    const out = this.bytes.subarray(this.at, this.at + n);
    this.at += n;
    return out;
  }

  reasonPhrase(): string {
    return fromUtf8.decode(this.take(this.varint()));
  }
}

// ---------------------------------------------------------------------------
// Messages the player sends.

export function setupMessage(implementation: string): Uint8Array {
  // Setup Options are Key-Value-Pairs: delta type, then (odd type) length + bytes.
  return frameMessage(
    MSG_SETUP,
    concat([encodeVarint(SETUP_OPTION_MOQT_IMPLEMENTATION), lengthPrefixed(utf8.encode(implementation))]),
  );
}

/**
 * Where a subscription starts: the next object (Largest Object filter), the next group's first
 * object (Next Group Start), or a given group's first object on (Absolute Start; a group the
 * relay no longer has, or never had, begins at the next one it has).
 */
export type SubscribeFilter = { kind: 'largest' } | { kind: 'nextGroup' } | { kind: 'from'; group: number };

function encodeFilter(f: SubscribeFilter): Uint8Array {
  switch (f.kind) {
    case 'largest':
      return encodeVarint(FILTER_LARGEST_OBJECT);
    case 'nextGroup':
      return encodeVarint(FILTER_NEXT_GROUP_START);
    case 'from':
      return concat([encodeVarint(FILTER_ABSOLUTE_START), encodeVarint(f.group), encodeVarint(0)]);
  }
}

/**
 * SUBSCRIBE with ascending group order, `priority` and `filter`; with `forward` false the relay
 * sends nothing until a REQUEST_UPDATE says so (a subscription held ready).
 */
export function subscribeMessage(
  requestId: number,
  namespace: string[],
  track: string,
  priority = 128,
  filter: SubscribeFilter = { kind: 'largest' },
  forward = true,
): Uint8Array {
  // Parameters: count, then (delta type, value) in ascending type order.
  const params = concat([
    encodeVarint(forward ? 3 : 4),
    ...(forward ? [] : [encodeVarint(PARAM_FORWARD), new Uint8Array([0])]),
    encodeVarint(PARAM_SUBSCRIBER_PRIORITY - (forward ? 0 : PARAM_FORWARD)),
    new Uint8Array([priority & 0xff]),
    encodeVarint(PARAM_SUBSCRIPTION_FILTER - PARAM_SUBSCRIBER_PRIORITY),
    lengthPrefixed(encodeFilter(filter)),
    encodeVarint(PARAM_GROUP_ORDER - PARAM_SUBSCRIPTION_FILTER),
    new Uint8Array([1]),
  ]);
  return frameMessage(
    MSG_SUBSCRIBE,
    concat([encodeVarint(requestId), encodeNamespace(namespace), lengthPrefixed(utf8.encode(track)), params]),
  );
}

/**
 * Relative Joining FETCH, Joining Start 0: the subscription's current group from its first
 * object up to where the subscription starts.
 */
export function joiningFetchMessage(requestId: number, joiningRequestId: number): Uint8Array {
  return frameMessage(
    MSG_FETCH,
    concat([
      encodeVarint(requestId),
      encodeVarint(FETCH_RELATIVE_JOINING),
      encodeVarint(joiningRequestId),
      encodeVarint(0),
      encodeVarint(0), // no parameters
    ]),
  );
}

/** REQUEST_UPDATE of a subscription (on its request stream): Forward and/or Subscriber Priority. */
export function requestUpdateMessage(requestId: number, update: { forward?: boolean; priority?: number }): Uint8Array {
  const parts: Uint8Array[] = [];
  let last = 0;
  let count = 0;
  if (update.forward !== undefined) {
    parts.push(encodeVarint(PARAM_FORWARD - last), new Uint8Array([update.forward ? 1 : 0]));
    last = PARAM_FORWARD;
    count += 1;
  }
  if (update.priority !== undefined) {
    parts.push(encodeVarint(PARAM_SUBSCRIBER_PRIORITY - last), new Uint8Array([update.priority & 0xff]));
    count += 1;
  }
  return frameMessage(MSG_REQUEST_UPDATE, concat([encodeVarint(requestId), encodeVarint(count), ...parts]));
}

/**
 * Standalone FETCH of `track` from `start` to `end` (End Location: Object ID plus one, or 0 for
 * the whole end group) with `priority`.
 */
export function fetchMessage(
  requestId: number,
  namespace: string[],
  track: string,
  start: { group: number; object: number },
  end: { group: number; object: number },
  priority = 128,
): Uint8Array {
  return frameMessage(
    MSG_FETCH,
    concat([
      encodeVarint(requestId),
      encodeVarint(FETCH_STANDALONE),
      encodeNamespace(namespace),
      lengthPrefixed(utf8.encode(track)),
      encodeVarint(start.group),
      encodeVarint(start.object),
      encodeVarint(end.group),
      encodeVarint(end.object),
      // Parameters: Subscriber Priority.
      encodeVarint(1),
      encodeVarint(PARAM_SUBSCRIBER_PRIORITY),
      new Uint8Array([priority & 0xff]),
    ]),
  );
}

/** REQUEST_ERROR in words: Error Code, Retry Interval, Reason Phrase. */
export function requestErrorText(payload: Payload): string {
  const code = payload.varint();
  payload.varint();
  const reason = payload.reasonPhrase();
  return `error 0x${code.toString(16)}${reason ? `: ${reason}` : ''}`;
}

// ---------------------------------------------------------------------------
// Data streams (draft-18 §11).

export interface MoqObject {
  group: number;
  subgroup: number | null;
  object: number;
  /** Object Status (0 = normal); payload is empty when it is not 0. */
  status: number;
  payload: Uint8Array;
  /** Arrived on a FETCH stream. */
  fetched: boolean;
  /** performance.now() when the whole object had arrived. */
  receivedAt: number;
}

const SG_PROPERTIES = 0x01;
const SG_ID_MODE = 0x06;
const SG_BASE = 0x10;
const SG_DEFAULT_PRIORITY = 0x20;

export function isSubgroupType(t: number): boolean {
  return t < 0x80 && (t & SG_BASE) !== 0 && (t & SG_ID_MODE) !== SG_ID_MODE;
}

async function objectPayload(r: StreamReader, length: number): Promise<Uint8Array> {
  if (length > MAX_OBJECT_SIZE) throw new ProtocolError(`object of ${length} bytes is too large`);
  return r.bytes(length);
}

/** Header of a SUBGROUP stream whose type `t` was read: the track alias and group. */
export async function readSubgroupHeader(
  t: number,
  r: StreamReader,
): Promise<{ trackAlias: number; group: number; subgroup: number; mode: number; hasProperties: boolean }> {
  const trackAlias = await r.varint();
  const group = await r.varint();
  const mode = (t & SG_ID_MODE) >> 1;
  const subgroup = mode === 2 ? await r.varint() : 0;
  if ((t & SG_DEFAULT_PRIORITY) === 0) await r.u8(); // Publisher Priority
  return { trackAlias, group, subgroup, mode, hasProperties: (t & SG_PROPERTIES) !== 0 };
}

/** The objects of a SUBGROUP stream after its header, one call of `onObject` each. */
export async function readSubgroupObjects(
  header: { group: number; subgroup: number; mode: number; hasProperties: boolean },
  r: StreamReader,
  onObject: (o: MoqObject) => void,
): Promise<void> {
  let subgroup = header.subgroup;
  let prev: number | null = null;
  while (!(await r.atEnd())) {
    const delta = await r.varint();
    const object: number = prev === null ? delta : prev + delta + 1;
    if (prev === null && header.mode === 1) subgroup = object;
    prev = object;
    if (header.hasProperties) await r.bytes(await r.varint());
    const length = await r.varint();
    let status = 0;
    let payload: Uint8Array = new Uint8Array(0);
    if (length === 0) status = await r.varint();
    else payload = await objectPayload(r, length);
    onObject({ group: header.group, subgroup, object, status, payload, fetched: false, receivedAt: performance.now() });
  }
}

// Fetch Serialization Flags (draft-18 §11.4.2).
const FF_SUBGROUP_MASK = 0x03;
const FF_OBJECT_ID_PRESENT = 0x04;
const FF_GROUP_ID_PRESENT = 0x08;
const FF_PRIORITY_PRESENT = 0x10;
const FF_PROPERTIES_PRESENT = 0x20;
const FF_DATAGRAM = 0x40;
const FF_END_OF_NON_EXISTENT_RANGE = 0x8c;
const FF_END_OF_UNKNOWN_RANGE = 0x10c;

/** The objects of a FETCH stream after its Request ID. */
export async function readFetchObjects(r: StreamReader, onObject: (o: MoqObject) => void): Promise<void> {
  let prior: { group: number; object: number; subgroup: number | null } | null = null;
  while (!(await r.atEnd())) {
    const flags = await r.varint();
    if (flags === FF_END_OF_NON_EXISTENT_RANGE || flags === FF_END_OF_UNKNOWN_RANGE) {
      const group = await r.varint();
      const object = await r.varint();
      prior = { group, object, subgroup: prior ? prior.subgroup : null };
      continue;
    }
    if (flags >= 0x80) throw new ProtocolError(`bad fetch serialization flags 0x${flags.toString(16)}`);
    const groupPresent = (flags & FF_GROUP_ID_PRESENT) !== 0;
    let group: number;
    if (groupPresent) group = prior === null ? await r.varint() : prior.group + (await r.varint()) + 1;
    else if (prior) group = prior.group;
    else throw new ProtocolError('fetch object without a Group ID');
    let subgroup: number | null = null;
    if ((flags & FF_DATAGRAM) === 0) {
      switch (flags & FF_SUBGROUP_MASK) {
        case 0:
          subgroup = 0;
          break;
        case 1:
          subgroup = prior?.subgroup ?? null;
          break;
        case 2:
          subgroup = prior?.subgroup == null ? null : prior.subgroup + 1;
          break;
        default:
          subgroup = await r.varint();
      }
      if (subgroup === null) throw new ProtocolError('fetch object without a prior Subgroup ID');
    }
    let object: number;
    if (flags & FF_OBJECT_ID_PRESENT) {
      const v = await r.varint();
      object = prior === null || groupPresent ? v : prior.object + v;
    } else if (prior) object = prior.object + 1;
    else throw new ProtocolError('fetch object without an Object ID');
    if (flags & FF_PRIORITY_PRESENT) await r.u8();
    if (flags & FF_PROPERTIES_PRESENT) await r.bytes(await r.varint());
    const length = await r.varint();
    const payload = await objectPayload(r, length);
    prior = { group, object, subgroup };
    onObject({ group, subgroup, object, status: 0, payload, fetched: true, receivedAt: performance.now() });
  }
}

// ---------------------------------------------------------------------------
// The player as a publisher (a viewer's own events track).

/** REQUEST_ERROR codes NOT_SUPPORTED and DOES_NOT_EXIST. */
export const ERROR_NOT_SUPPORTED = 0x3;
export const ERROR_DOES_NOT_EXIST = 0x10;
/** Longest namespace field or track name accepted from the relay (bytes). */
const MAX_NAME = 4096;

/** PUBLISH_NAMESPACE of `namespace`, no parameters. */
export function publishNamespaceMessage(requestId: number, namespace: string[]): Uint8Array {
  return frameMessage(MSG_PUBLISH_NAMESPACE, concat([encodeVarint(requestId), encodeNamespace(namespace), encodeVarint(0)]));
}

/** SUBSCRIBE_OK with the Track Alias this side chose, no parameters, no track properties. */
export function subscribeOkMessage(trackAlias: number): Uint8Array {
  return frameMessage(MSG_SUBSCRIBE_OK, concat([encodeVarint(trackAlias), encodeVarint(0)]));
}

/** REQUEST_ERROR with `code`, no retry, and `reason`. */
export function requestErrorMessage(code: number, reason: string): Uint8Array {
  return frameMessage(MSG_REQUEST_ERROR, concat([encodeVarint(code), encodeVarint(0), lengthPrefixed(utf8.encode(reason))]));
}

/** What a SUBSCRIBE asks for (its parameters are not needed to serve an events track). */
export interface SubscribeRequest {
  requestId: number;
  namespace: string[];
  track: string;
}

/** The start of a SUBSCRIBE's payload: Request ID, Track Namespace, Track Name. */
export function parseSubscribe(payload: Payload): SubscribeRequest {
  const requestId = payload.varint();
  const count = payload.varint();
  if (count < 1 || count > 32) throw new ProtocolError(`SUBSCRIBE with ${count} namespace fields`);
  const namespace: string[] = [];
  for (let i = 0; i < count; i++) namespace.push(fromUtf8.decode(payload.take(boundedLength(payload))));
  const track = fromUtf8.decode(payload.take(boundedLength(payload)));
  return { requestId, namespace, track };
}

function boundedLength(payload: Payload): number {
  const n = payload.varint();
  if (n > MAX_NAME) throw new ProtocolError(`SUBSCRIBE with a name of ${n} bytes`);
  return n;
}

/**
 * A whole SUBGROUP stream of one object: header (type 0x10: subgroup 0, no properties,
 * Publisher Priority present), then Object ID 0 and its payload.
 */
export function singleObjectStream(trackAlias: number, group: number, priority: number, payload: Uint8Array): Uint8Array {
  return concat([
    encodeVarint(SG_BASE),
    encodeVarint(trackAlias),
    encodeVarint(group),
    new Uint8Array([priority & 0xff]),
    encodeVarint(0),
    lengthPrefixed(payload),
  ]);
}
