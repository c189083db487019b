// A minimal MoQ Transport draft-18 subscriber for browsers: plain JS, no build step.
//
// Wire reference: tern's codec crate (relay/moq/src). Every length and type below is
// draft-18's, which differs from QUIC: its varints count leading 1 bits (1 to 9 bytes),
// control messages are `Type (varint), Length (u16), Payload`, the control stream is a
// unidirectional stream per side that starts with SETUP (0x2F00), and each request
// (SUBSCRIBE, FETCH) has its own bidirectional stream.

export const ALPN = 'moqt-18';

const MSG_SETUP = 0x2f00;
const MSG_SUBSCRIBE = 0x3;
const MSG_SUBSCRIBE_OK = 0x4;
const MSG_REQUEST_ERROR = 0x5;
const MSG_FETCH = 0x16;
const MSG_FETCH_OK = 0x18;
const MSG_PUBLISH_DONE = 0xb;
const MSG_GOAWAY = 0x10;

const STREAM_FETCH_HEADER = 0x05;
const STREAM_PADDING = 0x132b3e28;

const SETUP_OPTION_MOQT_IMPLEMENTATION = 0x07;

const PARAM_SUBSCRIBER_PRIORITY = 0x20;
const PARAM_SUBSCRIPTION_FILTER = 0x21;
const PARAM_GROUP_ORDER = 0x22;
const FILTER_LARGEST_OBJECT = 0x2;
const FETCH_RELATIVE_JOINING = 0x2;

// Largest control message we accept (the u16 length allows 64 KiB).
const MAX_CONTROL_MESSAGE = 65535;
// Largest object payload this page buffers.
const MAX_OBJECT_SIZE = 1 << 20;

/** A protocol error: the peer sent something draft-18 does not allow. */
export class ProtocolError extends Error {}

// ---------------------------------------------------------------------------
// Varints (draft-18 §1.4.1). Values above 2^53 lose precision in a JS number,
// so decoding returns a BigInt internally and refuses values that do not fit.

/** Encode `v` (a non-negative safe integer) in its minimal draft-18 form. */
export function encodeVarint(v) {
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

/** Length in bytes of the varint whose first byte is `first`. */
export function varintLength(first) {
  let n = 0;
  while (n < 8 && first & (0x80 >> n)) n++;
  return n + 1;
}

/** Decode a varint from `bytes` at `offset`: `[value, length]`, or null if short. */
export function decodeVarint(bytes, offset = 0) {
  if (offset >= bytes.length) return null;
  const first = bytes[offset];
  const len = varintLength(first);
  if (offset + len > bytes.length) return null;
  let v = len === 9 ? 0n : BigInt(first & (0xff >> len));
  for (let i = 1; i < len; i++) v = (v << 8n) | BigInt(bytes[offset + i]);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new ProtocolError(`varint ${v} too large`);
  return [Number(v), len];
}

function concat(parts) {
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

function lengthPrefixed(bytes) {
  return concat([encodeVarint(bytes.length), bytes]);
}

/** Track Namespace: field count, then each field length-prefixed. */
export function encodeNamespace(fields) {
  return concat([encodeVarint(fields.length), ...fields.map((f) => lengthPrefixed(utf8.encode(f)))]);
}

/** Frame a control message: Type (varint), Length (u16), Payload. */
export function frameMessage(type, payload) {
  if (payload.length > MAX_CONTROL_MESSAGE) throw new RangeError('control message too long');
  const len = new Uint8Array([payload.length >> 8, payload.length & 0xff]);
  return concat([encodeVarint(type), len, payload]);
}

// ---------------------------------------------------------------------------
// A buffered reader over a WebTransport ReadableStream.

export class StreamReader {
  constructor(readable) {
    this.reader = readable.getReader();
    this.buf = new Uint8Array(0);
    this.done = false;
  }

  /** Read more bytes; false at the end of the stream. */
  async fill() {
    if (this.done) return false;
    const { value, done } = await this.reader.read();
    if (done) {
      this.done = true;
      return false;
    }
    this.buf = this.buf.length ? concat([this.buf, value]) : value;
    return true;
  }

  /** True when the stream ended with no buffered bytes left. */
  async atEnd() {
    while (this.buf.length === 0) {
      if (!(await this.fill())) return true;
    }
    return false;
  }

  async varint() {
    for (;;) {
      const got = decodeVarint(this.buf, 0);
      if (got) {
        this.buf = this.buf.subarray(got[1]);
        return got[0];
      }
      if (!(await this.fill())) throw new ProtocolError('stream ended inside a varint');
    }
  }

  async bytes(n) {
    while (this.buf.length < n) {
      if (!(await this.fill())) throw new ProtocolError(`stream ended: wanted ${n} bytes`);
    }
    const out = this.buf.slice(0, n);
    this.buf = this.buf.subarray(n);
    return out;
  }

  async u8() {
    return (await this.bytes(1))[0];
  }

  /** One control message: `{type, payload}`, or null at a clean end of stream. */
  async message() {
    if (await this.atEnd()) return null;
    const type = await this.varint();
    const lenBytes = await this.bytes(2);
    const len = (lenBytes[0] << 8) | lenBytes[1];
    return { type, payload: new Payload(await this.bytes(len)) };
  }

  cancel() {
    this.reader.cancel().catch(() => {});
  }
}

/** A cursor over a complete control message payload. */
class Payload {
  constructor(bytes) {
    this.bytes = bytes;
    this.at = 0;
  }
  varint() {
    const got = decodeVarint(this.bytes, this.at);
    if (!got) throw new ProtocolError('control message ended inside a varint');
    this.at += got[1];
    return got[0];
  }
  take(n) {
    if (this.at + n > this.bytes.length) throw new ProtocolError('control message too short');
    const out = this.bytes.subarray(this.at, this.at + n);
    this.at += n;
    return out;
  }
  reasonPhrase() {
    return fromUtf8.decode(this.take(this.varint()));
  }
}

// ---------------------------------------------------------------------------
// Messages this client sends.

function setupMessage() {
  // Setup Options are Key-Value-Pairs: delta type, then (odd type) length + bytes.
  const impl = utf8.encode('tern-web');
  return frameMessage(
    MSG_SETUP,
    concat([encodeVarint(SETUP_OPTION_MOQT_IMPLEMENTATION), lengthPrefixed(impl)]),
  );
}

function subscribeMessage(requestId, namespace, track) {
  // Parameters: count, then (delta type, value) in ascending type order.
  // SUBSCRIBER_PRIORITY (0x20, uint8), SUBSCRIPTION_FILTER (0x21, length-prefixed
  // filter: Largest Object), GROUP_ORDER (0x22, uint8: 1 ascending).
  const params = concat([
    encodeVarint(3),
    encodeVarint(PARAM_SUBSCRIBER_PRIORITY),
    new Uint8Array([128]),
    encodeVarint(PARAM_SUBSCRIPTION_FILTER - PARAM_SUBSCRIBER_PRIORITY),
    lengthPrefixed(encodeVarint(FILTER_LARGEST_OBJECT)),
    encodeVarint(PARAM_GROUP_ORDER - PARAM_SUBSCRIPTION_FILTER),
    new Uint8Array([1]),
  ]);
  return frameMessage(
    MSG_SUBSCRIBE,
    concat([
      encodeVarint(requestId),
      encodeNamespace(namespace),
      lengthPrefixed(utf8.encode(track)),
      params,
    ]),
  );
}

function joiningFetchMessage(requestId, joiningRequestId) {
  // Relative Joining FETCH with Joining Start 0: the current group from its first
  // object up to where the subscription starts.
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

function requestError(payload) {
  // REQUEST_ERROR: Error Code, Retry Interval, Reason Phrase.
  const code = payload.varint();
  payload.varint();
  const reason = payload.reasonPhrase();
  return `error 0x${code.toString(16)}${reason ? `: ${reason}` : ''}`;
}

// ---------------------------------------------------------------------------
// Data streams (draft-18 §11).

const SG_PROPERTIES = 0x01;
const SG_ID_MODE = 0x06;
const SG_END_OF_GROUP = 0x08;
const SG_BASE = 0x10;
const SG_DEFAULT_PRIORITY = 0x20;

function isSubgroupType(t) {
  return t < 0x80 && (t & SG_BASE) !== 0 && (t & SG_ID_MODE) !== SG_ID_MODE;
}

async function readObjectPayload(r, length) {
  if (length > MAX_OBJECT_SIZE) throw new ProtocolError(`object of ${length} bytes is too large`);
  return r.bytes(length);
}

/**
 * Read one SUBGROUP stream whose type varint `t` was already read. Calls
 * `onObject({group, subgroup, object, status, payload})` for each object.
 */
async function readSubgroup(t, r, onObject) {
  const trackAlias = await r.varint();
  const group = await r.varint();
  const mode = (t & SG_ID_MODE) >> 1;
  let subgroup = mode === 2 ? await r.varint() : 0;
  if ((t & SG_DEFAULT_PRIORITY) === 0) await r.u8(); // Publisher Priority
  const hasProperties = (t & SG_PROPERTIES) !== 0;
  let prev = null;
  while (!(await r.atEnd())) {
    const delta = await r.varint();
    const object = prev === null ? delta : prev + delta + 1;
    if (prev === null && mode === 1) subgroup = object;
    prev = object;
    if (hasProperties) {
      const len = await r.varint();
      await r.bytes(len); // Properties are not used by this page.
    }
    const length = await r.varint();
    let status = 0;
    let payload = new Uint8Array(0);
    if (length === 0) status = await r.varint();
    else payload = await readObjectPayload(r, length);
    onObject({ trackAlias, group, subgroup, object, status, payload, endOfGroup: (t & SG_END_OF_GROUP) !== 0 });
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

/** Read a FETCH stream (after its type): calls `onObject` like `readSubgroup`. */
async function readFetch(r, onObject) {
  const requestId = await r.varint();
  let prior = null; // {group, object, subgroup}
  while (!(await r.atEnd())) {
    const flags = await r.varint();
    if (flags === FF_END_OF_NON_EXISTENT_RANGE || flags === FF_END_OF_UNKNOWN_RANGE) {
      const group = await r.varint();
      const object = await r.varint();
      prior = { group, object, subgroup: prior ? prior.subgroup : null };
      continue;
    }
    if (flags >= 0x80) throw new ProtocolError(`bad fetch serialization flags 0x${flags.toString(16)}`);
    let group;
    const groupPresent = (flags & FF_GROUP_ID_PRESENT) !== 0;
    if (groupPresent) group = prior === null ? await r.varint() : prior.group + (await r.varint()) + 1;
    else if (prior) group = prior.group;
    else throw new ProtocolError('fetch object without a Group ID');
    let subgroup = null;
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
    let object;
    if (flags & FF_OBJECT_ID_PRESENT) {
      const v = await r.varint();
      object = prior === null || groupPresent ? v : prior.object + v;
    } else if (prior) object = prior.object + 1;
    else throw new ProtocolError('fetch object without an Object ID');
    if (flags & FF_PRIORITY_PRESENT) await r.u8();
    if (flags & FF_PROPERTIES_PRESENT) await r.bytes(await r.varint());
    const length = await r.varint();
    const payload = await readObjectPayload(r, length);
    prior = { group, object, subgroup };
    onObject({ requestId, group, subgroup, object, status: 0, payload, fetched: true });
  }
}

// ---------------------------------------------------------------------------
// The session.

/**
 * Subscribe to one track over WebTransport.
 *
 * options: {url, fingerprintHex, namespace: [fields], track, onState(text), onObject(obj),
 * onLog(text), joiningFetch: bool}. Returns an object with `close()` and a `closed` promise that
 * rejects with a plain-words Error.
 */
export async function subscribe(options) {
  const { url, fingerprintHex, namespace, track, onState = () => {}, onObject = () => {} } = options;
  const log = options.onLog || ((text) => console.info(`moq: ${text}`));
  const wtOptions = { protocols: [ALPN] };
  if (fingerprintHex) {
    const hex = fingerprintHex.replace(/[^0-9a-fA-F]/g, '');
    if (hex.length !== 64) throw new Error(`certificate fingerprint is not a SHA-256 hex string: ${fingerprintHex}`);
    const value = new Uint8Array(32);
    for (let i = 0; i < 32; i++) value[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
    wtOptions.serverCertificateHashes = [{ algorithm: 'sha-256', value }];
  }

  onState('connecting');
  let transport;
  try {
    transport = new WebTransport(url, wtOptions);
    await transport.ready;
  } catch (e) {
    throw new Error(`WebTransport failed: ${e && e.message ? e.message : e}`);
  }
  if (transport.protocol !== undefined && transport.protocol !== '' && transport.protocol !== ALPN) {
    transport.close();
    throw new Error(`the relay chose protocol ${transport.protocol}, not ${ALPN}`);
  }

  onState('setup');
  const control = await transport.createUnidirectionalStream();
  const controlWriter = control.getWriter();
  await controlWriter.write(setupMessage());

  // The server's control stream is its first unidirectional stream; data streams follow.
  const incoming = transport.incomingUnidirectionalStreams.getReader();
  const first = await incoming.read();
  if (first.done) throw new Error('the relay closed the session before its SETUP');
  const serverControl = new StreamReader(first.value);
  const setup = await serverControl.message();
  if (!setup || setup.type !== MSG_SETUP) {
    throw new ProtocolError(`expected SETUP from the relay, got ${setup ? `type 0x${setup.type.toString(16)}` : 'end of stream'}`);
  }

  onState('subscribing');
  const request = await transport.createBidirectionalStream();
  const requestWriter = request.writable.getWriter();
  await requestWriter.write(subscribeMessage(0, namespace, track));
  const requestReader = new StreamReader(request.readable);
  const reply = await requestReader.message();
  if (!reply) throw new Error('the relay closed the SUBSCRIBE stream without an answer');
  if (reply.type === MSG_REQUEST_ERROR) {
    throw new Error(`SUBSCRIBE refused: ${requestError(reply.payload)}`);
  }
  if (reply.type !== MSG_SUBSCRIBE_OK) {
    throw new ProtocolError(`expected SUBSCRIBE_OK, got type 0x${reply.type.toString(16)}`);
  }
  const trackAlias = reply.payload.varint();
  onState('subscribed');

  const errors = [];
  const fail = (e) => {
    errors.push(e);
    onState(`error: ${e.message || e}`);
  };

  // Data streams.
  const dataLoop = (async () => {
    for (;;) {
      const { value, done } = await incoming.read();
      if (done) return;
      const r = new StreamReader(value);
      (async () => {
        const t = await r.varint();
        if (isSubgroupType(t)) {
          await readSubgroup(t, r, (o) => {
            if (o.trackAlias === trackAlias) onObject(o);
          });
        } else if (t === STREAM_FETCH_HEADER) {
          let n = 0;
          await readFetch(r, (o) => {
            n += 1;
            onObject(o);
          });
          log(`joining FETCH: ${n} objects`);
        } else if (t === STREAM_PADDING) {
          r.cancel();
        } else {
          throw new ProtocolError(`unknown data stream type 0x${t.toString(16)}`);
        }
      })().catch((e) => {
        // A reset subgroup (the relay skipped ahead) is normal; anything else is reported.
        if (e instanceof ProtocolError) fail(e);
      });
    }
  })();

  // Optional Joining FETCH for the start of the current group (e.g. the clock's
  // minute base), on its own request stream.
  if (options.joiningFetch) {
    (async () => {
      const fetchStream = await transport.createBidirectionalStream();
      const w = fetchStream.writable.getWriter();
      await w.write(joiningFetchMessage(2, 0));
      const fr = new StreamReader(fetchStream.readable);
      const ok = await fr.message();
      if (!ok) log('joining FETCH: the relay closed the request stream without an answer');
      else if (ok.type === MSG_REQUEST_ERROR) log(`joining FETCH refused: ${requestError(ok.payload)}`);
      else if (ok.type !== MSG_FETCH_OK) throw new ProtocolError(`expected FETCH_OK, got type 0x${ok.type.toString(16)}`);
      else log('joining FETCH: FETCH_OK');
    })().catch((e) => fail(e));
  }

  // Messages after SUBSCRIBE_OK on the request stream (PUBLISH_DONE) and on the control stream (GOAWAY).
  (async () => {
    for (;;) {
      const m = await requestReader.message();
      if (!m) return;
      if (m.type === MSG_PUBLISH_DONE) {
        onState('publisher done');
        return;
      }
    }
  })().catch(() => {});
  (async () => {
    for (;;) {
      const m = await serverControl.message();
      if (!m) return;
      if (m.type === MSG_GOAWAY) onState('relay is going away');
    }
  })().catch(() => {});

  const closed = transport.closed.then(
    (info) => {
      onState(`closed${info && info.reason ? `: ${info.reason}` : ''}`);
    },
    (e) => {
      throw new Error(`session closed: ${e && e.message ? e.message : e}`);
    },
  );
  dataLoop.catch((e) => fail(e));

  return {
    trackAlias,
    errors,
    closed,
    close() {
      transport.close();
    },
  };
}
