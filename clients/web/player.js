// src/catalog.ts
var CatalogError = class extends Error {
};
function str(v) {
  return typeof v === "string" ? v : void 0;
}
function num(v) {
  if (typeof v === "number" && Number.isFinite(v)) return v;
  if (typeof v === "string" && v.trim() !== "" && Number.isFinite(Number(v))) return Number(v);
  return void 0;
}
function base64(s) {
  const bin = atob(s.replace(/\s+/g, ""));
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}
var VIDEO_CODECS = ["avc1", "avc3", "hvc1", "hev1", "av01", "vp09", "vp8", "vp08"];
var AUDIO_CODECS = ["mp4a", "opus", "flac", "ac-3", "ec-3", "pcm"];
function roleOf(role, codec, t) {
  if (role === "video" || role === "audio") return role;
  if (role) return "other";
  const prefix = codec.split(".")[0].toLowerCase();
  if (VIDEO_CODECS.includes(prefix)) return "video";
  if (AUDIO_CODECS.includes(prefix)) return "audio";
  if (num(t.width) !== void 0) return "video";
  if (num(t.samplerate) !== void 0) return "audio";
  return "other";
}
function parseJson(bytes) {
  let v;
  try {
    v = JSON.parse(new TextDecoder().decode(bytes));
  } catch (e) {
    throw new CatalogError(`catalog is not JSON: ${e instanceof Error ? e.message : e}`);
  }
  if (!v || typeof v !== "object" || Array.isArray(v)) throw new CatalogError("catalog is not a JSON object");
  return v;
}
function msfTrack(t) {
  const name = str(t.name);
  if (!name) throw new CatalogError("MSF catalog track without a name");
  const codec = str(t.codec) ?? "";
  const track = {
    name,
    role: roleOf(str(t.role), codec, t),
    packaging: str(t.packaging) ?? "",
    codec,
    width: num(t.width),
    height: num(t.height),
    framerate: num(t.framerate),
    bitrate: num(t.bitrate),
    samplerate: num(t.samplerate),
    channelConfig: str(t.channelConfig),
    altGroup: num(t.altGroup),
    renderGroup: num(t.renderGroup),
    label: str(t.label),
    initTrack: str(t.initTrack)
  };
  const initData = str(t.initData);
  if (initData) {
    try {
      track.initData = base64(initData);
    } catch {
      throw new CatalogError(`track ${name}: initData is not base64`);
    }
  }
  return track;
}
function parseMsf(bytes, previous = null) {
  const root = parseJson(bytes);
  if (root.deltaUpdate === true) {
    if (!previous) throw new CatalogError("MSF delta update without a catalog to apply it to");
    const tracks = previous.tracks.slice();
    for (const t of asArray(root.addTracks)) tracks.push(msfTrack(t));
    for (const t of asArray(root.removeTracks)) {
      const i = tracks.findIndex((x) => x.name === str(t.name));
      if (i >= 0) tracks.splice(i, 1);
    }
    for (const t of asArray(root.cloneTracks)) {
      const parent = tracks.find((x) => x.name === str(t.parentName));
      if (!parent) continue;
      const merged = msfTrack({ ...t });
      tracks.push({ ...parent, ...definedOnly(merged), name: merged.name });
    }
    return { format: "msf", tracks };
  }
  if (!Array.isArray(root.tracks)) throw new CatalogError("MSF catalog without tracks");
  return { format: "msf", tracks: asArray(root.tracks).map(msfTrack) };
}
function definedOnly(o) {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== void 0 && v !== ""));
}
function asArray(v) {
  return Array.isArray(v) ? v.filter((x) => x && typeof x === "object") : [];
}
function parseCatalogFormat01(bytes) {
  const root = parseJson(bytes);
  if (!Array.isArray(root.tracks)) throw new CatalogError("catalog without tracks");
  const common = root.commonTrackFields && typeof root.commonTrackFields === "object" ? root.commonTrackFields : {};
  const tracks = asArray(root.tracks).map((t) => {
    const name = str(t.name);
    if (!name) throw new CatalogError("catalog track without a name");
    const sp = t.selectionParams && typeof t.selectionParams === "object" ? t.selectionParams : {};
    const codec = str(sp.codec) ?? "";
    return {
      name,
      role: roleOf(void 0, codec, sp),
      packaging: str(t.packaging) ?? str(common.packaging) ?? "",
      codec,
      width: num(sp.width),
      height: num(sp.height),
      framerate: num(sp.framerate),
      bitrate: num(sp.bitrate),
      samplerate: num(sp.samplerate),
      channelConfig: str(sp.channelConfig),
      altGroup: num(t.altGroup) ?? num(common.altGroup),
      renderGroup: num(t.renderGroup) ?? num(common.renderGroup),
      initTrack: str(t.initTrack) ?? str(common.initTrack),
      initData: str(t.initData) ? base64(str(t.initData)) : void 0
    };
  });
  return { format: "catalogformat-01", tracks };
}
function videoRenditions(c) {
  return c.tracks.filter((t) => t.role === "video").sort((a, b) => (b.height ?? 0) - (a.height ?? 0) || (b.bitrate ?? 0) - (a.bitrate ?? 0));
}
var AUDIO_PREFERENCE = ["mp4a", "opus"];
function audioRank(t) {
  const i = AUDIO_PREFERENCE.indexOf(t.codec.split(".")[0].toLowerCase());
  return i < 0 ? AUDIO_PREFERENCE.length : i;
}
function audioTracks(c) {
  const audio = c.tracks.filter((t) => t.role === "audio");
  if (audio.length === 0) return [];
  const group = audio[0].altGroup;
  const candidates = group === void 0 ? audio : audio.filter((t) => t.altGroup === group);
  return candidates.map((t, i) => ({ t, i })).sort((a, b) => audioRank(a.t) - audioRank(b.t) || a.i - b.i).map(({ t }) => t);
}
function describe(t) {
  const parts = [];
  if (t.width && t.height) parts.push(`${t.width}x${t.height}`);
  if (t.codec) parts.push(t.codec);
  if (t.bitrate) parts.push(`${Math.round(t.bitrate / 1e3)} kb/s`);
  return `${t.label ?? t.name}${parts.length ? ` (${parts.join(", ")})` : ""}`;
}

// src/wire.ts
var ALPN = "moqt-18";
var MSG_SETUP = 12032;
var MSG_REQUEST_UPDATE = 2;
var MSG_SUBSCRIBE = 3;
var MSG_SUBSCRIBE_OK = 4;
var MSG_REQUEST_ERROR = 5;
var MSG_FETCH = 22;
var MSG_FETCH_OK = 24;
var MSG_PUBLISH_DONE = 11;
var MSG_GOAWAY = 16;
var MSG_PUBLISH_NAMESPACE = 6;
var MSG_REQUEST_OK = 7;
var STREAM_FETCH_HEADER = 5;
var STREAM_PADDING = 321601064;
var SETUP_OPTION_MOQT_IMPLEMENTATION = 7;
var PARAM_FORWARD = 16;
var PARAM_SUBSCRIBER_PRIORITY = 32;
var PARAM_SUBSCRIPTION_FILTER = 33;
var PARAM_GROUP_ORDER = 34;
var FILTER_NEXT_GROUP_START = 1;
var FILTER_LARGEST_OBJECT = 2;
var FILTER_ABSOLUTE_START = 3;
var FETCH_STANDALONE = 1;
var FETCH_RELATIVE_JOINING = 2;
var MAX_CONTROL_MESSAGE = 65535;
var MAX_OBJECT_SIZE = 16 << 20;
var ProtocolError = class extends Error {
};
var StreamCancelled = class extends Error {
};
function encodeVarint(v) {
  if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`bad varint ${v}`);
  let big = BigInt(v);
  let len = 1;
  while (len < 8 && big >= 1n << BigInt(7 * len)) len++;
  if (len === 8 && big >= 1n << 56n) len = 9;
  const out = new Uint8Array(len);
  if (len === 9) {
    out[0] = 255;
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
  out[0] |= 65280 >> len - 1 & 255;
  return out;
}
function varintLength(first) {
  let n = 0;
  while (n < 8 && first & 128 >> n) n++;
  return n + 1;
}
function decodeVarint(bytes, offset = 0) {
  if (offset >= bytes.length) return null;
  const first = bytes[offset];
  const len = varintLength(first);
  if (offset + len > bytes.length) return null;
  let v = len === 9 ? 0n : BigInt(first & 255 >> len);
  for (let i = 1; i < len; i++) v = v << 8n | BigInt(bytes[offset + i]);
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
var utf8 = new TextEncoder();
var fromUtf8 = new TextDecoder("utf-8", { fatal: false });
function lengthPrefixed(bytes) {
  return concat([encodeVarint(bytes.length), bytes]);
}
function encodeNamespace(fields) {
  return concat([encodeVarint(fields.length), ...fields.map((f) => lengthPrefixed(utf8.encode(f)))]);
}
function frameMessage(type, payload) {
  if (payload.length > MAX_CONTROL_MESSAGE) throw new RangeError("control message too long");
  const len = new Uint8Array([payload.length >> 8, payload.length & 255]);
  return concat([encodeVarint(type), len, payload]);
}
var StreamReader = class {
  reader;
  buf = new Uint8Array(0);
  done = false;
  cancelled = false;
  /** Bytes read from the stream so far. */
  bytesRead = 0;
  /** performance.now() when the first and the latest chunk arrived (null before). */
  firstChunkAt = null;
  lastChunkAt = null;
  /** Size of the first chunk. */
  firstChunkBytes = 0;
  constructor(readable) {
    this.reader = readable.getReader();
  }
  /** Read more bytes; false at the end of the stream. Throws StreamCancelled after `cancel`. */
  async fill() {
    if (this.cancelled) throw new StreamCancelled("stream cancelled");
    if (this.done) return false;
    const { value, done } = await this.reader.read();
    if (this.cancelled) throw new StreamCancelled("stream cancelled");
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
  async atEnd() {
    while (this.buf.length === 0) {
      if (!await this.fill()) return true;
    }
    return false;
  }
  async varint() {
    for (; ; ) {
      const got = decodeVarint(this.buf, 0);
      if (got) {
        this.buf = this.buf.subarray(got[1]);
        return got[0];
      }
      if (!await this.fill()) throw new ProtocolError("stream ended inside a varint");
    }
  }
  async bytes(n) {
    while (this.buf.length < n) {
      if (!await this.fill()) throw new ProtocolError(`stream ended: wanted ${n} bytes`);
    }
    const out = this.buf.slice(0, n);
    this.buf = this.buf.subarray(n);
    return out;
  }
  async u8() {
    return (await this.bytes(1))[0];
  }
  /** One control message, or null at a clean end of stream. */
  async message() {
    if (await this.atEnd()) return null;
    const type = await this.varint();
    const lenBytes = await this.bytes(2);
    const len = lenBytes[0] << 8 | lenBytes[1];
    return { type, payload: new Payload(await this.bytes(len)) };
  }
  cancel() {
    this.cancelled = true;
    this.reader.cancel().catch(() => {
    });
  }
};
var Payload = class {
  constructor(bytes) {
    this.bytes = bytes;
  }
  bytes;
  at = 0;
  varint() {
    const got = decodeVarint(this.bytes, this.at);
    if (!got) throw new ProtocolError("control message ended inside a varint");
    this.at += got[1];
    return got[0];
  }
  take(n) {
    if (this.at + n > this.bytes.length) throw new ProtocolError("control message too short");
    const out = this.bytes.subarray(this.at, this.at + n);
    this.at += n;
    return out;
  }
  reasonPhrase() {
    return fromUtf8.decode(this.take(this.varint()));
  }
};
function setupMessage(implementation) {
  return frameMessage(
    MSG_SETUP,
    concat([encodeVarint(SETUP_OPTION_MOQT_IMPLEMENTATION), lengthPrefixed(utf8.encode(implementation))])
  );
}
function encodeFilter(f) {
  switch (f.kind) {
    case "largest":
      return encodeVarint(FILTER_LARGEST_OBJECT);
    case "nextGroup":
      return encodeVarint(FILTER_NEXT_GROUP_START);
    case "from":
      return concat([encodeVarint(FILTER_ABSOLUTE_START), encodeVarint(f.group), encodeVarint(0)]);
  }
}
function subscribeMessage(requestId, namespace, track, priority = 128, filter = { kind: "largest" }, forward = true) {
  const params = concat([
    encodeVarint(forward ? 3 : 4),
    ...forward ? [] : [encodeVarint(PARAM_FORWARD), new Uint8Array([0])],
    encodeVarint(PARAM_SUBSCRIBER_PRIORITY - (forward ? 0 : PARAM_FORWARD)),
    new Uint8Array([priority & 255]),
    encodeVarint(PARAM_SUBSCRIPTION_FILTER - PARAM_SUBSCRIBER_PRIORITY),
    lengthPrefixed(encodeFilter(filter)),
    encodeVarint(PARAM_GROUP_ORDER - PARAM_SUBSCRIPTION_FILTER),
    new Uint8Array([1])
  ]);
  return frameMessage(
    MSG_SUBSCRIBE,
    concat([encodeVarint(requestId), encodeNamespace(namespace), lengthPrefixed(utf8.encode(track)), params])
  );
}
function joiningFetchMessage(requestId, joiningRequestId) {
  return frameMessage(
    MSG_FETCH,
    concat([
      encodeVarint(requestId),
      encodeVarint(FETCH_RELATIVE_JOINING),
      encodeVarint(joiningRequestId),
      encodeVarint(0),
      encodeVarint(0)
      // no parameters
    ])
  );
}
function requestUpdateMessage(requestId, update) {
  const parts = [];
  let last = 0;
  let count = 0;
  if (update.forward !== void 0) {
    parts.push(encodeVarint(PARAM_FORWARD - last), new Uint8Array([update.forward ? 1 : 0]));
    last = PARAM_FORWARD;
    count += 1;
  }
  if (update.priority !== void 0) {
    parts.push(encodeVarint(PARAM_SUBSCRIBER_PRIORITY - last), new Uint8Array([update.priority & 255]));
    count += 1;
  }
  return frameMessage(MSG_REQUEST_UPDATE, concat([encodeVarint(requestId), encodeVarint(count), ...parts]));
}
function fetchMessage(requestId, namespace, track, start, end, priority = 128) {
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
      new Uint8Array([priority & 255])
    ])
  );
}
function requestErrorText(payload) {
  const code = payload.varint();
  payload.varint();
  const reason = payload.reasonPhrase();
  return `error 0x${code.toString(16)}${reason ? `: ${reason}` : ""}`;
}
var SG_PROPERTIES = 1;
var SG_ID_MODE = 6;
var SG_BASE = 16;
var SG_DEFAULT_PRIORITY = 32;
function isSubgroupType(t) {
  return t < 128 && (t & SG_BASE) !== 0 && (t & SG_ID_MODE) !== SG_ID_MODE;
}
async function objectPayload(r, length) {
  if (length > MAX_OBJECT_SIZE) throw new ProtocolError(`object of ${length} bytes is too large`);
  return r.bytes(length);
}
async function readSubgroupHeader(t, r) {
  const trackAlias = await r.varint();
  const group = await r.varint();
  const mode = (t & SG_ID_MODE) >> 1;
  const subgroup = mode === 2 ? await r.varint() : 0;
  if ((t & SG_DEFAULT_PRIORITY) === 0) await r.u8();
  return { trackAlias, group, subgroup, mode, hasProperties: (t & SG_PROPERTIES) !== 0 };
}
async function readSubgroupObjects(header, r, onObject2) {
  let subgroup = header.subgroup;
  let prev = null;
  while (!await r.atEnd()) {
    const delta = await r.varint();
    const object = prev === null ? delta : prev + delta + 1;
    if (prev === null && header.mode === 1) subgroup = object;
    prev = object;
    if (header.hasProperties) await r.bytes(await r.varint());
    const length = await r.varint();
    let status2 = 0;
    let payload = new Uint8Array(0);
    if (length === 0) status2 = await r.varint();
    else payload = await objectPayload(r, length);
    onObject2({ group: header.group, subgroup, object, status: status2, payload, fetched: false, receivedAt: performance.now() });
  }
}
var FF_SUBGROUP_MASK = 3;
var FF_OBJECT_ID_PRESENT = 4;
var FF_GROUP_ID_PRESENT = 8;
var FF_PRIORITY_PRESENT = 16;
var FF_PROPERTIES_PRESENT = 32;
var FF_DATAGRAM = 64;
var FF_END_OF_NON_EXISTENT_RANGE = 140;
var FF_END_OF_UNKNOWN_RANGE = 268;
async function readFetchObjects(r, onObject2) {
  let prior = null;
  while (!await r.atEnd()) {
    const flags = await r.varint();
    if (flags === FF_END_OF_NON_EXISTENT_RANGE || flags === FF_END_OF_UNKNOWN_RANGE) {
      const group2 = await r.varint();
      const object2 = await r.varint();
      prior = { group: group2, object: object2, subgroup: prior ? prior.subgroup : null };
      continue;
    }
    if (flags >= 128) throw new ProtocolError(`bad fetch serialization flags 0x${flags.toString(16)}`);
    const groupPresent = (flags & FF_GROUP_ID_PRESENT) !== 0;
    let group;
    if (groupPresent) group = prior === null ? await r.varint() : prior.group + await r.varint() + 1;
    else if (prior) group = prior.group;
    else throw new ProtocolError("fetch object without a Group ID");
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
      if (subgroup === null) throw new ProtocolError("fetch object without a prior Subgroup ID");
    }
    let object;
    if (flags & FF_OBJECT_ID_PRESENT) {
      const v = await r.varint();
      object = prior === null || groupPresent ? v : prior.object + v;
    } else if (prior) object = prior.object + 1;
    else throw new ProtocolError("fetch object without an Object ID");
    if (flags & FF_PRIORITY_PRESENT) await r.u8();
    if (flags & FF_PROPERTIES_PRESENT) await r.bytes(await r.varint());
    const length = await r.varint();
    const payload = await objectPayload(r, length);
    prior = { group, object, subgroup };
    onObject2({ group, subgroup, object, status: 0, payload, fetched: true, receivedAt: performance.now() });
  }
}
var ERROR_NOT_SUPPORTED = 3;
var ERROR_DOES_NOT_EXIST = 16;
var MAX_NAME = 4096;
function publishNamespaceMessage(requestId, namespace) {
  return frameMessage(MSG_PUBLISH_NAMESPACE, concat([encodeVarint(requestId), encodeNamespace(namespace), encodeVarint(0)]));
}
function subscribeOkMessage(trackAlias) {
  return frameMessage(MSG_SUBSCRIBE_OK, concat([encodeVarint(trackAlias), encodeVarint(0)]));
}
function requestErrorMessage(code, reason) {
  return frameMessage(MSG_REQUEST_ERROR, concat([encodeVarint(code), encodeVarint(0), lengthPrefixed(utf8.encode(reason))]));
}
function parseSubscribe(payload) {
  const requestId = payload.varint();
  const count = payload.varint();
  if (count < 1 || count > 32) throw new ProtocolError(`SUBSCRIBE with ${count} namespace fields`);
  const namespace = [];
  for (let i = 0; i < count; i++) namespace.push(fromUtf8.decode(payload.take(boundedLength(payload))));
  const track = fromUtf8.decode(payload.take(boundedLength(payload)));
  return { requestId, namespace, track };
}
function boundedLength(payload) {
  const n = payload.varint();
  if (n > MAX_NAME) throw new ProtocolError(`SUBSCRIBE with a name of ${n} bytes`);
  return n;
}
function singleObjectStream(trackAlias, group, priority, payload) {
  return concat([
    encodeVarint(SG_BASE),
    encodeVarint(trackAlias),
    encodeVarint(group),
    new Uint8Array([priority & 255]),
    encodeVarint(0),
    lengthPrefixed(payload)
  ]);
}

// src/publisher.ts
var MAX_TRACKS = 8;
var MAX_SUBSCRIBERS = 16;
var MAX_OBJECT = 16 * 1024;
var LocalTrack = class {
  constructor(namespace, name, priority) {
    this.namespace = namespace;
    this.name = name;
    this.priority = priority;
  }
  namespace;
  name;
  priority;
  subscribers = /* @__PURE__ */ new Map();
  /** Called when a subscriber comes or goes. */
  onSubscribers = null;
  /** @internal set by the publisher that serves it */
  open = null;
  get key() {
    return trackKey(this.namespace, this.name);
  }
  /** Send `payload` as object 0 of `group` to every subscriber; resolves with how many. */
  async send(group, payload) {
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
      })
    );
    return subscribers.length;
  }
};
function trackKey(namespace, name) {
  return JSON.stringify([namespace, name]);
}
var Publisher = class {
  constructor(openStream, log) {
    this.openStream = openStream;
    this.log = log;
  }
  openStream;
  log;
  tracks = /* @__PURE__ */ new Map();
  nextAlias = 0;
  /** Answer SUBSCRIBEs for `track` from now on. */
  serve(track) {
    if (this.tracks.size >= MAX_TRACKS && !this.tracks.has(track.key)) throw new Error(`at most ${MAX_TRACKS} tracks published`);
    track.open = this.openStream;
    this.tracks.set(track.key, track);
  }
  /** A request stream the relay opened: a SUBSCRIBE for one of our tracks, held until it ends. */
  async accept(stream) {
    const reader = new StreamReader(stream.readable);
    const writer = stream.writable.getWriter();
    const m = await reader.message();
    if (!m) return;
    if (m.type !== MSG_SUBSCRIBE) {
      await writer.write(requestErrorMessage(ERROR_NOT_SUPPORTED, `request type 0x${m.type.toString(16)} is not supported by a player`));
      await writer.close().catch(() => {
      });
      return;
    }
    const req = parseSubscribe(m.payload);
    const track = this.tracks.get(trackKey(req.namespace, req.track));
    const where = `${req.namespace.join("/")}/${req.track}`;
    if (!track || track.subscribers.size >= MAX_SUBSCRIBERS) {
      await writer.write(requestErrorMessage(ERROR_DOES_NOT_EXIST, track ? "too many subscribers" : `${where} is not published here`));
      await writer.close().catch(() => {
      });
      return;
    }
    const sub = { requestId: req.requestId, trackAlias: this.nextAlias++ };
    await writer.write(subscribeOkMessage(sub.trackAlias));
    track.subscribers.set(sub.requestId, sub);
    track.onSubscribers?.();
    this.log(`${where}: the relay subscribed`);
    try {
      while (await reader.message()) {
      }
    } catch (e) {
      if (e instanceof ProtocolError) this.log(`${where}: ${e.message}`);
    } finally {
      track.subscribers.delete(sub.requestId);
      track.onSubscribers?.();
      this.log(`${where}: the subscription ended`);
    }
  }
};

// node_modules/@moq/web-socket-stream/index.js
var CONNECTING = 0;
var OPEN = 1;
var DEFAULT_HIGH_WATER_MARK = 64 * 1024;
function validCloseCode(code) {
  return code !== void 0 && (code === 1e3 || code >= 3e3 && code <= 4999);
}
function drain(ws, highWaterMark) {
  if (ws.bufferedAmount <= highWaterMark())
    return void 0;
  return (async () => {
    while (ws.bufferedAmount > highWaterMark()) {
      if (ws.readyState > OPEN)
        throw new Error("WebSocket is closing");
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  })();
}
var WebSocketStream = class _WebSocketStream {
  url;
  opened;
  closed;
  #ws;
  #highWaterMark;
  /** Dial `url`, or wrap a socket you already have (see {@link WebSocketStream.adopt}). */
  constructor(source, options = {}) {
    let ws;
    if (typeof source === "string") {
      const Ctor = options.webSocket ?? globalThis.WebSocket;
      if (!Ctor) {
        throw new Error("No WebSocket implementation found; pass options.webSocket");
      }
      ws = new Ctor(source, options.protocols);
      this.url = source;
    } else {
      ws = source;
      this.url = source.url ?? "";
    }
    ws.binaryType = "arraybuffer";
    this.#ws = ws;
    this.#highWaterMark = Math.max(1, Math.floor(options.highWaterMark ?? DEFAULT_HIGH_WATER_MARK));
    const opened = Promise.withResolvers();
    const closed = Promise.withResolvers();
    this.opened = opened.promise;
    this.closed = closed.promise;
    this.opened.catch(() => {
    });
    let controller;
    const readable = new ReadableStream({
      start: (c) => {
        controller = c;
      },
      cancel: () => ws.close()
    });
    const writable = new WritableStream({
      write: (chunk) => {
        ws.send(chunk);
        return drain(ws, () => this.#highWaterMark);
      },
      // A WebSocket has no half-close, so closing/aborting the writable closes
      // the whole socket. Without this, `writer.close()` would leave it open.
      close: () => ws.close(),
      abort: () => ws.close()
    });
    ws.onopen = () => {
      opened.resolve({ readable, writable, extensions: ws.extensions, protocol: ws.protocol });
    };
    ws.onmessage = (event) => {
      const data = event.data;
      if (typeof data === "string") {
        controller?.enqueue(data);
      } else if (data instanceof ArrayBuffer) {
        controller?.enqueue(new Uint8Array(data));
      } else if (ArrayBuffer.isView(data)) {
        const view2 = data;
        controller?.enqueue(new Uint8Array(view2.buffer, view2.byteOffset, view2.byteLength));
      }
    };
    ws.onerror = () => {
      const err = new Error("WebSocket connection error");
      opened.reject(err);
      try {
        controller?.error(err);
      } catch {
      }
    };
    ws.onclose = (event) => {
      opened.reject(new Error("WebSocket closed before opening"));
      try {
        controller?.close();
      } catch {
      }
      closed.resolve({ closeCode: event.code ?? 1006, reason: event.reason ?? "" });
    };
    if (ws.readyState !== CONNECTING) {
      if (ws.readyState === OPEN) {
        opened.resolve({ readable, writable, extensions: ws.extensions, protocol: ws.protocol });
      } else {
        opened.reject(new Error("WebSocket is already closed"));
        try {
          controller?.close();
        } catch {
        }
        closed.resolve({ closeCode: 1006, reason: "" });
      }
    }
    const { signal } = options;
    if (signal) {
      if (signal.aborted)
        ws.close();
      else
        signal.addEventListener("abort", () => ws.close(), { once: true });
    }
  }
  /** Wrap a socket that already exists — typically one a server accepted from an
   *  HTTP upgrade (`Deno.upgradeWebSocket`, `ws`, ...), where there is no URL to
   *  dial and the handshake (including subprotocol selection) is already done.
   *
   *  Ownership transfers: this overwrites the socket's `onopen`/`onmessage`/
   *  `onerror`/`onclose` handlers, so adopt it before anything else reads from
   *  it — messages delivered before adoption are dropped by the platform, not
   *  buffered. A socket that is already open resolves {@link opened} without
   *  waiting for an `onopen` that has already fired (or was never going to).
   *
   *  `options.protocols` and `options.webSocket` are ignored; the socket exists. */
  static adopt(ws, options = {}) {
    return new _WebSocketStream(ws, options);
  }
  close(closeInfo = {}) {
    if (validCloseCode(closeInfo.closeCode)) {
      this.#ws.close(closeInfo.closeCode, closeInfo.reason);
    } else {
      this.#ws.close();
    }
  }
  /** The current write-backpressure high-water mark, in bytes. */
  get highWaterMark() {
    return this.#highWaterMark;
  }
  /** Resize the write-backpressure high-water mark at runtime (bytes).
   *
   * Set this to roughly the bandwidth-delay product (RTT × estimated
   * throughput): large enough to keep the socket busy, small enough that
   * queued bytes can still be reprioritized rather than committed to the OS
   * send buffer. Takes effect immediately, including for an in-progress drain.
   * Clamped to a minimum of 1 byte. */
  setHighWaterMark(bytes) {
    this.#highWaterMark = Math.max(1, Math.floor(bytes));
  }
};
function openWebSocketStream(url, options = {}) {
  const href = typeof url === "string" ? url : url.toString();
  const Native = globalThis.WebSocketStream;
  if (Native && Native !== WebSocketStream && !options.webSocket) {
    const native = new Native(href, { protocols: options.protocols, signal: options.signal });
    return {
      url: native.url,
      opened: native.opened.then((event) => ({
        ...event,
        readable: event.readable.pipeThrough(new TransformStream({
          transform(chunk, controller) {
            controller.enqueue(chunk instanceof ArrayBuffer ? new Uint8Array(chunk) : chunk);
          }
        }))
      })),
      closed: native.closed,
      close: (closeInfo) => native.close(closeInfo)
    };
  }
  return new WebSocketStream(href, options);
}

// node_modules/@moq/qmux/credit.js
function replenishWindow(consumed, currentMax, window2) {
  if (window2 === 0n)
    return null;
  if (currentMax - consumed <= window2 / 2n)
    return consumed + window2;
  return null;
}
var Credit = class {
  #used;
  #max;
  #released = 0n;
  #closed = false;
  #closeReason;
  #waiters = [];
  constructor(max) {
    this.#used = 0n;
    this.#max = max;
  }
  /** Try to claim up to `limit` units. Returns amount claimed (0n if none available). */
  tryClaim(limit) {
    if (limit === 0n)
      return 0n;
    const available = this.#max - this.#used;
    if (available <= 0n)
      return 0n;
    const claimed = limit < available ? limit : available;
    this.#used += claimed;
    return claimed;
  }
  /** Claim up to `limit` units, waiting until credit is available.
   *  Rejects if the credit has been closed. Returns 0n for zero-limit requests. */
  async claim(limit) {
    if (limit === 0n)
      return 0n;
    while (true) {
      if (this.#closed)
        throw this.#closeReason ?? new Error("closed");
      const claimed = this.tryClaim(limit);
      if (claimed > 0n)
        return claimed;
      await new Promise((resolve, reject) => {
        this.#waiters.push({ resolve, reject });
      });
    }
  }
  /** Return previously claimed credit (for rollback). */
  release(amount) {
    this.#used = this.#used > amount ? this.#used - amount : 0n;
    this.#wake();
  }
  /** Increase the max. Returns false if new_max < current max. */
  increaseMax(newMax) {
    if (newMax < this.#max)
      return false;
    if (newMax === this.#max)
      return true;
    this.#max = newMax;
    this.#wake();
    return true;
  }
  /** Close the credit, rejecting all pending and future `claim()` calls.
   *  `reason` (if provided) becomes the rejection error; the first reason wins. */
  close(reason) {
    this.#closed = true;
    this.#closeReason ??= reason ?? new Error("closed");
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const { reject } of waiters)
      reject(this.#closeReason);
  }
  /** Set used to max(used, value). Returns false if value > max (flow control violation). */
  receiveUpTo(value) {
    if (value > this.#max)
      return false;
    if (value > this.#used)
      this.#used = value;
    return true;
  }
  /** Report that `len` units have been consumed.
   *  Returns the new max if a window update should be sent, or null otherwise. */
  consume(len) {
    this.#released += len;
    if (this.#used + 2n * this.#released > this.#max) {
      const newMax = this.#max + this.#released;
      this.#max = newMax;
      this.#released = 0n;
      this.#wake();
      return newMax;
    }
    return null;
  }
  /** Get current available credit (max - used). */
  get available() {
    const avail = this.#max - this.#used;
    return avail > 0n ? avail : 0n;
  }
  /** Get the current max value. */
  get max() {
    return this.#max;
  }
  /** Get the current used value. */
  get used() {
    return this.#used;
  }
  #wake() {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const { resolve } of waiters)
      resolve();
  }
};

// node_modules/@moq/qmux/error.js
var SessionError = class extends Error {
  source = "session";
  streamErrorCode = null;
  constructor(message2, options) {
    super(message2, options);
    this.name = "WebTransportError";
  }
};
var StreamError = class extends Error {
  source = "stream";
  streamErrorCode;
  constructor(code, message2 = "stream reset") {
    super(`${message2}: ${code}`);
    this.name = "WebTransportError";
    this.streamErrorCode = code;
  }
};
function resetCode(reason) {
  if (typeof reason !== "object" || reason === null)
    return 0;
  const { streamErrorCode } = reason;
  if (typeof streamErrorCode !== "number")
    return 0;
  return streamErrorCode >>> 0;
}
function streamCode(code) {
  return Number(BigInt.asUintN(32, code));
}

// node_modules/@moq/qmux/varint.js
var VarInt = class _VarInt {
  static MAX = (1n << 62n) - 1n;
  static MAX_SIZE = 8;
  value;
  constructor(value) {
    if (value < 0n || value > _VarInt.MAX) {
      throw new Error(`VarInt value out of range: ${value}`);
    }
    this.value = value;
  }
  static from(value) {
    return new _VarInt(BigInt(value));
  }
  size() {
    const x = this.value;
    if (x < 2n ** 6n)
      return 1;
    if (x < 2n ** 14n)
      return 2;
    if (x < 2n ** 30n)
      return 4;
    if (x < 2n ** 62n)
      return 8;
    throw new Error("VarInt value too large");
  }
  // Append to the provided buffer
  encode(dst) {
    const x = this.value;
    const size = this.size();
    if (dst.byteOffset + dst.byteLength + size > dst.buffer.byteLength) {
      throw new Error("destination buffer too small");
    }
    const view2 = new DataView(dst.buffer, dst.byteOffset + dst.byteLength, size);
    if (size === 1) {
      view2.setUint8(0, Number(x));
    } else if (size === 2) {
      view2.setUint16(0, 1 << 14 | Number(x), false);
    } else if (size === 4) {
      view2.setUint32(0, 2 << 30 | Number(x), false);
    } else if (size === 8) {
      view2.setBigUint64(0, 3n << 62n | x, false);
    } else {
      throw new Error("VarInt value too large");
    }
    return new Uint8Array(dst.buffer, dst.byteOffset, dst.byteLength + size);
  }
  static decode(buffer) {
    if (buffer.byteLength < 1) {
      throw new Error("Unexpected end of buffer");
    }
    const view2 = new DataView(buffer.buffer, buffer.byteOffset);
    const firstByte = view2.getUint8(0);
    const tag = firstByte >> 6;
    let value;
    let bytesRead;
    switch (tag) {
      case 0:
        value = BigInt(firstByte & 63);
        bytesRead = 1;
        break;
      case 1:
        if (2 > buffer.length) {
          throw new Error("Unexpected end of buffer");
        }
        value = BigInt(view2.getUint16(0, false) & 16383);
        bytesRead = 2;
        break;
      case 2:
        if (4 > buffer.length) {
          throw new Error("Unexpected end of buffer");
        }
        value = BigInt(view2.getUint32(0, false) & 1073741823);
        bytesRead = 4;
        break;
      case 3:
        if (8 > buffer.length) {
          throw new Error("Unexpected end of buffer");
        }
        value = view2.getBigUint64(0, false) & 0x3fffffffffffffffn;
        bytesRead = 8;
        break;
      default:
        throw new Error("Invalid VarInt tag");
    }
    const remaining = new Uint8Array(buffer.buffer, buffer.byteOffset + bytesRead, buffer.byteLength - bytesRead);
    return [new _VarInt(value), remaining];
  }
};

// node_modules/@moq/qmux/stream.js
var Dir = {
  Bi: 0,
  Uni: 1
};
var Id = class _Id {
  value;
  constructor(value) {
    this.value = value;
  }
  static create(id, dir, isServer) {
    let streamId = id << 2n;
    if (dir === Dir.Uni) {
      streamId |= 0x02n;
    }
    if (isServer) {
      streamId |= 0x01n;
    }
    return new _Id(VarInt.from(streamId));
  }
  get dir() {
    return (this.value.value & 0x02n) !== 0n ? Dir.Uni : Dir.Bi;
  }
  get serverInitiated() {
    return (this.value.value & 0x01n) !== 0n;
  }
  /** Returns the 0-based sequence index of this stream. */
  get index() {
    return this.value.value >> 2n;
  }
  canRecv(isServer) {
    if (this.dir === Dir.Uni) {
      return this.serverInitiated !== isServer;
    }
    return true;
  }
  canSend(isServer) {
    if (this.dir === Dir.Uni) {
      return this.serverInitiated === isServer;
    }
    return true;
  }
};

// node_modules/@moq/qmux/frame.js
var MAX_FRAME_SIZE = 16384;
var MAX_FRAME_PAYLOAD = MAX_FRAME_SIZE - 32;
var VARINT_MAX = [63n, 16383n, 1073741823n, 4611686018427387903n];
function maxLengthPrefixedPayload(available) {
  let best = 0n;
  for (const max of VARINT_MAX) {
    const width = BigInt(VarInt.from(max).size());
    if (available < width)
      break;
    const candidate = available - width < max ? available - width : max;
    if (VarInt.from(candidate).size() === Number(width) && candidate > best)
      best = candidate;
  }
  return best;
}
function maxStreamPayload(version, budget, id, offset) {
  const header = BigInt(1 + id.value.size());
  if (version === "webtransport") {
    return budget > header ? budget - header : 0n;
  }
  const fixed = header + BigInt(VarInt.from(offset).size());
  return maxLengthPrefixedPayload(budget > fixed ? budget - fixed : 0n);
}
var DEFAULT_MAX_RECORD_SIZE = 16382n;
var DEFAULT_TRANSPORT_PARAMS = {
  maxIdleTimeout: 0n,
  initialMaxData: 0n,
  initialMaxStreamDataBidiLocal: 0n,
  initialMaxStreamDataBidiRemote: 0n,
  initialMaxStreamDataUni: 0n,
  initialMaxStreamsBidi: 0n,
  initialMaxStreamsUni: 0n,
  maxDatagramFrameSize: 0n,
  maxRecordSize: DEFAULT_MAX_RECORD_SIZE,
  resetStreamAt: false
};
function encode(frame, version = "webtransport") {
  if (version === "webtransport") {
    return encodeWebTransport(frame);
  }
  return encodeQMux(frame);
}
function isQmux(version) {
  return version === "qmux-00" || version === "qmux-01" || version === "qmux-02";
}
function usesRecords(version) {
  return version === "qmux-01" || version === "qmux-02";
}
var QX_PING_REQUEST = 0x348c67529ef8c7bdn;
var QX_PING_RESPONSE = 0x348c67529ef8c7ben;
var RESET_STREAM_AT = 0x24n;
var MAX_RECORD_SIZE_ID = 0x0571c59429cd0845n;
var APPLICATION_PROTOCOLS_ID = 0x3d4f9c2a8b1e6075n;
var RESET_STREAM_AT_PARAM_ID = 0x1dn;
var RECOGNIZED_PARAM_IDS = /* @__PURE__ */ new Set([
  0x01n,
  0x04n,
  0x05n,
  0x06n,
  0x07n,
  0x08n,
  0x09n,
  0x20n,
  MAX_RECORD_SIZE_ID,
  APPLICATION_PROTOCOLS_ID,
  RESET_STREAM_AT_PARAM_ID
]);
function encodeWebTransport(frame) {
  switch (frame.type) {
    case "stream": {
      let buffer = new Uint8Array(new ArrayBuffer(1 + 8 + frame.data.length), 0, 1);
      buffer[0] = frame.fin ? 9 : 8;
      buffer = frame.id.value.encode(buffer);
      buffer = new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength + frame.data.length);
      buffer.set(frame.data, buffer.byteLength - frame.data.length);
      return buffer;
    }
    case "reset_stream": {
      let buffer = new Uint8Array(new ArrayBuffer(1 + 8 + 8), 0, 1);
      buffer[0] = 4;
      buffer = frame.id.value.encode(buffer);
      buffer = frame.code.encode(buffer);
      return buffer;
    }
    case "stop_sending": {
      let buffer = new Uint8Array(new ArrayBuffer(1 + 8 + 8), 0, 1);
      buffer[0] = 5;
      buffer = frame.id.value.encode(buffer);
      buffer = frame.code.encode(buffer);
      return buffer;
    }
    // The legacy WebTransport format keeps the reason as the rest of the buffer
    // (no Frame Type / length fields); only the type byte differs.
    case "connection_close":
    case "application_close": {
      const body = new TextEncoder().encode(frame.reason);
      let buffer = new Uint8Array(new ArrayBuffer(1 + 8 + body.length), 0, 1);
      buffer[0] = frame.type === "application_close" ? 29 : 28;
      buffer = frame.code.encode(buffer);
      buffer = new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength + body.length);
      buffer.set(body, buffer.byteLength - body.length);
      return buffer;
    }
    default:
      throw new Error("flow control frames are not supported in WebTransport version");
  }
}
function encodeQMux(frame) {
  switch (frame.type) {
    case "stream": {
      const frameType = VarInt.from(14 | (frame.fin ? 1 : 0));
      const offsetVi = VarInt.from(frame.offset ?? 0n);
      const lengthVi = VarInt.from(frame.data.length);
      const maxSize = 8 + 8 + 8 + 8 + frame.data.length;
      let buffer = new Uint8Array(new ArrayBuffer(maxSize), 0, 0);
      buffer = frameType.encode(buffer);
      buffer = frame.id.value.encode(buffer);
      buffer = offsetVi.encode(buffer);
      buffer = lengthVi.encode(buffer);
      buffer = new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength + frame.data.length);
      buffer.set(frame.data, buffer.byteLength - frame.data.length);
      return buffer;
    }
    case "reset_stream": {
      const frameType = VarInt.from(4);
      const finalSize = VarInt.from(frame.finalSize);
      let buffer = new Uint8Array(new ArrayBuffer(8 + 8 + 8 + 8), 0, 0);
      buffer = frameType.encode(buffer);
      buffer = frame.id.value.encode(buffer);
      buffer = frame.code.encode(buffer);
      buffer = finalSize.encode(buffer);
      return buffer;
    }
    case "stop_sending": {
      const frameType = VarInt.from(5);
      let buffer = new Uint8Array(new ArrayBuffer(8 + 8 + 8), 0, 0);
      buffer = frameType.encode(buffer);
      buffer = frame.id.value.encode(buffer);
      buffer = frame.code.encode(buffer);
      return buffer;
    }
    case "connection_close": {
      const frameType = VarInt.from(28);
      const causingFrameType = VarInt.from(0);
      const body = new TextEncoder().encode(frame.reason);
      const reasonLength = VarInt.from(body.length);
      let buffer = new Uint8Array(new ArrayBuffer(8 + 8 + 8 + 8 + body.length), 0, 0);
      buffer = frameType.encode(buffer);
      buffer = frame.code.encode(buffer);
      buffer = causingFrameType.encode(buffer);
      buffer = reasonLength.encode(buffer);
      buffer = new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength + body.length);
      buffer.set(body, buffer.byteLength - body.length);
      return buffer;
    }
    case "application_close": {
      const frameType = VarInt.from(29);
      const body = new TextEncoder().encode(frame.reason);
      const reasonLength = VarInt.from(body.length);
      let buffer = new Uint8Array(new ArrayBuffer(8 + 8 + 8 + body.length), 0, 0);
      buffer = frameType.encode(buffer);
      buffer = frame.code.encode(buffer);
      buffer = reasonLength.encode(buffer);
      buffer = new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength + body.length);
      buffer.set(body, buffer.byteLength - body.length);
      return buffer;
    }
    case "max_data": {
      let buffer = new Uint8Array(new ArrayBuffer(16), 0, 0);
      buffer = VarInt.from(16).encode(buffer);
      buffer = VarInt.from(frame.max).encode(buffer);
      return buffer;
    }
    case "max_stream_data": {
      let buffer = new Uint8Array(new ArrayBuffer(24), 0, 0);
      buffer = VarInt.from(17).encode(buffer);
      buffer = frame.id.value.encode(buffer);
      buffer = VarInt.from(frame.max).encode(buffer);
      return buffer;
    }
    case "max_streams_bidi": {
      let buffer = new Uint8Array(new ArrayBuffer(16), 0, 0);
      buffer = VarInt.from(18).encode(buffer);
      buffer = VarInt.from(frame.max).encode(buffer);
      return buffer;
    }
    case "max_streams_uni": {
      let buffer = new Uint8Array(new ArrayBuffer(16), 0, 0);
      buffer = VarInt.from(19).encode(buffer);
      buffer = VarInt.from(frame.max).encode(buffer);
      return buffer;
    }
    case "data_blocked": {
      let buffer = new Uint8Array(new ArrayBuffer(16), 0, 0);
      buffer = VarInt.from(20).encode(buffer);
      buffer = VarInt.from(frame.limit).encode(buffer);
      return buffer;
    }
    case "stream_data_blocked": {
      let buffer = new Uint8Array(new ArrayBuffer(24), 0, 0);
      buffer = VarInt.from(21).encode(buffer);
      buffer = frame.id.value.encode(buffer);
      buffer = VarInt.from(frame.limit).encode(buffer);
      return buffer;
    }
    case "streams_blocked_bidi": {
      let buffer = new Uint8Array(new ArrayBuffer(16), 0, 0);
      buffer = VarInt.from(22).encode(buffer);
      buffer = VarInt.from(frame.limit).encode(buffer);
      return buffer;
    }
    case "streams_blocked_uni": {
      let buffer = new Uint8Array(new ArrayBuffer(16), 0, 0);
      buffer = VarInt.from(23).encode(buffer);
      buffer = VarInt.from(frame.limit).encode(buffer);
      return buffer;
    }
    case "transport_parameters": {
      const payload = encodeTransportParams(frame.params);
      let buffer = new Uint8Array(new ArrayBuffer(8 + 8 + payload.byteLength), 0, 0);
      buffer = VarInt.from(0x3f5153300d0a0d0an).encode(buffer);
      buffer = VarInt.from(payload.byteLength).encode(buffer);
      buffer = new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength + payload.byteLength);
      buffer.set(payload, buffer.byteLength - payload.byteLength);
      return buffer;
    }
    case "ping_request": {
      let buffer = new Uint8Array(new ArrayBuffer(16), 0, 0);
      buffer = VarInt.from(QX_PING_REQUEST).encode(buffer);
      buffer = VarInt.from(frame.sequence).encode(buffer);
      return buffer;
    }
    case "ping_response": {
      let buffer = new Uint8Array(new ArrayBuffer(16), 0, 0);
      buffer = VarInt.from(QX_PING_RESPONSE).encode(buffer);
      buffer = VarInt.from(frame.sequence).encode(buffer);
      return buffer;
    }
    case "datagram": {
      const lengthVi = VarInt.from(frame.data.length);
      let buffer = new Uint8Array(new ArrayBuffer(8 + 8 + frame.data.length), 0, 0);
      buffer = VarInt.from(49).encode(buffer);
      buffer = lengthVi.encode(buffer);
      buffer = new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength + frame.data.length);
      buffer.set(frame.data, buffer.byteLength - frame.data.length);
      return buffer;
    }
  }
}
function encodeTransportParams(params) {
  let buffer = new Uint8Array(new ArrayBuffer(256), 0, 0);
  function writeParam(buf, id, value) {
    if (value === 0n)
      return buf;
    const valVi = VarInt.from(value);
    buf = VarInt.from(id).encode(buf);
    buf = VarInt.from(valVi.size()).encode(buf);
    buf = valVi.encode(buf);
    return buf;
  }
  buffer = writeParam(buffer, 1, params.maxIdleTimeout);
  buffer = writeParam(buffer, 4, params.initialMaxData);
  buffer = writeParam(buffer, 5, params.initialMaxStreamDataBidiLocal);
  buffer = writeParam(buffer, 6, params.initialMaxStreamDataBidiRemote);
  buffer = writeParam(buffer, 7, params.initialMaxStreamDataUni);
  buffer = writeParam(buffer, 8, params.initialMaxStreamsBidi);
  buffer = writeParam(buffer, 9, params.initialMaxStreamsUni);
  buffer = writeParam(buffer, 32, params.maxDatagramFrameSize);
  buffer = writeParam(buffer, MAX_RECORD_SIZE_ID, params.maxRecordSize);
  if (params.resetStreamAt) {
    buffer = VarInt.from(RESET_STREAM_AT_PARAM_ID).encode(buffer);
    buffer = VarInt.from(0).encode(buffer);
  }
  return buffer;
}
function decodeTransportParams(buffer) {
  const params = { ...DEFAULT_TRANSPORT_PARAMS };
  const seen = /* @__PURE__ */ new Set();
  let v;
  while (buffer.byteLength > 0) {
    [v, buffer] = VarInt.decode(buffer);
    const id = v.value;
    [v, buffer] = VarInt.decode(buffer);
    const len = Number(v.value);
    if (buffer.byteLength < len) {
      throw new Error("transport parameter truncated");
    }
    const paramData = buffer.slice(0, len);
    buffer = buffer.slice(len);
    if (RECOGNIZED_PARAM_IDS.has(id)) {
      if (seen.has(id)) {
        throw new Error(`duplicate transport parameter 0x${id.toString(16)}`);
      }
      seen.add(id);
    }
    if (id === APPLICATION_PROTOCOLS_ID) {
      throw new Error("unexpected application_protocols parameter over WebSocket");
    }
    if (id === RESET_STREAM_AT_PARAM_ID) {
      if (paramData.byteLength !== 0) {
        throw new Error("reset_stream_at transport parameter must be empty");
      }
      params.resetStreamAt = true;
      continue;
    }
    if (id === 0x00n || id === 0x02n || id === 0x03n || id >= 0x0an && id <= 0x10n) {
      throw new Error(`forbidden QUIC v1 transport parameter 0x${id.toString(16)}`);
    }
    if (!RECOGNIZED_PARAM_IDS.has(id)) {
      continue;
    }
    const [paramValueVarInt, remaining] = VarInt.decode(paramData);
    if (remaining.byteLength !== 0) {
      throw new Error(`transport parameter 0x${id.toString(16)} has trailing bytes`);
    }
    const paramValue = paramValueVarInt.value;
    switch (id) {
      case 0x01n:
        params.maxIdleTimeout = paramValue;
        break;
      case 0x04n:
        params.initialMaxData = paramValue;
        break;
      case 0x05n:
        params.initialMaxStreamDataBidiLocal = paramValue;
        break;
      case 0x06n:
        params.initialMaxStreamDataBidiRemote = paramValue;
        break;
      case 0x07n:
        params.initialMaxStreamDataUni = paramValue;
        break;
      case 0x08n:
        params.initialMaxStreamsBidi = paramValue;
        break;
      case 0x09n:
        params.initialMaxStreamsUni = paramValue;
        break;
      case 0x20n:
        params.maxDatagramFrameSize = paramValue;
        break;
      case MAX_RECORD_SIZE_ID:
        params.maxRecordSize = paramValue;
        break;
      default:
        throw new Error(`unhandled recognized transport parameter 0x${id.toString(16)}`);
    }
  }
  return params;
}
function decode(buffer, version = "webtransport") {
  if (buffer.length === 0) {
    throw new Error("Invalid frame: empty buffer");
  }
  if (version === "webtransport") {
    return decodeWebTransport(buffer);
  }
  return decodeQMux(buffer);
}
function take(buffer, len) {
  if (buffer.byteLength < len) {
    throw new Error(`frame truncated: need ${len} bytes, have ${buffer.byteLength}`);
  }
  return [buffer.slice(0, len), buffer.slice(len)];
}
function decodeRecord(buffer) {
  const frames = [];
  while (buffer.byteLength > 0) {
    const result = decodeQMuxOne(buffer);
    if (result === null)
      break;
    const [frame, remaining] = result;
    if (frame !== null) {
      frames.push(frame);
    }
    buffer = remaining;
  }
  return frames;
}
function decodeWebTransport(buffer) {
  const frameType = buffer[0];
  buffer = buffer.slice(1);
  let v;
  if (frameType === 4) {
    [v, buffer] = VarInt.decode(buffer);
    const id = new Id(v);
    [v, buffer] = VarInt.decode(buffer);
    const code = v;
    return { type: "reset_stream", id, code, finalSize: 0n };
  }
  if (frameType === 5) {
    [v, buffer] = VarInt.decode(buffer);
    const id = new Id(v);
    [v, buffer] = VarInt.decode(buffer);
    const code = v;
    return { type: "stop_sending", id, code };
  }
  if (frameType === 29 || frameType === 28) {
    [v, buffer] = VarInt.decode(buffer);
    const code = v;
    const reason = new TextDecoder().decode(buffer);
    return frameType === 29 ? { type: "application_close", code, reason } : { type: "connection_close", code, reason };
  }
  if (frameType === 8 || frameType === 9) {
    [v, buffer] = VarInt.decode(buffer);
    const id = new Id(v);
    return {
      type: "stream",
      id,
      data: buffer,
      fin: frameType === 9
    };
  }
  throw new Error(`Invalid frame type: ${frameType}`);
}
function decodeQMux(buffer) {
  let v;
  [v, buffer] = VarInt.decode(buffer);
  const frameType = v.value;
  if (frameType === 0x00n) {
    return null;
  }
  if (frameType >= 0x08n && frameType <= 0x0fn) {
    const hasOff = (frameType & 0x04n) !== 0n;
    const hasLen = (frameType & 0x02n) !== 0n;
    const hasFin = (frameType & 0x01n) !== 0n;
    [v, buffer] = VarInt.decode(buffer);
    const id = new Id(v);
    let offset = 0n;
    if (hasOff) {
      [v, buffer] = VarInt.decode(buffer);
      offset = v.value;
    }
    let data;
    if (hasLen) {
      [v, buffer] = VarInt.decode(buffer);
      const len = Number(v.value);
      [data, buffer] = take(buffer, len);
    } else {
      data = buffer;
    }
    return { type: "stream", id, offset, data, fin: hasFin };
  }
  if (frameType === 0x04n) {
    [v, buffer] = VarInt.decode(buffer);
    const id = new Id(v);
    [v, buffer] = VarInt.decode(buffer);
    const code = v;
    [v, buffer] = VarInt.decode(buffer);
    const finalSize = v.value;
    return { type: "reset_stream", id, code, finalSize };
  }
  if (frameType === RESET_STREAM_AT) {
    [v, buffer] = VarInt.decode(buffer);
    const id = new Id(v);
    [v, buffer] = VarInt.decode(buffer);
    const code = v;
    [v, buffer] = VarInt.decode(buffer);
    const finalSize = v.value;
    [v, buffer] = VarInt.decode(buffer);
    const reliableSize = v.value;
    if (reliableSize > finalSize) {
      throw new Error("RESET_STREAM_AT reliable_size exceeds final_size");
    }
    return { type: "reset_stream", id, code, finalSize, reliableSize };
  }
  if (frameType === 0x05n) {
    [v, buffer] = VarInt.decode(buffer);
    const id = new Id(v);
    [v, buffer] = VarInt.decode(buffer);
    const code = v;
    return { type: "stop_sending", id, code };
  }
  if (frameType === 0x1cn || frameType === 0x1dn) {
    [v, buffer] = VarInt.decode(buffer);
    const code = v;
    if (frameType === 0x1cn) {
      [v, buffer] = VarInt.decode(buffer);
    }
    [v, buffer] = VarInt.decode(buffer);
    const reasonLen = Number(v.value);
    let reasonBytes;
    [reasonBytes, buffer] = take(buffer, reasonLen);
    const reason = new TextDecoder().decode(reasonBytes);
    return frameType === 0x1dn ? { type: "application_close", code, reason } : { type: "connection_close", code, reason };
  }
  if (frameType === 0x10n) {
    [v, buffer] = VarInt.decode(buffer);
    return { type: "max_data", max: v.value };
  }
  if (frameType === 0x11n) {
    [v, buffer] = VarInt.decode(buffer);
    const id = new Id(v);
    [v, buffer] = VarInt.decode(buffer);
    return { type: "max_stream_data", id, max: v.value };
  }
  if (frameType === 0x12n) {
    [v, buffer] = VarInt.decode(buffer);
    return { type: "max_streams_bidi", max: v.value };
  }
  if (frameType === 0x13n) {
    [v, buffer] = VarInt.decode(buffer);
    return { type: "max_streams_uni", max: v.value };
  }
  if (frameType === 0x14n) {
    [v, buffer] = VarInt.decode(buffer);
    return { type: "data_blocked", limit: v.value };
  }
  if (frameType === 0x15n) {
    [v, buffer] = VarInt.decode(buffer);
    const id = new Id(v);
    [v, buffer] = VarInt.decode(buffer);
    return { type: "stream_data_blocked", id, limit: v.value };
  }
  if (frameType === 0x16n) {
    [v, buffer] = VarInt.decode(buffer);
    return { type: "streams_blocked_bidi", limit: v.value };
  }
  if (frameType === 0x17n) {
    [v, buffer] = VarInt.decode(buffer);
    return { type: "streams_blocked_uni", limit: v.value };
  }
  if (frameType === 0x3f5153300d0a0d0an) {
    [v, buffer] = VarInt.decode(buffer);
    const len = Number(v.value);
    let payload;
    [payload, buffer] = take(buffer, len);
    const params = decodeTransportParams(payload);
    return { type: "transport_parameters", params };
  }
  if (frameType === QX_PING_REQUEST) {
    [v, buffer] = VarInt.decode(buffer);
    return { type: "ping_request", sequence: v.value };
  }
  if (frameType === QX_PING_RESPONSE) {
    [v, buffer] = VarInt.decode(buffer);
    return { type: "ping_response", sequence: v.value };
  }
  if (frameType === 0x30n) {
    return { type: "datagram", data: buffer, lengthPrefixed: false };
  }
  if (frameType === 0x31n) {
    [v, buffer] = VarInt.decode(buffer);
    const len = Number(v.value);
    let data;
    [data, buffer] = take(buffer, len);
    return { type: "datagram", data, lengthPrefixed: true };
  }
  throw new Error(`Invalid QMux frame type: 0x${frameType.toString(16)}`);
}
function decodeQMuxOne(buffer) {
  if (buffer.byteLength === 0)
    return null;
  let v;
  [v, buffer] = VarInt.decode(buffer);
  const frameType = v.value;
  if (frameType === 0x00n) {
    return [null, buffer];
  }
  if (frameType >= 0x08n && frameType <= 0x0fn) {
    const hasOff = (frameType & 0x04n) !== 0n;
    const hasLen = (frameType & 0x02n) !== 0n;
    const hasFin = (frameType & 0x01n) !== 0n;
    [v, buffer] = VarInt.decode(buffer);
    const id = new Id(v);
    let offset = 0n;
    if (hasOff) {
      [v, buffer] = VarInt.decode(buffer);
      offset = v.value;
    }
    let data;
    if (hasLen) {
      [v, buffer] = VarInt.decode(buffer);
      const len = Number(v.value);
      [data, buffer] = take(buffer, len);
    } else {
      data = buffer;
      buffer = buffer.slice(buffer.byteLength);
    }
    return [{ type: "stream", id, offset, data, fin: hasFin }, buffer];
  }
  if (frameType === 0x04n) {
    [v, buffer] = VarInt.decode(buffer);
    const id = new Id(v);
    [v, buffer] = VarInt.decode(buffer);
    const code = v;
    [v, buffer] = VarInt.decode(buffer);
    const finalSize = v.value;
    return [{ type: "reset_stream", id, code, finalSize }, buffer];
  }
  if (frameType === RESET_STREAM_AT) {
    [v, buffer] = VarInt.decode(buffer);
    const id = new Id(v);
    [v, buffer] = VarInt.decode(buffer);
    const code = v;
    [v, buffer] = VarInt.decode(buffer);
    const finalSize = v.value;
    [v, buffer] = VarInt.decode(buffer);
    const reliableSize = v.value;
    if (reliableSize > finalSize) {
      throw new Error("RESET_STREAM_AT reliable_size exceeds final_size");
    }
    return [{ type: "reset_stream", id, code, finalSize, reliableSize }, buffer];
  }
  if (frameType === 0x05n) {
    [v, buffer] = VarInt.decode(buffer);
    const id = new Id(v);
    [v, buffer] = VarInt.decode(buffer);
    const code = v;
    return [{ type: "stop_sending", id, code }, buffer];
  }
  if (frameType === 0x1cn || frameType === 0x1dn) {
    [v, buffer] = VarInt.decode(buffer);
    const code = v;
    if (frameType === 0x1cn) {
      [v, buffer] = VarInt.decode(buffer);
    }
    [v, buffer] = VarInt.decode(buffer);
    const reasonLen = Number(v.value);
    let reasonBytes;
    [reasonBytes, buffer] = take(buffer, reasonLen);
    const reason = new TextDecoder().decode(reasonBytes);
    const close = frameType === 0x1dn ? { type: "application_close", code, reason } : { type: "connection_close", code, reason };
    return [close, buffer];
  }
  if (frameType === 0x10n) {
    [v, buffer] = VarInt.decode(buffer);
    return [{ type: "max_data", max: v.value }, buffer];
  }
  if (frameType === 0x11n) {
    [v, buffer] = VarInt.decode(buffer);
    const id = new Id(v);
    [v, buffer] = VarInt.decode(buffer);
    return [{ type: "max_stream_data", id, max: v.value }, buffer];
  }
  if (frameType === 0x12n) {
    [v, buffer] = VarInt.decode(buffer);
    return [{ type: "max_streams_bidi", max: v.value }, buffer];
  }
  if (frameType === 0x13n) {
    [v, buffer] = VarInt.decode(buffer);
    return [{ type: "max_streams_uni", max: v.value }, buffer];
  }
  if (frameType === 0x14n) {
    [v, buffer] = VarInt.decode(buffer);
    return [{ type: "data_blocked", limit: v.value }, buffer];
  }
  if (frameType === 0x15n) {
    [v, buffer] = VarInt.decode(buffer);
    const id = new Id(v);
    [v, buffer] = VarInt.decode(buffer);
    return [{ type: "stream_data_blocked", id, limit: v.value }, buffer];
  }
  if (frameType === 0x16n) {
    [v, buffer] = VarInt.decode(buffer);
    return [{ type: "streams_blocked_bidi", limit: v.value }, buffer];
  }
  if (frameType === 0x17n) {
    [v, buffer] = VarInt.decode(buffer);
    return [{ type: "streams_blocked_uni", limit: v.value }, buffer];
  }
  if (frameType === 0x3f5153300d0a0d0an) {
    [v, buffer] = VarInt.decode(buffer);
    const len = Number(v.value);
    let payload;
    [payload, buffer] = take(buffer, len);
    const params = decodeTransportParams(payload);
    return [{ type: "transport_parameters", params }, buffer];
  }
  if (frameType === QX_PING_REQUEST) {
    [v, buffer] = VarInt.decode(buffer);
    return [{ type: "ping_request", sequence: v.value }, buffer];
  }
  if (frameType === QX_PING_RESPONSE) {
    [v, buffer] = VarInt.decode(buffer);
    return [{ type: "ping_response", sequence: v.value }, buffer];
  }
  if (frameType === 0x30n) {
    const data = buffer;
    return [{ type: "datagram", data, lengthPrefixed: false }, buffer.slice(buffer.byteLength)];
  }
  if (frameType === 0x31n) {
    [v, buffer] = VarInt.decode(buffer);
    const len = Number(v.value);
    let data;
    [data, buffer] = take(buffer, len);
    return [{ type: "datagram", data, lengthPrefixed: true }, buffer];
  }
  throw new Error(`Invalid QMux frame type: 0x${frameType.toString(16)}`);
}

// node_modules/@moq/qmux/recv.js
var RecvStream = class {
  #queue = [];
  #fin = false;
  #error;
  #wake;
  #terminal = false;
  #onTerminal;
  /** The application-facing readable. */
  readable;
  /**
   * @param onConsume Invoked with each chunk's byte length as it is delivered
   *   to the reader. Drives MAX_STREAM_DATA.
   * @param onCancel Invoked with the number of discarded buffered bytes, and the reason the
   *   application passed to `cancel()`, when the application cancels the readable
   *   (→ STOP_SENDING, whose code comes from that reason).
   * @param onTerminal Invoked once when FIN, RESET_STREAM, or local cancellation
   *   makes the receive side terminal.
   */
  constructor(onConsume, onCancel, onTerminal = () => {
  }) {
    this.#onTerminal = onTerminal;
    this.readable = new ReadableStream({
      pull: async (controller) => {
        while (this.#queue.length === 0) {
          if (this.#error) {
            controller.error(this.#error);
            return;
          }
          if (this.#fin) {
            controller.close();
            return;
          }
          await new Promise((resolve) => {
            this.#wake = resolve;
          });
        }
        const chunk = this.#queue.shift();
        controller.enqueue(chunk);
        onConsume(chunk.byteLength);
      },
      cancel: (reason) => {
        this.#error ??= new Error("stream cancelled");
        onCancel(this.#discard(), reason);
        this.#notifyTerminal();
        this.#signal();
      }
    }, { highWaterMark: 0 });
  }
  /** Buffer a received chunk for delivery. Ignored after FIN/error. */
  push(chunk) {
    if (this.#fin || this.#error)
      return false;
    this.#queue.push(chunk);
    this.#signal();
    return true;
  }
  /** Mark end-of-stream; the readable closes once buffered data drains. */
  finish() {
    this.#fin = true;
    this.#notifyTerminal();
    this.#signal();
  }
  /** Abort the readable because the peer reset its sending side. */
  reset(err) {
    const discarded = this.error(err);
    this.#notifyTerminal();
    return discarded;
  }
  /** Abort the readable, discarding undelivered buffered data. */
  error(err) {
    if (this.#error)
      return 0;
    this.#error = err;
    const discarded = this.#discard();
    this.#signal();
    return discarded;
  }
  #discard() {
    let bytes = 0;
    for (const chunk of this.#queue)
      bytes += chunk.byteLength;
    this.#queue = [];
    return bytes;
  }
  #notifyTerminal() {
    if (this.#terminal)
      return;
    this.#terminal = true;
    this.#onTerminal();
  }
  #signal() {
    const wake = this.#wake;
    if (wake) {
      this.#wake = void 0;
      wake();
    }
  }
};

// node_modules/@moq/qmux/scheduler.js
var WritableStreamSink = class {
  #writer;
  constructor(writable) {
    this.#writer = writable.getWriter();
  }
  ready() {
    return this.#writer.ready;
  }
  write(bytes) {
    return this.#writer.write(bytes);
  }
  wantsMore() {
    const desired = this.#writer.desiredSize;
    return desired !== null && desired > 0;
  }
};
var DEFAULT_SEND_ORDER = 0;
var DATAGRAM_QUEUE_LIMIT = 1024;
var SendScheduler = class {
  #sink;
  #onActivity;
  #controlHighWater;
  #closed;
  // Control frames preempt all stream data, FIFO among themselves.
  #control = [];
  #controlBytes = 0;
  // Datagrams: serviced after control, ahead of stream data. Bounded and lossy
  // (unlike #control) since unreliable datagrams are meant to be droppable —
  // shed on transport backpressure or a full lane.
  #datagrams = [];
  // Per-stream send priority and the single pending frame per ready stream.
  // Invariant: a stream has at most one Waiter at a time, because its writer
  // task awaits each enqueue before producing the next frame. This keeps
  // per-stream byte order (offsets) sequential.
  #sendOrders = /* @__PURE__ */ new Map();
  #ready = /* @__PURE__ */ new Map();
  #seq = 0;
  // Resolver for the loop when it's parked with no work.
  #wake;
  constructor(sink, options) {
    this.#sink = sink;
    this.#onActivity = options?.onActivity ?? (() => {
    });
    this.#controlHighWater = options?.controlHighWater ?? 256 * 1024;
    void this.#run();
  }
  /** Queue a pre-encoded control frame. Preempts all stream data. */
  enqueueControl(bytes) {
    if (this.#closed)
      throw this.#closed;
    this.#control.push(bytes);
    this.#controlBytes += bytes.byteLength;
    if (this.#controlBytes > this.#controlHighWater) {
      console.warn(`qmux: control backlog ${this.#controlBytes} bytes exceeds high-water`);
    }
    this.#signal();
  }
  /** Queue a datagram frame — best-effort, serviced after control but ahead of
   *  stream data. Dropped (rather than queued) when:
   *   - the scheduler is closed;
   *   - the transport is backpressured — the socket is already queuing stream/
   *     control data, so a datagram behind it would arrive stale; or
   *   - the datagram lane is full, bounding a synchronous burst that outruns the
   *     writer loop even while the transport has room.
   *  An unreliable datagram is meant to be droppable, so this sheds rather than
   *  applying backpressure to the caller. */
  enqueueDatagram(bytes) {
    if (this.#closed)
      return;
    if (!this.#sink.wantsMore())
      return;
    if (this.#datagrams.length >= DATAGRAM_QUEUE_LIMIT)
      return;
    this.#datagrams.push(bytes);
    this.#signal();
  }
  /** Set (or update) a stream's send priority. Takes effect immediately,
   *  including for the stream's already-queued frame (priority is read at
   *  selection time), so promoting a stream lets it jump a lower-priority
   *  backlog without reordering its own bytes. */
  setSendOrder(streamId, order) {
    this.#sendOrders.set(streamId, order);
  }
  /** Queue a stream-data frame. Resolves once the bytes hit the socket;
   *  rejects if the session closes or the stream is dropped first. */
  enqueueStream(streamId, bytes) {
    if (this.#closed)
      return Promise.reject(this.#closed);
    if (this.#ready.has(streamId)) {
      return Promise.reject(new Error(`stream ${streamId} already has a queued frame`));
    }
    return new Promise((resolve, reject) => {
      this.#ready.set(streamId, { seq: this.#seq++, bytes, resolve, reject });
      this.#signal();
    });
  }
  /** Drop a stream's pending data (reset / abort). Rejects its in-flight frame. */
  dropStream(streamId, err) {
    this.#sendOrders.delete(streamId);
    const waiter = this.#ready.get(streamId);
    if (waiter) {
      this.#ready.delete(streamId);
      waiter.reject(err);
    }
  }
  /** Forget a stream that finished cleanly (its FIN is already queued/sent).
   *  Frees the per-stream priority entry so it doesn't accumulate. */
  forget(streamId) {
    this.#sendOrders.delete(streamId);
  }
  /** Close the scheduler: reject all pending stream frames, but let the loop
   *  flush any already-queued control frames (e.g. CONNECTION_CLOSE). */
  close(err) {
    if (this.#closed)
      return;
    this.#closed = err;
    for (const waiter of this.#ready.values())
      waiter.reject(err);
    this.#ready.clear();
    this.#sendOrders.clear();
    this.#datagrams.length = 0;
    this.#signal();
  }
  #signal() {
    const wake = this.#wake;
    if (wake) {
      this.#wake = void 0;
      wake();
    }
  }
  /** Pick the next stream to service: highest sendOrder, oldest seq to break
   *  ties (round-robin, since a stream re-arms with a fresh seq each frame). */
  #pickStream() {
    let bestId;
    let bestOrder = Number.NEGATIVE_INFINITY;
    let bestSeq = Number.POSITIVE_INFINITY;
    for (const [id, waiter] of this.#ready) {
      const order = this.#sendOrders.get(id) ?? DEFAULT_SEND_ORDER;
      if (order > bestOrder || order === bestOrder && waiter.seq < bestSeq) {
        bestOrder = order;
        bestSeq = waiter.seq;
        bestId = id;
      }
    }
    return bestId;
  }
  // biome-ignore lint/correctness/noUnusedPrivateClassMembers: invoked from the constructor; Biome's analysis misses the call into this infinite writer loop.
  async #run() {
    try {
      while (true) {
        if (this.#control.length === 0 && this.#datagrams.length === 0 && this.#ready.size === 0) {
          if (this.#closed)
            return;
          await new Promise((resolve) => {
            this.#wake = resolve;
          });
          continue;
        }
        await this.#sink.ready();
        if (this.#control.length > 0) {
          const bytes = this.#control.shift();
          this.#controlBytes -= bytes.byteLength;
          await this.#sink.write(bytes);
          this.#onActivity();
          continue;
        }
        if (this.#datagrams.length > 0) {
          const bytes = this.#datagrams.shift();
          await this.#sink.write(bytes);
          this.#onActivity();
          continue;
        }
        if (this.#closed)
          return;
        if (this.#ready.size === 0)
          continue;
        const id = this.#pickStream();
        const waiter = this.#ready.get(id);
        this.#ready.delete(id);
        try {
          await this.#sink.write(waiter.bytes);
        } catch (err) {
          waiter.reject(err instanceof Error ? err : new Error(String(err)));
          throw err;
        }
        this.#onActivity();
        waiter.resolve();
      }
    } catch (err) {
      this.#fail(err instanceof Error ? err : new Error(String(err)));
    }
  }
  #fail(err) {
    this.#closed ??= err;
    for (const waiter of this.#ready.values())
      waiter.reject(err);
    this.#ready.clear();
    this.#control.length = 0;
    this.#controlBytes = 0;
    this.#datagrams.length = 0;
  }
};

// node_modules/@moq/qmux/session.js
var DEFAULT_CONFIG = {
  maxStreamsBidi: 100n,
  maxStreamsUni: 100n,
  maxData: 1048576n,
  maxStreamDataBidiLocal: 262144n,
  maxStreamDataBidiRemote: 262144n,
  maxStreamDataUni: 262144n,
  maxIdleTimeout: 30000n,
  maxRecordSize: DEFAULT_MAX_RECORD_SIZE,
  // Fill a full record by default; the record layer bounds the size.
  maxDatagramFrameSize: DEFAULT_MAX_RECORD_SIZE
};
function configToTransportParams(config) {
  return {
    maxIdleTimeout: config.maxIdleTimeout,
    initialMaxData: config.maxData,
    initialMaxStreamDataBidiLocal: config.maxStreamDataBidiLocal,
    initialMaxStreamDataBidiRemote: config.maxStreamDataBidiRemote,
    initialMaxStreamDataUni: config.maxStreamDataUni,
    initialMaxStreamsBidi: config.maxStreamsBidi,
    initialMaxStreamsUni: config.maxStreamsUni,
    // Clamp to maxRecordSize so we never advertise a datagram larger than our
    // record layer accepts.
    maxDatagramFrameSize: config.maxDatagramFrameSize < config.maxRecordSize ? config.maxDatagramFrameSize : config.maxRecordSize,
    maxRecordSize: config.maxRecordSize,
    // Version-gated in #startSession (only advertised on qmux-02).
    resetStreamAt: false
  };
}
var Datagrams = class {
  send;
  incomingHighWaterMark = 1024;
  incomingMaxAge = null;
  outgoingHighWaterMark = 1024;
  outgoingMaxAge = null;
  readable;
  writable;
  #incoming;
  // Resolved from the peer's transport parameters once the handshake completes;
  // 0 until then (and forever if the peer doesn't accept datagrams).
  #maxDatagramSize = 0;
  /** @param send Enqueue a datagram payload onto the wire (best-effort). */
  constructor(send) {
    this.send = send;
    this.readable = new ReadableStream({
      start: (controller) => {
        this.#incoming = controller;
      }
    }, { highWaterMark: this.incomingHighWaterMark });
    this.writable = new WritableStream({
      write: (chunk) => {
        if (this.#maxDatagramSize > 0 && chunk.byteLength <= this.#maxDatagramSize) {
          this.send(chunk);
        }
      }
    });
  }
  get maxDatagramSize() {
    return this.#maxDatagramSize;
  }
  /** Resolve the send-payload limit from the negotiated parameters. */
  setMaxDatagramSize(size) {
    this.#maxDatagramSize = size;
  }
  /** Deliver an inbound datagram to the reader, dropping it if the queue is full. */
  push(data) {
    if (this.#incoming.desiredSize === null || this.#incoming.desiredSize <= 0) {
      return;
    }
    this.#incoming.enqueue(data);
  }
  /** Close the inbound readable when the session ends. */
  close(err) {
    try {
      if (err)
        this.#incoming.error(err);
      else
        this.#incoming.close();
    } catch {
    }
  }
};
var IncomingStreamQueue = class {
  readable;
  #controller;
  #pending = [];
  #pullResolve;
  #cancelled = false;
  #closed = false;
  constructor() {
    this.readable = new ReadableStream({
      start: (controller) => {
        this.#controller = controller;
      },
      pull: () => {
        if (this.#deliver())
          return;
        return new Promise((resolve) => {
          this.#pullResolve = resolve;
        });
      },
      cancel: () => {
        this.#cancelled = true;
        this.#dropPending(new Error("incoming stream acceptor cancelled"));
        this.#resolvePull();
      }
    }, { highWaterMark: 0 });
  }
  push(value, onAccept, onDrop) {
    if (this.#cancelled || this.#closed)
      return false;
    this.#pending.push({ value, onAccept, onDrop });
    if (this.#pullResolve) {
      this.#deliver();
      this.#resolvePull();
    }
    return true;
  }
  close(err) {
    if (this.#closed || this.#cancelled)
      return;
    this.#closed = true;
    this.#dropPending(err ?? new Error("session closed"));
    try {
      if (err)
        this.#controller.error(err);
      else
        this.#controller.close();
    } catch {
    }
    this.#resolvePull();
  }
  #deliver() {
    const item = this.#pending.shift();
    if (!item)
      return false;
    try {
      this.#controller.enqueue(item.value);
      item.onAccept();
    } catch {
      item.onDrop(new Error("incoming stream acceptor cancelled"));
    }
    return true;
  }
  #dropPending(err) {
    const pending2 = this.#pending;
    this.#pending = [];
    for (const item of pending2)
      item.onDrop(err);
  }
  #resolvePull() {
    const resolve = this.#pullResolve;
    this.#pullResolve = void 0;
    resolve?.();
  }
};
var DEFAULT_SEND_BUFFER_SIZE = 64 * 1024;
function toWebSocketStream(socket, highWaterMark) {
  return "opened" in socket ? socket : WebSocketStream.adopt(socket, { highWaterMark });
}
function versionPrefix(version) {
  switch (version) {
    case "qmux-02":
      return "qmux-02.";
    case "qmux-01":
      return "qmux-01.";
    case "qmux-00":
      return "qmux-00.";
  }
}
var QMUX_VERSIONS = ["qmux-02", "qmux-01", "qmux-00"];
function toWebSocketUrl(url) {
  const u = typeof url === "string" ? new URL(url) : url;
  let scheme;
  switch (u.protocol) {
    case "https:":
    case "wss:":
      scheme = "wss:";
      break;
    case "http:":
    case "ws:":
      scheme = "ws:";
      break;
    default:
      throw new Error(`Unsupported protocol: ${u.protocol}`);
  }
  return `${scheme}//${u.host}${u.pathname}${u.search}`;
}
var BARE_ALPNS = ["qmux-02", "qmux-01", "qmux-00", "webtransport"];
function resolveSubprotocols(protocols, versions, requireProtocol) {
  const out = [];
  for (const entry of protocols) {
    const known = QMUX_VERSIONS.find((v) => entry.startsWith(versionPrefix(v)));
    if (known !== void 0) {
      out.push(entry);
      continue;
    }
    if (!(entry in versions)) {
      throw new Error(`Sec-WebSocket-Protocol entry ${JSON.stringify(entry)} has no qmux prefix and no versions mapping`);
    }
    const value = versions[entry];
    const expanded = value === null ? QMUX_VERSIONS : Array.isArray(value) ? value : [value];
    for (const v of expanded) {
      out.push(`${versionPrefix(v)}${entry}`);
    }
  }
  if (!requireProtocol) {
    out.push(...BARE_ALPNS);
  }
  return out;
}
function detectVersion(negotiated) {
  for (const v of QMUX_VERSIONS) {
    if (negotiated === v || negotiated.startsWith(versionPrefix(v))) {
      return v;
    }
  }
  return "webtransport";
}
function parseProtocol(raw, version) {
  if (raw === "" || version === "webtransport")
    return "";
  if (raw === version)
    return "";
  const prefix = versionPrefix(version);
  return raw.startsWith(prefix) ? raw.slice(prefix.length) : "";
}
var RecvOpen = class {
  #createdMax;
  #holes = /* @__PURE__ */ new Set();
  isClosed(index) {
    return this.#createdMax !== void 0 && index <= this.#createdMax && !this.#holes.has(index);
  }
  record(index) {
    if (this.#createdMax !== void 0 && index <= this.#createdMax) {
      this.#holes.delete(index);
      return;
    }
    for (let hole = (this.#createdMax ?? -1n) + 1n; hole < index; hole++) {
      this.#holes.add(hole);
    }
    this.#createdMax = index;
  }
};
var Session = class _Session {
  // The transport: a native `WebSocketStream` when the platform has one (real
  // backpressure), otherwise the `@moq/web-socket-stream` ponyfill over a plain
  // `WebSocket` (bufferedAmount-based backpressure). Either way, one API.
  #wss;
  #scheduler;
  #sendBufferSize;
  // The stream-id role: false dials (client), true accepts (server). Set by
  // [[Session.accept]]; every id we mint and every id we allow the peer to mint
  // keys off it.
  #isServer = false;
  // [[AcceptOptions.protocol]]: stands in for `socket.protocol` when the host
  // doesn't expose the negotiated subprotocol.
  #protocolOverride;
  #closed;
  #closeReason;
  #sendStreams = /* @__PURE__ */ new Map();
  #recvStreams = /* @__PURE__ */ new Map();
  #nextUniStreamId = 0n;
  #nextBiStreamId = 0n;
  // Default to the legacy wire format until the WebSocket opens and the
  // negotiated subprotocol tells us otherwise. #handleOpen overrides this
  // with the actual version derived from `ws.protocol`.
  #version = "webtransport";
  /** The negotiated application-level subprotocol, or empty string if none.
   *
   * The prefix is stripped; this returns only the application protocol name.
   */
  #protocol = "";
  get protocol() {
    return this.#protocol;
  }
  ready;
  #readyResolve;
  #readyReject;
  closed;
  #closedResolve;
  #closedReject;
  incomingBidirectionalStreams;
  #incomingBidirectionalQueue;
  incomingUnidirectionalStreams;
  #incomingUnidirectionalQueue;
  datagrams = new Datagrams((data) => this.#sendDatagram(data));
  // Flow control state
  #config;
  #ourParams;
  #peerParams = { ...DEFAULT_TRANSPORT_PARAMS };
  #paramsReceived = false;
  // Send credits start at the legacy wire format's "unlimited" values to
  // match the default #version. #handleOpen replaces them with QMux-shaped
  // zero-credits (waiting for TRANSPORT_PARAMETERS) when the negotiated
  // version turns out to be a QMux draft.
  #connCredit = new Credit(BigInt(Number.MAX_SAFE_INTEGER));
  // Connection-level recv flow control
  #recvDataOffset = 0n;
  #recvDataMax = 0n;
  #recvDataConsumed = 0n;
  // Per-stream flow control
  #streamFlow = /* @__PURE__ */ new Map();
  #recvOpenBi = new RecvOpen();
  #recvOpenUni = new RecvOpen();
  // Stream count tracking via Credit (for sending — peer's limits).
  // Initialized to "unlimited" matching the default webtransport version;
  // #handleOpen replaces them when a QMux draft is negotiated.
  #bidiStreamCredit = new Credit(BigInt(Number.MAX_SAFE_INTEGER));
  #uniStreamCredit = new Credit(BigInt(Number.MAX_SAFE_INTEGER));
  // Stream count tracking via Credit (for receiving — our limits)
  #recvBiCredit;
  #recvUniCredit;
  // QMux01 idle-timeout tracking (engaged once we've received the peer's params).
  #lastRecvAt = Date.now();
  #lastSendAt = Date.now();
  // Deadline bookkeeping for #idleActivityAt: the newest receive observed, the
  // send last allowed to restart the deadline, and whether a send may restart it.
  #recvSeen = 0;
  #sendResetAt = 0;
  #sendCredit = true;
  #nextPingSeq = 0;
  // Highest sequence seen in a received QX_PING request (draft-02 requires them
  // to strictly increase). Undefined until the first request arrives.
  #lastPingRecv;
  #idleTimer;
  /** Open a QMux session as the **client**, dialing `url`.
   *
   * The polyfill constructs the underlying `WebSocket` itself. Pass the
   * application-level ALPNs in `options.protocols` plus a `versions`
   * map saying which QMux wire-format version each bare ALPN rides on. The
   * wire form `{qmux-VV}.{alpn}` is built automatically; entries already in
   * pair form (e.g. `"qmux-00.moq-transport-17"`) pass through unchanged.
   *
   * Once the handshake completes, the QMux wire-format version is derived
   * from the negotiated `Sec-WebSocket-Protocol`. `.protocol` exposes the
   * application protocol with the QMux prefix stripped.
   *
   * Pass an already-connected `WebSocket` (or `WebSocketStream`) instead of a
   * URL to run the client role over a socket you opened yourself — the
   * subprotocol was chosen when you created it, so `options.protocols` and
   * `options.versions` are ignored. See [[Session.accept]] for the server role.
   */
  constructor(source, options) {
    if (options?.requireUnreliable) {
      throw new Error("not allowed to use WebSocket; requireUnreliable is true");
    }
    if (options?.serverCertificateHashes) {
      console.warn("serverCertificateHashes is not supported; trying anyway");
    }
    const dial = typeof source === "string" || source instanceof URL;
    const subprotocols = dial ? resolveSubprotocols(options?.protocols ?? [], options?.versions ?? {}, options?.requireProtocol ?? false) : [];
    this.#config = { ...DEFAULT_CONFIG, ...options?.config };
    this.#ourParams = configToTransportParams(this.#config);
    this.#sendBufferSize = options?.sendBufferSize ?? DEFAULT_SEND_BUFFER_SIZE;
    this.#recvBiCredit = new Credit(this.#config.maxStreamsBidi);
    this.#recvUniCredit = new Credit(this.#config.maxStreamsUni);
    const ready = Promise.withResolvers();
    this.ready = ready.promise;
    this.#readyResolve = ready.resolve;
    this.#readyReject = ready.reject;
    this.ready.catch(() => {
    });
    const closed = Promise.withResolvers();
    this.closed = closed.promise;
    this.#closedResolve = closed.resolve;
    this.#closedReject = closed.reject;
    this.closed.catch(() => {
    });
    this.#incomingBidirectionalQueue = new IncomingStreamQueue();
    this.incomingBidirectionalStreams = this.#incomingBidirectionalQueue.readable;
    this.#incomingUnidirectionalQueue = new IncomingStreamQueue();
    this.incomingUnidirectionalStreams = this.#incomingUnidirectionalQueue.readable;
    this.#attach(dial ? (
      // Open the transport via `WebSocketStream` — native when present (real
      // backpressure), else the ponyfill over a plain `WebSocket`. One code
      // path for both, so the path exercised in tests is the one Chromium
      // runs natively.
      openWebSocketStream(toWebSocketUrl(source), {
        protocols: subprotocols,
        highWaterMark: this.#sendBufferSize
      })
    ) : toWebSocketStream(source, this.#sendBufferSize));
  }
  /** Open a QMux session as the **server**, over a socket you have already
   *  accepted from an HTTP upgrade.
   *
   * The host performs the WebSocket handshake (`Deno.upgradeWebSocket`, `ws`,
   * ...), so by the time you get here the subprotocol is already negotiated:
   * the wire-format version and `.protocol` are read off the socket rather than
   * advertised. Use [[selectSubprotocol]] to pick that value during the upgrade.
   *
   * The returned session is a `WebTransport`, identical to a client session
   * apart from the stream-id role — so it accepts peer-initiated streams and
   * opens server-initiated ones.
   *
   * @example
   * ```ts
   * const { socket, response } = Deno.upgradeWebSocket(req, { protocol });
   * const session = Session.accept(socket, { config });
   * await session.ready;
   * ```
   */
  static accept(socket, options) {
    const session = new _Session(socket, options);
    session.#isServer = true;
    session.#protocolOverride = options?.protocol;
    return session;
  }
  /** Drive the session off an opened transport, whichever way we got it. */
  #attach(wss) {
    this.#wss = wss;
    wss.opened.then((conn) => {
      if (this.#closed)
        return;
      this.#startSession(this.#protocolOverride ?? conn.protocol, new WritableStreamSink(conn.writable));
      void this.#readLoop(conn.readable.getReader());
    }, (err) => {
      this.#closeReason ??= err instanceof Error ? err : new Error("WebSocketStream failed to open");
      this.#abort(1006, "WebSocketStream error");
    });
    wss.closed.then((info) => {
      this.#closeReason ??= new Error(`Connection closed: ${info.closeCode ?? 0} ${info.reason ?? ""}`);
      this.#abort(info.closeCode ?? 1006, info.reason ?? "");
    }, (err) => {
      this.#closeReason ??= err instanceof Error ? err : new Error("WebSocketStream closed");
      this.#abort(1006, "WebSocketStream error");
    });
  }
  async #readLoop(reader) {
    try {
      while (true) {
        const { value, done } = await reader.read();
        if (done)
          break;
        if (typeof value === "string") {
          this.#sendConnectionClose(1003, "text frames are not valid for QMux");
          this.#abort(1003, "text frames are not valid for QMux");
          return;
        }
        this.#onData(value instanceof ArrayBuffer ? new Uint8Array(value) : value);
      }
    } catch (err) {
      this.#closeReason ??= err instanceof Error ? err : new Error("WebSocketStream read error");
      this.#abort(1006, "WebSocketStream read error");
    }
  }
  /** Derive the wire-format version, start the send scheduler, and (for QMux
   *  drafts) exchange transport parameters. Shared by both transports. */
  #startSession(rawProtocol, sink) {
    const version = detectVersion(rawProtocol);
    this.#version = version;
    this.#protocol = parseProtocol(rawProtocol, version);
    this.#ourParams = {
      ...this.#ourParams,
      maxDatagramFrameSize: usesRecords(version) ? this.#ourParams.maxDatagramFrameSize : 0n,
      resetStreamAt: version === "qmux-02"
    };
    this.#scheduler = new SendScheduler(sink, {
      onActivity: () => {
        this.#lastSendAt = Date.now();
      }
    });
    if (isQmux(version)) {
      this.#connCredit.close();
      this.#bidiStreamCredit.close();
      this.#uniStreamCredit.close();
      this.#connCredit = new Credit(0n);
      this.#bidiStreamCredit = new Credit(0n);
      this.#uniStreamCredit = new Credit(0n);
      this.#recvDataMax = this.#ourParams.initialMaxData;
      this.#sendTransportParameters();
    }
    this.#readyResolve();
  }
  #onData(data) {
    this.#lastRecvAt = Date.now();
    try {
      if (usesRecords(this.#version)) {
        if (BigInt(data.byteLength) > this.#ourParams.maxRecordSize) {
          throw new Error(`record exceeds our max_record_size (${data.byteLength} > ${this.#ourParams.maxRecordSize})`);
        }
        const frames = decodeRecord(data);
        for (const frame of frames) {
          this.#recvFrame(frame);
        }
      } else {
        if (this.#version === "qmux-00" && data.byteLength > MAX_FRAME_SIZE) {
          throw new Error(`frame exceeds max_frame_size (${data.byteLength} > ${MAX_FRAME_SIZE})`);
        }
        const frame = decode(data, this.#version);
        if (frame !== null) {
          this.#recvFrame(frame);
        }
      }
    } catch (error) {
      console.error("Protocol violation:", error);
      this.#sendConnectionClose(1002, "Protocol violation");
      this.#abort(1002, "Protocol violation", error);
    }
  }
  #recvFrame(frame) {
    if (this.#version === "qmux-02") {
      const isParams = frame.type === "transport_parameters";
      if (isParams === this.#paramsReceived) {
        throw new Error("QX_TRANSPORT_PARAMETERS must be the first frame");
      }
    }
    if (frame.type === "stream") {
      this.#handleStreamFrame(frame);
    } else if (frame.type === "reset_stream") {
      this.#handleResetStream(frame);
    } else if (frame.type === "stop_sending") {
      this.#handleStopSending(frame);
    } else if (frame.type === "application_close" || frame.type === "connection_close") {
      this.#closeReason ??= new Error(`Connection closed: ${frame.code.value} ${frame.reason}`);
      if (frame.type === "application_close") {
        this.#close(Number(frame.code.value), frame.reason);
      } else {
        this.#abort(Number(frame.code.value), frame.reason);
      }
      this.#transportClose();
    } else if (frame.type === "transport_parameters") {
      this.#handleTransportParameters(frame.params);
    } else if (frame.type === "max_data") {
      this.#connCredit.increaseMax(frame.max);
    } else if (frame.type === "max_stream_data") {
      const flow = this.#streamFlow.get(frame.id.value.value);
      if (flow)
        flow.sendCredit.increaseMax(frame.max);
    } else if (frame.type === "max_streams_bidi") {
      this.#bidiStreamCredit.increaseMax(frame.max);
    } else if (frame.type === "max_streams_uni") {
      this.#uniStreamCredit.increaseMax(frame.max);
    } else if (frame.type === "datagram") {
      if (this.#ourParams.maxDatagramFrameSize === 0n) {
        throw new Error("received a DATAGRAM but did not advertise datagram support");
      }
      const len = frame.data.byteLength;
      const header = frame.lengthPrefixed === false ? 1 : 1 + VarInt.from(len).size();
      const frameSize = BigInt(header + len);
      if (frameSize > this.#ourParams.maxDatagramFrameSize) {
        throw new Error("received a DATAGRAM larger than our advertised max_datagram_frame_size");
      }
      this.datagrams.push(frame.data);
    } else if (frame.type === "ping_request") {
      if (this.#version === "qmux-02") {
        if (this.#lastPingRecv !== void 0 && frame.sequence <= this.#lastPingRecv) {
          throw new Error("QX_PING request sequence must strictly increase");
        }
        this.#lastPingRecv = frame.sequence;
      }
      this.#sendPriorityFrame({ type: "ping_response", sequence: frame.sequence });
    } else if (frame.type === "ping_response") {
      if (this.#version === "qmux-02" && frame.sequence >= BigInt(this.#nextPingSeq)) {
        throw new Error("QX_PING response echoed a sequence we never sent");
      }
    } else if (frame.type === "data_blocked" || frame.type === "stream_data_blocked" || frame.type === "streams_blocked_bidi" || frame.type === "streams_blocked_uni") {
    }
  }
  #handleTransportParameters(params) {
    if (this.#paramsReceived)
      return;
    if (usesRecords(this.#version) && params.maxRecordSize < DEFAULT_MAX_RECORD_SIZE) {
      throw new Error("max_record_size below the default minimum");
    }
    this.#paramsReceived = true;
    this.#peerParams = params;
    this.#connCredit.increaseMax(params.initialMaxData);
    this.#bidiStreamCredit.increaseMax(params.initialMaxStreamsBidi);
    this.#uniStreamCredit.increaseMax(params.initialMaxStreamsUni);
    if (usesRecords(this.#version) && params.maxDatagramFrameSize > 0n) {
      const cap = params.maxRecordSize < params.maxDatagramFrameSize ? params.maxRecordSize : params.maxDatagramFrameSize;
      const overhead = BigInt(1 + VarInt.from(cap).size());
      const payload = cap > overhead ? cap - overhead : 0n;
      this.datagrams.setMaxDatagramSize(Number(payload));
    }
    for (const [streamIdVal, flow] of this.#streamFlow) {
      const id = new Id(VarInt.from(streamIdVal));
      const sendLimit = id.dir === Dir.Bi ? params.initialMaxStreamDataBidiRemote : params.initialMaxStreamDataUni;
      flow.sendCredit.increaseMax(sendLimit);
    }
    this.#startIdleTimerIfEnabled();
  }
  /** Effective idle timeout in ms, or 0 if disabled.
   *
   * Per RFC 9000 §10.1, the effective value is `min(our, peer)` of the non-zero advertised values
   * (or the single non-zero one). If both are zero, idle timeouts are disabled.
   */
  #effectiveIdleTimeoutMs() {
    if (!usesRecords(this.#version))
      return 0n;
    const a = this.#ourParams.maxIdleTimeout;
    const b = this.#peerParams.maxIdleTimeout;
    if (a === 0n && b === 0n)
      return 0n;
    if (a === 0n)
      return b;
    if (b === 0n)
      return a;
    return a < b ? a : b;
  }
  #startIdleTimerIfEnabled() {
    const timeoutMs = this.#effectiveIdleTimeoutMs();
    if (timeoutMs === 0n)
      return;
    const tickMs = Math.max(50, Number(timeoutMs) / 6);
    this.#idleTimer = setInterval(() => this.#idleTick(Number(timeoutMs)), tickMs);
  }
  /**
   * Newest activity that counts toward the idle deadline.
   *
   * A received frame always restarts the timer: it is the only direct proof the
   * peer is still there. A send restarts it too, but at most once per receive
   * (RFC 9000 §10.1). That proviso is what keeps the deadline reachable: our own
   * keep-alive pings advance `#lastSendAt`, so counting every send would let them
   * restart the very deadline they exist to test, and a peer that goes silent
   * while its socket still accepts our writes would never be reclaimed.
   *
   * Crediting the first send after each receive is what still lets a mostly
   * one-way sender stay open — its peer answers the keep-alive, and each answer
   * re-arms the credit.
   */
  #idleActivityAt() {
    if (this.#lastRecvAt > this.#recvSeen) {
      this.#recvSeen = this.#lastRecvAt;
      this.#sendCredit = true;
    }
    if (this.#sendCredit && this.#lastSendAt > this.#sendResetAt) {
      this.#sendResetAt = this.#lastSendAt;
      this.#sendCredit = false;
    }
    return Math.max(this.#recvSeen, this.#sendResetAt);
  }
  #idleTick(timeoutMs) {
    if (this.#closed) {
      if (this.#idleTimer)
        clearInterval(this.#idleTimer);
      return;
    }
    const now = Date.now();
    if (now - this.#idleActivityAt() > timeoutMs) {
      this.#closeReason ??= new Error("idle timeout");
      this.#abort(0, "idle timeout");
      this.#transportClose();
      return;
    }
    if (now - this.#lastSendAt > timeoutMs / 3) {
      const seq = this.#nextPingSeq;
      this.#nextPingSeq += 1;
      try {
        this.#sendPriorityFrame({ type: "ping_request", sequence: BigInt(seq) });
      } catch (e) {
        console.warn("qmux: keep-alive ping failed", e);
      }
    }
  }
  async #claimSendCredit(streamId, desired) {
    const flow = this.#streamFlow.get(streamId);
    if (!flow)
      return desired;
    while (true) {
      const streamClaimed = flow.sendCredit.tryClaim(desired);
      if (streamClaimed === 0n) {
        if (this.#closed)
          throw this.#closed;
        const claimed = await flow.sendCredit.claim(desired);
        flow.sendCredit.release(claimed);
        continue;
      }
      const connClaimed = this.#connCredit.tryClaim(streamClaimed);
      if (connClaimed === 0n) {
        flow.sendCredit.release(streamClaimed);
        if (this.#closed)
          throw this.#closed;
        const claimed = await this.#connCredit.claim(1n);
        this.#connCredit.release(claimed);
        continue;
      }
      if (connClaimed < streamClaimed) {
        flow.sendCredit.release(streamClaimed - connClaimed);
      }
      return connClaimed;
    }
  }
  #accountRecv(streamId, bytes) {
    if (!isQmux(this.#version) || bytes === 0)
      return true;
    const bytesN = BigInt(bytes);
    if (this.#recvDataOffset + bytesN > this.#recvDataMax) {
      return false;
    }
    this.#recvDataOffset += bytesN;
    const flow = this.#streamFlow.get(streamId);
    if (flow) {
      if (flow.recvOffset + bytesN > flow.recvMax) {
        return false;
      }
      flow.recvOffset += bytesN;
    }
    return true;
  }
  /** Connection-level credit. Accounted when bytes are delivered to the
   *  application or deliberately discarded, never merely on receipt. This keeps
   *  completed-but-unread streams inside the aggregate receive-memory window.
   *  `recvDataConsumed` is cumulative. */
  #accountConnConsumed(bytes) {
    if (!isQmux(this.#version) || bytes === 0 || bytes === 0n)
      return;
    this.#recvDataConsumed += BigInt(bytes);
    this.#maybeSendMaxData();
  }
  /** Stream-level credit. Accounted on *delivery* to the application (driven by
   *  RecvStream.onConsume), so MAX_STREAM_DATA tracks the read rate and the peer
   *  can't buffer more than one window ahead of a slow reader. `recvConsumed`
   *  is cumulative. */
  #accountStreamConsumed(streamId, bytes) {
    if (!isQmux(this.#version) || bytes === 0)
      return;
    const flow = this.#streamFlow.get(streamId);
    if (flow) {
      flow.recvConsumed += BigInt(bytes);
      this.#maybeSendMaxStreamData(streamId, flow);
    }
  }
  #maybeSendMaxData() {
    const newMax = replenishWindow(this.#recvDataConsumed, this.#recvDataMax, this.#ourParams.initialMaxData);
    if (newMax !== null) {
      this.#recvDataMax = newMax;
      this.#sendPriorityFrame({ type: "max_data", max: newMax });
    }
  }
  #maybeSendMaxStreamData(streamId, flow) {
    const id = new Id(VarInt.from(streamId));
    let initialWindow;
    if (id.dir === Dir.Bi) {
      initialWindow = id.serverInitiated === this.#isServer ? this.#ourParams.initialMaxStreamDataBidiLocal : this.#ourParams.initialMaxStreamDataBidiRemote;
    } else {
      initialWindow = this.#ourParams.initialMaxStreamDataUni;
    }
    const newMax = replenishWindow(flow.recvConsumed, flow.recvMax, initialWindow);
    if (newMax !== null) {
      flow.recvMax = newMax;
      this.#sendPriorityFrame({ type: "max_stream_data", id, max: newMax });
    }
  }
  /** Replenish stream count credit for a peer-initiated stream and send MAX_STREAMS if needed. */
  #replenishStreamCredit(dir) {
    if (!isQmux(this.#version))
      return;
    const credit = dir === Dir.Bi ? this.#recvBiCredit : this.#recvUniCredit;
    const newMax = credit.consume(1n);
    if (newMax !== null) {
      if (dir === Dir.Bi) {
        this.#sendPriorityFrame({ type: "max_streams_bidi", max: newMax });
      } else {
        this.#sendPriorityFrame({ type: "max_streams_uni", max: newMax });
      }
    }
  }
  #recvOpen(dir) {
    return dir === Dir.Bi ? this.#recvOpenBi : this.#recvOpenUni;
  }
  /** Account the previously-unseen tail declared by RESET_STREAM.
   *
   * Drafts through -02 were emitted by implementations that used an incorrect
   * zero final size, so tolerate a value below the bytes already received. The
   * stricter FINAL_SIZE_ERROR check starts with draft-03; meanwhile the larger
   * of the two values still prevents a reset from undoing flow-control usage. */
  #accountReset(frame) {
    if (!isQmux(this.#version))
      return 0n;
    const streamId = frame.id.value.value;
    const flow = this.#streamFlow.get(streamId);
    const received = flow?.recvOffset ?? 0n;
    const finalSize = frame.finalSize > received ? frame.finalSize : received;
    const gap = finalSize - received;
    const recvMax = flow?.recvMax ?? (frame.id.dir === Dir.Bi ? this.#ourParams.initialMaxStreamDataBidiRemote : this.#ourParams.initialMaxStreamDataUni);
    if (finalSize > recvMax || this.#recvDataOffset + gap > this.#recvDataMax) {
      return null;
    }
    this.#recvDataOffset += gap;
    if (flow)
      flow.recvOffset = finalSize;
    return gap;
  }
  /** Delete stream flow state only when both send and recv sides are gone. */
  #maybeDeleteStreamFlow(streamId) {
    if (!this.#sendStreams.has(streamId) && !this.#recvStreams.has(streamId)) {
      const flow = this.#streamFlow.get(streamId);
      if (flow) {
        flow.sendCredit.close();
        this.#streamFlow.delete(streamId);
      }
    }
  }
  #handleStreamFrame(frame) {
    if (this.#closed)
      return;
    const streamId = frame.id.value.value;
    if (!frame.id.canRecv(this.#isServer)) {
      throw new Error("Invalid stream ID direction");
    }
    let recv = this.#recvStreams.get(streamId);
    if (isQmux(this.#version) && frame.id.serverInitiated !== this.#isServer && !recv && this.#recvOpen(frame.id.dir).isClosed(frame.id.index)) {
      return;
    }
    if (!recv) {
      if (frame.id.serverInitiated === this.#isServer) {
        return;
      }
      if (!frame.id.canRecv(this.#isServer)) {
        throw new Error("received write-only stream");
      }
      if (isQmux(this.#version)) {
        const credit = frame.id.dir === Dir.Bi ? this.#recvBiCredit : this.#recvUniCredit;
        if (!credit.receiveUpTo(frame.id.index + 1n)) {
          this.#sendConnectionClose(1002, "stream limit exceeded");
          this.#abort(1002, "stream limit exceeded");
          return;
        }
        this.#recvOpen(frame.id.dir).record(frame.id.index);
      }
      if (isQmux(this.#version)) {
        const recvMax = frame.id.dir === Dir.Bi ? this.#ourParams.initialMaxStreamDataBidiRemote : this.#ourParams.initialMaxStreamDataUni;
        const sendMax = frame.id.dir === Dir.Bi ? this.#peerParams.initialMaxStreamDataBidiLocal : 0n;
        this.#streamFlow.set(streamId, {
          sendCredit: new Credit(sendMax),
          sendOffset: 0n,
          recvMax,
          recvOffset: 0n,
          recvConsumed: 0n
        });
      }
      if (!this.#accountRecv(streamId, frame.data.byteLength)) {
        this.#sendConnectionClose(1002, "flow control error");
        this.#abort(1002, "flow control error");
        return;
      }
      let accepted = false;
      let terminal = false;
      let streamCreditReplenished = false;
      const maybeReplenishStreamCredit = () => {
        if (!accepted || !terminal || streamCreditReplenished)
          return;
        streamCreditReplenished = true;
        this.#replenishStreamCredit(frame.id.dir);
      };
      const onAccept = () => {
        accepted = true;
        maybeReplenishStreamCredit();
      };
      const onTerminal = () => {
        terminal = true;
        maybeReplenishStreamCredit();
      };
      const recvStream = new RecvStream((bytes) => {
        this.#accountStreamConsumed(streamId, bytes);
        this.#accountConnConsumed(bytes);
      }, (discarded, reason) => {
        this.#accountConnConsumed(discarded);
        this.#sendPriorityFrame({
          type: "stop_sending",
          id: frame.id,
          code: VarInt.from(resetCode(reason))
        });
        this.#recvStreams.delete(streamId);
        this.#maybeDeleteStreamFlow(streamId);
      }, onTerminal);
      this.#recvStreams.set(streamId, recvStream);
      recv = recvStream;
      const reader = recvStream.readable;
      const onDrop = (err) => {
        this.#accountConnConsumed(recvStream.error(err));
      };
      if (frame.id.dir === Dir.Bi) {
        const writer = new WritableStream({
          start: (controller) => {
            this.#sendStreams.set(streamId, controller);
          },
          write: async (chunk) => {
            await this.#sendStreamData(frame.id, chunk);
          },
          abort: (e) => {
            this.#scheduler?.dropStream(streamId, e instanceof Error ? e : new Error("stream aborted"));
            this.#sendPriorityFrame({
              type: "reset_stream",
              id: frame.id,
              code: VarInt.from(resetCode(e)),
              finalSize: this.#sendFinalSize(streamId)
            });
            this.#sendStreams.delete(streamId);
            this.#maybeDeleteStreamFlow(streamId);
          },
          close: async () => {
            await this.#sendStreamFin(frame.id);
            this.#sendStreams.delete(streamId);
            this.#scheduler?.forget(streamId);
            this.#maybeDeleteStreamFlow(streamId);
          }
        });
        this.#attachSendOrder(writer, streamId, DEFAULT_SEND_ORDER);
        if (!this.#incomingBidirectionalQueue.push({ readable: reader, writable: writer }, onAccept, onDrop)) {
          onDrop(new Error("incoming stream acceptor cancelled"));
        }
      } else {
        if (!this.#incomingUnidirectionalQueue.push(reader, onAccept, onDrop)) {
          onDrop(new Error("incoming stream acceptor cancelled"));
        }
      }
    } else {
      if (!this.#accountRecv(streamId, frame.data.byteLength)) {
        this.#sendConnectionClose(1002, "flow control error");
        this.#abort(1002, "flow control error");
        return;
      }
    }
    if (frame.data.byteLength > 0) {
      if (!recv.push(frame.data))
        this.#accountConnConsumed(frame.data.byteLength);
    }
    if (frame.fin) {
      recv.finish();
      this.#recvStreams.delete(streamId);
      this.#maybeDeleteStreamFlow(streamId);
    }
  }
  #handleResetStream(frame) {
    if (frame.reliableSize !== void 0 && !this.#ourParams.resetStreamAt) {
      throw new Error("RESET_STREAM_AT received without advertising reset_stream_at");
    }
    if (!frame.id.canRecv(this.#isServer)) {
      throw new Error("Invalid stream ID direction");
    }
    const streamId = frame.id.value.value;
    const recv = this.#recvStreams.get(streamId);
    const peerInitiated = frame.id.serverInitiated !== this.#isServer;
    if (!recv) {
      if (isQmux(this.#version) && peerInitiated && this.#recvOpen(frame.id.dir).isClosed(frame.id.index)) {
        return;
      }
      if (!peerInitiated)
        return;
      if (isQmux(this.#version)) {
        const credit = frame.id.dir === Dir.Bi ? this.#recvBiCredit : this.#recvUniCredit;
        if (!credit.receiveUpTo(frame.id.index + 1n)) {
          this.#sendConnectionClose(1002, "stream limit exceeded");
          this.#abort(1002, "stream limit exceeded");
          return;
        }
      }
    }
    const resetGap = this.#accountReset(frame);
    if (resetGap === null) {
      this.#sendConnectionClose(1002, "flow control error");
      this.#abort(1002, "flow control error");
      return;
    }
    if (!recv) {
      this.#accountConnConsumed(resetGap);
      if (isQmux(this.#version))
        this.#recvOpen(frame.id.dir).record(frame.id.index);
      this.#replenishStreamCredit(frame.id.dir);
      return;
    }
    const discarded = recv.reset(new StreamError(streamCode(frame.code.value), "RESET_STREAM"));
    this.#accountConnConsumed(resetGap + BigInt(discarded));
    this.#recvStreams.delete(streamId);
    this.#maybeDeleteStreamFlow(streamId);
  }
  #handleStopSending(frame) {
    const streamId = frame.id.value.value;
    const stream = this.#sendStreams.get(streamId);
    if (!stream)
      return;
    const stopped = new StreamError(streamCode(frame.code.value), "STOP_SENDING");
    stream.error(stopped);
    this.#sendStreams.delete(streamId);
    this.#scheduler?.dropStream(streamId, stopped);
    this.#sendPriorityFrame({
      type: "reset_stream",
      id: frame.id,
      code: frame.code,
      finalSize: this.#sendFinalSize(streamId)
    });
    this.#maybeDeleteStreamFlow(streamId);
  }
  #sendFinalSize(streamId) {
    return this.#streamFlow.get(streamId)?.sendOffset ?? 0n;
  }
  #sendTransportParameters() {
    this.#sendPriorityFrame({ type: "transport_parameters", params: this.#ourParams });
  }
  /** The largest STREAM frame the peer accepts, in bytes.
   *
   * Record-framed drafts negotiate it: a frame rides in one record, so the
   * peer's `max_record_size` is the limit (the draft-01 default until its
   * TRANSPORT_PARAMETERS arrive, so we never send something it would reject).
   * draft-00 and the legacy binding have no record layer and negotiate nothing,
   * so draft-00's whole-frame `max_frame_size` stands in. */
  #sendFrameBudget() {
    if (!usesRecords(this.#version))
      return BigInt(MAX_FRAME_SIZE);
    return this.#paramsReceived ? this.#peerParams.maxRecordSize : DEFAULT_MAX_RECORD_SIZE;
  }
  /** The largest payload we may send in one STREAM frame at `offset`.
   *
   * This respects the peer's frame budget and the send-only compatibility
   * ceiling for released receivers. A `bigint`: the peer's `max_record_size` is
   * a varint, so it can exceed what `number` holds exactly. Callers clamp it to
   * the bytes they actually have before converting. */
  #maxStreamPayload(id, offset) {
    const peerMax = maxStreamPayload(this.#version, this.#sendFrameBudget(), id, offset);
    const compatibilityMax = BigInt(MAX_FRAME_PAYLOAD);
    const max = peerMax < compatibilityMax ? peerMax : compatibilityMax;
    if (max === 0n)
      throw new Error("peer frame limit leaves no room for stream data");
    return max;
  }
  /** Validate an encoded record against the peer's max_record_size (QMux01+). */
  #validateRecordSize(bytes) {
    if (usesRecords(this.#version)) {
      const limit = this.#paramsReceived ? this.#peerParams.maxRecordSize : DEFAULT_MAX_RECORD_SIZE;
      if (BigInt(bytes.byteLength) > limit) {
        throw new Error(`record exceeds peer max_record_size (${bytes.byteLength} > ${limit})`);
      }
    }
  }
  /** Encode and enqueue a stream-data/fin frame, resolving once it hits the wire. */
  async #enqueueStreamFrame(streamId, frame) {
    const scheduler = this.#scheduler;
    if (!scheduler)
      throw this.#closed ?? new Error("session not open");
    const bytes = encode(frame, this.#version);
    this.#validateRecordSize(bytes);
    await scheduler.enqueueStream(streamId, bytes);
  }
  async #sendStreamDataWithFlowControl(id, streamId, data) {
    const flow = this.#streamFlow.get(streamId);
    if (!flow)
      throw new Error(`missing flow state for stream ${streamId}`);
    for (let offset = 0; offset < data.byteLength; ) {
      const remaining = BigInt(data.byteLength - offset);
      const payloadMax = this.#maxStreamPayload(id, flow.sendOffset);
      const chunkMax = Number(payloadMax < remaining ? payloadMax : remaining);
      const allowed = await this.#claimSendCredit(streamId, BigInt(chunkMax));
      const sendable = Number(allowed);
      const chunk = data.subarray(offset, offset + sendable);
      const sendOffset = flow.sendOffset;
      try {
        await this.#enqueueStreamFrame(streamId, {
          type: "stream",
          id,
          offset: sendOffset,
          data: chunk,
          fin: false
        });
      } catch (e) {
        if (sendable > 0) {
          const flow2 = this.#streamFlow.get(streamId);
          if (flow2)
            flow2.sendCredit.release(BigInt(sendable));
          this.#connCredit.release(BigInt(sendable));
        }
        throw e;
      }
      flow.sendOffset += BigInt(sendable);
      offset += sendable;
    }
  }
  async #sendStreamData(id, data) {
    const streamId = id.value.value;
    if (isQmux(this.#version)) {
      await this.#sendStreamDataWithFlowControl(id, streamId, data);
    } else {
      const chunkMax = Number(this.#maxStreamPayload(id, 0n));
      for (let offset = 0; offset < data.byteLength; offset += chunkMax) {
        const end = Math.min(offset + chunkMax, data.byteLength);
        const chunk = data.subarray(offset, end);
        await this.#enqueueStreamFrame(streamId, { type: "stream", id, data: chunk, fin: false });
      }
    }
  }
  /** Send the FIN. Routed through the stream's own queue so it stays ordered
   *  after that stream's data (not via the control lane, which would jump ahead). */
  async #sendStreamFin(id) {
    const streamId = id.value.value;
    const offset = isQmux(this.#version) ? this.#streamFlow.get(streamId)?.sendOffset : void 0;
    if (isQmux(this.#version) && offset === void 0) {
      throw new Error(`missing flow state for stream ${streamId}`);
    }
    await this.#enqueueStreamFrame(streamId, { type: "stream", id, offset, data: new Uint8Array(), fin: true });
  }
  /** Enqueue a DATAGRAM frame on the scheduler's bounded, lossy datagram lane —
   *  dropped under transport backpressure or once closed, rather than piling up
   *  on the (lossless, unbounded) control lane. Size/support checks happen in
   *  {@link Datagrams} before we get here. */
  #sendDatagram(data) {
    if (this.#closed)
      return;
    const bytes = encode({ type: "datagram", data }, this.#version);
    this.#validateRecordSize(bytes);
    this.#scheduler?.enqueueDatagram(bytes);
  }
  #sendPriorityFrame(frame) {
    if (this.#closed)
      return;
    const bytes = encode(frame, this.#version);
    this.#validateRecordSize(bytes);
    this.#scheduler?.enqueueControl(bytes);
  }
  /** Register a stream's initial send priority and expose a mutable `sendOrder`
   *  accessor on its writable (matching the W3C `WebTransportSendStream` API).
   *  Updating it re-prioritizes the stream's queued data immediately. */
  #attachSendOrder(writable, streamId, initial) {
    this.#scheduler?.setSendOrder(streamId, initial);
    let order = initial;
    Object.defineProperty(writable, "sendOrder", {
      configurable: true,
      enumerable: true,
      get: () => order,
      set: (value) => {
        order = value;
        this.#scheduler?.setSendOrder(streamId, value);
      }
    });
  }
  async createBidirectionalStream(options) {
    await this.ready;
    if (this.#closed) {
      throw this.#closed;
    }
    const sendOrder = options?.sendOrder ?? DEFAULT_SEND_ORDER;
    await this.#bidiStreamCredit.claim(1n);
    const streamId = Id.create(this.#nextBiStreamId++, Dir.Bi, this.#isServer);
    const streamIdVal = streamId.value.value;
    if (isQmux(this.#version)) {
      this.#streamFlow.set(streamIdVal, {
        sendCredit: new Credit(this.#peerParams.initialMaxStreamDataBidiRemote),
        sendOffset: 0n,
        recvMax: this.#ourParams.initialMaxStreamDataBidiLocal,
        recvOffset: 0n,
        recvConsumed: 0n
      });
    }
    const writer = new WritableStream({
      start: (controller) => {
        this.#sendStreams.set(streamIdVal, controller);
      },
      write: async (chunk) => {
        await this.#sendStreamData(streamId, chunk);
      },
      abort: (e) => {
        this.#scheduler?.dropStream(streamIdVal, e instanceof Error ? e : new Error("stream aborted"));
        this.#sendPriorityFrame({
          type: "reset_stream",
          id: streamId,
          code: VarInt.from(resetCode(e)),
          finalSize: this.#sendFinalSize(streamIdVal)
        });
        this.#sendStreams.delete(streamIdVal);
        this.#maybeDeleteStreamFlow(streamIdVal);
      },
      close: async () => {
        await this.#sendStreamFin(streamId);
        this.#sendStreams.delete(streamIdVal);
        this.#scheduler?.forget(streamIdVal);
        this.#maybeDeleteStreamFlow(streamIdVal);
      }
    });
    this.#attachSendOrder(writer, streamIdVal, sendOrder);
    const recvStream = new RecvStream((bytes) => {
      this.#accountStreamConsumed(streamIdVal, bytes);
      this.#accountConnConsumed(bytes);
    }, (discarded, reason) => {
      this.#accountConnConsumed(discarded);
      this.#sendPriorityFrame({
        type: "stop_sending",
        id: streamId,
        code: VarInt.from(resetCode(reason))
      });
      this.#recvStreams.delete(streamIdVal);
      this.#maybeDeleteStreamFlow(streamIdVal);
    });
    this.#recvStreams.set(streamIdVal, recvStream);
    return { readable: recvStream.readable, writable: writer };
  }
  async createUnidirectionalStream(options) {
    await this.ready;
    if (this.#closed) {
      throw this.#closed;
    }
    const sendOrder = options?.sendOrder ?? DEFAULT_SEND_ORDER;
    await this.#uniStreamCredit.claim(1n);
    const streamId = Id.create(this.#nextUniStreamId++, Dir.Uni, this.#isServer);
    const streamIdVal = streamId.value.value;
    if (isQmux(this.#version)) {
      this.#streamFlow.set(streamIdVal, {
        sendCredit: new Credit(this.#peerParams.initialMaxStreamDataUni),
        sendOffset: 0n,
        recvMax: 0n,
        recvOffset: 0n,
        recvConsumed: 0n
      });
    }
    const session = this;
    const writer = new WritableStream({
      start: (controller) => {
        session.#sendStreams.set(streamIdVal, controller);
      },
      async write(chunk) {
        await session.#sendStreamData(streamId, chunk);
      },
      abort(e) {
        session.#scheduler?.dropStream(streamIdVal, e instanceof Error ? e : new Error("stream aborted"));
        session.#sendPriorityFrame({
          type: "reset_stream",
          id: streamId,
          code: VarInt.from(resetCode(e)),
          finalSize: session.#sendFinalSize(streamIdVal)
        });
        session.#sendStreams.delete(streamIdVal);
        session.#maybeDeleteStreamFlow(streamIdVal);
      },
      async close() {
        await session.#sendStreamFin(streamId);
        session.#sendStreams.delete(streamIdVal);
        session.#scheduler?.forget(streamIdVal);
        session.#maybeDeleteStreamFlow(streamIdVal);
      }
    });
    this.#attachSendOrder(writer, streamIdVal, sendOrder);
    return writer;
  }
  /** Shared teardown for both terminal transitions: tears down streams,
   *  credits, and the scheduler. The caller has already marked the session
   *  closed and settled `ready`/`closed` — the only thing that differs between
   *  a clean shutdown and a dropped session is which way `closed` settled, and
   *  {@link #close} vs {@link #abort} own that choice. */
  #teardown() {
    if (this.#idleTimer) {
      clearInterval(this.#idleTimer);
      this.#idleTimer = void 0;
    }
    this.#incomingBidirectionalQueue.close(this.#closeReason);
    this.#incomingUnidirectionalQueue.close(this.#closeReason);
    this.datagrams.close(this.#closeReason);
    for (const c of this.#sendStreams.values()) {
      try {
        c.error(this.#closed);
      } catch {
      }
    }
    const closeErr = this.#closed ?? this.#closeReason ?? new Error("Connection closed");
    for (const recv of this.#recvStreams.values()) {
      try {
        recv.error(closeErr);
      } catch {
      }
    }
    this.#sendStreams.clear();
    this.#recvStreams.clear();
    for (const flow of this.#streamFlow.values()) {
      flow.sendCredit.close(closeErr);
    }
    this.#streamFlow.clear();
    this.#connCredit.close(closeErr);
    this.#bidiStreamCredit.close(closeErr);
    this.#uniStreamCredit.close(closeErr);
    this.#recvBiCredit.close(closeErr);
    this.#recvUniCredit.close(closeErr);
    this.#scheduler?.close(closeErr);
  }
  /** Graceful terminal transition: `closed` **fulfills** with the close code
   *  and reason. Per the WebTransport contract this is the only clean outcome —
   *  reached by a local {@link close} (which first puts an APPLICATION_CLOSE on
   *  the wire) or by receiving a peer's APPLICATION_CLOSE (0x1d). A peer's
   *  CONNECTION_CLOSE (0x1c) routes to {@link #abort} instead. Idempotent. */
  #close(code, reason) {
    if (this.#closed)
      return;
    this.#closed = this.#closeReason ?? new Error(`Connection closed: ${code} ${reason}`);
    this.#readyReject(this.#closed);
    this.#closedResolve({ closeCode: code, reason });
    this.#teardown();
  }
  /** Abnormal terminal transition: `closed` **rejects** with a
   *  `WebTransportError`. Reached on everything that is not a clean shutdown —
   *  socket failure, read error, idle timeout, a protocol violation we detected
   *  locally, or a peer's CONNECTION_CLOSE (0x1c). Close codes cannot carry this
   *  distinction, since they are
   *  application-defined (an app closing with 1006 must not look like a dropped
   *  socket). `cause`, when given, is preserved as the close reason so the
   *  original failure survives on `closed`. Idempotent. */
  #abort(code, reason, cause) {
    if (this.#closed)
      return;
    if (cause !== void 0) {
      this.#closeReason ??= cause instanceof Error ? cause : new Error(String(cause));
    }
    this.#closed = this.#closeReason ?? new Error(`Connection closed: ${code} ${reason}`);
    this.#readyReject(this.#closed);
    this.#closedReject(new SessionError(this.#closed.message, { cause: this.#closed }));
    this.#teardown();
  }
  /** Tear down the underlying transport. The meaningful close code/reason
   *  already travels in the CONNECTION_CLOSE frame, so the WebSocket-level
   *  close is bare (avoids the WebSocket close-code validity constraints). */
  #transportClose() {
    try {
      this.#wss?.close();
    } catch {
    }
  }
  /** APPLICATION_CLOSE (0x1d): a graceful, app-initiated close the peer surfaces
   *  by *fulfilling* its `closed`. Pairs with the {@link #close} transition. */
  #sendApplicationClose(code, reason) {
    this.#sendPriorityFrame({ type: "application_close", code: VarInt.from(code), reason });
    setTimeout(() => {
      this.#transportClose();
    }, 100);
  }
  /** CONNECTION_CLOSE (0x1c): a protocol violation or transport error we detected,
   *  which the peer surfaces by *rejecting* its `closed`. Pairs with the
   *  {@link #abort} transition. */
  #sendConnectionClose(code, reason) {
    this.#sendPriorityFrame({ type: "connection_close", code: VarInt.from(code), reason });
    setTimeout(() => {
      this.#transportClose();
    }, 100);
  }
  close(info) {
    if (this.#closed)
      return;
    const code = info?.closeCode ?? 0;
    const reason = info?.reason ?? "";
    this.#sendApplicationClose(code, reason);
    this.#close(code, reason);
  }
  /** Resize the send-buffer high-water mark (bytes) used for write
   *  backpressure. A QMux extension beyond the standard `WebTransport` API:
   *  set this to roughly the bandwidth-delay product (RTT × estimated
   *  throughput) to keep the pipe full while leaving as much queued data as
   *  possible reprioritizable by the send scheduler.
   *
   *  No-op when a native `WebSocketStream` is in use (it sizes its own send
   *  buffer); effective with the `@moq/web-socket-stream` ponyfill fallback. */
  setSendBufferSize(bytes) {
    this.#sendBufferSize = Math.max(1, Math.floor(bytes));
    this.#wss?.setHighWaterMark?.(this.#sendBufferSize);
  }
  get congestionControl() {
    return "default";
  }
};

// node_modules/@moq/qmux/index.js
var qmux_default = Session;

// src/via.ts
var VIAS = ["moq", "whep", "hls"];
var VIA_NAMES = {
  moq: "MoQ",
  whep: "WHEP (WebRTC)",
  hls: "LL-HLS"
};
function isSafari(userAgent) {
  if (!/\bSafari\//.test(userAgent)) return false;
  return !/(Chrome|Chromium|Edg|EdgA)\/|\bAndroid\b/.test(userAgent);
}
function moqSkip(b) {
  if (!b.webCodecs) return "this browser has no WebCodecs";
  return null;
}
function plan(b, forced) {
  if (forced) return forced.map((via) => ({ via, skip: null }));
  return VIAS.map((via) => {
    switch (via) {
      case "moq":
        return { via, skip: moqSkip(b) };
      case "whep":
        return { via, skip: b.webRtc ? null : "this browser has no WebRTC" };
      case "hls":
        return { via, skip: hlsPlayer(b) ? null : "this browser plays neither HLS nor Media Source Extensions" };
    }
  });
}
function hlsPlayer(b) {
  if (b.nativeHls && (isSafari(b.userAgent) || !b.mediaSource)) return "native";
  if (b.mediaSource) return "hls.js";
  return b.nativeHls ? "native" : null;
}
function parseVia(value) {
  if (value === null || value === "") return null;
  const ways = [];
  for (const part of value.toLowerCase().split(",")) {
    const v = part.trim();
    if (!VIAS.includes(v) || ways.includes(v)) {
      throw new Error(`?via=${value}: use moq, whep or hls, or several of them in order (whep,hls)`);
    }
    ways.push(v);
  }
  return ways;
}
function watchedBroadcast(pathname) {
  const prefix = "/watch/";
  if (!pathname.startsWith(prefix)) return null;
  let fields;
  try {
    fields = pathname.slice(prefix.length).split("/").filter((f) => f.length > 0).map((f) => decodeURIComponent(f));
  } catch {
    return null;
  }
  if (fields.length === 0) return null;
  return { fields, urlPath: fields.map((f) => encodeURIComponent(f)).join("/") };
}
function moqUrl(relay, token) {
  if (!token) return relay;
  const u = new URL(relay);
  u.searchParams.set("jwt", token);
  return u.href;
}
function hlsUrl(urlPath, token) {
  return `/hls/${urlPath}/index.m3u8${token ? `?token=${encodeURIComponent(token)}` : ""}`;
}

// src/transport.ts
var TRANSPORT_NAMES = {
  webtransport: "WebTransport",
  websocket: "WebSocket"
};
var WEBSOCKET_HEAD_START_MS = 500;
function parseTransportMode(value) {
  if (value === null || value === "") return "race";
  const v = value.trim().toLowerCase();
  if (v === "race" || v === "webtransport" || v === "websocket") return v;
  throw new Error(`?transport=${value}: use webtransport, websocket or race`);
}
function wsUrl(u, what) {
  if (u.protocol === "http:") u.protocol = "ws:";
  else if (u.protocol === "https:") u.protocol = "wss:";
  else if (u.protocol !== "ws:" && u.protocol !== "wss:") throw new Error(`${what}: not a ws(s) or http(s) URL`);
  return u.href;
}
function websocketUrl(relay, explicit, pageOrigin) {
  if (explicit) {
    let u;
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
  page.hash = "";
  return wsUrl(page, pageOrigin);
}
function winnerKey(relay) {
  const u = new URL(relay);
  return `tern.transport ${u.origin}${u.pathname}`;
}
function rememberedWinner(store, relay) {
  try {
    const v = store?.getItem(winnerKey(relay)) ?? null;
    return v === "webtransport" || v === "websocket" ? v : null;
  } catch {
    return null;
  }
}
function rememberWinner(store, relay, winner) {
  try {
    store?.setItem(winnerKey(relay), winner);
  } catch {
  }
}
function transportPlan(s) {
  const ws = s.websocket !== null;
  switch (s.mode) {
    case "webtransport":
      if (!s.webTransport) throw new Error("?transport=webtransport: this browser has no WebTransport");
      return { webtransport: true, websocketDelayMs: null, why: "asked for with ?transport=webtransport" };
    case "websocket":
      if (!ws) throw new Error("?transport=websocket: no WebSocket URL (give one with ?websocket=ws://host:port/)");
      return { webtransport: false, websocketDelayMs: 0, why: "asked for with ?transport=websocket" };
    case "race":
      break;
  }
  if (!s.webTransport) {
    if (!ws) throw new Error("this browser has no WebTransport, and there is no WebSocket URL to play over instead");
    return { webtransport: false, websocketDelayMs: 0, why: "this browser has no WebTransport" };
  }
  if (!ws) return { webtransport: true, websocketDelayMs: null, why: "no WebSocket URL" };
  if (isSafari(s.userAgent)) {
    return { webtransport: false, websocketDelayMs: 0, why: "Safari: WebKit's WebTransport has flow-control and stream-count bugs" };
  }
  if (s.remembered === "websocket") {
    return { webtransport: true, websocketDelayMs: 0, why: "WebSocket won the last race to this relay" };
  }
  return {
    webtransport: true,
    websocketDelayMs: WEBSOCKET_HEAD_START_MS,
    why: `WebTransport first, WebSocket after ${WEBSOCKET_HEAD_START_MS} ms`
  };
}
function closeQuietly(t) {
  try {
    t.close();
  } catch {
  }
}
function message(e) {
  return e instanceof Error ? e.message : String(e);
}
function raceTransports(attempts) {
  let won = false;
  let decide = () => {
  };
  const decided = new Promise((resolve) => decide = resolve);
  let webTransportFailed = () => {
  };
  const webTransportGone = new Promise((resolve) => webTransportFailed = resolve);
  const run = async (a) => {
    if (a.delayMs > 0) {
      let timer;
      const waited = new Promise((resolve) => timer = setTimeout(resolve, a.delayMs));
      await Promise.race([waited, decided, webTransportGone]);
      clearTimeout(timer);
    }
    if (won) return null;
    try {
      const t = a.open();
      t.closed.catch(() => {
      });
      const ready = await Promise.race([t.ready.then(() => true), decided.then(() => false)]);
      if (!ready) {
        closeQuietly(t);
        return null;
      }
      return t;
    } catch (e) {
      if (a.kind === "webtransport") webTransportFailed();
      throw new Error(`${TRANSPORT_NAMES[a.kind]} to ${a.target} failed: ${message(e)}`);
    }
  };
  return new Promise((resolve, reject) => {
    if (attempts.length === 0) {
      reject(new Error("no way to the relay"));
      return;
    }
    let left = attempts.length;
    const failures = attempts.map(() => "");
    const settled = () => {
      left -= 1;
      if (left === 0 && !won) reject(new Error(failures.filter((f) => f).join("; ")));
    };
    attempts.forEach((a, i) => {
      run(a).then(
        (transport) => {
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
        }
      );
    });
  });
}

// src/session.ts
var ANSWER_TIMEOUT_MS = 1e4;
var RequestRefused = class extends Error {
};
async function answer(reader) {
  let timer = 0;
  const timeout = new Promise((resolve) => {
    timer = self.setTimeout(() => resolve(null), ANSWER_TIMEOUT_MS);
  });
  return Promise.race([reader.message(), timeout]).finally(() => self.clearTimeout(timer));
}
var FetchRequest = class {
  constructor(requestId, track, options) {
    this.requestId = requestId;
    this.track = track;
    this.options = options;
    this.done = new Promise((r) => this.resolve = r);
  }
  requestId;
  track;
  options;
  cancelled = false;
  reader = null;
  objects = 0;
  done;
  resolve = () => {
  };
  /** What arrived so far. */
  progress(complete) {
    const r = this.reader;
    return {
      complete,
      objects: this.objects,
      bytes: r?.bytesRead ?? 0,
      firstChunkBytes: r?.firstChunkBytes ?? 0,
      firstChunkAt: r?.firstChunkAt ?? null,
      lastChunkAt: r?.lastChunkAt ?? null
    };
  }
  /** Stop reading (STOP_SENDING on the data stream); `done` resolves with what arrived. */
  cancel() {
    if (this.cancelled) return;
    this.cancelled = true;
    this.reader?.cancel();
    this.resolve(this.progress(false));
  }
};
var Subscription = class {
  constructor(session, requestId, track, options, writer) {
    this.session = session;
    this.requestId = requestId;
    this.track = track;
    this.options = options;
    this.writer = writer;
  }
  session;
  requestId;
  track;
  options;
  writer;
  closed = false;
  trackAlias = -1;
  /** Objects received on subgroup streams and fetch streams. */
  objects = 0;
  /** Groups from this one on are not wanted (another rendition plays them). */
  dropFrom = null;
  /** Groups below this one are not wanted (the player moved on to a newer group). */
  dropBelow = -1;
  /** Subgroup streams being read, with their group. */
  streams = /* @__PURE__ */ new Map();
  /** Whether objects of `group` are still wanted. */
  wants(group) {
    return group >= this.dropBelow && (this.dropFrom === null || group < this.dropFrom);
  }
  /**
   * Stop reading the streams of groups no longer wanted (STOP_SENDING): the relay stops
   * sending them, which leaves the link to what is still wanted.
   */
  prune() {
    for (const [r, group] of this.streams) {
      if (!this.wants(group)) {
        this.streams.delete(r);
        r.cancel();
      }
    }
  }
  deliver(o) {
    if (this.closed || !this.wants(o.group)) return;
    this.objects += 1;
    try {
      this.options.onObject(o);
    } catch (e) {
      this.session.log(`${this.track}: object handler failed: ${errorText(e)}`);
    }
  }
  /** REQUEST_UPDATE: start or stop forwarding, change the priority. */
  update(u) {
    if (this.closed) return;
    this.writer.write(requestUpdateMessage(this.session.nextId(), u)).catch(() => {
    });
  }
  /** Unsubscribe: finish the request stream (draft-18 has no UNSUBSCRIBE message). */
  close() {
    if (this.closed) return;
    this.closed = true;
    this.session.forget(this);
    this.writer.close().catch(() => {
    });
  }
};
var Cancelled = class extends Error {
};
function errorText(e) {
  if (e instanceof Error) return e.message;
  return String(e);
}
function localStore() {
  try {
    return typeof localStorage === "undefined" ? null : localStorage;
  } catch {
    return null;
  }
}
function shown(url) {
  const u = new URL(url);
  return `${u.origin}${u.pathname}`;
}
async function openTransport(url, options, o, log) {
  const websocket = o.websocket ?? null;
  const store = o.store !== void 0 ? o.store : localStore();
  const plan2 = transportPlan({
    mode: o.mode ?? "race",
    webTransport: typeof WebTransport !== "undefined",
    userAgent: typeof navigator === "undefined" ? "" : navigator.userAgent,
    websocket,
    remembered: websocket === null ? null : rememberedWinner(store, url)
  });
  const raced = plan2.webtransport && plan2.websocketDelayMs !== null;
  if (raced) log(`transport: racing WebTransport and WebSocket (${plan2.why})`);
  else if (websocket !== null) log(`transport: ${plan2.webtransport ? "WebTransport" : "WebSocket"} only (${plan2.why})`);
  const attempts = [];
  if (plan2.webtransport) {
    attempts.push({ kind: "webtransport", target: url, delayMs: 0, open: () => new WebTransport(url, options) });
  }
  if (websocket !== null && plan2.websocketDelayMs !== null) {
    attempts.push({
      kind: "websocket",
      target: websocket,
      delayMs: plan2.websocketDelayMs,
      open: () => new qmux_default(websocket, {
        protocols: [ALPN],
        versions: { [ALPN]: "qmux-01" },
        requireProtocol: true
      })
    });
  }
  const opened = await raceTransports(attempts);
  const target = opened.kind === "websocket" && websocket !== null ? websocket : url;
  log(`transport: connected over ${TRANSPORT_NAMES[opened.kind]} to ${shown(target)}${raced ? " (won the race)" : ""}`);
  if (raced) rememberWinner(store, url, opened.kind);
  return opened;
}
var MoqSession = class _MoqSession {
  constructor(transport, transportKind, incoming, serverControl, log, onProtocolError) {
    this.transport = transport;
    this.transportKind = transportKind;
    this.incoming = incoming;
    this.serverControl = serverControl;
    this.log = log;
    this.onProtocolError = onProtocolError;
    this.closed = transport.closed.then(
      (info) => `session closed${info && info.reason ? `: ${info.reason}` : ""}`,
      (e) => `session failed: ${errorText(e)}`
    );
    this.publisher = new Publisher(() => this.transport.createUnidirectionalStream(), log);
    this.dataLoop().catch((e) => this.onProtocolError(e instanceof Error ? e : new Error(String(e))));
    this.controlLoop().catch(() => {
    });
    this.requestLoop().catch(() => {
    });
  }
  transport;
  transportKind;
  incoming;
  serverControl;
  log;
  onProtocolError;
  nextRequestId = 0;
  byAlias = /* @__PURE__ */ new Map();
  byRequest = /* @__PURE__ */ new Map();
  fetches = /* @__PURE__ */ new Map();
  /** Objects of subgroup streams that arrived before their SUBSCRIBE_OK (bounded). */
  early = /* @__PURE__ */ new Map();
  earlyCount = 0;
  /** Track Aliases of subscriptions this side closed: their streams are cancelled. */
  closedAliases = /* @__PURE__ */ new Set();
  closed;
  goingAway = false;
  /** The tracks this side publishes. */
  publisher;
  /**
   * Connect to `url` (https://host:port) pinning `fingerprintHex` when given, and do SETUP. With
   * `transport.websocket` (a ws(s) URL), over WebTransport or that WebSocket as
   * `transport.mode` says (`openTransport`; default: WebTransport only).
   */
  static async connect(url, fingerprintHex, log, onProtocolError, transport_ = {}) {
    const options = { protocols: [ALPN] };
    if (fingerprintHex) {
      const hex = fingerprintHex.replace(/[^0-9a-fA-F]/g, "");
      if (hex.length !== 64) throw new Error(`certificate fingerprint is not a SHA-256 hex string: ${fingerprintHex}`);
      const value = new Uint8Array(32);
      for (let i = 0; i < 32; i++) value[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
      options.serverCertificateHashes = [{ algorithm: "sha-256", value }];
    }
    const { transport, kind } = await openTransport(url, options, transport_, log);
    const chosen = transport.protocol;
    if (chosen !== void 0 && chosen !== "" && chosen !== ALPN) {
      transport.close();
      throw new Error(`the relay chose protocol ${chosen}, not ${ALPN}`);
    }
    const control = await transport.createUnidirectionalStream();
    const controlWriter = control.getWriter();
    await controlWriter.write(setupMessage("tern-player"));
    controlWriter.releaseLock();
    const incoming = transport.incomingUnidirectionalStreams.getReader();
    const first = await incoming.read();
    if (first.done || !first.value) throw new Error("the relay closed the session before its SETUP");
    const serverControl = new StreamReader(first.value);
    const setup = await serverControl.message();
    if (!setup || setup.type !== MSG_SETUP) {
      throw new ProtocolError(
        `expected SETUP from the relay, got ${setup ? `type 0x${setup.type.toString(16)}` : "end of stream"}`
      );
    }
    return new _MoqSession(transport, kind, incoming, serverControl, log, onProtocolError);
  }
  /** A Request ID for a message on an existing request stream (REQUEST_UPDATE). */
  nextId() {
    return this.allocRequestId();
  }
  allocRequestId() {
    const id = this.nextRequestId;
    this.nextRequestId += 2;
    return id;
  }
  /** SUBSCRIBE to `track`; resolves at SUBSCRIBE_OK, throws RequestRefused on REQUEST_ERROR. */
  async subscribe(namespace, track, options) {
    const requestId = this.allocRequestId();
    const stream = await this.transport.createBidirectionalStream();
    const writer = stream.writable.getWriter();
    const sub = new Subscription(this, requestId, track, options, writer);
    await writer.write(subscribeMessage(requestId, namespace, track, options.priority ?? 128, options.filter, options.forward ?? true));
    const reader = new StreamReader(stream.readable);
    const reply = await answer(reader);
    if (!reply) {
      writer.close().catch(() => {
      });
      reader.cancel();
      throw new RequestRefused(`SUBSCRIBE ${track}: no answer from the relay`);
    }
    if (reply.type === MSG_REQUEST_ERROR) {
      writer.close().catch(() => {
      });
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
    (async () => {
      for (; ; ) {
        const m = await reader.message();
        if (!m) break;
        if (m.type === MSG_PUBLISH_DONE) break;
      }
      if (!sub.closed) {
        this.forget(sub);
        sub.closed = true;
        options.onEnd?.("the publisher is done");
      }
    })().catch(() => {
      if (!sub.closed) options.onEnd?.("the request stream broke");
    });
    if (options.joiningFetch) this.joiningFetch(sub);
    return sub;
  }
  /** The current group's objects from object 0, delivered to `sub` like subgroup objects. */
  joiningFetch(sub) {
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
      w.close().catch(() => {
      });
    })().catch((e) => this.log(`${sub.track}: joining FETCH failed: ${errorText(e)}`));
  }
  /**
   * Standalone FETCH of `track` from `start` to `end` (End Location: Object ID plus one, or
   * Object 0 for the whole end group). Resolves once the relay accepted it; its `done` resolves
   * when the data stream ends or the request is cancelled. Throws RequestRefused on
   * REQUEST_ERROR.
   */
  async fetch(namespace, track, start, end, options = {}) {
    const requestId = this.allocRequestId();
    const req = new FetchRequest(requestId, track, options);
    this.fetches.set(requestId, req);
    req.done.then(() => this.fetches.delete(requestId));
    const stream = await this.transport.createBidirectionalStream();
    const w = stream.writable.getWriter();
    await w.write(fetchMessage(requestId, namespace, track, start, end, options.priority ?? 128));
    const r = new StreamReader(stream.readable);
    const reply = await answer(r);
    w.close().catch(() => {
    });
    if (!reply || reply.type === MSG_REQUEST_ERROR) {
      req.cancel();
      if (!reply) r.cancel();
      throw new RequestRefused(
        `FETCH ${track}: ${reply ? `refused: ${requestErrorText(reply.payload)}` : "no answer from the relay"}`
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
  async publishNamespace(namespace) {
    const requestId = this.allocRequestId();
    const stream = await this.transport.createBidirectionalStream();
    const writer = stream.writable.getWriter();
    await writer.write(publishNamespaceMessage(requestId, namespace));
    const reader = new StreamReader(stream.readable);
    const reply = await answer(reader);
    const what = `PUBLISH_NAMESPACE ${namespace.join("/")}`;
    if (!reply || reply.type !== MSG_REQUEST_OK) {
      writer.close().catch(() => {
      });
      reader.cancel();
      if (!reply) throw new RequestRefused(`${what}: no answer from the relay`);
      if (reply.type === MSG_REQUEST_ERROR) throw new RequestRefused(`${what} refused: ${requestErrorText(reply.payload)}`);
      throw new ProtocolError(`expected REQUEST_OK for ${what}, got type 0x${reply.type.toString(16)}`);
    }
    return () => {
      writer.close().catch(() => {
      });
      reader.cancel();
    };
  }
  /** Request streams the relay opens: SUBSCRIBEs for what this side publishes. */
  async requestLoop() {
    const incoming = this.transport.incomingBidirectionalStreams.getReader();
    for (; ; ) {
      const { value, done } = await incoming.read();
      if (done || !value) return;
      this.publisher.accept(value).catch((e) => this.log(`a request from the relay failed: ${errorText(e)}`));
    }
  }
  forget(sub) {
    if (this.byAlias.get(sub.trackAlias) === sub) {
      this.byAlias.delete(sub.trackAlias);
      this.closedAliases.add(sub.trackAlias);
    }
    for (const [id, s] of this.byRequest) if (s === sub) this.byRequest.delete(id);
  }
  close() {
    try {
      this.transport.close();
    } catch {
    }
  }
  async dataLoop() {
    for (; ; ) {
      const { value, done } = await this.incoming.read();
      if (done || !value) return;
      const r = new StreamReader(value);
      this.readDataStream(r).catch((e) => {
        if (e instanceof ProtocolError) this.onProtocolError(e);
      });
    }
  }
  async readDataStream(r) {
    const t = await r.varint();
    if (isSubgroupType(t)) {
      const header = await readSubgroupHeader(t, r);
      const known = this.byAlias.get(header.trackAlias);
      if (this.closedAliases.has(header.trackAlias) || known && !known.wants(header.group)) {
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
      }).catch((e) => {
        if (e instanceof Cancelled) r.cancel();
        else throw e;
      }).finally(() => this.byAlias.get(header.trackAlias)?.streams.delete(r));
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
  keepEarly(alias, o) {
    if (this.earlyCount >= 512) return;
    const list = this.early.get(alias) ?? [];
    list.push(o);
    this.early.set(alias, list);
    this.earlyCount += 1;
  }
  async controlLoop() {
    for (; ; ) {
      const m = await this.serverControl.message();
      if (!m) return;
      if (m.type === MSG_GOAWAY) {
        this.goingAway = true;
        this.log("the relay is going away (GOAWAY)");
      }
    }
  }
};

// src/chat.ts
var EVENTS_TRACK = "events";
var VIEWERS = "viewers";
var EVENTS_PRIORITY = 0;
var MAX_RECORDS = 200;
var MAX_BODY_BYTES = 1e3;
function validViewer(id) {
  return /^[A-Za-z0-9_.-]{1,32}$/.test(id);
}
var Chat = class {
  constructor(session, broadcast, viewer, onChange, log) {
    this.session = session;
    this.broadcast = broadcast;
    this.onChange = onChange;
    this.log = log;
    this.stats = { state: "connecting", viewer, records: [], sent: 0, reason: null };
  }
  session;
  broadcast;
  onChange;
  log;
  stats;
  sub = null;
  own = null;
  withdraw = null;
  seen = /* @__PURE__ */ new Set();
  groupBase = Date.now();
  /** Read the ordered track, then announce this viewer's own. */
  async start() {
    try {
      this.sub = await this.session.subscribe(this.broadcast, EVENTS_TRACK, {
        onObject: (o) => this.record(o),
        onEnd: (reason) => this.off(`the events track ended: ${reason}`),
        joiningFetch: true,
        priority: EVENTS_PRIORITY
      });
    } catch (e) {
      this.off(e instanceof RequestRefused ? `no events on this broadcast (${e.message})` : errorText(e));
      return;
    }
    const ns = [...this.broadcast, VIEWERS, this.stats.viewer];
    const own = new LocalTrack(ns, EVENTS_TRACK, EVENTS_PRIORITY);
    own.onSubscribers = () => this.set(own.subscribers.size > 0 ? "ready" : "connecting", null);
    this.session.publisher.serve(own);
    this.own = own;
    try {
      this.withdraw = await this.session.publishNamespace(ns);
      this.log(`chat: publishing as ${ns.join("/")}; waiting for the origin to listen`);
    } catch (e) {
      this.set("read-only", `cannot publish: ${errorText(e)}`);
    }
  }
  /** Send a chat message; resolves once it is on its way to the origin. */
  async send(body, kind = "chat") {
    const own = this.own;
    if (!own || this.stats.state !== "ready") throw new Error(`chat is ${this.stats.state}${this.stats.reason ? `: ${this.stats.reason}` : ""}`);
    const text = body.trim();
    const payload = new TextEncoder().encode(JSON.stringify({ kind, body: text, sentAt: Date.now() }));
    if (text.length === 0) throw new Error("nothing to send");
    if (payload.length > MAX_BODY_BYTES) throw new Error(`the message is ${payload.length} bytes; at most ${MAX_BODY_BYTES}`);
    const group = this.groupBase + this.stats.sent;
    this.stats.sent += 1;
    await own.send(group, payload);
    this.onChange();
  }
  close() {
    this.sub?.close();
    this.withdraw?.();
  }
  record(o) {
    let r;
    try {
      r = JSON.parse(new TextDecoder().decode(o.payload));
    } catch {
      this.log(`events: object ${o.group}/${o.object} is not JSON`);
      return;
    }
    if (typeof r.seq !== "number" || this.seen.has(r.seq)) return;
    this.seen.add(r.seq);
    const receivedAt = Date.now();
    const rec = {
      seq: r.seq,
      viewer: String(r.viewer),
      kind: String(r.kind),
      body: String(r.body),
      sentAt: typeof r.sentAt === "number" ? r.sentAt : null,
      sequencedAt: Number(r.sequencedAt),
      receivedAt,
      latencyMs: typeof r.sentAt === "number" ? receivedAt - r.sentAt : null
    };
    const list = this.stats.records;
    let i = list.length;
    while (i > 0 && list[i - 1].seq > rec.seq) i--;
    list.splice(i, 0, rec);
    while (list.length > MAX_RECORDS) this.seen.delete(list.shift().seq);
    this.onChange();
  }
  off(reason) {
    this.set("off", reason);
  }
  set(state, reason) {
    if (this.stats.state === "off") return;
    this.stats.state = state;
    this.stats.reason = reason;
    if (reason) this.log(`chat: ${reason}`);
    this.onChange();
  }
};

// src/page.ts
var $ = (id) => {
  const e = document.getElementById(id);
  if (!e) throw new Error(`page element #${id} is missing`);
  return e;
};
function namespaceFields(ns) {
  return Array.isArray(ns) ? ns : String(ns).split("/").filter((f) => f.length > 0);
}
async function pageConfig() {
  let config;
  try {
    config = await (await fetch("/config.json", { cache: "no-store" })).json();
  } catch (e) {
    throw new Error(`cannot load /config.json: ${errorText(e)}`);
  }
  let fingerprint = null;
  const fp = await fetch("/fingerprint", { cache: "no-store" }).catch(() => null);
  if (fp && fp.ok) fingerprint = (await fp.text()).trim() || null;
  return {
    relay: config.relay,
    namespace: namespaceFields(config.namespace),
    track: config.track ?? "",
    fingerprint,
    websocket: config.websocket === true
  };
}

// src/clock.ts
var MAX_VALUES = 100;
var status = { state: "loading", values: [], objects: 0, errors: [] };
function setState(text) {
  status.state = text;
  $("state").textContent = text;
  $("state").className = text === "subscribed" || text === "receiving" ? "ok" : "";
}
function showError(text) {
  status.errors.push(text);
  $("error").textContent = status.errors.join("\n");
}
function show(value) {
  status.values.push(value);
  if (status.values.length > MAX_VALUES) status.values.shift();
  status.latest = value;
  $("clock").textContent = value;
}
var bases = /* @__PURE__ */ new Map();
var pending = /* @__PURE__ */ new Map();
function onObject(o) {
  if (o.status !== 0 || o.payload.length === 0) return;
  status.objects += 1;
  $("objects").textContent = String(status.objects);
  $("location").textContent = `group ${o.group}, object ${o.object}${o.fetched ? " (fetched)" : ""}`;
  if (status.state === "subscribed") setState("receiving");
  const text = new TextDecoder().decode(o.payload);
  if (o.object === 0) {
    bases.set(o.group, text);
    const sec = pending.get(o.group);
    if (sec !== void 0) show(text + sec);
    pending.delete(o.group);
    return;
  }
  if (o.fetched) return;
  const base = bases.get(o.group);
  if (base !== void 0) show(base + text);
  else {
    pending.set(o.group, text);
    show(`…:${text}`);
  }
}
async function main() {
  const config = await pageConfig();
  const namespace = config.namespace;
  $("relay").textContent = config.relay;
  $("track").textContent = `${namespace.join("/")} / ${config.track}`;
  if (typeof WebTransport === "undefined") throw new Error("this browser has no WebTransport");
  setState("connecting");
  const session = await MoqSession.connect(
    config.relay,
    config.fingerprint,
    (text) => console.info(`moq: ${text}`),
    (e) => showError(e.message)
  );
  setState("subscribing");
  await session.subscribe(namespace, config.track, {
    onObject,
    joiningFetch: true,
    filter: { kind: "largest" },
    onEnd: (reason) => setState(reason)
  });
  setState("subscribed");
  const closed = await session.closed;
  setState(closed);
}
function runClock() {
  window.ternClock = status;
  main().catch((e) => {
    setState("failed");
    showError(errorText(e));
  });
}

// src/abr.ts
var DEFAULT_ABR = {
  lateMs: 250,
  lateForMs: 600,
  slope: 0.15,
  slopeWindowMs: 800,
  slopeExcessMs: 100,
  stallMs: 800,
  bufferLateMs: 250,
  bufferLateForMs: 500,
  baselineMs: 1e4,
  windowMs: 2e3,
  graceMs: 2e3,
  stableMs: 4e3,
  probeEveryMs: 3e3,
  maxProbeEveryMs: 8e3,
  probeSettleMs: 1e3,
  probeTimeoutMs: 1e3,
  probeFreshMs: 1e3,
  downSafety: 1.2,
  upSafety: 1.5,
  minProbeBytes: 12e3,
  maxProbeBytes: 32e3,
  probeMs: 300,
  drainSlope: -0.05
};
var Abr = class {
  constructor(params = DEFAULT_ABR) {
    this.params = params;
    this.probeEvery = params.probeEveryMs;
  }
  params;
  video = [];
  bytes = [];
  lastVideoAt = null;
  lastSwitchAt = -Infinity;
  lastBehindAt = -Infinity;
  bufferLateSince = null;
  probeRunning = false;
  lastProbeEnd = -Infinity;
  probeEvery;
  stats = {
    throughputBps: 0,
    lagExcessMs: 0,
    slope: 0,
    bufferMs: null,
    behind: false,
    probe: null,
    probes: 0,
    decisions: []
  };
  /** A live (not fetched) video object arrived at `now` (ms) with media time `mediaMs`. */
  onVideo(now, mediaMs) {
    this.video.push({ t: now, offset: now - mediaMs });
    if (this.lastVideoAt === null || now > this.lastVideoAt) this.lastVideoAt = now;
    this.trim(now);
  }
  /** A live object (video or audio) of `bytes` arrived at `now`. */
  onBytes(now, bytes, audio = false) {
    this.bytes.push({ t: now, bytes, audio });
  }
  trim(now) {
    while (this.video.length > 0 && this.video[0].t < now - this.params.baselineMs) this.video.shift();
    while (this.bytes.length > 0 && this.bytes[0].t < now - this.params.windowMs) this.bytes.shift();
  }
  /** Bits per second received over the last window (only the audio's with `audioOnly`). */
  throughput(now, audioOnly = false) {
    this.trim(now);
    let sum = 0;
    for (const b of this.bytes) if (!audioOnly || b.audio) sum += b.bytes;
    return sum * 8 / (this.params.windowMs / 1e3);
  }
  /** A switch was made (or the playback started): judge the new rendition after a grace period. */
  switched(now) {
    this.lastSwitchAt = now;
    this.bufferLateSince = null;
  }
  probeStarted() {
    this.probeRunning = true;
    this.stats.probes += 1;
  }
  /** A probe ended at `now`: `spareBps` is what it got, null when it failed. */
  probeDone(now, result) {
    this.probeRunning = false;
    this.lastProbeEnd = now;
    this.stats.probe = result ? { ...result, at: now } : null;
  }
  /**
   * The lag excess now, whether the last `lateForMs` were all late, and whether the offset is
   * growing (least-squares slope over `slopeWindowMs`).
   */
  lag(now) {
    if (this.video.length === 0) return { excess: 0, late: false, falling: false, slope: 0 };
    let best = Infinity;
    for (const a of this.video) best = Math.min(best, a.offset);
    const newest = this.video[this.video.length - 1];
    let recentMin = Infinity;
    let recent = 0;
    for (let i = this.video.length - 1; i >= 0 && this.video[i].t >= now - this.params.lateForMs; i--) {
      recentMin = Math.min(recentMin, this.video[i].offset - best);
      recent += 1;
    }
    const covered = this.video[0].t <= now - this.params.lateForMs;
    const slope = this.slope(now);
    const excess = newest.offset - best;
    return {
      excess,
      late: covered && recent >= 3 && recentMin > this.params.lateMs && slope > this.params.drainSlope,
      falling: slope > this.params.slope && excess > this.params.slopeExcessMs,
      slope
    };
  }
  /** Least-squares slope of the offset over the last `slopeWindowMs` (0 without enough points). */
  slope(now) {
    const from = now - this.params.slopeWindowMs;
    const pts = this.video.filter((a) => a.t >= from);
    if (pts.length < 8 || pts[pts.length - 1].t - pts[0].t < this.params.slopeWindowMs / 2) return 0;
    const mt = pts.reduce((n, a) => n + a.t, 0) / pts.length;
    const mo = pts.reduce((n, a) => n + a.offset, 0) / pts.length;
    let num2 = 0;
    let den = 0;
    for (const a of pts) {
      num2 += (a.t - mt) * (a.offset - mo);
      den += (a.t - mt) ** 2;
    }
    return den > 0 ? num2 / den : 0;
  }
  /**
   * What to do now. `renditions` largest first; `current` the rendition playing (or being
   * switched to); `busy` while a switch is in progress; `bufferMs` received video ahead of the
   * playback clock (null when unknown); `audioBps` what the audio needs when it has not been
   * measured yet.
   */
  decide(now, renditions, current, busy, bufferMs, audioBps) {
    const p = this.params;
    const lag = this.lag(now);
    const throughput = this.throughput(now);
    const audio = this.throughput(now, true);
    if (audio > 0) audioBps = audio;
    const s = this.stats;
    s.throughputBps = throughput;
    s.lagExcessMs = lag.excess;
    s.bufferMs = bufferMs;
    if (bufferMs !== null && bufferMs < -p.bufferLateMs) this.bufferLateSince ??= now;
    else this.bufferLateSince = null;
    const idx = renditions.findIndex((r) => r.name === current);
    if (busy || idx < 0) return { kind: "none" };
    if (now - this.lastSwitchAt < p.graceMs) {
      s.behind = false;
      return { kind: "none" };
    }
    const stalled = this.lastVideoAt !== null && now - this.lastVideoAt > p.stallMs;
    const bufferLate = this.bufferLateSince !== null && now - this.bufferLateSince >= p.bufferLateForMs && lag.slope > p.drainSlope;
    s.slope = lag.slope;
    s.behind = lag.late || lag.falling || stalled || bufferLate;
    if (s.behind) {
      if (this.probeRunning) return { kind: "cancel-probe", reason: "late while probing" };
      if (now - this.lastProbeEnd < p.probeSettleMs) return { kind: "none" };
      this.lastBehindAt = now;
      if (idx === renditions.length - 1) return { kind: "none" };
      const lower = renditions.slice(idx + 1);
      const fit = lower.find((r) => (r.bitrate + audioBps) * p.downSafety <= throughput) ?? lower[lower.length - 1];
      const why = lag.late ? `${current} arrives ${lag.excess.toFixed(0)} ms late` : lag.falling ? `${current} falls behind (${lag.excess.toFixed(0)} ms late, +${(lag.slope * 1e3).toFixed(0)} ms/s)` : stalled ? `no ${current} for ${(now - (this.lastVideoAt ?? now)).toFixed(0)} ms` : `${current} is ${(-(bufferMs ?? 0)).toFixed(0)} ms behind playback`;
      this.probeEvery = p.probeEveryMs;
      return this.decision(now, fit.name, `${why}; received ${(throughput / 1e3).toFixed(0)} kbit/s`);
    }
    if (idx === 0) return { kind: "none" };
    if (now - Math.max(this.lastSwitchAt, this.lastBehindAt) < p.stableMs) return { kind: "none" };
    const need = (r) => (r.bitrate + audioBps) * p.upSafety;
    const next = renditions[idx - 1];
    const probe = s.probe;
    if (probe && now - probe.at < p.probeFreshMs) {
      const capacity = throughput + (probe.complete ? probe.spareBps : 0);
      s.probe = { ...probe, at: -Infinity };
      const up = renditions.slice(0, idx).find((r) => capacity >= need(r));
      if (up) {
        this.probeEvery = p.probeEveryMs;
        return this.decision(
          now,
          up.name,
          `capacity ${(capacity / 1e3).toFixed(0)} kbit/s (probe ${(probe.spareBps / 1e3).toFixed(0)} spare) ≥ ${(need(up) / 1e3).toFixed(0)}`
        );
      }
      this.probeEvery = Math.min(this.probeEvery * 2, p.maxProbeEveryMs);
    }
    if (!this.probeRunning && now - this.lastProbeEnd >= this.probeEvery) {
      return {
        kind: "probe",
        bytes: Math.min(p.maxProbeBytes, Math.max(p.minProbeBytes, Math.ceil(need(next) / 8 * p.probeMs / 1e3))),
        reason: `stable on ${current} for ${((now - Math.max(this.lastSwitchAt, this.lastBehindAt)) / 1e3).toFixed(1)} s`
      };
    }
    return { kind: "none" };
  }
  decision(now, to, reason) {
    this.stats.decisions.push({ at: now, to, reason });
    if (this.stats.decisions.length > 20) this.stats.decisions.shift();
    return { kind: "switch", to, reason };
  }
};
function probeRate(r, startedAt, now) {
  if (r.firstChunkAt === null) return 0;
  if (!r.complete) return r.bytes * 8 / Math.max((now - startedAt) / 1e3, 2e-3);
  const span = (r.lastChunkAt ?? r.firstChunkAt) - r.firstChunkAt;
  if (span <= 0) return r.bytes * 8 / 2e-3;
  return Math.max(r.bytes - r.firstChunkBytes, 0) * 8 / Math.max(span / 1e3, 2e-3);
}

// src/assembler.ts
var MAX_PENDING = 1024;
var GroupAssembler = class {
  /**
   * `emit(o, groupStart)` receives objects with a payload, in play order; `onGroup(g)` hears
   * when group `g` starts being played (older groups are then of no use).
   */
  constructor(emit, onGroup = () => {
  }) {
    this.emit = emit;
    this.onGroup = onGroup;
  }
  emit;
  onGroup;
  /** The group being played, or null before the first group start. */
  group = null;
  next = 0;
  pending = /* @__PURE__ */ new Map();
  pendingCount = 0;
  /** Objects dropped: older than the group being played, or duplicates. */
  dropped = 0;
  push(o) {
    if (this.group !== null && o.group < this.group) {
      this.dropped += 1;
      return;
    }
    if (this.group === null || o.group > this.group) {
      if (o.object === 0) {
        this.startGroup(o.group);
        this.accept(o);
        this.drain();
      } else {
        this.hold(o);
      }
      return;
    }
    if (o.object < this.next) {
      this.dropped += 1;
      return;
    }
    if (o.object === this.next) {
      this.accept(o);
      this.drain();
    } else {
      this.hold(o);
    }
  }
  startGroup(g) {
    this.group = g;
    this.next = 0;
    this.onGroup(g);
    for (const [pg, objects] of this.pending) {
      if (pg < g) {
        this.pendingCount -= objects.size;
        this.dropped += objects.size;
        this.pending.delete(pg);
      }
    }
  }
  accept(o) {
    this.next = o.object + 1;
    if (o.status === 0 && o.payload.length > 0) this.emit(o, o.object === 0);
  }
  drain() {
    const objects = this.group === null ? void 0 : this.pending.get(this.group);
    if (!objects) return;
    for (; ; ) {
      const o = objects.get(this.next);
      if (!o) break;
      objects.delete(this.next);
      this.pendingCount -= 1;
      this.accept(o);
    }
    if (objects.size === 0 && this.group !== null) this.pending.delete(this.group);
  }
  hold(o) {
    let objects = this.pending.get(o.group);
    if (!objects) {
      objects = /* @__PURE__ */ new Map();
      this.pending.set(o.group, objects);
    }
    if (objects.has(o.object)) {
      this.dropped += 1;
      return;
    }
    objects.set(o.object, o);
    this.pendingCount += 1;
    while (this.pendingCount > MAX_PENDING) {
      const oldest = Math.min(...this.pending.keys());
      const list = this.pending.get(oldest);
      if (!list) break;
      this.pendingCount -= list.size;
      this.dropped += list.size;
      this.pending.delete(oldest);
    }
  }
};

// src/live-edge.ts
var DEFAULT_LIVE_EDGE = {
  startMs: 120,
  minMs: 50,
  maxMs: 3e3,
  raiseMarginMs: 40,
  keepMs: 30,
  windowMs: 4e3,
  firstWindowMs: 1e3,
  minStepMs: 20,
  graceMs: 500,
  memoryMs: 3e4
};
var US_PER_MS = 1e3;
var LiveEdge = class {
  /** `fixedMs`: a target the page asked for (null: adaptive). */
  constructor(fixedMs, config = DEFAULT_LIVE_EDGE) {
    this.fixedMs = fixedMs;
    this.config = config;
    this.targetUs = (fixedMs ?? config.startMs) * US_PER_MS;
  }
  fixedMs;
  config;
  /** The current playout target (µs). */
  targetUs;
  /** Raises (stalls) and lowerings so far. */
  raises = 0;
  lowerings = 0;
  graceUntil = -Infinity;
  windowStart = null;
  windowMin = Infinity;
  firstWindow = true;
  /** The last raise: when, and the target it set. */
  raised = null;
  get adaptive() {
    return this.fixedMs === null;
  }
  /** Playback (re)started at `wallMs` (join, back to live, a switch, a catch-up). */
  restart(wallMs) {
    this.graceUntil = wallMs + this.config.graceMs;
    this.windowStart = null;
    this.windowMin = Infinity;
    this.firstWindow = true;
  }
  /**
   * Live media for `mediaUs` is ready to play while the clock reads `clockUs`. Returns how far
   * to move the clock (µs): negative plays later (the target was raised), positive jumps ahead
   * (it was lowered), 0 leaves it.
   */
  arrived(mediaUs, clockUs, wallMs) {
    if (!this.adaptive || wallMs < this.graceUntil) return 0;
    const c = this.config;
    const room = mediaUs - clockUs;
    if (room < 0) {
      const before = this.targetUs;
      this.targetUs = Math.min(c.maxMs * US_PER_MS, before - room + c.raiseMarginMs * US_PER_MS);
      this.windowStart = wallMs;
      this.windowMin = Infinity;
      this.firstWindow = false;
      this.raised = { at: wallMs, targetUs: this.targetUs };
      if (this.targetUs === before) return 0;
      this.raises += 1;
      return before - this.targetUs;
    }
    if (this.windowStart === null) this.windowStart = wallMs;
    this.windowMin = Math.min(this.windowMin, room);
    if (wallMs - this.windowStart < (this.firstWindow ? c.firstWindowMs : c.windowMs)) return 0;
    this.firstWindow = false;
    let floor = Math.max(c.keepMs, c.minMs) * US_PER_MS;
    if (this.raised && wallMs - this.raised.at < c.memoryMs) floor = Math.max(floor, this.raised.targetUs);
    const step = this.windowMin - floor;
    this.windowStart = wallMs;
    this.windowMin = Infinity;
    if (step < c.minStepMs * US_PER_MS) return 0;
    this.targetUs = floor;
    this.lowerings += 1;
    return step;
  }
};

// src/stamp.ts
var CELLS_PER_ROW = 28;
var STAMP_BITS = 56;
function cellSize(width) {
  return Math.floor(width / 32);
}
function readStamp(ctx, width, height) {
  const cell = cellSize(width);
  if (cell < 4 || 2 * cell > height) return null;
  const img = ctx.getImageData(0, 0, CELLS_PER_ROW * cell, 2 * cell);
  const bytes = new Array(STAMP_BITS / 8).fill(0);
  for (let i = 0; i < STAMP_BITS; i++) {
    const cx = i % CELLS_PER_ROW * cell + (cell >> 1);
    const cy = Math.floor(i / CELLS_PER_ROW) * cell + (cell >> 1);
    let sum = 0;
    for (let dy = -1; dy <= 1; dy++) {
      for (let dx = -1; dx <= 1; dx++) {
        const at = ((cy + dy) * img.width + (cx + dx)) * 4;
        sum += img.data[at] + img.data[at + 1] + img.data[at + 2];
      }
    }
    if (sum / 27 > 128) bytes[i >> 3] |= 128 >> (i & 7);
  }
  const check = bytes.slice(0, 6).reduce((a, b) => a ^ b, 0);
  if (check !== bytes[6]) return null;
  return bytes.slice(0, 6).reduce((a, b) => a * 256 + b, 0);
}

// src/mp4.ts
var Mp4Error = class extends Error {
};
function view(b) {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}
function fourcc(b, at) {
  return String.fromCharCode(b[at], b[at + 1], b[at + 2], b[at + 3]);
}
function boxes(b) {
  const out = [];
  const v = view(b);
  let at = 0;
  while (at + 8 <= b.length) {
    let size = v.getUint32(at);
    const type = fourcc(b, at + 4);
    let header = 8;
    if (size === 1) {
      if (at + 16 > b.length) throw new Mp4Error(`truncated ${type} box`);
      size = Number(v.getBigUint64(at + 8));
      header = 16;
    } else if (size === 0) {
      size = b.length - at;
    }
    if (size < header || at + size > b.length) throw new Mp4Error(`truncated ${type} box (${size} bytes)`);
    out.push({ type, body: b.subarray(at + header, at + size), start: at });
    at += size;
  }
  return out;
}
function child(b, type) {
  for (const x of boxes(b)) if (x.type === type) return x.body;
  return null;
}
function children(b, type) {
  return boxes(b).filter((x) => x.type === type).map((x) => x.body);
}
function path(b, ...types) {
  let cur = b;
  for (const t of types) {
    if (!cur) return null;
    cur = child(cur, t);
  }
  return cur;
}
function hex2(n) {
  return n.toString(16).padStart(2, "0");
}
function parseInit(bytes) {
  const moov = child(bytes, "moov");
  if (!moov) throw new Mp4Error("init segment has no moov box");
  const trex = /* @__PURE__ */ new Map();
  const mvex = child(moov, "mvex");
  if (mvex) {
    for (const t of children(mvex, "trex")) {
      const v = view(t);
      trex.set(v.getUint32(4), { duration: v.getUint32(12), size: v.getUint32(16), flags: v.getUint32(20) });
    }
  }
  const tracks = /* @__PURE__ */ new Map();
  for (const trak of children(moov, "trak")) {
    const tkhd = child(trak, "tkhd");
    const mdhd = path(trak, "mdia", "mdhd");
    const hdlr = path(trak, "mdia", "hdlr");
    const stsd = path(trak, "mdia", "minf", "stbl", "stsd");
    if (!tkhd || !mdhd || !hdlr || !stsd) throw new Mp4Error("trak without tkhd, mdhd, hdlr or stsd");
    const id = view(tkhd).getUint32(tkhd[0] === 1 ? 20 : 12);
    const timescale = view(mdhd).getUint32(mdhd[0] === 1 ? 20 : 12);
    const handler = fourcc(hdlr, 8);
    const d = trex.get(id) ?? { duration: 0, size: 0, flags: 0 };
    const track = {
      id,
      kind: handler === "vide" ? "video" : handler === "soun" ? "audio" : "other",
      handler,
      timescale,
      entry: "",
      codec: "",
      defaultDuration: d.duration,
      defaultSize: d.size,
      defaultFlags: d.flags
    };
    const entries = boxes(stsd.subarray(8));
    if (entries.length > 0) sampleEntry(track, entries[0]);
    tracks.set(id, track);
  }
  return { tracks };
}
function sampleEntry(track, entry) {
  track.entry = entry.type;
  const b = entry.body;
  const v = view(b);
  if (track.kind === "video") {
    track.width = v.getUint16(24);
    track.height = v.getUint16(26);
    const inner = b.subarray(78);
    switch (entry.type) {
      case "avc1":
      case "avc3": {
        const avcC = child(inner, "avcC");
        if (avcC) {
          track.description = avcC.slice();
          track.codec = `${entry.type}.${hex2(avcC[1])}${hex2(avcC[2])}${hex2(avcC[3])}`;
        }
        break;
      }
      case "hvc1":
      case "hev1": {
        const hvcC = child(inner, "hvcC");
        if (hvcC) {
          track.description = hvcC.slice();
          track.codec = hevcCodec(entry.type, hvcC);
        }
        break;
      }
      case "av01": {
        const av1C = child(inner, "av1C");
        if (av1C) track.codec = av1Codec(av1C);
        break;
      }
      case "vp09": {
        const vpcC = child(inner, "vpcC");
        if (vpcC) track.codec = `vp09.${pad2(vpcC[4])}.${pad2(vpcC[5])}.${pad2(vpcC[6] >> 4)}`;
        break;
      }
      default:
        track.codec = entry.type;
    }
  } else if (track.kind === "audio") {
    track.channels = v.getUint16(16);
    track.sampleRate = v.getUint32(24) >>> 16;
    const inner = b.subarray(28);
    switch (entry.type) {
      case "mp4a": {
        const esds = child(inner, "esds");
        const asc = esds ? audioSpecificConfig(esds.subarray(4)) : null;
        if (asc && asc.length >= 2) {
          track.description = asc;
          let aot = asc[0] >> 3;
          if (aot === 31) aot = 32 + ((asc[0] & 7) << 3 | asc[1] >> 5);
          track.codec = `mp4a.40.${aot}`;
        } else {
          track.codec = "mp4a.40.2";
        }
        break;
      }
      case "Opus": {
        const dOps = child(inner, "dOps");
        track.codec = "opus";
        if (dOps) track.description = opusHead(dOps);
        break;
      }
      default:
        track.codec = entry.type;
    }
  }
}
function pad2(n) {
  return n.toString().padStart(2, "0");
}
function hevcCodec(entry, c) {
  const space = c[1] >> 6;
  const tier = c[1] >> 5 & 1;
  const profile = c[1] & 31;
  const compat = (c[2] << 24 | c[3] << 16 | c[4] << 8 | c[5]) >>> 0;
  let rev = 0;
  for (let i = 0; i < 32; i++) if (compat & 1 << i) rev |= 1 << 31 - i;
  rev >>>= 0;
  const level = c[12];
  const constraints = [c[6], c[7], c[8], c[9], c[10], c[11]];
  while (constraints.length > 0 && constraints[constraints.length - 1] === 0) constraints.pop();
  const prefix = ["", "A", "B", "C"][space];
  let s = `${entry}.${prefix}${profile}.${rev.toString(16)}.${tier ? "H" : "L"}${level}`;
  for (const b of constraints) s += `.${b.toString(16).toUpperCase()}`;
  return s;
}
function av1Codec(c) {
  const profile = c[1] >> 5;
  const level = c[1] & 31;
  const tier = c[2] >> 7;
  const highBitdepth = c[2] >> 6 & 1;
  const twelveBit = c[2] >> 5 & 1;
  const depth = highBitdepth ? twelveBit ? 12 : 10 : 8;
  return `av01.${profile}.${pad2(level)}${tier ? "H" : "M"}.${pad2(depth)}`;
}
function audioSpecificConfig(b) {
  let at = 0;
  const readLen = () => {
    let len = 0;
    for (let i = 0; i < 4 && at < b.length; i++) {
      const x = b[at++];
      len = len << 7 | x & 127;
      if (!(x & 128)) break;
    }
    return len;
  };
  while (at < b.length) {
    const tag = b[at++];
    const len = readLen();
    if (tag === 3) {
      const flags = b[at + 2];
      at += 3;
      if (flags & 128) at += 2;
      if (flags & 64) at += 1 + b[at];
      if (flags & 32) at += 2;
    } else if (tag === 4) {
      at += 13;
    } else if (tag === 5) {
      return b.slice(at, at + len);
    } else {
      at += len;
    }
  }
  return null;
}
function opusHead(d) {
  const v = view(d);
  const out = new Uint8Array(19 + Math.max(0, d.length - 11));
  const o = new DataView(out.buffer);
  out.set([79, 112, 117, 115, 72, 101, 97, 100]);
  out[8] = 1;
  out[9] = d[1];
  o.setUint16(10, v.getUint16(2), true);
  o.setUint32(12, v.getUint32(4), true);
  o.setInt16(16, v.getInt16(8), true);
  out[18] = d[10];
  if (d.length > 11) out.set(d.subarray(11), 19);
  return out;
}
var NTP_UNIX_OFFSET_S = 2208988800;
function ntpToUnixMs(secs, frac) {
  return (secs - NTP_UNIX_OFFSET_S) * 1e3 + frac * 1e3 / 2 ** 32;
}
function parseChunk(bytes, init) {
  const top = boxes(bytes);
  const samples = [];
  let publishedMs = null;
  for (let i = 0; i < top.length; i++) {
    const box = top[i];
    if (box.type === "prft") {
      const v = view(box.body);
      publishedMs = ntpToUnixMs(v.getUint32(8), v.getUint32(12));
    } else if (box.type === "moof") {
      const moofStart = box.start;
      for (const traf of children(box.body, "traf")) {
        samples.push(...trafSamples(traf, bytes, moofStart, init));
      }
    }
  }
  return { samples, publishedMs };
}
function trafSamples(traf, whole, moofStart, init) {
  const tfhd = child(traf, "tfhd");
  if (!tfhd) throw new Mp4Error("traf without tfhd");
  const hv = view(tfhd);
  const hflags = hv.getUint32(0) & 16777215;
  const trackId = hv.getUint32(4);
  const t = init?.tracks.get(trackId);
  let at = 8;
  let base = moofStart;
  if (hflags & 1) {
    base = Number(hv.getBigUint64(at));
    at += 8;
  }
  if (hflags & 2) at += 4;
  let defDuration = t?.defaultDuration ?? 0;
  let defSize = t?.defaultSize ?? 0;
  let defFlags = t?.defaultFlags ?? 0;
  if (hflags & 8) {
    defDuration = hv.getUint32(at);
    at += 4;
  }
  if (hflags & 16) {
    defSize = hv.getUint32(at);
    at += 4;
  }
  if (hflags & 32) defFlags = hv.getUint32(at);
  let dts = 0;
  const tfdt = child(traf, "tfdt");
  if (tfdt) {
    const v = view(tfdt);
    dts = tfdt[0] === 1 ? Number(v.getBigUint64(4)) : v.getUint32(4);
  }
  const out = [];
  for (const trun of children(traf, "trun")) {
    const v = view(trun);
    const version = trun[0];
    const flags = v.getUint32(0) & 16777215;
    const count = v.getUint32(4);
    let p = 8;
    let offset = 0;
    if (flags & 1) {
      offset = v.getInt32(p);
      p += 4;
    }
    let firstFlags = null;
    if (flags & 4) {
      firstFlags = v.getUint32(p);
      p += 4;
    }
    let dataAt = base + offset;
    for (let i = 0; i < count; i++) {
      let duration = defDuration;
      let size = defSize;
      let sflags = i === 0 && firstFlags !== null ? firstFlags : defFlags;
      let cto = 0;
      if (flags & 256) {
        duration = v.getUint32(p);
        p += 4;
      }
      if (flags & 512) {
        size = v.getUint32(p);
        p += 4;
      }
      if (flags & 1024) {
        sflags = v.getUint32(p);
        p += 4;
      }
      if (flags & 2048) {
        cto = version === 0 ? v.getUint32(p) : v.getInt32(p);
        p += 4;
      }
      if (dataAt < 0 || dataAt + size > whole.length) {
        throw new Mp4Error(`sample ${i} of track ${trackId} lies outside the object (${size} bytes at ${dataAt})`);
      }
      const sync = (sflags >> 16 & 1) === 0;
      out.push({ trackId, dts, pts: dts + cto, duration, sync, data: whole.subarray(dataAt, dataAt + size) });
      dataAt += size;
      dts += duration;
    }
  }
  return out;
}

// src/player.ts
var US = 1e6;
var MAX_EXTRA_BUFFER_US = 3e5;
var MAX_EXTRA_BUFFER_ADAPTIVE_US = 15e4;
var LATENCY_SAMPLES = 300;
var GLASS_SAMPLES = 1800;
var CATALOG_RETRY_MS = 2e3;
var AUDIO_CLOCK_STALL_MS = 500;
var LOG_LINES = 200;
var ABR_INTERVAL_MS = 250;
var SEAM_WINDOW_MS = 1e3;
var PRIORITY_AUDIO = 1;
var PRIORITY_VIDEO = 2;
var OBJECT_OVERHEAD_BYTES = 150;
var PRIORITY_DVR = 3;
var PRIORITY_PROBE = 255;
var MediaClock = class {
  started = false;
  baseMedia = 0;
  baseWall = 0;
  baseAudio = 0;
  onAudio = false;
  lastAudioTime = -1;
  lastAudioChange = 0;
  audio = null;
  /** Held at this media time (paused, or waiting for a seek's media), or null. */
  frozen = null;
  /** The AudioContext runs and its clock advances (a context without an output may not). */
  audioRunning() {
    if (!this.audio || this.audio.state !== "running") return false;
    const t = this.audio.currentTime;
    const wall = performance.now();
    if (t !== this.lastAudioTime) {
      this.lastAudioTime = t;
      this.lastAudioChange = wall;
    }
    return t > 0 && wall - this.lastAudioChange < AUDIO_CLOCK_STALL_MS;
  }
  /** Media time now, in µs. */
  now() {
    if (!this.started) return 0;
    if (this.frozen !== null) return this.frozen;
    const running = this.audioRunning();
    if (running !== this.onAudio) this.rebase(this.rawNow(), running);
    return this.rawNow();
  }
  rawNow() {
    if (this.onAudio && this.audio) return this.baseMedia + (this.audio.currentTime - this.baseAudio) * US;
    return this.baseMedia + (performance.now() - this.baseWall) * 1e3;
  }
  rebase(media, onAudio) {
    this.baseMedia = media;
    this.baseWall = performance.now();
    this.baseAudio = this.audio ? this.audio.currentTime : 0;
    this.onAudio = onAudio;
  }
  /** Play `media` now (start, or jump). */
  set(media) {
    this.started = true;
    this.frozen = null;
    this.rebase(media, this.audioRunning());
  }
  /** Hold at `media` (the current time by default) until the next `set`. */
  freeze(media = this.now()) {
    this.started = true;
    this.frozen = media;
  }
  /** The AudioContext time at which media time `media` plays, or null when not on audio. */
  audioTimeFor(media) {
    if (!this.started || !this.audio || this.frozen !== null) return null;
    this.now();
    if (!this.onAudio) return null;
    return this.baseAudio + (media - this.baseMedia) / US;
  }
};
var Pipeline = class {
  constructor(player, track) {
    this.player = player;
    this.track = track;
    this.assembler = new GroupAssembler(
      (o, groupStart) => {
        this.work = this.work.then(() => this.onObject(o, groupStart)).catch((e) => this.player.error(`${this.track.name}: ${errorText(e)}`));
      },
      (group) => {
        if (this.sub) {
          this.sub.dropBelow = group;
          this.sub.prune();
        }
      }
    );
  }
  player;
  track;
  sub = null;
  closed = false;
  assembler;
  init = null;
  trackInit = null;
  /** Stamps by media time (µs) of chunks given to the decoder. */
  stamps = /* @__PURE__ */ new Map();
  /** Newest media time (µs) given to the decoder. */
  newest = -Infinity;
  /** Media time (µs) of the first sample of the first group played. */
  firstTimestamp = null;
  /** Fed from FETCHes (the past): decoding waits for the decoder instead of skipping ahead. */
  paced = false;
  /** Bytes and objects (largest Object ID + 1) received of each recent live group (for probes: groups the relay has cached). */
  groupBytes = /* @__PURE__ */ new Map();
  groupObjects = /* @__PURE__ */ new Map();
  /** Group of the object being decoded. */
  group = 0;
  /** Frame duration (µs) of the latest sample. */
  frameDuration = 0;
  work = Promise.resolve();
  /**
   * Subscribe (with a Joining FETCH when asked, from `filter`), or take over `held`: a
   * subscription made with forward off, which is now turned on.
   */
  async start(loadInit, joiningFetch, priority, filter = { kind: "largest" }, heldReady = null) {
    const held = heldReady ? await heldReady : null;
    this.init = await loadInit(this.track);
    this.pickTrackInit(null);
    await this.checkSupport();
    if (this.closed) {
      held?.close();
      return;
    }
    if (this.track.role === "video" && this.player.stats.timing.videoSubscribe === null) {
      this.player.stats.timing.videoSubscribe = performance.now();
    }
    const onEnd = (reason) => this.player.note(`${this.track.name}: ${reason}`);
    if (held) {
      held.options.onObject = (o) => this.receive(o);
      held.options.onEnd = onEnd;
      held.update({ forward: true });
      this.sub = held;
      return;
    }
    this.sub = await this.player.session().subscribe(this.player.namespace, this.track.name, {
      onObject: (o) => this.receive(o),
      onEnd,
      joiningFetch,
      priority,
      filter
    });
    if (this.closed) this.sub.close();
  }
  /** Load the init segment and check the codec, for a pipeline fed by `feed` (FETCHes). */
  async prepare(loadInit) {
    this.init = await loadInit(this.track);
    this.pickTrackInit(null);
    await this.checkSupport();
  }
  /** An object from a FETCH. */
  feed(o) {
    this.paced = true;
    if (!this.closed) this.assembler.push(o);
  }
  receive(o) {
    if (!o.fetched) {
      this.player.arrived(o, this.track.role === "audio");
      this.groupBytes.set(o.group, (this.groupBytes.get(o.group) ?? 0) + o.payload.length);
      this.groupObjects.set(o.group, Math.max(this.groupObjects.get(o.group) ?? 0, o.object + 1));
      if (this.groupBytes.size > 40) {
        const oldest = Math.min(...this.groupBytes.keys());
        this.groupBytes.delete(oldest);
        this.groupObjects.delete(oldest);
      }
    }
    this.assembler.push(o);
  }
  /** The init segment's track for samples of `trackId` (null: guess from the role). */
  pickTrackInit(trackId) {
    if (!this.init) return null;
    if (trackId !== null) {
      const t = this.init.tracks.get(trackId);
      if (t) return this.trackInit = t;
      if (this.init.tracks.size === 1) return this.trackInit = [...this.init.tracks.values()][0];
      throw new Error(`the init segment has no track ${trackId}`);
    }
    const kind = this.track.role === "audio" ? "audio" : "video";
    const candidates = [...this.init.tracks.values()].filter((t) => t.kind === kind);
    if (candidates.length === 1) this.trackInit = candidates[0];
    return this.trackInit;
  }
  async onObject(o, groupStart) {
    if (this.closed) return;
    this.group = o.group;
    const chunk = parseChunk(o.payload, this.init);
    for (let i = 0; i < chunk.samples.length; i++) {
      const s = chunk.samples[i];
      if (!this.trackInit || this.trackInit.id !== s.trackId) this.pickTrackInit(s.trackId);
      const t = this.trackInit;
      const timestamp = Math.round(s.pts * US / t.timescale);
      const duration = Math.round(s.duration * US / t.timescale);
      if (i === 0 && !o.fetched && this.track.role === "video") {
        this.player.videoArrived(o.receivedAt, timestamp);
        if (groupStart) this.player.groupStarted(o.group, timestamp);
      }
      if (duration > 0) this.frameDuration = duration;
      const key = s.sync;
      if (this.firstTimestamp === null) this.firstTimestamp = timestamp;
      this.stamps.set(timestamp, { publishedMs: chunk.publishedMs, group: o.group });
      if (this.stamps.size > 512) this.stamps.delete(this.stamps.keys().next().value);
      this.newest = Math.max(this.newest, timestamp);
      await this.decode(t, s.data, timestamp, duration, key, groupStart && i === 0);
    }
  }
  close() {
    this.closed = true;
    this.sub?.close();
  }
};
var VideoPipeline = class extends Pipeline {
  decoder = null;
  configured = null;
  needKey = true;
  /** Set when this pipeline replaces another: media time from which it is drawn. */
  cutover = null;
  /** How early its first frame from the cutover on was decoded before it was due (ms). */
  readyMs = null;
  codec = null;
  async checkSupport() {
    const t = this.trackInit;
    const codec = t?.codec || this.track.codec;
    if (!codec) return;
    const supported = await VideoDecoder.isConfigSupported(this.config(t, codec)).catch(() => null);
    if (!supported || !supported.supported) {
      throw new UnsupportedCodec(
        `this browser cannot decode ${codec} video (VideoDecoder.isConfigSupported said no) — track ${this.track.name}`
      );
    }
  }
  config(t, codec) {
    const c = { codec, optimizeForLatency: true };
    if (t?.description) c.description = t.description;
    const w = t?.width ?? this.track.width;
    const h = t?.height ?? this.track.height;
    if (w && h) {
      c.codedWidth = w;
      c.codedHeight = h;
    }
    return c;
  }
  async decode(t, data, timestamp, duration, key, groupStart) {
    if (!key && this.needKey) return;
    if (this.cutover === null && this.player.isSwitchTarget(this)) {
      this.player.setCutover(this, timestamp, groupStart ? this.group : null);
    }
    const codec = t.codec || this.track.codec;
    if (!this.decoder || this.decoder.state === "closed" || this.configured !== `${t.id}/${codec}`) {
      if (!key) {
        this.needKey = true;
        return;
      }
      await this.configure(t, codec);
    }
    const decoder = this.decoder;
    if (this.paced) {
      while (decoder.decodeQueueSize >= 16 && decoder.state === "configured" && !this.closed) {
        await new Promise((r) => {
          const done = () => r();
          decoder.addEventListener("dequeue", done, { once: true });
          setTimeout(done, 20);
        });
      }
      if (this.closed || decoder.state !== "configured") return;
    } else if (decoder.decodeQueueSize > 90) {
      this.needKey = true;
      this.player.note(`${this.track.name}: decoder behind, waiting for the next keyframe`);
      return;
    }
    this.needKey = false;
    decoder.decode(new EncodedVideoChunk({ type: key ? "key" : "delta", timestamp, duration, data }));
  }
  async configure(t, codec) {
    this.decoder?.close();
    const config = this.config(t, codec);
    const support = await VideoDecoder.isConfigSupported(config).catch(() => null);
    if (!support || !support.supported) {
      throw new UnsupportedCodec(`this browser cannot decode ${codec} video (VideoDecoder.isConfigSupported said no)`);
    }
    const decoder = new VideoDecoder({
      output: (frame) => {
        if (this.closed) {
          frame.close();
          return;
        }
        this.player.videoFrame(this, frame, this.stamps.get(frame.timestamp) ?? { publishedMs: null, group: -1 });
      },
      error: (e) => {
        this.player.error(`${this.track.name}: video decoder: ${errorText(e)}`);
        this.needKey = true;
        this.configured = null;
      }
    });
    decoder.configure(config);
    this.decoder = decoder;
    this.configured = `${t.id}/${codec}`;
    this.codec = codec;
    this.player.stats.videoCodec = codec;
    this.player.changed();
  }
  close() {
    super.close();
    if (this.decoder && this.decoder.state !== "closed") this.decoder.close();
  }
};
var AudioPipeline = class extends Pipeline {
  decoder = null;
  configured = null;
  sources = /* @__PURE__ */ new Set();
  gain = null;
  async checkSupport() {
    const t = this.trackInit;
    const codec = t?.codec || this.track.codec;
    if (!codec || !t) return;
    const supported = await AudioDecoder.isConfigSupported(this.config(t, codec)).catch(() => null);
    if (!supported || !supported.supported) {
      throw new UnsupportedCodec(
        `this browser cannot decode ${codec} audio (AudioDecoder.isConfigSupported said no) — track ${this.track.name}`
      );
    }
  }
  config(t, codec) {
    const c = {
      codec,
      sampleRate: t.sampleRate || this.track.samplerate || 48e3,
      numberOfChannels: t.channels || Number(this.track.channelConfig) || 2
    };
    if (t.description) c.description = t.description;
    return c;
  }
  async decode(t, data, timestamp, duration) {
    const codec = t.codec || this.track.codec;
    if (!this.decoder || this.decoder.state === "closed" || this.configured !== `${t.id}/${codec}`) {
      this.decoder?.close();
      const decoder = new AudioDecoder({
        output: (d) => this.play(d),
        error: (e) => {
          this.player.error(`${this.track.name}: audio decoder: ${errorText(e)}`);
          this.configured = null;
        }
      });
      decoder.configure(this.config(t, codec));
      this.decoder = decoder;
      this.configured = `${t.id}/${codec}`;
      this.player.stats.audioCodec = codec;
      this.player.changed();
    }
    this.decoder.decode(new EncodedAudioChunk({ type: "key", timestamp, duration, data }));
  }
  /** Decoded audio held until the clock runs (a seek waiting for its media). */
  waiting = [];
  /** Play the audio held while the clock waited. */
  release() {
    const held = this.waiting;
    this.waiting = [];
    for (const d of held) this.schedule(d);
  }
  /** Decoder output. */
  play(d) {
    this.player.stats.audioChunksDecoded += 1;
    if (!this.closed && this.player.holdAudio(this)) {
      this.waiting.push(d);
      if (this.waiting.length > 400) this.waiting.shift()?.close();
      return;
    }
    this.schedule(d);
  }
  schedule(d) {
    const stats = this.player.stats;
    try {
      if (this.closed || !this.player.audible(this)) return;
      this.player.mediaStarted(d.timestamp);
      if (this.player.isLiveAudio(this)) this.player.liveArrival(d.timestamp);
      const ctx = this.player.audioContext();
      const when = this.player.clock.audioTimeFor(d.timestamp);
      if (!ctx || when === null) return;
      if (when < ctx.currentTime + 2e-3) {
        stats.audioLate += 1;
        return;
      }
      const frames = d.numberOfFrames;
      const channels = d.numberOfChannels;
      const buffer = ctx.createBuffer(channels, frames, d.sampleRate);
      if (d.format === "f32") {
        const all = new Float32Array(frames * channels);
        d.copyTo(all, { planeIndex: 0 });
        for (let c = 0; c < channels; c++) {
          const out = buffer.getChannelData(c);
          for (let i = 0; i < frames; i++) out[i] = all[i * channels + c];
        }
      } else {
        for (let c = 0; c < channels; c++) {
          buffer.copyToChannel(planar(d, c, frames), c);
        }
      }
      if (!this.gain) {
        this.gain = ctx.createGain();
        this.gain.connect(ctx.destination);
      }
      const src = ctx.createBufferSource();
      src.buffer = buffer;
      src.connect(this.gain);
      src.onended = () => {
        this.sources.delete(src);
        stats.audioSamplesPlayed += frames;
      };
      src.start(when);
      this.sources.add(src);
      stats.audioSamplesScheduled += frames;
    } finally {
      d.close();
    }
  }
  /** Drop what is scheduled (the clock jumped). */
  flush() {
    for (const s of this.sources) {
      s.onended = null;
      try {
        s.stop();
      } catch {
      }
    }
    this.sources.clear();
  }
  close() {
    super.close();
    this.flush();
    for (const d of this.waiting) d.close();
    this.waiting = [];
    if (this.decoder && this.decoder.state !== "closed") this.decoder.close();
  }
};
function planar(d, plane, frames) {
  const out = new Float32Array(frames);
  d.copyTo(out, { planeIndex: plane, format: "f32-planar" });
  return out;
}
var UnsupportedCodec = class extends Error {
};
var Player = class {
  constructor(options) {
    this.options = options;
    this.namespace = options.namespace;
    this.edge = new LiveEdge(options.latencyMs ?? null);
    this.stats.targetMs = this.edge.targetUs / 1e3;
    this.stats.targetAdaptive = this.edge.adaptive;
    const ctx = options.canvas.getContext("2d", { willReadFrequently: options.readStamps === true });
    if (!ctx) throw new Error("no 2D canvas context");
    this.ctx2d = ctx;
  }
  options;
  stats = {
    state: "idle",
    transport: null,
    catalogFormat: null,
    renditions: [],
    rendition: null,
    switchingTo: null,
    mode: "auto",
    audioTrack: null,
    videoCodec: null,
    audioCodec: null,
    width: 0,
    height: 0,
    framesDecoded: 0,
    framesDrawn: 0,
    framesSkipped: 0,
    drawnByRendition: {},
    lastFrameTime: 0,
    lastFrameTimestamp: 0,
    latencyMs: [],
    latencyCount: 0,
    latencyUnknownFrames: 0,
    glassMs: [],
    stampsUnread: 0,
    timing: { connected: null, catalog: null, videoSubscribe: null, firstFrame: null },
    switches: 0,
    switchLog: [],
    abr: null,
    playback: "live",
    behindLiveMs: null,
    seeks: 0,
    dvrGroupsFetched: 0,
    catchUps: 0,
    targetMs: 0,
    targetAdaptive: true,
    targetRaises: 0,
    targetLowerings: 0,
    audioState: "none",
    audioChunksDecoded: 0,
    audioSamplesScheduled: 0,
    audioSamplesPlayed: 0,
    audioLate: 0,
    errors: [],
    log: []
  };
  clock = new MediaClock();
  namespace;
  catalog = null;
  moq = null;
  video = null;
  nextVideo = null;
  audio = null;
  queue = [];
  ctx2d;
  inits = /* @__PURE__ */ new Map();
  audioCtx = null;
  stopped = false;
  catalogSub = null;
  /** The newest catalog version that arrived before the first was read (applied then). */
  pendingCatalog = null;
  abr = new Abr();
  abrTimer = 0;
  probing = null;
  /**
   * Subscriptions to the other renditions, held ready with forward off (the relay sends
   * nothing for them): a switch turns one on and needs no SUBSCRIBE answer, which a relay
   * whose link is full may be slow to give.
   */
  held = /* @__PURE__ */ new Map();
  dvr = null;
  /** Live groups seen: media time (µs) of their first video frame, objects of video and audio. */
  groupsSeen = /* @__PURE__ */ new Map();
  /** Media time (µs) of the frame on screen when paused. */
  pausedAt = null;
  heldRetryAt = /* @__PURE__ */ new Map();
  /** The switch in progress: when it was asked for and why. */
  switchAskedAt = 0;
  switchReason = "";
  /** The last frame drawn: when, and its media time (µs). */
  lastDraw = null;
  /** Gaps between drawn frames (ms) of the last seconds, by when they ended. */
  drawGaps = [];
  /** Decoded frames passed over (late) since the last frame drawn. */
  skippedSinceDraw = 0;
  /** The playout target. */
  edge;
  session() {
    if (!this.moq) throw new Error("not connected");
    return this.moq;
  }
  changed() {
    this.options.onChange?.();
  }
  setState(s) {
    this.stats.state = s;
    this.note(`state: ${s}`);
  }
  note(text) {
    this.stats.log.push(`${(performance.now() / 1e3).toFixed(3)} ${text}`);
    if (this.stats.log.length > LOG_LINES) this.stats.log.shift();
    console.info(`tern-player: ${text}`);
    this.changed();
  }
  error(text) {
    this.stats.errors.push(text);
    console.error(`tern-player: ${text}`);
    this.changed();
  }
  async start() {
    if (typeof VideoDecoder === "undefined") throw new Error("this browser has no WebCodecs VideoDecoder");
    this.setState("connecting");
    this.moq = await MoqSession.connect(
      this.options.relay,
      this.options.fingerprint,
      (t) => this.note(t),
      (e) => this.error(`protocol: ${e.message}`),
      { websocket: this.options.websocket ?? null, mode: this.options.transport ?? "race" }
    );
    this.stats.transport = this.moq.transportKind;
    this.moq.closed.then((reason) => {
      if (!this.stopped) {
        this.setState(reason);
        this.error(reason);
      }
    });
    this.stats.timing.connected = performance.now();
    this.options.onSession?.(this.moq);
    this.setState("catalog");
    this.catalog = await this.loadCatalog();
    const pending2 = this.pendingCatalog;
    this.pendingCatalog = null;
    if (pending2) this.onCatalogUpdate(pending2);
    this.stats.timing.catalog = performance.now();
    const renditions = videoRenditions(this.catalog);
    this.stats.renditions = renditions.map((t) => t.name);
    let audio = audioTracks(this.catalog);
    const wantedAudio = this.options.audio ? this.catalog.tracks.find((t) => t.name === this.options.audio) : void 0;
    if (this.options.audio && (!wantedAudio || wantedAudio.role !== "audio")) this.note(`no audio track ${this.options.audio}`);
    else if (wantedAudio) audio = [wantedAudio, ...audio.filter((t) => t !== wantedAudio)];
    if (renditions.length === 0 && audio.length === 0) throw new CatalogError("the catalog lists no video or audio track");
    this.setState("starting");
    requestAnimationFrame(() => this.render());
    const starts = [];
    if (renditions.length > 0) {
      const wanted = this.options.rendition ? renditions.find((t) => t.name === this.options.rendition) : void 0;
      if (this.options.rendition && !wanted) this.note(`no video track ${this.options.rendition}; auto mode`);
      if (wanted) this.stats.mode = "manual";
      const first = wanted ?? this.autoChoice(renditions);
      this.video = new VideoPipeline(this, first);
      this.stats.rendition = first.name;
      starts.push(this.video.start((t) => this.loadInit(t), true, PRIORITY_VIDEO));
      this.stats.abr = this.abr.stats;
      this.abrTimer = window.setInterval(() => this.adapt(), ABR_INTERVAL_MS);
    }
    if (audio.length > 0) {
      this.setupAudio();
      starts.push(
        this.startAudio(audio).catch((e) => {
          this.error(`audio: ${errorText(e)}`);
        })
      );
    }
    await Promise.all(starts);
    this.setState("playing");
  }
  /** Play the first of `candidates` (best first) whose codec this browser decodes. */
  async startAudio(candidates) {
    for (let i = 0; i < candidates.length; i++) {
      const track = candidates[i];
      const pipeline = new AudioPipeline(this, track);
      this.audio = pipeline;
      this.stats.audioTrack = track.name;
      try {
        await pipeline.start((t) => this.loadInit(t), true, PRIORITY_AUDIO);
        if (i > 0) this.note(`audio: playing ${track.name} (${track.codec})`);
        return;
      } catch (e) {
        pipeline.close();
        this.audio = null;
        this.stats.audioTrack = null;
        if (!(e instanceof UnsupportedCodec) || i === candidates.length - 1) throw e;
        this.note(`audio: ${errorText(e)}; trying ${candidates[i + 1].name}`);
      }
    }
  }
  stop() {
    this.stopped = true;
    window.clearInterval(this.abrTimer);
    this.cancelProbe();
    this.dropHeld();
    this.video?.close();
    this.nextVideo?.close();
    this.audio?.close();
    this.catalogSub?.close();
    this.moq?.close();
    void this.audioCtx?.close();
  }
  /** Auto mode starts on the largest rendition; `adapt` moves from there. */
  autoChoice(renditions) {
    return renditions[0];
  }
  // -------------------------------------------------------------------------
  // Auto mode (ABR, see abr.ts).
  /** A live object arrived (any track the player subscribed to). */
  arrived(o, audio) {
    this.abr.onBytes(o.receivedAt, o.payload.length, audio);
    const g = this.seen(o.group);
    if (audio) g.audio = Math.max(g.audio, o.object + 1);
    else g.video = Math.max(g.video, o.object + 1);
  }
  /** A live video group started at media time `timestamp` (µs). */
  groupStarted(group, timestamp) {
    this.seen(group).start = timestamp;
  }
  seen(group) {
    let g = this.groupsSeen.get(group);
    if (!g) {
      g = { start: null, video: 0, audio: 0 };
      this.groupsSeen.set(group, g);
      if (this.groupsSeen.size > 120) this.groupsSeen.delete(Math.min(...this.groupsSeen.keys()));
    }
    return g;
  }
  // -------------------------------------------------------------------------
  // Pause, the past (DVR), live.
  /** Whether `p`'s decoded audio is to be kept until the clock runs (a seek waiting for its media). */
  holdAudio(p) {
    return !!this.dvr && p === this.dvr.audio && this.dvr.waiting;
  }
  /** Whether `p`'s audio is to be heard now. */
  audible(p) {
    const playback = this.stats.playback;
    if (p === this.audio) return playback === "live";
    return playback === "dvr" && p === this.dvr?.audio && !this.dvr.waiting;
  }
  /** Hold the picture; the sound stops. `play()` goes on from here. */
  pause() {
    if (this.stats.playback === "paused" || !this.clock.started) return;
    this.pausedAt = this.lastDraw?.ts ?? this.clock.now();
    this.stopDvr();
    this.clock.freeze(this.pausedAt);
    this.audio?.flush();
    this.stats.playback = "paused";
    this.note(`paused at media time ${(this.pausedAt / US).toFixed(3)} s`);
  }
  /** After a pause: play on from where it stopped (from the relay's cache). */
  play() {
    if (this.stats.playback !== "paused") return;
    void this.seek(this.pausedAt ?? this.clock.now());
  }
  /** Go `seconds` back from the picture on screen (within what the relay keeps). */
  rewind(seconds) {
    const from = this.lastDraw?.ts ?? this.clock.now();
    void this.seek(from - seconds * US);
  }
  /** Back to live: the newest media, the target delay behind. */
  live() {
    if (this.stats.playback === "live") return;
    this.stopDvr();
    this.dropQueue();
    this.audio?.flush();
    const newest = Math.max(this.video?.newest ?? -Infinity, this.audio?.newest ?? -Infinity);
    this.lastDraw = null;
    this.stats.playback = "live";
    if (Number.isFinite(newest)) this.clock.set(newest - this.targetUs());
    this.edge.restart(performance.now());
    this.note("live");
  }
  dropQueue() {
    for (const q of this.queue) this.skip(q);
    this.queue = [];
  }
  stopDvr() {
    const d = this.dvr;
    if (!d) return;
    d.stopped = true;
    for (const f of d.fetches) f.cancel();
    d.video?.close();
    d.audio?.close();
    this.dvr = null;
    this.dropQueue();
  }
  /**
   * Play from media time `target` (µs): decode from the start of the live group that holds it
   * (FETCHed from the relay's cache, video and audio), hold the clock until that media is
   * decoded, then fetch group after group ahead of the playhead. Near live it goes live.
   */
  async seek(target) {
    const video = this.video;
    if (!video) return;
    const liveAt = Math.max(video.newest, this.audio?.newest ?? -Infinity);
    const groups = [...this.groupsSeen.entries()].filter(([, g]) => g.start !== null).sort((a, b) => a[0] - b[0]);
    if (groups.length === 0 || target >= liveAt - this.targetUs()) {
      this.live();
      return;
    }
    let start = groups[0];
    for (const g of groups) if (g[1].start <= target) start = g;
    if (start[1].start > target) {
      this.note(`media from ${(target / US).toFixed(3)} s is older than what this page saw; from ${(start[1].start / US).toFixed(3)} s`);
      target = start[1].start;
    }
    this.stopDvr();
    this.audio?.flush();
    const d = {
      video: new VideoPipeline(this, video.track),
      audio: this.audio ? new AudioPipeline(this, this.audio.track) : null,
      target,
      liveAt,
      waiting: true,
      last: null,
      first: start[0],
      stopped: false,
      fetches: []
    };
    this.dvr = d;
    this.stats.playback = "dvr";
    this.stats.seeks += 1;
    this.lastDraw = null;
    this.clock.freeze(target);
    this.note(`to media time ${(target / US).toFixed(3)} s: from group ${start[0]} of ${video.track.name}`);
    try {
      await Promise.all([d.video?.prepare((t) => this.loadInit(t)), d.audio?.prepare((t) => this.loadInit(t))]);
      await this.dvrFeed(d);
    } catch (e) {
      if (this.dvr === d) {
        this.note(`playing the past: ${errorText(e)}; live again`);
        this.live();
      }
    }
  }
  /** Fetch the next complete group while less than 1.5 s of media are fetched ahead of the playhead. */
  async dvrFeed(d) {
    while (!d.stopped && !this.stopped) {
      const later = [...this.groupsSeen.keys()].filter((g) => d.last === null ? g >= d.first : g > d.last).sort((a, b) => a - b);
      const fetchedTo = d.last === null ? null : this.groupsSeen.get(later[0])?.start ?? null;
      const ahead = fetchedTo === null ? 0 : fetchedTo - Math.max(this.clock.now(), d.target);
      if (ahead > 1.5 * US) {
        await sleep(100);
        continue;
      }
      if (later.length < 2) {
        if (!d.waiting && ahead < 3e5) {
          this.note("caught up with live");
          this.live();
          return;
        }
        await sleep(200);
        continue;
      }
      const group = later[0];
      const seen = this.groupsSeen.get(group);
      const one = async (p, objects) => {
        if (!p) return;
        const r = await this.session().fetch(
          this.namespace,
          p.track.name,
          { group, object: 0 },
          { group, object: objects },
          { priority: PRIORITY_DVR, onObject: (o) => p.feed(o) }
        );
        d.fetches.push(r);
        if (d.stopped) r.cancel();
        await r.done;
        d.fetches = d.fetches.filter((f) => f !== r);
      };
      await Promise.all([one(d.video, seen.video), one(d.audio, seen.audio)]);
      d.last = group;
      this.stats.dvrGroupsFetched += 1;
    }
  }
  /** A live video object with media time `timestamp` (µs) arrived at `at` (performance.now()). */
  videoArrived(at, timestamp) {
    this.abr.onVideo(at, timestamp / 1e3);
  }
  abrRenditions() {
    if (!this.catalog) return [];
    return videoRenditions(this.catalog).map((t) => {
      const fps = t.framerate ?? 30;
      const media = t.bitrate ?? (t.width ?? 640) * (t.height ?? 360) * fps * 0.1;
      return { name: t.name, bitrate: media + fps * 8 * OBJECT_OVERHEAD_BYTES };
    });
  }
  /** Look at the measurements; switch or probe when auto mode says so. */
  adapt() {
    if (this.stopped || !this.video) return;
    const now = performance.now();
    const newest = Math.max(this.video.newest, this.nextVideo?.newest ?? -Infinity);
    const ahead = this.clock.started && Number.isFinite(newest) ? (newest - this.clock.now()) / 1e3 : null;
    this.stats.behindLiveMs = ahead;
    const bufferMs = this.stats.playback === "live" ? ahead : null;
    const current = this.nextVideo?.track.name ?? this.video.track.name;
    const busy = this.nextVideo !== null || this.stats.mode !== "auto";
    const audioBps = this.audio ? (this.audio.track.bitrate ?? 64e3) + 47 * 8 * OBJECT_OVERHEAD_BYTES : 0;
    const d = this.abr.decide(now, this.abrRenditions(), current, busy, bufferMs, audioBps);
    if (d.kind === "switch") {
      const target = this.catalog && videoRenditions(this.catalog).find((t) => t.name === d.to);
      if (!target) return;
      this.cancelProbe();
      this.switchTo(target, `auto: ${d.reason}`);
    } else if (d.kind === "probe") {
      void this.probe(d.bytes);
    } else if (d.kind === "cancel-probe") {
      this.cancelProbe();
    }
    this.keepHeld(now);
  }
  /** Hold every rendition not playing ready (SUBSCRIBE with forward off). */
  keepHeld(now) {
    if (!this.catalog || !this.video) return;
    const active = /* @__PURE__ */ new Set([this.video.track.name, this.nextVideo?.track.name]);
    for (const track of videoRenditions(this.catalog)) {
      const name = track.name;
      if (active.has(name) || this.held.has(name) || now < (this.heldRetryAt.get(name) ?? 0)) continue;
      const h = { track, sub: null, ready: Promise.resolve(null) };
      this.held.set(name, h);
      h.ready = this.session().subscribe(this.namespace, name, {
        onObject: () => {
        },
        onEnd: () => {
          if (this.held.get(name) === h) this.held.delete(name);
        },
        priority: PRIORITY_VIDEO,
        forward: false
      }).then((sub) => {
        h.sub = sub;
        if (h.dropped) sub.close();
        return sub;
      }).catch((e) => {
        if (this.held.get(name) === h) this.held.delete(name);
        this.heldRetryAt.set(name, performance.now() + 5e3);
        this.note(`holding ${name} ready: ${errorText(e)}`);
        return null;
      });
    }
  }
  dropHeld() {
    for (const h of this.held.values()) {
      h.dropped = true;
      h.sub?.close();
    }
    this.held.clear();
  }
  cancelProbe() {
    for (const r of this.probing ?? []) r.cancel();
    this.probing = null;
  }
  /**
   * Measure spare capacity: FETCH recent groups of the rendition playing, at least `bytes` of
   * them, all at once (the relay has them cached and sends FETCH data behind the live streams).
   * One FETCH per group, each up to the last object received (a relay vouches for that range
   * without knowing where the group ended).
   */
  async probe(bytes) {
    const p = this.video;
    if (!p || this.probing) return;
    const groups = [...p.groupBytes.entries()].sort((a, b) => b[0] - a[0]).slice(1);
    const picked = [];
    let total = 0;
    for (const [group, b] of groups) {
      const objects = p.groupObjects.get(group);
      if (!objects) continue;
      picked.push({ group, objects });
      total += b;
      if (total >= bytes) break;
    }
    if (picked.length === 0) return;
    this.abr.probeStarted();
    const t0 = performance.now();
    const reqs = [];
    this.probing = reqs;
    let timer = 0;
    try {
      timer = window.setTimeout(() => {
        for (const r of reqs) r.cancel();
      }, this.abr.params.probeTimeoutMs);
      await Promise.all(
        picked.map(async ({ group, objects }) => {
          const r = await this.session().fetch(
            this.namespace,
            p.track.name,
            { group, object: 0 },
            { group, object: objects },
            { priority: PRIORITY_PROBE }
          );
          reqs.push(r);
          if (this.probing !== reqs) r.cancel();
        })
      );
      const results = await Promise.all(reqs.map((r) => r.done));
      const now = performance.now();
      const first = results.filter((r) => r.firstChunkAt !== null).sort((a, b) => (a.firstChunkAt ?? 0) - (b.firstChunkAt ?? 0))[0];
      const combined = {
        complete: results.every((r) => r.complete),
        bytes: results.reduce((n, r) => n + r.bytes, 0),
        firstChunkBytes: first?.firstChunkBytes ?? 0,
        firstChunkAt: first?.firstChunkAt ?? null,
        lastChunkAt: results.reduce((m, r) => r.lastChunkAt === null ? m : Math.max(m ?? 0, r.lastChunkAt), null)
      };
      this.abr.probeDone(now, { spareBps: probeRate(combined, t0, now), bytes: combined.bytes, complete: combined.complete });
    } catch (e) {
      for (const r of reqs) r.cancel();
      this.abr.probeDone(performance.now(), null);
      this.note(`probe of ${p.track.name}: ${errorText(e)}`);
    } finally {
      window.clearTimeout(timer);
      if (this.probing === reqs) this.probing = null;
    }
  }
  /**
   * The MSF catalog, or Cloudflare's catalogformat-01 `.catalog` when there is none. While
   * neither exists (the broadcast has not started), ask again every two seconds.
   */
  async loadCatalog() {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.tryCatalog();
      } catch (e) {
        if (!(e instanceof RequestRefused) || this.stopped) throw e;
        if (attempt === 0) this.setState("waiting for the broadcast");
        await new Promise((r) => setTimeout(r, CATALOG_RETRY_MS));
      }
    }
  }
  async tryCatalog() {
    try {
      const { object: object2, sub: sub2 } = await this.firstObject("catalog", (o) => this.onCatalogUpdate(o));
      this.catalogSub = sub2;
      const c2 = parseMsf(object2.payload);
      this.stats.catalogFormat = "msf";
      this.note(`MSF catalog: ${c2.tracks.map((t) => `${t.name} (${t.role})`).join(", ")}`);
      return c2;
    } catch (e) {
      if (!(e instanceof RequestRefused)) throw e;
      this.note(`no MSF catalog (${e.message}); trying .catalog`);
    }
    const { object, sub } = await this.firstObject(".catalog", null);
    sub.close();
    const c = parseCatalogFormat01(object.payload);
    this.stats.catalogFormat = "catalogformat-01";
    this.note(`catalogformat-01 catalog: ${c.tracks.map((t) => `${t.name} (${t.role})`).join(", ")}`);
    return c;
  }
  /** A new MSF catalog version (a later group): the rendition list follows it. */
  onCatalogUpdate(o) {
    if (o.object !== 0 || o.payload.length === 0) return;
    if (!this.catalog) {
      if (!this.pendingCatalog || o.group > this.pendingCatalog.group) this.pendingCatalog = o;
      return;
    }
    try {
      this.catalog = parseMsf(o.payload, this.catalog);
      this.stats.renditions = videoRenditions(this.catalog).map((t) => t.name);
      this.note("catalog updated");
    } catch (e) {
      this.error(`catalog update: ${errorText(e)}`);
    }
  }
  /**
   * Subscribe to `track` (a catalog or an init track) from its start and wait (bounded) for its
   * first object with a payload. Later objects go to `later`.
   */
  async firstObject(track, later, timeoutMs = 1e4) {
    let resolve = () => {
    };
    const got = new Promise((r) => resolve = r);
    let first = null;
    const sub = await this.session().subscribe(this.namespace, track, {
      filter: { kind: "from", group: 0 },
      priority: 0,
      onObject: (o) => {
        if (o.status !== 0 || o.payload.length === 0) return;
        if (!first) {
          first = o;
          resolve(o);
        } else if (later && (o.group > first.group || o.group === first.group && o.object > first.object)) {
          later(o);
        }
      }
    });
    let timer = 0;
    const timeout = new Promise((_, reject) => {
      timer = window.setTimeout(() => reject(new Error(`no object on track ${track} within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      return { object: await Promise.race([got, timeout]), sub };
    } catch (e) {
      sub.close();
      throw e;
    } finally {
      window.clearTimeout(timer);
    }
  }
  loadInit(t) {
    if (t.initData) return Promise.resolve(parseInit(t.initData));
    const name = t.initTrack;
    if (!name) return Promise.reject(new CatalogError(`track ${t.name} has neither initData nor initTrack`));
    let p = this.inits.get(name);
    if (!p) {
      p = this.firstObject(name, null).then(({ object, sub }) => {
        sub.close();
        return parseInit(object.payload);
      });
      this.inits.set(name, p);
      p.catch(() => this.inits.delete(name));
    }
    return p;
  }
  // -------------------------------------------------------------------------
  // Audio output.
  setupAudio() {
    try {
      this.audioCtx = new AudioContext({ latencyHint: "interactive" });
    } catch (e) {
      this.error(`audio: no AudioContext: ${errorText(e)}`);
      return;
    }
    this.clock.audio = this.audioCtx;
    const update = () => {
      this.stats.audioState = this.audioCtx ? this.audioCtx.state : "none";
      this.changed();
    };
    this.audioCtx.onstatechange = update;
    update();
    void this.audioCtx.resume().catch(() => {
    });
  }
  audioContext() {
    return this.audioCtx;
  }
  /** Resume audio after a user gesture (browsers keep an AudioContext suspended until one). */
  unmute() {
    void this.audioCtx?.resume();
  }
  // -------------------------------------------------------------------------
  // Video output.
  /** Target playout delay (µs). */
  targetUs() {
    return this.edge.targetUs;
  }
  /**
   * Live media for `timestamp` is decoded and ready to play: the adaptive target judges how
   * much room it had, and the clock moves when the target does.
   */
  liveArrival(timestamp) {
    if (this.stats.playback !== "live" || !this.clock.started || this.nextVideo) return;
    const shift = this.edge.arrived(timestamp, this.clock.now(), performance.now());
    if (shift === 0) return;
    this.clock.set(this.clock.now() + shift);
    this.audio?.flush();
    this.stats.targetMs = Math.round(this.edge.targetUs / 1e3);
    this.stats.targetRaises = this.edge.raises;
    this.stats.targetLowerings = this.edge.lowerings;
    this.note(
      shift < 0 ? `media came ${(-shift / 1e3).toFixed(0)} ms too late: playing ${this.stats.targetMs} ms behind live` : `steady: playing ${this.stats.targetMs} ms behind live (${(shift / 1e3).toFixed(0)} ms closer)`
    );
  }
  /** First decoded media starts the clock, the target delay behind it. */
  mediaStarted(timestamp) {
    if (!this.clock.started) {
      this.edge.restart(performance.now());
      this.clock.set(timestamp - this.targetUs());
      this.note(
        `playback starts at media time ${(timestamp / US).toFixed(3)} s, ${(this.targetUs() / 1e3).toFixed(0)} ms behind`
      );
    }
  }
  videoFrame(p, frame, info) {
    this.stats.framesDecoded += 1;
    const live = p === this.video || p === this.nextVideo;
    if (live && this.stats.playback !== "live") {
      if (p === this.nextVideo && p.cutover !== null && frame.timestamp >= p.cutover) this.finishSwitch(null, performance.now(), frame.timestamp);
      frame.close();
      return;
    }
    if (p === this.video && this.nextVideo?.cutover != null && frame.timestamp >= this.nextVideo.cutover) {
      frame.close();
      return;
    }
    const dvr = this.dvr;
    if (!live && (!dvr || p !== dvr.video)) {
      frame.close();
      return;
    }
    if (dvr && p === dvr.video && dvr.waiting && frame.timestamp + p.frameDuration > dvr.target) {
      dvr.waiting = false;
      this.clock.set(dvr.target);
      dvr.audio?.release();
      this.note(`playing ${((dvr.liveAt - dvr.target) / US).toFixed(1)} s behind live`);
    }
    this.mediaStarted(frame.timestamp);
    if (p === this.video) this.liveArrival(frame.timestamp);
    if (p === this.nextVideo && p.readyMs === null && p.cutover !== null && frame.timestamp >= p.cutover) {
      p.readyMs = (frame.timestamp - this.clock.now()) / 1e3;
    }
    const entry = { frame, pipeline: p, publishedMs: info.publishedMs, group: info.group };
    if (this.stats.framesDrawn === 0 && p === this.video) {
      this.draw(entry);
      return;
    }
    let i = this.queue.length;
    while (i > 0 && this.queue[i - 1].frame.timestamp > frame.timestamp) i--;
    this.queue.splice(i, 0, entry);
    while (this.queue.length > 120) this.skip(this.queue.shift());
  }
  skip(q) {
    q.frame.close();
    this.stats.framesSkipped += 1;
  }
  render() {
    if (this.stopped) return;
    requestAnimationFrame(() => this.render());
    if (!this.clock.started) return;
    if (this.stats.playback === "live") this.catchUp();
    const latencyUs = this.audioCtx && this.audioCtx.state === "running" ? outputLatency(this.audioCtx) : 0;
    const now = this.clock.now() - latencyUs;
    let pick = null;
    const floor = this.lastDraw?.ts ?? -Infinity;
    while (this.queue.length > 0 && this.queue[0].frame.timestamp <= now) {
      if (pick) {
        this.skip(pick);
        this.skippedSinceDraw += 1;
      }
      pick = this.queue.shift();
      if (pick.frame.timestamp <= floor) {
        this.skip(pick);
        pick = null;
      }
    }
    if (pick) this.draw(pick);
  }
  /** Too far behind the newest media (the joining burst, a stall): jump to near live. */
  catchUp() {
    const newest = Math.max(this.video?.newest ?? -Infinity, this.nextVideo?.newest ?? -Infinity, this.audio?.newest ?? -Infinity);
    if (!Number.isFinite(newest)) return;
    const now = this.clock.now();
    const target = this.targetUs();
    const extra = this.edge.adaptive ? MAX_EXTRA_BUFFER_ADAPTIVE_US : MAX_EXTRA_BUFFER_US;
    if (newest - now > target + extra) {
      this.clock.set(newest - target);
      this.edge.restart(performance.now());
      this.audio?.flush();
      this.stats.catchUps += 1;
      this.note(`caught up to live: skipped ${((newest - target - now) / 1e3).toFixed(0)} ms`);
    }
  }
  draw(q) {
    const { frame, pipeline } = q;
    const drawnAt = performance.now();
    const prev = this.lastDraw;
    const skipped = this.skippedSinceDraw;
    this.skippedSinceDraw = 0;
    if (prev) {
      const raw = drawnAt - prev.t;
      const hole = skipped === 0 ? Math.max(0, (frame.timestamp - prev.ts - pipeline.frameDuration) / 1e3) : 0;
      this.drawGap(drawnAt, raw - hole, raw);
    }
    this.lastDraw = { t: drawnAt, ts: frame.timestamp, group: q.group };
    const canvas = this.options.canvas;
    const w = frame.displayWidth;
    const h = frame.displayHeight;
    if (canvas.width !== w || canvas.height !== h) {
      canvas.width = w;
      canvas.height = h;
    }
    this.ctx2d.drawImage(frame, 0, 0, w, h);
    const s = this.stats;
    s.width = w;
    s.height = h;
    s.framesDrawn += 1;
    s.lastFrameTime = performance.now();
    if (s.timing.firstFrame === null) s.timing.firstFrame = s.lastFrameTime;
    s.lastFrameTimestamp = frame.timestamp;
    s.drawnByRendition[pipeline.track.name] = (s.drawnByRendition[pipeline.track.name] ?? 0) + 1;
    if (q.publishedMs === null) {
      s.latencyUnknownFrames += 1;
    } else {
      s.latencyMs.push(performance.timeOrigin + performance.now() - q.publishedMs);
      s.latencyCount += 1;
      if (s.latencyMs.length > LATENCY_SAMPLES) s.latencyMs.shift();
    }
    frame.close();
    if (this.options.readStamps) {
      const stamp = readStamp(this.ctx2d, w, h);
      if (stamp === null) {
        s.stampsUnread += 1;
      } else {
        s.glassMs.push(performance.timeOrigin + drawnAt - stamp);
        if (s.glassMs.length > GLASS_SAMPLES) s.glassMs.shift();
      }
    }
    if (pipeline === this.nextVideo) this.finishSwitch(prev, drawnAt, this.lastDraw.ts, skipped);
  }
  /** A gap of `gap` ms between drawn frames ended at `t`. */
  drawGap(t, gap, raw) {
    this.drawGaps.push({ t, gap, raw });
    while (this.drawGaps.length > 0 && this.drawGaps[0].t < t - 2 * SEAM_WINDOW_MS) this.drawGaps.shift();
    for (const ev of this.stats.switchLog) {
      if (t > ev.at && t <= ev.at + SEAM_WINDOW_MS) {
        ev.maxGapAfterMs = Math.max(ev.maxGapAfterMs, gap);
        ev.maxRawGapAfterMs = Math.max(ev.maxRawGapAfterMs, raw);
      }
    }
  }
  // -------------------------------------------------------------------------
  // Rendition switching, at group boundaries.
  /**
   * Switch to `name` (a video track of the catalog; manual mode), or let auto mode choose
   * again with 'auto'.
   */
  select(name) {
    if (!this.catalog) return;
    if (name === "auto") {
      this.stats.mode = "auto";
      this.note("auto mode");
      this.changed();
      return;
    }
    const target = videoRenditions(this.catalog).find((t) => t.name === name);
    if (!target) {
      this.error(`no video rendition named ${name}`);
      return;
    }
    this.stats.mode = "manual";
    this.cancelProbe();
    this.switchTo(target, "manual");
  }
  /** Start drawing `target` from its next group on (the current rendition until then). */
  switchTo(target, reason) {
    if (this.nextVideo) {
      if (this.nextVideo.track.name === target.name) return;
      this.cancelSwitch();
    }
    if (this.video?.track.name === target.name) {
      this.changed();
      return;
    }
    this.note(`switching to ${target.name} at its next group (${reason})`);
    const next = new VideoPipeline(this, target);
    this.nextVideo = next;
    this.switchAskedAt = performance.now();
    this.switchReason = reason;
    this.stats.switchingTo = target.name;
    const playing = this.lastDraw?.group ?? -1;
    const filter = playing >= 0 ? { kind: "from", group: playing + 1 } : { kind: "nextGroup" };
    let held = null;
    const h = this.held.get(target.name);
    if (h) {
      held = h.ready;
      this.held.delete(target.name);
      this.note(`${target.name} is held ready: forwarding starts`);
    }
    next.start((t) => this.loadInit(t), false, PRIORITY_VIDEO, filter, held).catch((e) => {
      this.error(`switch to ${target.name}: ${errorText(e)}`);
      if (this.nextVideo === next) this.cancelSwitch();
      next.close();
    });
    this.changed();
  }
  /** Give up the switch in progress: the current rendition plays on, all of it. */
  cancelSwitch() {
    this.nextVideo?.close();
    this.nextVideo = null;
    this.stats.switchingTo = null;
    if (this.video?.sub) this.video.sub.dropFrom = null;
  }
  isLiveAudio(p) {
    return p === this.audio;
  }
  isSwitchTarget(p) {
    return p === this.nextVideo;
  }
  /**
   * The new rendition's first group (`group`, null when it did not start at a group's first
   * object) starts at `timestamp`: the old one is drawn until then, and its streams of that
   * group on are not wanted (cancelled, so they do not compete for the link).
   */
  setCutover(p, timestamp, group) {
    p.cutover = timestamp;
    if (group !== null && this.video?.sub) this.video.sub.dropFrom = group;
    this.note(
      `${p.track.name}: ${group !== null ? `group ${group} starts` : "first keyframe"} at ${(timestamp / US).toFixed(3)} s; switching there`
    );
    this.queue = this.queue.filter((q) => {
      if (q.pipeline !== p && q.frame.timestamp >= timestamp) {
        this.skip(q);
        return false;
      }
      return true;
    });
  }
  /** The new rendition's first frame was drawn at `at` (media time `ts`); `prev` was the last before. */
  finishSwitch(prev, at, ts, skipped = 0) {
    const next = this.nextVideo;
    const old = this.video;
    this.video = next;
    this.nextVideo = null;
    this.stats.rendition = next.track.name;
    this.stats.switchingTo = null;
    this.stats.switches += 1;
    this.abr.switched(at);
    let before = 0;
    let rawBefore = 0;
    for (const g of this.drawGaps) {
      if (g.t >= at - SEAM_WINDOW_MS && g.t < at) {
        before = Math.max(before, g.gap);
        rawBefore = Math.max(rawBefore, g.raw);
      }
    }
    const ev = {
      from: old?.track.name ?? null,
      to: next.track.name,
      reason: this.switchReason,
      askedAt: this.switchAskedAt,
      at,
      seamGapMs: prev ? at - prev.t : 0,
      seamMediaGapMs: prev ? (ts - prev.ts) / 1e3 : 0,
      seamSkipped: skipped,
      maxGapBeforeMs: before,
      maxGapAfterMs: 0,
      maxRawGapBeforeMs: rawBefore,
      maxRawGapAfterMs: 0,
      frameMs: next.frameDuration / 1e3,
      readyMs: next.readyMs
    };
    if (this.stats.playback === "live") this.stats.switchLog.push(ev);
    if (this.stats.switchLog.length > 20) this.stats.switchLog.shift();
    this.note(
      `now drawing ${next.track.name}: seam ${ev.seamGapMs.toFixed(0)} ms (media ${ev.seamMediaGapMs.toFixed(0)} ms), ${(at - this.switchAskedAt).toFixed(0)} ms after it was asked for`
    );
    if (old) {
      old.close();
      this.queue = this.queue.filter((q) => {
        if (q.pipeline === old) {
          this.skip(q);
          return false;
        }
        return true;
      });
    }
  }
};
function outputLatency(ctx) {
  const s = (ctx.outputLatency || 0) + (ctx.baseLatency || 0);
  return Math.min(Math.max(s, 0), 0.5) * US;
}
function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

// src/whep.ts
var WhepRefused = class extends Error {
  constructor(status2, text) {
    super(`WHEP answered ${status2}${text ? `: ${text}` : ""}`);
    this.status = status2;
    this.text = text;
  }
  status;
  text;
};
function parseIceServers(link) {
  if (!link) return [];
  const out = [];
  for (const part of link.split(/,\s*(?=<)/)) {
    const m = /^\s*<([^>]*)>(.*)$/.exec(part);
    if (!m) continue;
    const params = {};
    for (const p of m[2].split(";")) {
      const kv = /^\s*([A-Za-z-]+)\s*=\s*"?([^"]*)"?\s*$/.exec(p);
      if (kv) params[kv[1].toLowerCase()] = kv[2];
    }
    if (params.rel !== "ice-server") continue;
    const server = { urls: m[1] };
    if (params.username !== void 0) server.username = params.username;
    if (params.credential !== void 0) server.credential = params.credential;
    out.push(server);
  }
  return out;
}
var WhepClient = class {
  constructor(options) {
    this.options = options;
    this.pc = new RTCPeerConnection();
    this.pc.addTransceiver("video", { direction: "recvonly" });
    this.pc.addTransceiver("audio", { direction: "recvonly" });
    this.pc.ontrack = (e) => {
      this.stream.addTrack(e.track);
      const v = this.options.video;
      if (v.srcObject !== this.stream) v.srcObject = this.stream;
      v.play().catch(() => {
      });
    };
  }
  options;
  pc;
  /** The session's URL (from the answer's Location), once answered. */
  resource = null;
  stream = new MediaStream();
  headers() {
    return this.options.token ? { Authorization: `Bearer ${this.options.token}` } : {};
  }
  /** Offer, POST, answer. Throws `WhepRefused` when the endpoint says no. */
  async start() {
    const offer = await this.pc.createOffer();
    await this.pc.setLocalDescription(offer);
    let res;
    try {
      res = await fetch(this.options.url, {
        method: "POST",
        body: offer.sdp,
        headers: { "Content-Type": "application/sdp", ...this.headers() }
      });
    } catch (e) {
      throw new Error(`WHEP request failed: ${errorText(e)}`);
    }
    const text = await res.text();
    if (res.status !== 201) throw new WhepRefused(res.status, text.trim());
    const location2 = res.headers.get("location");
    if (location2) this.resource = new URL(location2, new URL(this.options.url, document.baseURI)).href;
    const iceServers = parseIceServers(res.headers.get("link"));
    if (iceServers.length) this.pc.setConfiguration({ ...this.pc.getConfiguration(), iceServers });
    await this.pc.setRemoteDescription({ type: "answer", sdp: text });
  }
  /**
   * Resolves once ICE and DTLS are up; rejects when they fail or `ms` pass first.
   */
  connected(ms) {
    const pc = this.pc;
    return new Promise((resolve, reject) => {
      const timer = self.setTimeout(() => {
        pc.removeEventListener("connectionstatechange", check);
        reject(new Error(`WebRTC did not connect within ${ms / 1e3} s (${pc.connectionState})`));
      }, ms);
      const check = () => {
        const s = pc.connectionState;
        if (s !== "connected" && s !== "failed" && s !== "closed") return;
        self.clearTimeout(timer);
        pc.removeEventListener("connectionstatechange", check);
        if (s === "connected") resolve();
        else reject(new Error(`WebRTC connection ${s}`));
      };
      pc.addEventListener("connectionstatechange", check);
      check();
    });
  }
  /** End the session: DELETE it (kept alive through page unload) and close the connection. */
  stop() {
    if (this.resource) {
      fetch(this.resource, { method: "DELETE", headers: this.headers(), keepalive: true }).catch(() => {
      });
      this.resource = null;
    }
    this.pc.close();
  }
};

// src/watch.ts
var FIRST_FRAME_MS = { moq: 1e4, whep: 1e4, hls: 15e3 };
var WHEP_CONNECT_MS = 8e3;
var TICK_MS = 250;
var HLS_JS = "/watch.assets/hls.min.js";
function failure() {
  let fail = () => {
  };
  const failed = new Promise((resolve) => fail = resolve);
  return { failed, fail };
}
function show2(target, what) {
  target.canvas.hidden = what !== "canvas";
  target.video.hidden = what !== "video";
}
function videoFrames(video) {
  if (typeof video.getVideoPlaybackQuality === "function") return video.getVideoPlaybackQuality().totalVideoFrames;
  return video.webkitDecodedFrameCount ?? 0;
}
function elementPlayback(video, failed, stop) {
  return {
    failed,
    frames: () => videoFrames(video),
    size: () => [video.videoWidth, video.videoHeight],
    muted: () => video.muted,
    unmute: () => {
      video.muted = false;
      video.play().catch(() => {
      });
    },
    stop
  };
}
function resetVideo(video) {
  video.pause();
  video.srcObject = null;
  video.removeAttribute("src");
  video.load();
  video.muted = true;
}
function playMoq(target) {
  show2(target, "canvas");
  const { failed, fail } = failure();
  let player = null;
  let stopped = false;
  void (async () => {
    const config = await pageConfig();
    if (stopped) return;
    const websocket = websocketUrl(config.relay, target.websocket, location.origin);
    const p = new Player({
      relay: moqUrl(config.relay, target.token),
      websocket: websocket && moqUrl(websocket, target.token),
      transport: target.transport,
      fingerprint: config.fingerprint,
      namespace: target.fields,
      canvas: target.canvas,
      onSession: (s) => void s.closed.then(fail)
    });
    player = p;
    await p.start();
  })().catch((e) => fail(errorText(e)));
  return {
    failed,
    frames: () => player?.stats.framesDrawn ?? 0,
    size: () => [player?.stats.width ?? 0, player?.stats.height ?? 0],
    muted: () => player?.stats.audioState === "suspended",
    transport: () => player?.stats.transport ?? null,
    unmute: () => player?.unmute(),
    stop: () => {
      stopped = true;
      player?.stop();
    }
  };
}
function playWhep(target) {
  show2(target, "video");
  const { failed, fail } = failure();
  const client = new WhepClient({ url: `/whep/${target.urlPath}`, token: target.token, video: target.video });
  const onHide = () => client.stop();
  window.addEventListener("pagehide", onHide);
  client.start().then(() => client.connected(WHEP_CONNECT_MS)).then(() => {
    client.pc.addEventListener("connectionstatechange", () => {
      const s = client.pc.connectionState;
      if (s === "failed" || s === "closed") fail(`WebRTC connection ${s}`);
    });
  }).catch((e) => fail(errorText(e)));
  return elementPlayback(target.video, failed, () => {
    window.removeEventListener("pagehide", onHide);
    client.stop();
    resetVideo(target.video);
  });
}
function loadScript(src) {
  return new Promise((resolve, reject) => {
    const s = document.createElement("script");
    s.src = src;
    s.onload = () => resolve();
    s.onerror = () => reject(new Error(`cannot load ${src}`));
    document.head.append(s);
  });
}
function playHls(target, status2) {
  show2(target, "video");
  const { failed, fail } = failure();
  const video = target.video;
  const src = hlsUrl(target.urlPath, target.token);
  const which = hlsPlayer(target.features);
  status2.hls = which;
  let hls = null;
  let stopped = false;
  const onError = () => {
    const e = video.error;
    fail(`the browser's HLS player: ${e ? `${e.code} ${e.message}`.trim() : "error"}`);
  };
  if (which === "native") {
    video.addEventListener("error", onError);
    video.src = src;
    video.play().catch(() => {
    });
  } else {
    loadScript(HLS_JS).then(() => {
      const Hls = window.Hls;
      if (stopped) return;
      if (!Hls) throw new Error(`${HLS_JS} did not define Hls`);
      if (!Hls.isSupported()) throw new Error("hls.js cannot play in this browser");
      const h = new Hls({ lowLatencyMode: true });
      hls = h;
      h.on(Hls.Events.ERROR, (_, d) => {
        if (d.fatal) fail(`hls.js: ${d.type}: ${d.details}`);
      });
      h.loadSource(src);
      h.attachMedia(video);
      video.play().catch(() => {
      });
    }).catch((e) => fail(errorText(e)));
  }
  return elementPlayback(video, failed, () => {
    stopped = true;
    video.removeEventListener("error", onError);
    hls?.destroy();
    resetVideo(video);
  });
}
function features(video) {
  return {
    userAgent: navigator.userAgent,
    webCodecs: typeof VideoDecoder !== "undefined",
    webRtc: typeof RTCPeerConnection !== "undefined",
    nativeHls: video.canPlayType("application/vnd.apple.mpegurl") !== "",
    mediaSource: typeof MediaSource !== "undefined"
  };
}
function stepsText(steps) {
  return steps.map((s) => `${VIA_NAMES[s.via]} ${s.outcome}: ${s.reason}`).join("; ");
}
function viaName(status2) {
  if (!status2.via) return "";
  if (status2.via === "hls" && status2.hls) return `${VIA_NAMES.hls} (${status2.hls})`;
  if (status2.via === "moq" && status2.transport) return `${VIA_NAMES.moq} (${TRANSPORT_NAMES[status2.transport]})`;
  return VIA_NAMES[status2.via];
}
async function runWatch() {
  const canvas = $("picture");
  const video = $("media");
  const unmute = $("unmute");
  const status2 = {
    broadcast: "",
    via: null,
    hls: null,
    transport: null,
    state: "starting",
    reason: "",
    error: null,
    steps: [],
    frames: 0,
    width: 0,
    height: 0
  };
  window.ternWatch = status2;
  const render = () => {
    const name = viaName(status2);
    const why = status2.reason ? `: ${status2.reason}` : "";
    $("status").textContent = status2.state === "playing" ? `Playing over ${name}${why}` : status2.state === "connecting" ? `Trying ${name}${why}` : status2.state === "failed" ? `Cannot play${status2.steps.length ? `: ${stepsText(status2.steps)}` : ""}` : "Starting";
    $("error").textContent = status2.error ?? "";
  };
  const failed = (text) => {
    status2.state = "failed";
    status2.error = text;
    render();
  };
  const target = watchedBroadcast(location.pathname);
  if (!target) return failed(`${location.pathname} names no broadcast: open /watch/NAME`);
  status2.broadcast = target.fields.join("/");
  $("broadcast").textContent = status2.broadcast;
  document.title = `${status2.broadcast} · tern`;
  const params = new URLSearchParams(location.search);
  let forced;
  let transport;
  try {
    forced = parseVia(params.get("via"));
    transport = parseTransportMode(params.get("transport"));
  } catch (e) {
    return failed(errorText(e));
  }
  const t = {
    ...target,
    token: params.get("token") || null,
    websocket: params.get("websocket") || null,
    transport,
    features: features(video),
    canvas,
    video
  };
  window.addEventListener("pageshow", (e) => {
    if (e.persisted) location.reload();
  });
  let current = null;
  let visibleMs = 0;
  const sample = () => {
    if (!current) return;
    status2.frames = current.frames();
    [status2.width, status2.height] = current.size();
    status2.transport = current.transport?.() ?? null;
    unmute.hidden = !(status2.state === "playing" && current.muted());
  };
  setInterval(() => {
    if (!document.hidden) visibleMs += TICK_MS;
    sample();
  }, TICK_MS);
  unmute.addEventListener("click", () => {
    current?.unmute();
    unmute.hidden = true;
  });
  for (const step of plan(t.features, forced)) {
    if (step.skip) {
      status2.steps.push({ via: step.via, outcome: "skipped", reason: step.skip });
      continue;
    }
    status2.via = step.via;
    status2.hls = null;
    status2.transport = null;
    status2.frames = status2.width = status2.height = 0;
    const why = [forced ? `asked for with ?via=${forced.join(",")}` : "", stepsText(status2.steps)].filter((w) => w);
    status2.reason = why.length ? why.join("; ") : "the best way this browser has";
    status2.state = "connecting";
    const playback = step.via === "moq" ? playMoq(t) : step.via === "whep" ? playWhep(t) : playHls(t, status2);
    current = playback;
    render();
    const deadline = visibleMs + FIRST_FRAME_MS[step.via];
    let timer = 0;
    let reason = await Promise.race([
      playback.failed,
      new Promise((resolve) => {
        timer = window.setInterval(() => {
          if (playback.frames() > 0) resolve(null);
          else if (visibleMs >= deadline) resolve(`no picture within ${FIRST_FRAME_MS[step.via] / 1e3} s`);
        }, 100);
      })
    ]);
    window.clearInterval(timer);
    if (reason === null) {
      status2.state = "playing";
      status2.error = null;
      sample();
      render();
      reason = await playback.failed;
    }
    playback.stop();
    current = null;
    status2.steps.push({ via: step.via, outcome: "failed", reason });
    status2.error = `${VIA_NAMES[step.via]}: ${reason}`;
    render();
  }
  status2.via = null;
  unmute.hidden = true;
  show2(t, "video");
  failed(status2.error ?? "no way to play in this browser");
}

// src/main.ts
function median(xs) {
  const s = xs.slice().sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}
async function loadConfig() {
  const params = new URLSearchParams(location.search);
  const config = await pageConfig();
  const ns = params.get("namespace");
  const namespace = ns !== null ? namespaceFields(ns) : config.namespace;
  const relay = params.get("relay") ?? config.relay;
  const sameOrigin = config.websocket && !params.has("relay");
  return {
    relay,
    namespace,
    fingerprint: config.fingerprint,
    websocket: websocketUrl(relay, params.get("websocket"), sameOrigin ? location.origin : null),
    transport: parseTransportMode(params.get("transport")),
    rendition: params.get("rendition"),
    audio: params.get("audio"),
    latencyMs: params.has("latency") ? Number(params.get("latency")) : null,
    readStamps: params.get("stamp") === "1",
    viewer: params.get("viewer") ?? `web-${Math.random().toString(16).slice(2, 8)}`
  };
}
async function main2() {
  const canvas = $("video");
  const picker = $("rendition");
  const unmute = $("unmute");
  const pause = $("pause");
  const back = $("back");
  const live = $("live");
  const config = await loadConfig();
  $("relay").textContent = config.relay;
  $("namespace").textContent = config.namespace.join("/");
  let player = null;
  let pickerFor = "";
  const render = () => {
    if (!player) return;
    const s = player.stats;
    $("state").textContent = s.state;
    $("relay").textContent = s.transport ? `${s.transport === "websocket" ? config.websocket : config.relay} · ${TRANSPORT_NAMES[s.transport]}` : config.relay;
    $("catalog").textContent = s.catalogFormat ?? "-";
    $("shown").textContent = s.rendition ? `${s.rendition}${s.width ? ` · ${s.width}x${s.height}` : ""}${s.videoCodec ? ` · ${s.videoCodec}` : ""}${s.switchingTo ? ` → switching to ${s.switchingTo}` : ""}` : "-";
    $("frames").textContent = `${s.framesDrawn} drawn, ${s.framesDecoded} decoded, ${s.framesSkipped} skipped`;
    const latest = s.latencyMs[s.latencyMs.length - 1];
    $("latency").textContent = latest !== void 0 ? `${latest.toFixed(0)} ms (median ${median(s.latencyMs).toFixed(0)} ms of ${s.latencyMs.length}) · playing ${s.targetMs} ms behind the newest media (${s.targetAdaptive ? `adaptive, ${s.targetRaises} stalls` : "fixed"})` : s.framesDrawn > 0 ? "unknown (the objects carry no prft publish stamp)" : "-";
    const playing = s.framesDrawn > 0;
    pause.disabled = back.disabled = !playing;
    pause.textContent = s.playback === "paused" ? "play" : "pause";
    live.disabled = s.playback === "live";
    $("playback").textContent = s.playback === "live" ? "live" : `${s.playback}${s.behindLiveMs !== null ? ` · ${(s.behindLiveMs / 1e3).toFixed(1)} s behind live` : ""}`;
    const abr = s.abr;
    const decision = abr?.decisions[abr.decisions.length - 1];
    $("abr").textContent = abr ? `${s.mode} · received ${(abr.throughputBps / 1e3).toFixed(0)} kbit/s · lag +${abr.lagExcessMs.toFixed(0)} ms` + (abr.probe ? ` · probe ${(abr.probe.spareBps / 1e3).toFixed(0)} kbit/s spare` : "") + (decision ? ` · last: → ${decision.to} (${decision.reason})` : "") : s.mode;
    $("audio").textContent = s.audioTrack ? `${s.audioTrack}${s.audioCodec ? ` · ${s.audioCodec}` : ""} · ${s.audioState} · ${s.audioSamplesPlayed} samples played` : "none";
    unmute.hidden = !(s.audioTrack && s.audioState === "suspended");
    $("error").textContent = s.errors.join("\n");
    $("log").textContent = s.log.slice(-40).join("\n");
    const key = s.renditions.join("\n");
    if (key !== pickerFor && player.catalog) {
      pickerFor = key;
      picker.replaceChildren();
      const auto = document.createElement("option");
      auto.value = "auto";
      auto.textContent = "auto";
      picker.append(auto);
      for (const t of videoRenditions(player.catalog)) {
        const o = document.createElement("option");
        o.value = t.name;
        o.textContent = describe(t);
        picker.append(o);
      }
      picker.disabled = false;
    }
    const want = s.mode === "auto" ? "auto" : s.switchingTo ?? s.rendition ?? "auto";
    if (document.activeElement !== picker && picker.value !== want) picker.value = want;
  };
  let scheduled = false;
  const changed = () => {
    if (scheduled) return;
    scheduled = true;
    setTimeout(() => {
      scheduled = false;
      render();
    }, 100);
  };
  if (!validViewer(config.viewer)) throw new Error(`?viewer=${config.viewer}: use 1 to 32 of A-Z a-z 0-9 _ - .`);
  let chat = null;
  const chatInput = $("chat-input");
  const chatForm = $("chat-form");
  const renderChat = () => {
    if (!chat) return;
    const c = chat.stats;
    $("chat-state").textContent = `${c.viewer} · ${c.state}${c.reason ? ` · ${c.reason}` : ""}`;
    chatForm.querySelector("button").disabled = c.state !== "ready";
    const list = $("chat-events");
    list.replaceChildren(
      ...c.records.slice(-50).map((r) => {
        const li = document.createElement("li");
        li.textContent = `#${r.seq} ${r.viewer}${r.kind === "chat" ? "" : ` [${r.kind}]`}: ${r.body}`;
        const small = document.createElement("small");
        small.textContent = r.latencyMs === null ? "" : ` ${r.latencyMs} ms`;
        li.append(small);
        return li;
      })
    );
    list.scrollTop = list.scrollHeight;
  };
  const onSession = (session) => {
    const c = new Chat(session, config.namespace, config.viewer, renderChat, (t) => player?.note(t));
    chat = c;
    window.ternChat = Object.assign(c.stats, { send: (text) => c.send(text) });
    void c.start();
  };
  chatForm.addEventListener("submit", (ev) => {
    ev.preventDefault();
    if (!chat) return;
    chat.send(chatInput.value).then(
      () => chatInput.value = "",
      (e) => $("chat-state").textContent = errorText(e)
    );
  });
  player = new Player({ ...config, canvas, onChange: changed, onSession });
  const p = player;
  window.ternPlayer = Object.assign(p.stats, {
    select: (name) => p.select(name),
    unmute: () => p.unmute(),
    pause: () => p.pause(),
    play: () => p.play(),
    rewind: (seconds) => p.rewind(seconds),
    live: () => p.live()
  });
  picker.addEventListener("change", () => p.select(picker.value));
  unmute.addEventListener("click", () => p.unmute());
  pause.addEventListener("click", () => p.stats.playback === "paused" ? p.play() : p.pause());
  back.addEventListener("click", () => p.rewind(10));
  live.addEventListener("click", () => p.live());
  setInterval(render, 500);
  try {
    await p.start();
  } catch (e) {
    const text = errorText(e);
    p.stats.state = e instanceof UnsupportedCodec ? "unsupported codec" : "failed";
    p.error(text);
    if (e instanceof UnsupportedCodec) $("message").textContent = text;
  }
  render();
}
if (document.body.dataset.page === "clock") {
  runClock();
} else if (document.body.dataset.page === "watch") {
  runWatch().catch((e) => {
    const text = errorText(e);
    console.error(text);
    const el = document.getElementById("error");
    if (el) el.textContent = text;
  });
} else {
  main2().catch((e) => {
    const text = errorText(e);
    console.error(text);
    const el = document.getElementById("error");
    if (el) el.textContent = text;
  });
}
