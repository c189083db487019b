// The player: catalog → init segments → one video rendition and one audio track, each a MoQ
// subscription (plus a Joining FETCH, so playback starts at the current group's keyframe)
// decoded with WebCodecs; video drawn on a canvas, audio played through WebAudio, both on one
// media clock that runs a target delay (500 ms by default) behind the newest media received.
// Rendition switches happen at group boundaries; auto mode (abr.ts) picks the rendition. The
// other renditions are held subscribed with forward off, so a switch only turns one on.

import { Abr, AbrRendition, AbrStats, probeRate } from './abr';
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
import { LiveEdge } from './live-edge';
import { readStamp } from './stamp';
import { InitSegment, TrackInit, parseChunk, parseInit } from './mp4';
import { FetchRequest, MoqSession, RequestRefused, Subscription, errorText } from './session';
import { Transport, TransportMode } from './transport';
import type { MoqObject, SubscribeFilter } from './wire';

/** What the page and tests can read (`window.ternPlayer`). */
export interface PlayerStats {
  state: string;
  /** Which way the session runs (null until it is up): WebTransport, or MoQ over a WebSocket. */
  transport: Transport | null;
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
   * With `readStamps`: glass-to-glass samples (ms), wall clock at draw minus the stamp the
   * source drew into the picture (`stamp.ts`), the last GLASS_SAMPLES of them.
   */
  glassMs: number[];
  /** With `readStamps`: frames drawn whose picture carried no readable stamp. */
  stampsUnread: number;
  /**
   * When things happened, performance.now() ms (null until they do): the session is up, the
   * catalog arrived, the first video SUBSCRIBE was sent, the first frame was drawn.
   */
  timing: { connected: number | null; catalog: number | null; videoSubscribe: number | null; firstFrame: number | null };
  switches: number;
  /** Completed switches, newest last: why, and the drawing around the seam. */
  switchLog: SwitchEvent[];
  /** Auto mode's measurements and decisions. */
  abr: AbrStats | null;
  /** 'live', 'paused', or 'dvr' (playing the past, from FETCHes of the relay's cache). */
  playback: 'live' | 'paused' | 'dvr';
  /** How far the playhead is behind the newest live media received (ms). */
  behindLiveMs: number | null;
  /** Seeks into the past (rewinds, plays after a pause) and groups fetched for them. */
  seeks: number;
  dvrGroupsFetched: number;
  catchUps: number;
  /** The playout target now (ms) and whether it adapts (no `?latency=` asked for). */
  targetMs: number;
  targetAdaptive: boolean;
  /** The adaptive target raised after media came too late (a stall), and lowered. */
  targetRaises: number;
  targetLowerings: number;
  audioState: string;
  audioChunksDecoded: number;
  audioSamplesScheduled: number;
  audioSamplesPlayed: number;
  audioLate: number;
  errors: string[];
  log: string[];
}

/** A completed rendition switch and how smooth its seam was. */
export interface SwitchEvent {
  from: string | null;
  to: string;
  /** 'auto: ...' (with the reason) or 'manual'. */
  reason: string;
  /** performance.now() when it was asked for and when the new rendition's first frame was drawn. */
  askedAt: number;
  at: number;
  /** Wall time between the old rendition's last frame drawn and the new one's first (ms). */
  seamGapMs: number;
  /** Media time between those two frames (ms): one frame duration when nothing was skipped. */
  seamMediaGapMs: number;
  /** Decoded frames passed over (late) between those two frames. */
  seamSkipped: number;
  /**
   * Largest gap between drawn frames in the second before and after the seam (ms), less what
   * the media's own timestamps leave between two consecutive frames beyond one frame duration
   * (a source with a hole in its timeline is drawn with that hole).
   */
  maxGapBeforeMs: number;
  maxGapAfterMs: number;
  /** The same, as measured (ms). */
  maxRawGapBeforeMs: number;
  maxRawGapAfterMs: number;
  /** Frame duration of the new rendition (ms), for comparison. */
  frameMs: number;
  /** How early the new rendition's first frame was decoded before it was due (ms; negative: late). */
  readyMs: number | null;
}

export interface PlayerOptions {
  relay: string;
  fingerprint: string | null;
  /** A WebSocket URL to play over too (`transport.ts`'s `websocketUrl`); null or absent: none. */
  websocket?: string | null;
  /** Race WebTransport and the WebSocket (the default), or use one of them only. */
  transport?: TransportMode;
  namespace: string[];
  canvas: HTMLCanvasElement;
  /** Start on this video track (manual mode) rather than in auto mode. */
  rendition?: string | null;
  /** Play this audio track rather than the preferred one (AAC, else Opus, else the first). */
  audio?: string | null;
  /**
   * Playout delay behind the newest media received (ms). Unset: adaptive, starting low and
   * raised after a stall (see `live-edge.ts`).
   */
  latencyMs?: number | null;
  /** Read the source's wall-clock stamp from every picture drawn (`stamp.ts`; `glassMs`). */
  readStamps?: boolean;
  /** Called when something worth showing changed. */
  onChange?: () => void;
  /** Called once the session is up (the chat box uses it too). */
  onSession?: (session: MoqSession) => void;
}

/** Media time is kept in microseconds, like WebCodecs timestamps. */
const US = 1_000_000;
/**
 * More buffered than the target plus this and the clock jumps forward to the target (a fixed
 * target; an adaptive one lowers itself, and jumps past a smaller excess).
 */
const MAX_EXTRA_BUFFER_US = 300_000;
const MAX_EXTRA_BUFFER_ADAPTIVE_US = 150_000;
const LATENCY_SAMPLES = 300;
/** Glass-to-glass samples kept (`readStamps`): a minute at 30 fps. */
const GLASS_SAMPLES = 1800;
/** How often to look for the catalog again while the broadcast does not exist. */
const CATALOG_RETRY_MS = 2000;
/** An AudioContext clock that has not moved for this long is not followed. */
const AUDIO_CLOCK_STALL_MS = 500;
const LOG_LINES = 200;
/** How often auto mode looks at its measurements (ms). */
const ABR_INTERVAL_MS = 250;
/** Video frames drawn within this long before and after a switch are watched (ms). */
const SEAM_WINDOW_MS = 1000;
/** Subscriber priorities: catalog and init first, then audio, then video. */
const PRIORITY_AUDIO = 1;
const PRIORITY_VIDEO = 2;
/** Bytes an object carries besides its media: prft, moof, MoQ object header. */
const OBJECT_OVERHEAD_BYTES = 150;
/** Playing the past. */
const PRIORITY_DVR = 3;
/** Probes are the least urgent data. */
const PRIORITY_PROBE = 255;

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
  /** Held at this media time (paused, or waiting for a seek's media), or null. */
  frozen: number | null = null;

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
    if (this.frozen !== null) return this.frozen;
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
    this.frozen = null;
    this.rebase(media, this.audioRunning());
  }

  /** Hold at `media` (the current time by default) until the next `set`. */
  freeze(media: number = this.now()): void {
    this.started = true;
    this.frozen = media;
  }

  /** The AudioContext time at which media time `media` plays, or null when not on audio. */
  audioTimeFor(media: number): number | null {
    if (!this.started || !this.audio || this.frozen !== null) return null;
    this.now();
    if (!this.onAudio) return null;
    return this.baseAudio + (media - this.baseMedia) / US;
  }
}

interface QueuedFrame {
  frame: VideoFrame;
  pipeline: VideoPipeline;
  publishedMs: number | null;
  /** The group the frame came in. */
  group: number;
}

/** A subscription held ready (forward off) for a rendition not playing. */
interface Held {
  track: CatalogTrack;
  sub: Subscription | null;
  /** Resolves with the subscription once the relay answered (null if it refused). */
  ready: Promise<Subscription | null>;
  /** Given up: close the subscription when it arrives. */
  dropped?: boolean;
}

/** Playing the past: pipelines fed by FETCHes of the relay's cache, group by group. */
interface Dvr {
  video: VideoPipeline | null;
  audio: AudioPipeline | null;
  /** Media time (µs) the seek asked for, and the newest live media when it was asked. */
  target: number;
  liveAt: number;
  /** The clock holds at `target` until the media for it is decoded. */
  waiting: boolean;
  /** The last group fetched (null before the first: then `first` is next). */
  last: number | null;
  first: number;
  stopped: boolean;
  fetches: FetchRequest[];
}

/** What the player remembers of a chunk given to the decoder, by media time. */
interface ChunkInfo {
  publishedMs: number | null;
  group: number;
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
  protected stamps = new Map<number, ChunkInfo>();
  /** Newest media time (µs) given to the decoder. */
  newest = -Infinity;
  /** Media time (µs) of the first sample of the first group played. */
  firstTimestamp: number | null = null;
  /** Fed from FETCHes (the past): decoding waits for the decoder instead of skipping ahead. */
  paced = false;
  /** Bytes and objects (largest Object ID + 1) received of each recent live group (for probes: groups the relay has cached). */
  groupBytes = new Map<number, number>();
  groupObjects = new Map<number, number>();
  /** Group of the object being decoded. */
  protected group = 0;
  /** Frame duration (µs) of the latest sample. */
  frameDuration = 0;
  private work: Promise<void> = Promise.resolve();

  constructor(
    readonly player: Player,
    readonly track: CatalogTrack,
  ) {
    this.assembler = new GroupAssembler(
      (o, groupStart) => {
        this.work = this.work
          .then(() => this.onObject(o, groupStart))
          .catch((e) => this.player.error(`${this.track.name}: ${errorText(e)}`));
      },
      (group) => {
        // Older groups will not be played: stop their streams so they do not take the link.
        if (this.sub) {
          this.sub.dropBelow = group;
          this.sub.prune();
        }
      },
    );
  }

  /**
   * Subscribe (with a Joining FETCH when asked, from `filter`), or take over `held`: a
   * subscription made with forward off, which is now turned on.
   */
  async start(
    loadInit: InitLoader,
    joiningFetch: boolean,
    priority: number,
    filter: SubscribeFilter = { kind: 'largest' },
    heldReady: Promise<Subscription | null> | null = null,
  ): Promise<void> {
    const held = heldReady ? await heldReady : null;
    this.init = await loadInit(this.track);
    this.pickTrackInit(null);
    await this.checkSupport();
    if (this.closed) {
      held?.close();
      return;
    }
    if (this.track.role === 'video' && this.player.stats.timing.videoSubscribe === null) {
      this.player.stats.timing.videoSubscribe = performance.now();
    }
    const onEnd = (reason: string) => this.player.note(`${this.track.name}: ${reason}`);
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
      filter,
    });
    if (this.closed) this.sub.close();
  }

  /** Load the init segment and check the codec, for a pipeline fed by `feed` (FETCHes). */
  async prepare(loadInit: InitLoader): Promise<void> {
    this.init = await loadInit(this.track);
    this.pickTrackInit(null);
    await this.checkSupport();
  }

  /** An object from a FETCH. */
  feed(o: MoqObject): void {
    this.paced = true;
    if (!this.closed) this.assembler.push(o);
  }

  private receive(o: MoqObject): void {
    if (!o.fetched) {
      this.player.arrived(o, this.track.role === 'audio');
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
    this.group = o.group;
    const chunk = parseChunk(o.payload, this.init);
    for (let i = 0; i < chunk.samples.length; i++) {
      const s = chunk.samples[i];
      if (!this.trackInit || this.trackInit.id !== s.trackId) this.pickTrackInit(s.trackId);
      const t = this.trackInit as TrackInit;
      const timestamp = Math.round((s.pts * US) / t.timescale);
      const duration = Math.round((s.duration * US) / t.timescale);
      if (i === 0 && !o.fetched && this.track.role === 'video') {
        this.player.videoArrived(o.receivedAt, timestamp);
        if (groupStart) this.player.groupStarted(o.group, timestamp);
      }
      if (duration > 0) this.frameDuration = duration;
      // The sample flags say which samples are keyframes. A group should start with one (one
      // group = one GOP); when a publisher cuts groups elsewhere, decoding still starts at a
      // keyframe.
      const key = s.sync;
      if (this.firstTimestamp === null) this.firstTimestamp = timestamp;
      this.stamps.set(timestamp, { publishedMs: chunk.publishedMs, group: o.group });
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
  /** How early its first frame from the cutover on was decoded before it was due (ms). */
  readyMs: number | null = null;
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
    if (this.cutover === null && this.player.isSwitchTarget(this)) {
      this.player.setCutover(this, timestamp, groupStart ? this.group : null);
    }
    const codec = t.codec || this.track.codec;
    if (!this.decoder || this.decoder.state === 'closed' || this.configured !== `${t.id}/${codec}`) {
      if (!key) {
        this.needKey = true;
        return;
      }
      await this.configure(t, codec);
    }
    const decoder = this.decoder as VideoDecoder;
    if (this.paced) {
      // Fed from FETCHes, as fast as they come: wait for the decoder rather than skip.
      while (decoder.decodeQueueSize >= 16 && decoder.state === 'configured' && !this.closed) {
        await new Promise<void>((r) => {
          const done = () => r();
          decoder.addEventListener('dequeue', done, { once: true });
          setTimeout(done, 20);
        });
      }
      if (this.closed || decoder.state !== 'configured') return;
    } else if (decoder.decodeQueueSize > 90) {
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
        this.player.videoFrame(this, frame, this.stamps.get(frame.timestamp) ?? { publishedMs: null, group: -1 });
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

  /** Decoded audio held until the clock runs (a seek waiting for its media). */
  private waiting: AudioData[] = [];

  /** Play the audio held while the clock waited. */
  release(): void {
    const held = this.waiting;
    this.waiting = [];
    for (const d of held) this.schedule(d);
  }

  /** Decoder output. */
  private play(d: AudioData): void {
    this.player.stats.audioChunksDecoded += 1;
    if (!this.closed && this.player.holdAudio(this)) {
      // A seek's audio before its clock runs: kept for then.
      this.waiting.push(d);
      if (this.waiting.length > 400) this.waiting.shift()?.close();
      return;
    }
    this.schedule(d);
  }

  private schedule(d: AudioData): void {
    const stats = this.player.stats;
    try {
      if (this.closed || !this.player.audible(this)) return;
      this.player.mediaStarted(d.timestamp);
      if (this.player.isLiveAudio(this)) this.player.liveArrival(d.timestamp);
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
    for (const d of this.waiting) d.close();
    this.waiting = [];
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
    transport: null,
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
    glassMs: [],
    stampsUnread: 0,
    timing: { connected: null, catalog: null, videoSubscribe: null, firstFrame: null },
    switches: 0,
    switchLog: [],
    abr: null,
    playback: 'live',
    behindLiveMs: null,
    seeks: 0,
    dvrGroupsFetched: 0,
    catchUps: 0,
    targetMs: 0,
    targetAdaptive: true,
    targetRaises: 0,
    targetLowerings: 0,
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
  /** The newest catalog version that arrived before the first was read (applied then). */
  private pendingCatalog: MoqObject | null = null;
  private abr = new Abr();
  private abrTimer = 0;
  private probing: FetchRequest[] | null = null;
  /**
   * Subscriptions to the other renditions, held ready with forward off (the relay sends
   * nothing for them): a switch turns one on and needs no SUBSCRIBE answer, which a relay
   * whose link is full may be slow to give.
   */
  private held = new Map<string, Held>();
  private dvr: Dvr | null = null;
  /** Live groups seen: media time (µs) of their first video frame, objects of video and audio. */
  private groupsSeen = new Map<number, { start: number | null; video: number; audio: number }>();
  /** Media time (µs) of the frame on screen when paused. */
  private pausedAt: number | null = null;
  private heldRetryAt = new Map<string, number>();
  /** The switch in progress: when it was asked for and why. */
  private switchAskedAt = 0;
  private switchReason = '';
  /** The last frame drawn: when, and its media time (µs). */
  private lastDraw: { t: number; ts: number; group: number } | null = null;
  /** Gaps between drawn frames (ms) of the last seconds, by when they ended. */
  private drawGaps: { t: number; gap: number; raw: number }[] = [];
  /** Decoded frames passed over (late) since the last frame drawn. */
  private skippedSinceDraw = 0;
  /** The playout target. */
  private edge: LiveEdge;

  constructor(private options: PlayerOptions) {
    this.namespace = options.namespace;
    this.edge = new LiveEdge(options.latencyMs ?? null);
    this.stats.targetMs = this.edge.targetUs / 1000;
    this.stats.targetAdaptive = this.edge.adaptive;
    const ctx = options.canvas.getContext('2d', { willReadFrequently: options.readStamps === true });
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
    // No WebTransport is fine with a WebSocket URL: MoqSession.connect says when there is no way.
    if (typeof VideoDecoder === 'undefined') throw new Error('this browser has no WebCodecs VideoDecoder');
    this.setState('connecting');
    this.moq = await MoqSession.connect(
      this.options.relay,
      this.options.fingerprint,
      (t) => this.note(t),
      (e) => this.error(`protocol: ${e.message}`),
      { websocket: this.options.websocket ?? null, mode: this.options.transport ?? 'race' },
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
    this.setState('catalog');
    this.catalog = await this.loadCatalog();
    // Newer versions that came on the heels of the first (a relay sends every cached group at
    // once) count before any track is chosen.
    const pending = this.pendingCatalog;
    this.pendingCatalog = null;
    if (pending) this.onCatalogUpdate(pending);
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
      starts.push(this.video.start((t) => this.loadInit(t), true, PRIORITY_VIDEO));
      this.stats.abr = this.abr.stats;
      this.abrTimer = window.setInterval(() => this.adapt(), ABR_INTERVAL_MS);
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

  stop(): void {
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
  private autoChoice(renditions: CatalogTrack[]): CatalogTrack {
    return renditions[0];
  }

  // -------------------------------------------------------------------------
  // Auto mode (ABR, see abr.ts).

  /** A live object arrived (any track the player subscribed to). */
  arrived(o: MoqObject, audio: boolean): void {
    this.abr.onBytes(o.receivedAt, o.payload.length, audio);
    const g = this.seen(o.group);
    if (audio) g.audio = Math.max(g.audio, o.object + 1);
    else g.video = Math.max(g.video, o.object + 1);
  }

  /** A live video group started at media time `timestamp` (µs). */
  groupStarted(group: number, timestamp: number): void {
    this.seen(group).start = timestamp;
  }

  private seen(group: number): { start: number | null; video: number; audio: number } {
    let g = this.groupsSeen.get(group);
    if (!g) {
      g = { start: null, video: 0, audio: 0 };
      this.groupsSeen.set(group, g);
      // About two minutes of one-second groups (the relay keeps 30 s by default).
      if (this.groupsSeen.size > 120) this.groupsSeen.delete(Math.min(...this.groupsSeen.keys()));
    }
    return g;
  }

  // -------------------------------------------------------------------------
  // Pause, the past (DVR), live.

  /** Whether `p`'s decoded audio is to be kept until the clock runs (a seek waiting for its media). */
  holdAudio(p: AudioPipeline): boolean {
    return !!this.dvr && p === this.dvr.audio && this.dvr.waiting;
  }

  /** Whether `p`'s audio is to be heard now. */
  audible(p: AudioPipeline): boolean {
    const playback = this.stats.playback;
    if (p === this.audio) return playback === 'live';
    return playback === 'dvr' && p === this.dvr?.audio && !this.dvr.waiting;
  }

  /** Hold the picture; the sound stops. `play()` goes on from here. */
  pause(): void {
    if (this.stats.playback === 'paused' || !this.clock.started) return;
    this.pausedAt = this.lastDraw?.ts ?? this.clock.now();
    this.stopDvr();
    this.clock.freeze(this.pausedAt);
    this.audio?.flush();
    this.stats.playback = 'paused';
    this.note(`paused at media time ${(this.pausedAt / US).toFixed(3)} s`);
  }

  /** After a pause: play on from where it stopped (from the relay's cache). */
  play(): void {
    if (this.stats.playback !== 'paused') return;
    void this.seek(this.pausedAt ?? this.clock.now());
  }

  /** Go `seconds` back from the picture on screen (within what the relay keeps). */
  rewind(seconds: number): void {
    const from = this.lastDraw?.ts ?? this.clock.now();
    void this.seek(from - seconds * US);
  }

  /** Back to live: the newest media, the target delay behind. */
  live(): void {
    if (this.stats.playback === 'live') return;
    this.stopDvr();
    this.dropQueue();
    this.audio?.flush();
    const newest = Math.max(this.video?.newest ?? -Infinity, this.audio?.newest ?? -Infinity);
    this.lastDraw = null;
    this.stats.playback = 'live';
    if (Number.isFinite(newest)) this.clock.set(newest - this.targetUs());
    this.edge.restart(performance.now());
    this.note('live');
  }

  private dropQueue(): void {
    for (const q of this.queue) this.skip(q);
    this.queue = [];
  }

  private stopDvr(): void {
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
  private async seek(target: number): Promise<void> {
    const video = this.video;
    if (!video) return;
    const liveAt = Math.max(video.newest, this.audio?.newest ?? -Infinity);
    const groups = [...this.groupsSeen.entries()]
      .filter(([, g]) => g.start !== null)
      .sort((a, b) => a[0] - b[0]);
    if (groups.length === 0 || target >= liveAt - this.targetUs()) {
      this.live();
      return;
    }
    let start = groups[0];
    for (const g of groups) if ((g[1].start as number) <= target) start = g;
    if ((start[1].start as number) > target) {
      this.note(`media from ${(target / US).toFixed(3)} s is older than what this page saw; from ${((start[1].start as number) / US).toFixed(3)} s`);
      target = start[1].start as number;
    }
    this.stopDvr();
    this.audio?.flush();
    const d: Dvr = {
      video: new VideoPipeline(this, video.track),
      audio: this.audio ? new AudioPipeline(this, this.audio.track) : null,
      target,
      liveAt,
      waiting: true,
      last: null,
      first: start[0],
      stopped: false,
      fetches: [],
    };
    this.dvr = d;
    this.stats.playback = 'dvr';
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
  private async dvrFeed(d: Dvr): Promise<void> {
    while (!d.stopped && !this.stopped) {
      // The next group seen live; complete once a later one has started.
      const later = [...this.groupsSeen.keys()]
        .filter((g) => (d.last === null ? g >= d.first : g > d.last))
        .sort((a, b) => a - b);
      // Fetched up to where the next group starts.
      const fetchedTo = d.last === null ? null : (this.groupsSeen.get(later[0])?.start ?? null);
      const ahead = fetchedTo === null ? 0 : fetchedTo - Math.max(this.clock.now(), d.target);
      if (ahead > 1.5 * US) {
        await sleep(100);
        continue;
      }
      if (later.length < 2) {
        if (!d.waiting && ahead < 300_000) {
          this.note('caught up with live');
          this.live();
          return;
        }
        await sleep(200);
        continue;
      }
      const group = later[0];
      const seen = this.groupsSeen.get(group) as { video: number; audio: number };
      const one = async (p: Pipeline | null, objects: number): Promise<void> => {
        if (!p) return;
        const r = await this.session().fetch(
          this.namespace,
          p.track.name,
          { group, object: 0 },
          { group, object: objects },
          { priority: PRIORITY_DVR, onObject: (o) => p.feed(o) },
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
  videoArrived(at: number, timestamp: number): void {
    this.abr.onVideo(at, timestamp / 1000);
  }

  private abrRenditions(): AbrRendition[] {
    if (!this.catalog) return [];
    return videoRenditions(this.catalog).map((t) => {
      const fps = t.framerate ?? 30;
      // Without a catalog bitrate: about 0.1 bit per pixel per frame.
      const media = t.bitrate ?? (t.width ?? 640) * (t.height ?? 360) * fps * 0.1;
      // Each frame's object also carries its prft and moof and the MoQ headers.
      return { name: t.name, bitrate: media + fps * 8 * OBJECT_OVERHEAD_BYTES };
    });
  }

  /** Look at the measurements; switch or probe when auto mode says so. */
  private adapt(): void {
    if (this.stopped || !this.video) return;
    const now = performance.now();
    const newest = Math.max(this.video.newest, this.nextVideo?.newest ?? -Infinity);
    const ahead = this.clock.started && Number.isFinite(newest) ? (newest - this.clock.now()) / 1000 : null;
    this.stats.behindLiveMs = ahead;
    const bufferMs = this.stats.playback === 'live' ? ahead : null;
    const current = this.nextVideo?.track.name ?? this.video.track.name;
    const busy = this.nextVideo !== null || this.stats.mode !== 'auto';
    // Until measured: the catalog's audio bitrate plus the per-object overhead (about 47
    // objects a second for 48 kHz AAC).
    const audioBps = this.audio ? (this.audio.track.bitrate ?? 64_000) + 47 * 8 * OBJECT_OVERHEAD_BYTES : 0;
    const d = this.abr.decide(now, this.abrRenditions(), current, busy, bufferMs, audioBps);
    if (d.kind === 'switch') {
      const target = this.catalog && videoRenditions(this.catalog).find((t) => t.name === d.to);
      if (!target) return;
      this.cancelProbe();
      this.switchTo(target, `auto: ${d.reason}`);
    } else if (d.kind === 'probe') {
      void this.probe(d.bytes);
    } else if (d.kind === 'cancel-probe') {
      this.cancelProbe();
    }
    this.keepHeld(now);
  }

  /** Hold every rendition not playing ready (SUBSCRIBE with forward off). */
  private keepHeld(now: number): void {
    if (!this.catalog || !this.video) return;
    const active = new Set([this.video.track.name, this.nextVideo?.track.name]);
    for (const track of videoRenditions(this.catalog)) {
      const name = track.name;
      if (active.has(name) || this.held.has(name) || now < (this.heldRetryAt.get(name) ?? 0)) continue;
      const h: Held = { track, sub: null, ready: Promise.resolve(null) };
      this.held.set(name, h);
      h.ready = this.session()
        .subscribe(this.namespace, name, {
          onObject: () => {},
          onEnd: () => {
            if (this.held.get(name) === h) this.held.delete(name);
          },
          priority: PRIORITY_VIDEO,
          forward: false,
        })
        .then((sub) => {
          h.sub = sub;
          if (h.dropped) sub.close();
          return sub;
        })
        .catch((e) => {
          if (this.held.get(name) === h) this.held.delete(name);
          this.heldRetryAt.set(name, performance.now() + 5000);
          this.note(`holding ${name} ready: ${errorText(e)}`);
          return null;
        });
    }
  }

  private dropHeld(): void {
    for (const h of this.held.values()) {
      h.dropped = true;
      h.sub?.close();
    }
    this.held.clear();
  }

  private cancelProbe(): void {
    for (const r of this.probing ?? []) r.cancel();
    this.probing = null;
  }

  /**
   * Measure spare capacity: FETCH recent groups of the rendition playing, at least `bytes` of
   * them, all at once (the relay has them cached and sends FETCH data behind the live streams).
   * One FETCH per group, each up to the last object received (a relay vouches for that range
   * without knowing where the group ended).
   */
  private async probe(bytes: number): Promise<void> {
    const p = this.video;
    if (!p || this.probing) return;
    // Newest first, without the group still arriving.
    const groups = [...p.groupBytes.entries()].sort((a, b) => b[0] - a[0]).slice(1);
    const picked: { group: number; objects: number }[] = [];
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
    const reqs: FetchRequest[] = [];
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
            { priority: PRIORITY_PROBE },
          );
          reqs.push(r);
          if (this.probing !== reqs) r.cancel();
        }),
      );
      const results = await Promise.all(reqs.map((r) => r.done));
      const now = performance.now();
      const first = results.filter((r) => r.firstChunkAt !== null).sort((a, b) => (a.firstChunkAt ?? 0) - (b.firstChunkAt ?? 0))[0];
      const combined = {
        complete: results.every((r) => r.complete),
        bytes: results.reduce((n, r) => n + r.bytes, 0),
        firstChunkBytes: first?.firstChunkBytes ?? 0,
        firstChunkAt: first?.firstChunkAt ?? null,
        lastChunkAt: results.reduce<number | null>((m, r) => (r.lastChunkAt === null ? m : Math.max(m ?? 0, r.lastChunkAt)), null),
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
    if (o.object !== 0 || o.payload.length === 0) return;
    if (!this.catalog) {
      if (!this.pendingCatalog || o.group > this.pendingCatalog.group) this.pendingCatalog = o;
      return;
    }
    try {
      this.catalog = parseMsf(o.payload, this.catalog);
      this.stats.renditions = videoRenditions(this.catalog).map((t) => t.name);
      this.note('catalog updated');
    } catch (e) {
      this.error(`catalog update: ${errorText(e)}`);
    }
  }

  /**
   * Subscribe to `track` (a catalog or an init track) from its start and wait (bounded) for its
   * first object with a payload. Later objects go to `later`.
   */
  private async firstObject(
    track: string,
    later: ((o: MoqObject) => void) | null,
    timeoutMs = 10_000,
  ): Promise<{ object: MoqObject; sub: Subscription }> {
    let resolve: (o: MoqObject) => void = () => {};
    const got = new Promise<MoqObject>((r) => (resolve = r));
    let first: MoqObject | null = null;
    // From group 0 on: everything the relay has of this small track, and when the relay has
    // nothing yet, the publisher's current group from its first object (a Joining FETCH would
    // be refused then: the relay forwards it to the publisher, which may not serve FETCH).
    const sub = await this.session().subscribe(this.namespace, track, {
      filter: { kind: 'from', group: 0 },
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

  /** Target playout delay (µs). */
  private targetUs(): number {
    return this.edge.targetUs;
  }

  /**
   * Live media for `timestamp` is decoded and ready to play: the adaptive target judges how
   * much room it had, and the clock moves when the target does.
   */
  liveArrival(timestamp: number): void {
    if (this.stats.playback !== 'live' || !this.clock.started || this.nextVideo) return;
    const shift = this.edge.arrived(timestamp, this.clock.now(), performance.now());
    if (shift === 0) return;
    this.clock.set(this.clock.now() + shift);
    this.audio?.flush();
    this.stats.targetMs = Math.round(this.edge.targetUs / 1000);
    this.stats.targetRaises = this.edge.raises;
    this.stats.targetLowerings = this.edge.lowerings;
    this.note(
      shift < 0
        ? `media came ${(-shift / 1000).toFixed(0)} ms too late: playing ${this.stats.targetMs} ms behind live`
        : `steady: playing ${this.stats.targetMs} ms behind live (${(shift / 1000).toFixed(0)} ms closer)`,
    );
  }

  /** First decoded media starts the clock, the target delay behind it. */
  mediaStarted(timestamp: number): void {
    if (!this.clock.started) {
      this.edge.restart(performance.now());
      this.clock.set(timestamp - this.targetUs());
      this.note(
        `playback starts at media time ${(timestamp / US).toFixed(3)} s, ${(this.targetUs() / 1000).toFixed(0)} ms behind`,
      );
    }
  }

  videoFrame(p: VideoPipeline, frame: VideoFrame, info: ChunkInfo): void {
    this.stats.framesDecoded += 1;
    const live = p === this.video || p === this.nextVideo;
    if (live && this.stats.playback !== 'live') {
      // Paused or playing the past: live video is decoded (to go live at once) but not shown;
      // a rendition switch completes when the new one has a frame from its cutover on.
      if (p === this.nextVideo && p.cutover !== null && frame.timestamp >= p.cutover) this.finishSwitch(null, performance.now(), frame.timestamp);
      frame.close();
      return;
    }
    // The old rendition's frames from the cutover on are replaced by the new one's.
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
      // The media at the seek's target is here: the clock runs from it.
      dvr.waiting = false;
      this.clock.set(dvr.target);
      dvr.audio?.release();
      this.note(`playing ${((dvr.liveAt - dvr.target) / US).toFixed(1)} s behind live`);
    }
    this.mediaStarted(frame.timestamp);
    if (p === this.video) this.liveArrival(frame.timestamp);
    if (p === this.nextVideo && p.readyMs === null && p.cutover !== null && frame.timestamp >= p.cutover) {
      p.readyMs = (frame.timestamp - this.clock.now()) / 1000;
    }
    const entry = { frame, pipeline: p, publishedMs: info.publishedMs, group: info.group };
    if (this.stats.framesDrawn === 0 && p === this.video) {
      // The first picture is shown at once; playback follows at the target delay.
      this.draw(entry);
      return;
    }
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
    if (this.stats.playback === 'live') this.catchUp();
    const latencyUs = this.audioCtx && this.audioCtx.state === 'running' ? outputLatency(this.audioCtx) : 0;
    const now = this.clock.now() - latencyUs;
    let pick: QueuedFrame | null = null;
    // Never back in media time: what is older than the frame on screen is dropped (the old
    // rendition may have been drawn past the new one's start before that start arrived).
    const floor = this.lastDraw?.ts ?? -Infinity;
    while (this.queue.length > 0 && this.queue[0].frame.timestamp <= now) {
      if (pick) {
        this.skip(pick);
        this.skippedSinceDraw += 1;
      }
      pick = this.queue.shift() as QueuedFrame;
      if (pick.frame.timestamp <= floor) {
        this.skip(pick);
        pick = null;
      }
    }
    if (pick) this.draw(pick);
  }

  /** Too far behind the newest media (the joining burst, a stall): jump to near live. */
  private catchUp(): void {
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
      this.note(`caught up to live: skipped ${((newest - target - now) / 1000).toFixed(0)} ms`);
    }
  }

  private draw(q: QueuedFrame): void {
    const { frame, pipeline } = q;
    const drawnAt = performance.now();
    const prev = this.lastDraw;
    const skipped = this.skippedSinceDraw;
    this.skippedSinceDraw = 0;
    if (prev) {
      // A hole in the media's own timeline (consecutive frames further apart than one frame
      // duration, nothing skipped) is drawn as such: it is not the player's gap.
      const raw = drawnAt - prev.t;
      const hole = skipped === 0 ? Math.max(0, (frame.timestamp - prev.ts - pipeline.frameDuration) / 1000) : 0;
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
  private drawGap(t: number, gap: number, raw: number): void {
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
  select(name: string): void {
    if (!this.catalog) return;
    if (name === 'auto') {
      this.stats.mode = 'auto';
      this.note('auto mode');
      this.changed();
      return;
    }
    const target = videoRenditions(this.catalog).find((t) => t.name === name);
    if (!target) {
      this.error(`no video rendition named ${name}`);
      return;
    }
    this.stats.mode = 'manual';
    this.cancelProbe();
    this.switchTo(target, 'manual');
  }

  /** Start drawing `target` from its next group on (the current rendition until then). */
  private switchTo(target: CatalogTrack, reason: string): void {
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
    // No Joining FETCH: the new rendition starts at the group after the one being drawn (every
    // rendition has the same group IDs): it may be out already, and none of the group being
    // drawn is sent for nothing. Before anything was drawn: its next group.
    // The subscription held ready for this rendition, when there is one, is turned on instead.
    const playing = this.lastDraw?.group ?? -1;
    const filter: SubscribeFilter = playing >= 0 ? { kind: 'from', group: playing + 1 } : { kind: 'nextGroup' };
    // (A relay refuses a second subscription to a track: a held one still being answered is
    // waited for.)
    let held: Promise<Subscription | null> | null = null;
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
  private cancelSwitch(): void {
    this.nextVideo?.close();
    this.nextVideo = null;
    this.stats.switchingTo = null;
    if (this.video?.sub) this.video.sub.dropFrom = null;
  }

  isLiveAudio(p: AudioPipeline): boolean {
    return p === this.audio;
  }

  isSwitchTarget(p: VideoPipeline): boolean {
    return p === this.nextVideo;
  }

  /**
   * The new rendition's first group (`group`, null when it did not start at a group's first
   * object) starts at `timestamp`: the old one is drawn until then, and its streams of that
   * group on are not wanted (cancelled, so they do not compete for the link).
   */
  setCutover(p: VideoPipeline, timestamp: number, group: number | null): void {
    p.cutover = timestamp;
    if (group !== null && this.video?.sub) this.video.sub.dropFrom = group;
    this.note(
      `${p.track.name}: ${group !== null ? `group ${group} starts` : 'first keyframe'} at ${(timestamp / US).toFixed(3)} s; switching there`,
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
  private finishSwitch(prev: { t: number; ts: number; group: number } | null, at: number, ts: number, skipped = 0): void {
    const next = this.nextVideo as VideoPipeline;
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
    const ev: SwitchEvent = {
      from: old?.track.name ?? null,
      to: next.track.name,
      reason: this.switchReason,
      askedAt: this.switchAskedAt,
      at,
      seamGapMs: prev ? at - prev.t : 0,
      seamMediaGapMs: prev ? (ts - prev.ts) / 1000 : 0,
      seamSkipped: skipped,
      maxGapBeforeMs: before,
      maxGapAfterMs: 0,
      maxRawGapBeforeMs: rawBefore,
      maxRawGapAfterMs: 0,
      frameMs: next.frameDuration / 1000,
      readyMs: next.readyMs,
    };
    // (Switches made while paused or playing the past have no seam on screen.)
    if (this.stats.playback === 'live') this.stats.switchLog.push(ev);
    if (this.stats.switchLog.length > 20) this.stats.switchLog.shift();
    this.note(
      `now drawing ${next.track.name}: seam ${ev.seamGapMs.toFixed(0)} ms (media ${ev.seamMediaGapMs.toFixed(0)} ms), ` +
        `${(at - this.switchAskedAt).toFixed(0)} ms after it was asked for`,
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
}

function outputLatency(ctx: AudioContext): number {
  const s = (ctx.outputLatency || 0) + (ctx.baseLatency || 0);
  return Math.min(Math.max(s, 0), 0.5) * US;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
