// Just enough ISO-BMFF (fragmented MP4 / CMAF) for a player: the init segment's tracks with
// what WebCodecs needs to configure a decoder, and each chunk's samples (moof + mdat) with
// decode and presentation times, plus the `prft` publish stamp.

export class Mp4Error extends Error {}

interface Box {
  type: string;
  /** The box's content after its header. */
  body: Uint8Array;
  /** Offset of the box's first byte in the buffer it was read from. */
  start: number;
}

function view(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

function fourcc(b: Uint8Array, at: number): string {
  return String.fromCharCode(b[at], b[at + 1], b[at + 2], b[at + 3]);
}

/** The boxes in `b` (top level of `b`); a truncated box ends the list with an error. */
function boxes(b: Uint8Array): Box[] {
  const out: Box[] = [];
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

function child(b: Uint8Array, type: string): Uint8Array | null {
  for (const x of boxes(b)) if (x.type === type) return x.body;
  return null;
}

function children(b: Uint8Array, type: string): Uint8Array[] {
  return boxes(b)
    .filter((x) => x.type === type)
    .map((x) => x.body);
}

function path(b: Uint8Array, ...types: string[]): Uint8Array | null {
  let cur: Uint8Array | null = b;
  for (const t of types) {
    if (!cur) return null;
    cur = child(cur, t);
  }
  return cur;
}

function hex2(n: number): string {
  return n.toString(16).padStart(2, '0');
}

// ---------------------------------------------------------------------------
// Init segment.

export interface TrackInit {
  id: number;
  kind: 'video' | 'audio' | 'other';
  handler: string;
  timescale: number;
  /** The sample entry's four-character code (avc1, hvc1, mp4a, Opus, ...). */
  entry: string;
  /** RFC 6381 codec string derived from the sample entry ('' when unknown). */
  codec: string;
  /** WebCodecs `description` (avcC / hvcC / AudioSpecificConfig / OpusHead). */
  description?: Uint8Array;
  width?: number;
  height?: number;
  sampleRate?: number;
  channels?: number;
  /** Defaults from mvex/trex. */
  defaultDuration: number;
  defaultSize: number;
  defaultFlags: number;
}

export interface InitSegment {
  tracks: Map<number, TrackInit>;
}

export function parseInit(bytes: Uint8Array): InitSegment {
  const moov = child(bytes, 'moov');
  if (!moov) throw new Mp4Error('init segment has no moov box');
  const trex = new Map<number, { duration: number; size: number; flags: number }>();
  const mvex = child(moov, 'mvex');
  if (mvex) {
    for (const t of children(mvex, 'trex')) {
      const v = view(t);
      trex.set(v.getUint32(4), { duration: v.getUint32(12), size: v.getUint32(16), flags: v.getUint32(20) });
    }
  }
  const tracks = new Map<number, TrackInit>();
  for (const trak of children(moov, 'trak')) {
    const tkhd = child(trak, 'tkhd');
    const mdhd = path(trak, 'mdia', 'mdhd');
    const hdlr = path(trak, 'mdia', 'hdlr');
    const stsd = path(trak, 'mdia', 'minf', 'stbl', 'stsd');
    if (!tkhd || !mdhd || !hdlr || !stsd) throw new Mp4Error('trak without tkhd, mdhd, hdlr or stsd');
    const id = view(tkhd).getUint32(tkhd[0] === 1 ? 20 : 12);
    const timescale = view(mdhd).getUint32(mdhd[0] === 1 ? 20 : 12);
    const handler = fourcc(hdlr, 8);
    const d = trex.get(id) ?? { duration: 0, size: 0, flags: 0 };
    const track: TrackInit = {
      id,
      kind: handler === 'vide' ? 'video' : handler === 'soun' ? 'audio' : 'other',
      handler,
      timescale,
      entry: '',
      codec: '',
      defaultDuration: d.duration,
      defaultSize: d.size,
      defaultFlags: d.flags,
    };
    // stsd: FullBox header, entry_count, then the sample entries; the first one is used.
    const entries = boxes(stsd.subarray(8));
    if (entries.length > 0) sampleEntry(track, entries[0]);
    tracks.set(id, track);
  }
  return { tracks };
}

function sampleEntry(track: TrackInit, entry: Box): void {
  track.entry = entry.type;
  const b = entry.body;
  const v = view(b);
  if (track.kind === 'video') {
    // VisualSampleEntry: 6 reserved + 2 data_reference_index + 16 + width(2) height(2) ...
    // 78 bytes before the child boxes.
    track.width = v.getUint16(24);
    track.height = v.getUint16(26);
    const inner = b.subarray(78);
    switch (entry.type) {
      case 'avc1':
      case 'avc3': {
        const avcC = child(inner, 'avcC');
        if (avcC) {
          track.description = avcC.slice();
          track.codec = `${entry.type}.${hex2(avcC[1])}${hex2(avcC[2])}${hex2(avcC[3])}`;
        }
        break;
      }
      case 'hvc1':
      case 'hev1': {
        const hvcC = child(inner, 'hvcC');
        if (hvcC) {
          track.description = hvcC.slice();
          track.codec = hevcCodec(entry.type, hvcC);
        }
        break;
      }
      case 'av01': {
        const av1C = child(inner, 'av1C');
        if (av1C) track.codec = av1Codec(av1C);
        break;
      }
      case 'vp09': {
        const vpcC = child(inner, 'vpcC');
        if (vpcC) track.codec = `vp09.${pad2(vpcC[4])}.${pad2(vpcC[5])}.${pad2(vpcC[6] >> 4)}`;
        break;
      }
      default:
        track.codec = entry.type;
    }
  } else if (track.kind === 'audio') {
    // AudioSampleEntry: 6 + 2 + 8 reserved, channelcount(2), samplesize(2), 4, samplerate(4, 16.16).
    track.channels = v.getUint16(16);
    track.sampleRate = v.getUint32(24) >>> 16;
    const inner = b.subarray(28);
    switch (entry.type) {
      case 'mp4a': {
        const esds = child(inner, 'esds');
        const asc = esds ? audioSpecificConfig(esds.subarray(4)) : null;
        if (asc && asc.length >= 2) {
          track.description = asc;
          let aot = asc[0] >> 3;
          if (aot === 31) aot = 32 + (((asc[0] & 7) << 3) | (asc[1] >> 5));
          track.codec = `mp4a.40.${aot}`;
        } else {
          track.codec = 'mp4a.40.2';
        }
        break;
      }
      case 'Opus': {
        const dOps = child(inner, 'dOps');
        track.codec = 'opus';
        if (dOps) track.description = opusHead(dOps);
        break;
      }
      default:
        track.codec = entry.type;
    }
  }
}

function pad2(n: number): string {
  return n.toString().padStart(2, '0');
}

/** hvc1.P.C.TL.B..: ISO/IEC 14496-15 Annex E from the hvcC record. */
function hevcCodec(entry: string, c: Uint8Array): string {
  const space = c[1] >> 6;
  const tier = (c[1] >> 5) & 1;
  const profile = c[1] & 0x1f;
  const compat = ((c[2] << 24) | (c[3] << 16) | (c[4] << 8) | c[5]) >>> 0;
  // The compatibility flags are written bit-reversed.
  let rev = 0;
  for (let i = 0; i < 32; i++) if (compat & (1 << i)) rev |= 1 << (31 - i);
  rev >>>= 0;
  const level = c[12];
  const constraints = [c[6], c[7], c[8], c[9], c[10], c[11]];
  while (constraints.length > 0 && constraints[constraints.length - 1] === 0) constraints.pop();
  const prefix = ['', 'A', 'B', 'C'][space];
  let s = `${entry}.${prefix}${profile}.${rev.toString(16)}.${tier ? 'H' : 'L'}${level}`;
  for (const b of constraints) s += `.${b.toString(16).toUpperCase()}`;
  return s;
}

/** av01.P.LLT.DD from the av1C record. */
function av1Codec(c: Uint8Array): string {
  const profile = c[1] >> 5;
  const level = c[1] & 0x1f;
  const tier = c[2] >> 7;
  const highBitdepth = (c[2] >> 6) & 1;
  const twelveBit = (c[2] >> 5) & 1;
  const depth = highBitdepth ? (twelveBit ? 12 : 10) : 8;
  return `av01.${profile}.${pad2(level)}${tier ? 'H' : 'M'}.${pad2(depth)}`;
}

/** The DecoderSpecificInfo (AudioSpecificConfig) inside an ES_Descriptor. */
function audioSpecificConfig(b: Uint8Array): Uint8Array | null {
  let at = 0;
  const readLen = (): number => {
    let len = 0;
    for (let i = 0; i < 4 && at < b.length; i++) {
      const x = b[at++];
      len = (len << 7) | (x & 0x7f);
      if (!(x & 0x80)) break;
    }
    return len;
  };
  while (at < b.length) {
    const tag = b[at++];
    const len = readLen();
    if (tag === 0x03) {
      // ES_Descriptor: ES_ID(2), flags(1), optional fields.
      const flags = b[at + 2];
      at += 3;
      if (flags & 0x80) at += 2;
      if (flags & 0x40) at += 1 + b[at];
      if (flags & 0x20) at += 2;
    } else if (tag === 0x04) {
      // DecoderConfigDescriptor: 13 bytes, then DecoderSpecificInfo.
      at += 13;
    } else if (tag === 0x05) {
      return b.slice(at, at + len);
    } else {
      at += len;
    }
  }
  return null;
}

/** WebCodecs wants Opus's `description` as an Ogg OpusHead; dOps holds the same, big-endian. */
function opusHead(d: Uint8Array): Uint8Array {
  const v = view(d);
  const out = new Uint8Array(19 + Math.max(0, d.length - 11));
  const o = new DataView(out.buffer);
  out.set([0x4f, 0x70, 0x75, 0x73, 0x48, 0x65, 0x61, 0x64]); // "OpusHead"
  out[8] = 1;
  out[9] = d[1]; // channels
  o.setUint16(10, v.getUint16(2), true); // pre-skip
  o.setUint32(12, v.getUint32(4), true); // input sample rate
  o.setInt16(16, v.getInt16(8), true); // output gain
  out[18] = d[10]; // channel mapping family
  if (d.length > 11) out.set(d.subarray(11), 19);
  return out;
}

// ---------------------------------------------------------------------------
// Media chunks.

export interface Sample {
  trackId: number;
  /** Decode time in the track's timescale. */
  dts: number;
  /** Presentation time in the track's timescale. */
  pts: number;
  duration: number;
  /** Sync sample (a keyframe for video). */
  sync: boolean;
  data: Uint8Array;
}

export interface Chunk {
  samples: Sample[];
  /** Publish time from `prft`, in milliseconds since the Unix epoch (null without prft). */
  publishedMs: number | null;
}

const NTP_UNIX_OFFSET_S = 2208988800;

/** NTP 64-bit timestamp (seconds since 1900, 32.32) to milliseconds since 1970. */
export function ntpToUnixMs(secs: number, frac: number): number {
  return (secs - NTP_UNIX_OFFSET_S) * 1000 + (frac * 1000) / 2 ** 32;
}

/**
 * Parse one object's payload: optional `prft`, then moof + mdat pairs. `init` supplies each
 * track's defaults; samples of tracks it does not describe are still returned.
 */
export function parseChunk(bytes: Uint8Array, init: InitSegment | null): Chunk {
  const top = boxes(bytes);
  const samples: Sample[] = [];
  let publishedMs: number | null = null;
  for (let i = 0; i < top.length; i++) {
    const box = top[i];
    if (box.type === 'prft') {
      const v = view(box.body);
      publishedMs = ntpToUnixMs(v.getUint32(8), v.getUint32(12));
    } else if (box.type === 'moof') {
      const moofStart = box.start;
      for (const traf of children(box.body, 'traf')) {
        samples.push(...trafSamples(traf, bytes, moofStart, init));
      }
    }
  }
  return { samples, publishedMs };
}

function trafSamples(traf: Uint8Array, whole: Uint8Array, moofStart: number, init: InitSegment | null): Sample[] {
  const tfhd = child(traf, 'tfhd');
  if (!tfhd) throw new Mp4Error('traf without tfhd');
  const hv = view(tfhd);
  const hflags = hv.getUint32(0) & 0xffffff;
  const trackId = hv.getUint32(4);
  const t = init?.tracks.get(trackId);
  let at = 8;
  let base = moofStart; // default-base-is-moof (CMAF) and the first traf's implicit base
  if (hflags & 0x1) {
    base = Number(hv.getBigUint64(at));
    at += 8;
  }
  if (hflags & 0x2) at += 4; // sample_description_index
  let defDuration = t?.defaultDuration ?? 0;
  let defSize = t?.defaultSize ?? 0;
  let defFlags = t?.defaultFlags ?? 0;
  if (hflags & 0x8) {
    defDuration = hv.getUint32(at);
    at += 4;
  }
  if (hflags & 0x10) {
    defSize = hv.getUint32(at);
    at += 4;
  }
  if (hflags & 0x20) defFlags = hv.getUint32(at);

  let dts = 0;
  const tfdt = child(traf, 'tfdt');
  if (tfdt) {
    const v = view(tfdt);
    dts = tfdt[0] === 1 ? Number(v.getBigUint64(4)) : v.getUint32(4);
  }

  const out: Sample[] = [];
  for (const trun of children(traf, 'trun')) {
    const v = view(trun);
    const version = trun[0];
    const flags = v.getUint32(0) & 0xffffff;
    const count = v.getUint32(4);
    let p = 8;
    let offset = 0;
    if (flags & 0x1) {
      offset = v.getInt32(p);
      p += 4;
    }
    let firstFlags: number | null = null;
    if (flags & 0x4) {
      firstFlags = v.getUint32(p);
      p += 4;
    }
    let dataAt = base + offset;
    for (let i = 0; i < count; i++) {
      let duration = defDuration;
      let size = defSize;
      let sflags = i === 0 && firstFlags !== null ? firstFlags : defFlags;
      let cto = 0;
      if (flags & 0x100) {
        duration = v.getUint32(p);
        p += 4;
      }
      if (flags & 0x200) {
        size = v.getUint32(p);
        p += 4;
      }
      if (flags & 0x400) {
        sflags = v.getUint32(p);
        p += 4;
      }
      if (flags & 0x800) {
        cto = version === 0 ? v.getUint32(p) : v.getInt32(p);
        p += 4;
      }
      if (dataAt < 0 || dataAt + size > whole.length) {
        throw new Mp4Error(`sample ${i} of track ${trackId} lies outside the object (${size} bytes at ${dataAt})`);
      }
      // sample_is_non_sync_sample is bit 16; depends_on == 2 means an I-frame.
      const sync = ((sflags >> 16) & 1) === 0;
      out.push({ trackId, dts, pts: dts + cto, duration, sync, data: whole.subarray(dataAt, dataAt + size) });
      dataAt += size;
      dts += duration;
    }
  }
  return out;
}
