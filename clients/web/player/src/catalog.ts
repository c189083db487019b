// Catalogs: MSF (draft-ietf-moq-msf with CMSF packaging, track `catalog`) and, as a fallback,
// Cloudflare's catalogformat-01 (track `.catalog`, what moq-pub publishes). Both become one
// list of tracks.

export type Role = 'video' | 'audio' | 'other';

export interface CatalogTrack {
  name: string;
  role: Role;
  packaging: string;
  codec: string;
  width?: number;
  height?: number;
  framerate?: number;
  bitrate?: number;
  samplerate?: number;
  channelConfig?: string;
  altGroup?: number;
  renderGroup?: number;
  label?: string;
  /** Init segment (ftyp + moov) carried in the catalog (MSF `initData`). */
  initData?: Uint8Array;
  /** Track whose one object is the init segment (`initTrack`). */
  initTrack?: string;
}

export interface Catalog {
  format: 'msf' | 'catalogformat-01';
  tracks: CatalogTrack[];
}

export class CatalogError extends Error {}

type Json = Record<string, unknown>;

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

function num(v: unknown): number | undefined {
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))) return Number(v);
  return undefined;
}

function base64(s: string): Uint8Array {
  const bin = atob(s.replace(/\s+/g, ''));
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

const VIDEO_CODECS = ['avc1', 'avc3', 'hvc1', 'hev1', 'av01', 'vp09', 'vp8', 'vp08'];
const AUDIO_CODECS = ['mp4a', 'opus', 'flac', 'ac-3', 'ec-3', 'pcm'];

function roleOf(role: string | undefined, codec: string, t: Json): Role {
  if (role === 'video' || role === 'audio') return role;
  if (role) return 'other';
  const prefix = codec.split('.')[0].toLowerCase();
  if (VIDEO_CODECS.includes(prefix)) return 'video';
  if (AUDIO_CODECS.includes(prefix)) return 'audio';
  if (num(t.width) !== undefined) return 'video';
  if (num(t.samplerate) !== undefined) return 'audio';
  return 'other';
}

function parseJson(bytes: Uint8Array): Json {
  let v: unknown;
  try {
    v = JSON.parse(new TextDecoder().decode(bytes));
  } catch (e) {
    throw new CatalogError(`catalog is not JSON: ${e instanceof Error ? e.message : e}`);
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new CatalogError('catalog is not a JSON object');
  return v as Json;
}

function msfTrack(t: Json): CatalogTrack {
  const name = str(t.name);
  if (!name) throw new CatalogError('MSF catalog track without a name');
  const codec = str(t.codec) ?? '';
  const track: CatalogTrack = {
    name,
    role: roleOf(str(t.role), codec, t),
    packaging: str(t.packaging) ?? '',
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
    initTrack: str(t.initTrack),
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

/**
 * An MSF catalog. `previous` is the catalog a delta update applies to (`deltaUpdate: true`
 * with addTracks / removeTracks / cloneTracks).
 */
export function parseMsf(bytes: Uint8Array, previous: Catalog | null = null): Catalog {
  const root = parseJson(bytes);
  if (root.deltaUpdate === true) {
    if (!previous) throw new CatalogError('MSF delta update without a catalog to apply it to');
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
    return { format: 'msf', tracks };
  }
  if (!Array.isArray(root.tracks)) throw new CatalogError('MSF catalog without tracks');
  return { format: 'msf', tracks: asArray(root.tracks).map(msfTrack) };
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined && v !== '')) as Partial<T>;
}

function asArray(v: unknown): Json[] {
  return Array.isArray(v) ? (v.filter((x) => x && typeof x === 'object') as Json[]) : [];
}

/** A catalogformat-01 catalog (moq-catalog 0.2: `commonTrackFields`, `selectionParams`). */
export function parseCatalogFormat01(bytes: Uint8Array): Catalog {
  const root = parseJson(bytes);
  if (!Array.isArray(root.tracks)) throw new CatalogError('catalog without tracks');
  const common = (root.commonTrackFields && typeof root.commonTrackFields === 'object'
    ? root.commonTrackFields
    : {}) as Json;
  const tracks = asArray(root.tracks).map((t): CatalogTrack => {
    const name = str(t.name);
    if (!name) throw new CatalogError('catalog track without a name');
    const sp = (t.selectionParams && typeof t.selectionParams === 'object' ? t.selectionParams : {}) as Json;
    const codec = str(sp.codec) ?? '';
    return {
      name,
      role: roleOf(undefined, codec, sp),
      packaging: str(t.packaging) ?? str(common.packaging) ?? '',
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
      initData: str(t.initData) ? base64(str(t.initData) as string) : undefined,
    };
  });
  return { format: 'catalogformat-01', tracks };
}

/** Video tracks, largest first (height, then bitrate). */
export function videoRenditions(c: Catalog): CatalogTrack[] {
  return c.tracks
    .filter((t) => t.role === 'video')
    .sort((a, b) => (b.height ?? 0) - (a.height ?? 0) || (b.bitrate ?? 0) - (a.bitrate ?? 0));
}

/** Audio codecs in the order the player prefers them (AAC, then Opus, then anything else). */
const AUDIO_PREFERENCE = ['mp4a', 'opus'];

function audioRank(t: CatalogTrack): number {
  const i = AUDIO_PREFERENCE.indexOf(t.codec.split('.')[0].toLowerCase());
  return i < 0 ? AUDIO_PREFERENCE.length : i;
}

/**
 * The audio tracks to try, best first: those of the first audio track's alternate group (the
 * same audio in different codecs), AAC before Opus before anything else, catalog order
 * otherwise. The player plays the first one the browser can decode.
 */
export function audioTracks(c: Catalog): CatalogTrack[] {
  const audio = c.tracks.filter((t) => t.role === 'audio');
  if (audio.length === 0) return [];
  const group = audio[0].altGroup;
  const candidates = group === undefined ? audio : audio.filter((t) => t.altGroup === group);
  return candidates
    .map((t, i) => ({ t, i }))
    .sort((a, b) => audioRank(a.t) - audioRank(b.t) || a.i - b.i)
    .map(({ t }) => t);
}

/** The preferred audio track (see `audioTracks`). */
export function audioTrack(c: Catalog): CatalogTrack | undefined {
  return audioTracks(c)[0];
}

/** A short description of a rendition for the picker. */
export function describe(t: CatalogTrack): string {
  const parts: string[] = [];
  if (t.width && t.height) parts.push(`${t.width}x${t.height}`);
  if (t.codec) parts.push(t.codec);
  if (t.bitrate) parts.push(`${Math.round(t.bitrate / 1000)} kb/s`);
  return `${t.label ?? t.name}${parts.length ? ` (${parts.join(', ')})` : ''}`;
}
