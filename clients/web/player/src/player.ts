// The player: catalog → init segments → one video rendition and one audio track, each a MoQ
// subscription (plus a Joining FETCH, so playback starts at the current group's keyframe)
// decoded with WebCodecs; video drawn on a canvas, audio played through WebAudio, both on one
// media clock. Rendition switches happen at group boundaries.

import { GroupAssembler } from './assembler';
import {
  Catalog,
  CatalogError,
  CatalogTrack,
  audioTracks,
  parseCatalogFormat01,
  parseMsf,
  videoRenditions,
} from './catalog';
import { InitSegment, TrackInit, parseChunk, parseInit } from './mp4';
import { MoqSession, RequestRefused, Subscription, errorText } from './session';
import type { MoqObject } from './wire';

/** What the page and tests can read (`window.ternPlayer`). */
export interface PlayerStats {
  state: string;
  catalogFormat: string | null;
  /** Names of the catalog's video tracks, largest first. */
  renditions: string[];
  /** The video track being drawn. */
  rendition: string | null;
  /** The video track being switched to (until its first frame is drawn). */
  switchingTo: string | null;
  mode: 'auto' | 'manual';
  audioTrack: string | null;
  videoCodec: string | null;
  audioCodec: string | null;
  width: number;
  height: number;
  framesDecoded: number;
  framesDrawn: number;
  /** Decoded frames never drawn (catching up to live, or after a switch). */
  framesSkipped: number;
  drawnByRendition: Record<string, number>;
  /** performance.now() when the last frame was drawn. */
  lastFrameTime: number;
  /** Media time (µs) of the last frame drawn. */
  lastFrameTimestamp: number;
  /** Glass-to-glass latency samples (ms): wall clock at draw minus the `prft` publish stamp. */
  latencyMs: number[];
  /** Latency samples taken since the start (`latencyMs` keeps the last ones). */
  latencyCount: number;
  /** Frames drawn without a publish stamp (latency unknown). */
  latencyUnknownFrames: number;
  /**
   * When things happened, performance.now() ms (null until they do): the session is up, the
   * catalog arrived, the first video SUBSCRIBE was sent, the first frame was drawn.
   */
  timing: { connected: number | null; catalog: number | null; videoSubscribe: number | null; firstFrame: number | null };
  switches: number;
  catchUps: number;
  audioState: string;
  audioChunksDecoded: number;
  audioSamplesScheduled: number;
  audioSamplesPlayed: number;
  audioLate: number;
  errors: string[];
  log: string[];
}

export interface PlayerOptions {
  relay: string;
  fingerprint: string | null;
  namespace: string[];
  canvas: HTMLCanvasElement;
  /** Start on this video track (manual mode) rather than in auto mode. */
  rendition?: string | null;
  /** Play this audio track rather than the preferred one (AAC, else Opus, else the first). */
  audio?: string | null;
  /** Called when something worth showing changed. */
  onChange?: () => void;
}

/** Media time is kept in microseconds, like WebCodecs timestamps. */
const US = 1_000_000;
/** How far behind the newest received media the clock plays when it (re)starts. */
const TARGET_BUFFER_US = 150_000;
/** More buffered than this and the clock jumps forward to TARGET_BUFFER_US. */
const MAX_BUFFER_US = 350_000;
const LATENCY_SAMPLES = 300;
/** How often to look for the catalog again while the broadcast does not exist. */
const CATALOG_RETRY_MS = 2000;
/** An AudioContext clock that has not moved for this long is not followed. */
const AUDIO_CLOCK_STALL_MS = 500;
const LOG_LINES = 200;

/**
 * The media clock: media time (µs) now. It follows the AudioContext's clock while audio plays
 * (so audio and video stay in sync), the page's clock otherwise.
 */
class MediaClock {
  started = false;
  private baseMedia = 0;
  private baseWall = 0;
  private baseAudio = 0;
  private onAudio = false;
  private lastAudioTime = -1;
  private lastAudioChange = 0;
  audio: AudioContext | null = null;

  /** The AudioContext runs and its clock advances (a context without an output may not). */
  private audioRunning(): boolean {
    if (!this.audio || this.audio.state !== 'running') return false;
    const t = this.audio.currentTime;
    const wall = performance.now();
    if (t !== this.lastAudioTime) {
      this.lastAudioTime = t;
      this.lastAudioChange = wall;
    }
    return t > 0 && wall - this.lastAudioChange < AUDIO_CLOCK_STALL_MS;
  }

  /** Media time now, in µs. */
  now(): number {
    if (!this.started) return 0;
    const running = this.audioRunning();
    if (running !== this.onAudio) this.rebase(this.rawNow(), running);
    return this.rawNow();
  }

  private rawNow(): number {
    if (this.onAudio && this.audio) return this.baseMedia + (this.audio.currentTime - this.baseAudio) * US;
    return this.baseMedia + (performance.now() - this.baseWall) * 1000;
  }

  private rebase(media: number, onAudio: boolean): void {
    this.baseMedia = media;
    this.baseWall = performance.now();
    this.baseAudio = this.audio ? this.audio.currentTime : 0;
    this.onAudio = onAudio;
  }

  /** Play `media` now (start, or jump). */
  set(media: number): void {
    this.started = true;
    this.rebase(media, this.audioRunning());
  }

  /** The AudioContext time at which media time `media` plays, or null when not on audio. */
  audioTimeFor(media: number): number | null {
    if (!this.started || !this.audio) return null;
    this.now();
    if (!this.onAudio) return null;
    return this.baseAudio + (media - this.baseMedia) / US;
  }
}

interface QueuedFrame {
  frame: VideoFrame;
  pipeline: VideoPipeline;
  publishedMs: number | null;
}

/** Init segments by track name (`initTrack`), loaded once. */
type InitLoader = (t: CatalogTrack) => Promise<InitSegment>;

/** Shared by the video and audio pipelines: subscription, ordering, init, decoder config. */
abstract class Pipeline {
  sub: Subscription | null = null;
  closed = false;
  protected assembler: GroupAssembler;
  protected init: InitSegment | null = null;
  protected trackInit: TrackInit | null = null;
  /** Stamps by media time (µs) of chunks given to the decoder. */
  protected stamps = new Map<number, number | null>();
  /** Newest media time (µs) given to the decoder. */
  newest = -Infinity;
  /** Media time (µs) of the first sample of the first group played. */
  firstTimestamp: number | null = null;
  private work: Promise<void> = Promise.resolve();

  constructor(
    readonly player: Player,
    readonly track: CatalogTrack,
  ) {
    this.assembler = new GroupAssembler((o, groupStart) => {
      this.work = this.work
        .then(() => this.onObject(o, groupStart))
        .catch((e) => this.player.error(`${this.track.name}: ${errorText(e)}`));
    });
  }

  async start(loadInit: InitLoader, joiningFetch: boolean, priority: number): Promise<void> {
    this.init = await loadInit(this.track);
    this.pickTrackInit(null);
    await this.checkSupport();
    if (this.closed) return;
    if (this.track.role === 'video' && this.player.stats.timing.videoSubscribe === null) {
      this.player.stats.timing.videoSubscribe = performance.now();
    }
    this.sub = await this.player.session().subscribe(this.player.namespace, this.track.name, {
      onObject: (o) => this.assembler.push(o),
      onEnd: (reason) => this.player.note(`${this.track.name}: ${reason}`),
      joiningFetch,
      priority,
    });
    if (this.closed) this.sub.close();
  }

  /** The init segment's track for samples of `trackId` (null: guess from the role). */
  protected pickTrackInit(trackId: number | null): TrackInit | null {
    if (!this.init) return null;
    if (trackId !== null) {
      const t = this.init.tracks.get(trackId);
      if (t) return (this.trackInit = t);
      if (this.init.tracks.size === 1) return (this.trackInit = [...this.init.tracks.values()][0]);
      throw new Error(`the init segment has no track ${trackId}`);
    }
    const kind = this.track.role === 'audio' ? 'audio' : 'video';
    const candidates = [...this.init.tracks.values()].filter((t) => t.kind === kind);
    if (candidates.length === 1) this.trackInit = candidates[0];
    return this.trackInit;
  }

  private async onObject(o: MoqObject, groupStart: boolean): Promise<void> {
    if (this.closed) return;
    const chunk = parseChunk(o.payload, this.init);
    for (let i = 0; i < chunk.samples.length; i++) {
      const s = chunk.samples[i];
      if (!this.trackInit || this.trackInit.id !== s.trackId) this.pickTrackInit(s.trackId);
      const t = this.trackInit as TrackInit;
      const timestamp = Math.round((s.pts * US) / t.timescale);
      const duration = Math.round((s.duration * US) / t.timescale);
      // The sample flags say which samples are keyframes. A group should start with one (one
      // group = one GOP); when a publisher cuts groups elsewhere, decoding still starts at a
      // keyframe.
      const key = s.sync;
      if (this.firstTimestamp === null) this.firstTimestamp = timestamp;
      this.stamps.set(timestamp, chunk.publishedMs);
      if (this.stamps.size > 512) this.stamps.delete(this.stamps.keys().next().value as number);
      this.newest = Math.max(this.newest, timestamp);
      await this.decode(t, s.data, timestamp, duration, key, groupStart && i === 0);
    }
  }

  protected abstract checkSupport(): Promise<void>;
  protected abstract decode(
    t: TrackInit,
    data: Uint8Array,
    timestamp: number,
    duration: number,
    key: boolean,
    groupStart: boolean,
  ): Promise<void>;

  close(): void {
    this.closed = true;
    this.sub?.close();
  }
}

class VideoPipeline extends Pipeline {
  private decoder: VideoDecoder | null = null;
  private configured: string | null = null;
  private needKey = true;
  /** Set when this pipeline replaces another: media time from which it is drawn. */
  cutover: number | null = null;
  codec: string | null = null;

  protected async checkSupport(): Promise<void> {
    const t = this.trackInit;
    const codec = t?.codec || this.track.codec;
    if (!codec) return; // Known at the first chunk.
    const supported = await VideoDecoder.isConfigSupported(this.config(t, codec)).catch(() => null);
    if (!supported || !supported.supported) {
      throw new UnsupportedCodec(
        `this browser cannot decode ${codec} video (VideoDecoder.isConfigSupported said no) — track ${this.track.name}`,
      );
    }
  }

  private config(t: TrackInit | null, codec: string): VideoDecoderConfig {
    const c: VideoDecoderConfig = { codec, optimizeForLatency: true };
    if (t?.description) c.description = t.description;
    const w = t?.width ?? this.track.width;
    const h = t?.height ?? this.track.height;
    if (w && h) {
      c.codedWidth = w;
      c.codedHeight = h;
    }
    return c;
  }

  protected async decode(
    t: TrackInit,
    data: Uint8Array,
    timestamp: number,
    duration: number,
    key: boolean,
    groupStart: boolean,
  ): Promise<void> {
    if (!key && this.needKey) return;
    // A new rendition is drawn from its first keyframe: the start of its next group.
    if (this.cutover === null && this.player.isSwitchTarget(this)) this.player.setCutover(this, timestamp, groupStart);
    const codec = t.codec || this.track.codec;
    if (!this.decoder || this.decoder.state === 'closed' || this.configured !== `${t.id}/${codec}`) {
      if (!key) {
        this.needKey = true;
        return;
      }
      await this.configure(t, codec);
    }
    const decoder = this.decoder as VideoDecoder;
    if (decoder.decodeQueueSize > 90) {
      // The decoder cannot keep up: skip to the next keyframe.
      this.needKey = true;
      this.player.note(`${this.track.name}: decoder behind, waiting for the next keyframe`);
      return;
    }
    this.needKey = false;
    decoder.decode(new EncodedVideoChunk({ type: key ? 'key' : 'delta', timestamp, duration, data }));
  }

  private async configure(t: TrackInit, codec: string): Promise<void> {
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
        this.player.videoFrame(this, frame, this.stamps.get(frame.timestamp) ?? null);
      },
      error: (e) => {
        this.player.error(`${this.track.name}: video decoder: ${errorText(e)}`);
        this.needKey = true;
        this.configured = null;
      },
    });
    decoder.configure(config);
    this.decoder = decoder;
    this.configured = `${t.id}/${codec}`;
    this.codec = codec;
    this.player.stats.videoCodec = codec;
    this.player.changed();
  }

  close(): void {
    super.close();
    if (this.decoder && this.decoder.state !== 'closed') this.decoder.close();
  }
}

class AudioPipeline extends Pipeline {
  private decoder: AudioDecoder | null = null;
  private configured: string | null = null;
  private sources = new Set<AudioBufferSourceNode>();
  private gain: GainNode | null = null;

  protected async checkSupport(): Promise<void> {
    const t = this.trackInit;
    const codec = t?.codec || this.track.codec;
    if (!codec || !t) return;
    const supported = await AudioDecoder.isConfigSupported(this.config(t, codec)).catch(() => null);
    if (!supported || !supported.supported) {
      throw new UnsupportedCodec(
        `this browser cannot decode ${codec} audio (AudioDecoder.isConfigSupported said no) — track ${this.track.name}`,
      );
    }
  }

  private config(t: TrackInit, codec: string): AudioDecoderConfig {
    const c: AudioDecoderConfig = {
      codec,
      sampleRate: t.sampleRate || this.track.samplerate || 48000,
      numberOfChannels: t.channels || Number(this.track.channelConfig) || 2,
    };
    if (t.description) c.description = t.description;
    return c;
  }

  protected async decode(t: TrackInit, data: Uint8Array, timestamp: number, duration: number): Promise<void> {
    const codec = t.codec || this.track.codec;
    if (!this.decoder || this.decoder.state === 'closed' || this.configured !== `${t.id}/${codec}`) {
      this.decoder?.close();
      const decoder = new AudioDecoder({
        output: (d) => this.play(d),
        error: (e) => {
          this.player.error(`${this.track.name}: audio decoder: ${errorText(e)}`);
          this.configured = null;
        },
      });
      decoder.configure(this.config(t, codec));
      this.decoder = decoder;
      this.configured = `${t.id}/${codec}`;
      this.player.stats.audioCodec = codec;
      this.player.changed();
    }
    (this.decoder as AudioDecoder).decode(new EncodedAudioChunk({ type: 'key', timestamp, duration, data }));
  }

  private play(d: AudioData): void {
    const stats = this.player.stats;
    try {
      stats.audioChunksDecoded += 1;
      if (this.closed) return;
      this.player.mediaStarted(d.timestamp);
      const ctx = this.player.audioContext();
      const when = this.player.clock.audioTimeFor(d.timestamp);
      if (!ctx || when === null) return; // Muted until the AudioContext runs.
      if (when < ctx.currentTime + 0.002) {
        stats.audioLate += 1;
        return;
      }
      const frames = d.numberOfFrames;
      const channels = d.numberOfChannels;
      const buffer = ctx.createBuffer(channels, frames, d.sampleRate);
      if (d.format === 'f32') {
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
  flush(): void {
    for (const s of this.sources) {
      s.onended = null;
      try {
        s.stop();
      } catch {
        // Not started yet.
      }
    }
    this.sources.clear();
  }

  close(): void {
    super.close();
    this.flush();
    if (this.decoder && this.decoder.state !== 'closed') this.decoder.close();
  }
}

function planar(d: AudioData, plane: number, frames: number): Float32Array<ArrayBuffer> {
  const out = new Float32Array(frames);
  d.copyTo(out, { planeIndex: plane, format: 'f32-planar' });
  return out;
}

/** The browser cannot decode a track's codec. */
export class UnsupportedCodec extends Error {}

export class Player {
  readonly stats: PlayerStats = {
    state: 'idle',
    catalogFormat: null,
    renditions: [],
    rendition: null,
    switchingTo: null,
    mode: 'auto',
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
    timing: { connected: null, catalog: null, videoSubscribe: null, firstFrame: null },
    switches: 0,
    catchUps: 0,
    audioState: 'none',
    audioChunksDecoded: 0,
    audioSamplesScheduled: 0,
    audioSamplesPlayed: 0,
    audioLate: 0,
    errors: [],
    log: [],
  };
  readonly clock = new MediaClock();
  readonly namespace: string[];
  catalog: Catalog | null = null;
  private moq: MoqSession | null = null;
  private video: VideoPipeline | null = null;
  private nextVideo: VideoPipeline | null = null;
  private audio: AudioPipeline | null = null;
  private queue: QueuedFrame[] = [];
  private ctx2d: CanvasRenderingContext2D;
  private inits = new Map<string, Promise<InitSegment>>();
  private audioCtx: AudioContext | null = null;
  private stopped = false;
  private catalogSub: Subscription | null = null;

  constructor(private options: PlayerOptions) {
    this.namespace = options.namespace;
    const ctx = options.canvas.getContext('2d');
    if (!ctx) throw new Error('no 2D canvas context');
    this.ctx2d = ctx;
  }

  session(): MoqSession {
    if (!this.moq) throw new Error('not connected');
    return this.moq;
  }

  changed(): void {
    this.options.onChange?.();
  }

  setState(s: string): void {
    this.stats.state = s;
    this.note(`state: ${s}`);
  }

  note(text: string): void {
    this.stats.log.push(`${(performance.now() / 1000).toFixed(3)} ${text}`);
    if (this.stats.log.length > LOG_LINES) this.stats.log.shift();
    console.info(`tern-player: ${text}`);
    this.changed();
  }

  error(text: string): void {
    this.stats.errors.push(text);
    console.error(`tern-player: ${text}`);
    this.changed();
  }

  async start(): Promise<void> {
    if (typeof WebTransport === 'undefined') throw new Error('this browser has no WebTransport');
    if (typeof VideoDecoder === 'undefined') throw new Error('this browser has no WebCodecs VideoDecoder');
    this.setState('connecting');
    this.moq = await MoqSession.connect(
      this.options.relay,
      this.options.fingerprint,
      (t) => this.note(t),
      (e) => this.error(`protocol: ${e.message}`),
    );
    this.moq.closed.then((reason) => {
      if (!this.stopped) {
        this.setState(reason);
        this.error(reason);
      }
    });
    this.stats.timing.connected = performance.now();
    this.setState('catalog');
    this.catalog = await this.loadCatalog();
    this.stats.timing.catalog = performance.now();
    const renditions = videoRenditions(this.catalog);
    this.stats.renditions = renditions.map((t) => t.name);
    let audio = audioTracks(this.catalog);
    const wantedAudio = this.options.audio ? this.catalog.tracks.find((t) => t.name === this.options.audio) : undefined;
    if (this.options.audio && (!wantedAudio || wantedAudio.role !== 'audio')) this.note(`no audio track ${this.options.audio}`);
    else if (wantedAudio) audio = [wantedAudio, ...audio.filter((t) => t !== wantedAudio)];
    if (renditions.length === 0 && audio.length === 0) throw new CatalogError('the catalog lists no video or audio track');
    this.setState('starting');
    requestAnimationFrame(() => this.render());
    const starts: Promise<void>[] = [];
    if (renditions.length > 0) {
      const wanted = this.options.rendition ? renditions.find((t) => t.name === this.options.rendition) : undefined;
      if (this.options.rendition && !wanted) this.note(`no video track ${this.options.rendition}; auto mode`);
      if (wanted) this.stats.mode = 'manual';
      const first = wanted ?? this.autoChoice(renditions);
      this.video = new VideoPipeline(this, first);
      this.stats.rendition = first.name;
      starts.push(this.video.start((t) => this.loadInit(t), true, 2));
    }
    if (audio.length > 0) {
      this.setupAudio();
      starts.push(
        this.startAudio(audio).catch((e) => {
          // Video plays on without audio.
          this.error(`audio: ${errorText(e)}`);
        }),
      );
    }
    await Promise.all(starts);
    this.setState('playing');
  }

  /** Play the first of `candidates` (best first) whose codec this browser decodes. */
  private async startAudio(candidates: CatalogTrack[]): Promise<void> {
    for (let i = 0; i < candidates.length; i++) {
      const track = candidates[i];
      const pipeline = new AudioPipeline(this, track);
      this.audio = pipeline;
      this.stats.audioTrack = track.name;
      try {
        await pipeline.start((t) => this.loadInit(t), true, 1);
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

  stop(): void {
    this.stopped = true;
    this.video?.close();
    this.nextVideo?.close();
    this.audio?.close();
    this.catalogSub?.close();
    this.moq?.close();
    void this.audioCtx?.close();
  }

  /** Auto mode (placeholder for ABR): the largest rendition. */
  private autoChoice(renditions: CatalogTrack[]): CatalogTrack {
    return renditions[0];
  }

  /**
   * The MSF catalog, or Cloudflare's catalogformat-01 `.catalog` when there is none. While
   * neither exists (the broadcast has not started), ask again every two seconds.
   */
  private async loadCatalog(): Promise<Catalog> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.tryCatalog();
      } catch (e) {
        if (!(e instanceof RequestRefused) || this.stopped) throw e;
        if (attempt === 0) this.setState('waiting for the broadcast');
        await new Promise((r) => setTimeout(r, CATALOG_RETRY_MS));
      }
    }
  }

  private async tryCatalog(): Promise<Catalog> {
    try {
      const { object, sub } = await this.firstObject('catalog', (o) => this.onCatalogUpdate(o));
      this.catalogSub = sub;
      const c = parseMsf(object.payload);
      this.stats.catalogFormat = 'msf';
      this.note(`MSF catalog: ${c.tracks.map((t) => `${t.name} (${t.role})`).join(', ')}`);
      return c;
    } catch (e) {
      if (!(e instanceof RequestRefused)) throw e;
      this.note(`no MSF catalog (${e.message}); trying .catalog`);
    }
    const { object, sub } = await this.firstObject('.catalog', null);
    sub.close();
    const c = parseCatalogFormat01(object.payload);
    this.stats.catalogFormat = 'catalogformat-01';
    this.note(`catalogformat-01 catalog: ${c.tracks.map((t) => `${t.name} (${t.role})`).join(', ')}`);
    return c;
  }

  /** A new MSF catalog version (a later group): the rendition list follows it. */
  private onCatalogUpdate(o: MoqObject): void {
    if (!this.catalog || o.object !== 0 || o.payload.length === 0) return;
    try {
      this.catalog = parseMsf(o.payload, this.catalog);
      this.stats.renditions = videoRenditions(this.catalog).map((t) => t.name);
      this.note('catalog updated');
    } catch (e) {
      this.error(`catalog update: ${errorText(e)}`);
    }
  }

  /**
   * Subscribe to `track` with a Joining FETCH and wait (bounded) for its first object with a
   * payload. Later objects go to `later`.
   */
  private async firstObject(
    track: string,
    later: ((o: MoqObject) => void) | null,
    timeoutMs = 10_000,
  ): Promise<{ object: MoqObject; sub: Subscription }> {
    let resolve: (o: MoqObject) => void = () => {};
    const got = new Promise<MoqObject>((r) => (resolve = r));
    let first: MoqObject | null = null;
    const sub = await this.session().subscribe(this.namespace, track, {
      joiningFetch: true,
      priority: 0,
      onObject: (o) => {
        if (o.status !== 0 || o.payload.length === 0) return;
        if (!first) {
          first = o;
          resolve(o);
        } else if (later && (o.group > first.group || (o.group === first.group && o.object > first.object))) {
          later(o);
        }
      },
    });
    let timer = 0;
    const timeout = new Promise<never>((_, reject) => {
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

  private loadInit(t: CatalogTrack): Promise<InitSegment> {
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

  private setupAudio(): void {
    try {
      this.audioCtx = new AudioContext({ latencyHint: 'interactive' });
    } catch (e) {
      this.error(`audio: no AudioContext: ${errorText(e)}`);
      return;
    }
    this.clock.audio = this.audioCtx;
    const update = () => {
      this.stats.audioState = this.audioCtx ? this.audioCtx.state : 'none';
      this.changed();
    };
    this.audioCtx.onstatechange = update;
    update();
    void this.audioCtx.resume().catch(() => {});
  }

  audioContext(): AudioContext | null {
    return this.audioCtx;
  }

  /** Resume audio after a user gesture (browsers keep an AudioContext suspended until one). */
  unmute(): void {
    void this.audioCtx?.resume();
  }

  // -------------------------------------------------------------------------
  // Video output.

  /** First decoded media starts the clock. */
  mediaStarted(timestamp: number): void {
    if (!this.clock.started) {
      this.clock.set(timestamp - 20_000);
      this.note(`playback starts at media time ${(timestamp / US).toFixed(3)} s`);
    }
  }

  videoFrame(p: VideoPipeline, frame: VideoFrame, publishedMs: number | null): void {
    this.stats.framesDecoded += 1;
    // The old rendition's frames from the cutover on are replaced by the new one's.
    if (p === this.video && this.nextVideo?.cutover != null && frame.timestamp >= this.nextVideo.cutover) {
      frame.close();
      return;
    }
    if (p !== this.video && p !== this.nextVideo) {
      frame.close();
      return;
    }
    this.mediaStarted(frame.timestamp);
    const entry = { frame, pipeline: p, publishedMs };
    let i = this.queue.length;
    while (i > 0 && this.queue[i - 1].frame.timestamp > frame.timestamp) i--;
    this.queue.splice(i, 0, entry);
    // Bounded: a page in the background draws nothing for a while.
    while (this.queue.length > 120) this.skip(this.queue.shift() as QueuedFrame);
  }

  private skip(q: QueuedFrame): void {
    q.frame.close();
    this.stats.framesSkipped += 1;
  }

  private render(): void {
    if (this.stopped) return;
    requestAnimationFrame(() => this.render());
    if (!this.clock.started) return;
    this.catchUp();
    const latencyUs = this.audioCtx && this.audioCtx.state === 'running' ? outputLatency(this.audioCtx) : 0;
    const now = this.clock.now() - latencyUs;
    let pick: QueuedFrame | null = null;
    while (this.queue.length > 0 && this.queue[0].frame.timestamp <= now) {
      if (pick) this.skip(pick);
      pick = this.queue.shift() as QueuedFrame;
    }
    if (pick) this.draw(pick);
  }

  /** Too far behind the newest media (the joining burst, a stall): jump to near live. */
  private catchUp(): void {
    const newest = Math.max(this.video?.newest ?? -Infinity, this.nextVideo?.newest ?? -Infinity, this.audio?.newest ?? -Infinity);
    if (!Number.isFinite(newest)) return;
    const now = this.clock.now();
    if (newest - now > MAX_BUFFER_US) {
      this.clock.set(newest - TARGET_BUFFER_US);
      this.audio?.flush();
      this.stats.catchUps += 1;
      this.note(`caught up to live: skipped ${((newest - TARGET_BUFFER_US - now) / 1000).toFixed(0)} ms`);
    }
  }

  private draw(q: QueuedFrame): void {
    const { frame, pipeline } = q;
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
    if (pipeline === this.nextVideo) this.finishSwitch();
  }

  // -------------------------------------------------------------------------
  // Rendition switching, at group boundaries.

  /** Switch to `name` (a video track of the catalog), or back to auto with 'auto'. */
  select(name: string): void {
    if (!this.catalog) return;
    const renditions = videoRenditions(this.catalog);
    let target: CatalogTrack | undefined;
    if (name === 'auto') {
      this.stats.mode = 'auto';
      target = renditions.length ? this.autoChoice(renditions) : undefined;
    } else {
      this.stats.mode = 'manual';
      target = renditions.find((t) => t.name === name);
      if (!target) {
        this.error(`no video rendition named ${name}`);
        return;
      }
    }
    if (!target) return;
    if (this.nextVideo) {
      if (this.nextVideo.track.name === target.name) return;
      this.nextVideo.close();
      this.nextVideo = null;
      this.stats.switchingTo = null;
    }
    if (this.video?.track.name === target.name) {
      this.changed();
      return;
    }
    this.note(`switching to ${target.name} at its next group`);
    const next = new VideoPipeline(this, target);
    this.nextVideo = next;
    this.stats.switchingTo = target.name;
    // No Joining FETCH: the new rendition starts at its next group.
    next.start((t) => this.loadInit(t), false, 2).catch((e) => {
      this.error(`switch to ${target.name}: ${errorText(e)}`);
      if (this.nextVideo === next) {
        this.nextVideo = null;
        this.stats.switchingTo = null;
      }
      next.close();
    });
    this.changed();
  }

  isSwitchTarget(p: VideoPipeline): boolean {
    return p === this.nextVideo;
  }

  /** The new rendition's first group starts at `timestamp`: the old one is drawn until then. */
  setCutover(p: VideoPipeline, timestamp: number, groupStart: boolean): void {
    p.cutover = timestamp;
    this.note(
      `${p.track.name}: ${groupStart ? 'next group starts' : 'first keyframe'} at ${(timestamp / US).toFixed(3)} s; switching there`,
    );
    this.queue = this.queue.filter((q) => {
      if (q.pipeline !== p && q.frame.timestamp >= timestamp) {
        this.skip(q);
        return false;
      }
      return true;
    });
  }

  private finishSwitch(): void {
    const next = this.nextVideo as VideoPipeline;
    const old = this.video;
    this.video = next;
    this.nextVideo = null;
    this.stats.rendition = next.track.name;
    this.stats.switchingTo = null;
    this.stats.switches += 1;
    this.note(`now drawing ${next.track.name}`);
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
}

function outputLatency(ctx: AudioContext): number {
  const s = (ctx.outputLatency || 0) + (ctx.baseLatency || 0);
  return Math.min(Math.max(s, 0), 0.5) * US;
}
