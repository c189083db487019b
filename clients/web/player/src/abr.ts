// Adaptive bitrate: which video rendition auto mode plays.
//
// Live objects arrive as they are published, so their arrival rate says what the stream needs,
// not what the network could carry. Two measurements are used instead:
//
// - Keeping up (step down when not), per object: each live video object's delivery offset
//   (arrival time minus its media time) against the smallest offset of the last ten seconds.
//   A rendition the network cannot carry arrives later and later. It is behind when the offset
//   grew by more than 15 % of the elapsed time over the last 800 ms and is 100 ms above the
//   best; when every object of the last 600 ms came more than 250 ms late (unless a backlog is
//   draining: the offset shrinking); when no video came for 800 ms; or when the video received
//   is 250 ms behind the playback clock for 500 ms (buffer health). Then the player steps down
//   to the largest rendition that fits, 20 % to spare, in the bytes it received over the last
//   two seconds (at least one step).
// - Room to grow (step up): after a stable period (no trouble for 4 s) the player probes: a
//   FETCH of recent groups it already played (the relay has them cached and sends FETCH data
//   behind the live streams), 12 to 32 kB, timed from its first to its last chunk. What the
//   live streams use plus what the probe got is the capacity; the player steps up to the
//   largest rendition it carries with 50 % to spare. A probe cancelled (after 1 s, or because
//   the live streams got late while it ran) shows no room; each probe without room doubles
//   the time to the next (3 s up to 8 s).
//
// After a switch nothing is judged for 2 s. Decisions are made here; switches happen at group
// boundaries (player.ts).

export interface AbrRendition {
  name: string;
  /** Bits per second of its objects (media plus the per-object boxes and headers). */
  bitrate: number;
}

export interface AbrParams {
  /** A delivery offset this much above the best counts as late (ms). */
  lateMs: number;
  /** ...for every object of this long a window (ms). */
  lateForMs: number;
  /** Falling behind: the offset grows by this fraction of the elapsed time... */
  slope: number;
  /** ...over this window (ms)... */
  slopeWindowMs: number;
  /** ...and is this much above the best (ms). */
  slopeExcessMs: number;
  /** No video object for this long is a stall (ms). */
  stallMs: number;
  /** Received video this far behind the playback clock is late (ms)... */
  bufferLateMs: number;
  /** ...for this long (ms). */
  bufferLateForMs: number;
  /** How long the best delivery offset is remembered (ms). */
  baselineMs: number;
  /** Throughput is measured over this window (ms). */
  windowMs: number;
  /** After a switch, no judgement for this long (ms). */
  graceMs: number;
  /** No trouble for this long before a step up (ms). */
  stableMs: number;
  /** Time between probes (ms); doubled after each probe that found no room, up to the max. */
  probeEveryMs: number;
  maxProbeEveryMs: number;
  /** After a probe, lateness is not judged for this long (ms): the link settles. */
  probeSettleMs: number;
  /** A probe is cancelled after this long (ms). */
  probeTimeoutMs: number;
  /** A probe result is used this long (ms). */
  probeFreshMs: number;
  /** Step down to a rendition whose bitrate times this fits the throughput. */
  downSafety: number;
  /** Step up when the capacity is the next rendition's bitrate times this. */
  upSafety: number;
  /** Smallest and largest probe (bytes); in between, what the next rendition needs in this long (ms). */
  minProbeBytes: number;
  maxProbeBytes: number;
  probeMs: number;
  /** Late objects only count while the offset is not shrinking faster than this (a backlog draining). */
  drainSlope: number;
}

export const DEFAULT_ABR: AbrParams = {
  lateMs: 250,
  lateForMs: 600,
  slope: 0.15,
  slopeWindowMs: 800,
  slopeExcessMs: 100,
  stallMs: 800,
  bufferLateMs: 250,
  bufferLateForMs: 500,
  baselineMs: 10_000,
  windowMs: 2000,
  graceMs: 2000,
  stableMs: 4000,
  probeEveryMs: 3000,
  maxProbeEveryMs: 8000,
  probeSettleMs: 1000,
  probeTimeoutMs: 1000,
  probeFreshMs: 1000,
  downSafety: 1.2,
  upSafety: 1.5,
  minProbeBytes: 12_000,
  maxProbeBytes: 32_000,
  probeMs: 300,
  drainSlope: -0.05,
};

export type AbrDecision =
  | { kind: 'none' }
  | { kind: 'switch'; to: string; reason: string }
  | { kind: 'probe'; bytes: number; reason: string }
  | { kind: 'cancel-probe'; reason: string };

/** What the page shows and tests read (`ternPlayer.abr`). */
export interface AbrStats {
  /** Bits per second received (video and audio) over the last window. */
  throughputBps: number;
  /** Delivery offset of the newest live video object above the best of the window (ms). */
  lagExcessMs: number;
  /** How fast the offset grows (ms per ms) over the last 800 ms. */
  slope: number;
  /** Received video ahead of the playback clock (ms; negative: late). */
  bufferMs: number | null;
  behind: boolean;
  /** The last probe: spare bits per second, when (performance.now()), bytes. */
  probe: { spareBps: number; at: number; bytes: number; complete: boolean } | null;
  probes: number;
  /** The last decisions, newest last. */
  decisions: { at: number; to: string; reason: string }[];
}

interface Arrival {
  t: number;
  offset: number;
}

export class Abr {
  private video: Arrival[] = [];
  private bytes: { t: number; bytes: number; audio: boolean }[] = [];
  private lastVideoAt: number | null = null;
  private lastSwitchAt = -Infinity;
  private lastBehindAt = -Infinity;
  private bufferLateSince: number | null = null;
  private probeRunning = false;
  private lastProbeEnd = -Infinity;
  private probeEvery: number;
  readonly stats: AbrStats = {
    throughputBps: 0,
    lagExcessMs: 0,
    slope: 0,
    bufferMs: null,
    behind: false,
    probe: null,
    probes: 0,
    decisions: [],
  };

  constructor(readonly params: AbrParams = DEFAULT_ABR) {
    this.probeEvery = params.probeEveryMs;
  }

  /** A live (not fetched) video object arrived at `now` (ms) with media time `mediaMs`. */
  onVideo(now: number, mediaMs: number): void {
    this.video.push({ t: now, offset: now - mediaMs });
    if (this.lastVideoAt === null || now > this.lastVideoAt) this.lastVideoAt = now;
    this.trim(now);
  }

  /** A live object (video or audio) of `bytes` arrived at `now`. */
  onBytes(now: number, bytes: number, audio = false): void {
    this.bytes.push({ t: now, bytes, audio });
  }

  private trim(now: number): void {
    while (this.video.length > 0 && this.video[0].t < now - this.params.baselineMs) this.video.shift();
    while (this.bytes.length > 0 && this.bytes[0].t < now - this.params.windowMs) this.bytes.shift();
  }

  /** Bits per second received over the last window (only the audio's with `audioOnly`). */
  throughput(now: number, audioOnly = false): number {
    this.trim(now);
    let sum = 0;
    for (const b of this.bytes) if (!audioOnly || b.audio) sum += b.bytes;
    return (sum * 8) / (this.params.windowMs / 1000);
  }

  /** A switch was made (or the playback started): judge the new rendition after a grace period. */
  switched(now: number): void {
    this.lastSwitchAt = now;
    this.bufferLateSince = null;
    // The best offset stays: every rendition is on the same media timeline and network path.
  }

  probeStarted(): void {
    this.probeRunning = true;
    this.stats.probes += 1;
  }

  /** A probe ended at `now`: `spareBps` is what it got, null when it failed. */
  probeDone(now: number, result: { spareBps: number; bytes: number; complete: boolean } | null): void {
    this.probeRunning = false;
    this.lastProbeEnd = now;
    this.stats.probe = result ? { ...result, at: now } : null;
  }

  /**
   * The lag excess now, whether the last `lateForMs` were all late, and whether the offset is
   * growing (least-squares slope over `slopeWindowMs`).
   */
  private lag(now: number): { excess: number; late: boolean; falling: boolean; slope: number } {
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
    // Enough history for "all of the last lateForMs": the window must reach back that far.
    const covered = this.video[0].t <= now - this.params.lateForMs;
    const slope = this.slope(now);
    const excess = newest.offset - best;
    return {
      excess,
      late: covered && recent >= 3 && recentMin > this.params.lateMs && slope > this.params.drainSlope,
      falling: slope > this.params.slope && excess > this.params.slopeExcessMs,
      slope,
    };
  }

  /** Least-squares slope of the offset over the last `slopeWindowMs` (0 without enough points). */
  private slope(now: number): number {
    const from = now - this.params.slopeWindowMs;
    const pts = this.video.filter((a) => a.t >= from);
    if (pts.length < 8 || pts[pts.length - 1].t - pts[0].t < this.params.slopeWindowMs / 2) return 0;
    const mt = pts.reduce((n, a) => n + a.t, 0) / pts.length;
    const mo = pts.reduce((n, a) => n + a.offset, 0) / pts.length;
    let num = 0;
    let den = 0;
    for (const a of pts) {
      num += (a.t - mt) * (a.offset - mo);
      den += (a.t - mt) ** 2;
    }
    return den > 0 ? num / den : 0;
  }

  /**
   * What to do now. `renditions` largest first; `current` the rendition playing (or being
   * switched to); `busy` while a switch is in progress; `bufferMs` received video ahead of the
   * playback clock (null when unknown); `audioBps` what the audio needs when it has not been
   * measured yet.
   */
  decide(
    now: number,
    renditions: AbrRendition[],
    current: string,
    busy: boolean,
    bufferMs: number | null,
    audioBps: number,
  ): AbrDecision {
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
    if (busy || idx < 0) return { kind: 'none' };
    if (now - this.lastSwitchAt < p.graceMs) {
      s.behind = false;
      return { kind: 'none' };
    }
    const stalled = this.lastVideoAt !== null && now - this.lastVideoAt > p.stallMs;
    const bufferLate =
      this.bufferLateSince !== null && now - this.bufferLateSince >= p.bufferLateForMs && lag.slope > p.drainSlope;
    s.slope = lag.slope;
    s.behind = lag.late || lag.falling || stalled || bufferLate;
    if (s.behind) {
      // A probe shares the link: when it is what makes the rendition late, stop it and look
      // again once the link had time to settle.
      if (this.probeRunning) return { kind: 'cancel-probe', reason: 'late while probing' };
      if (now - this.lastProbeEnd < p.probeSettleMs) return { kind: 'none' };
      this.lastBehindAt = now;
      if (idx === renditions.length - 1) return { kind: 'none' };
      const lower = renditions.slice(idx + 1);
      const fit = lower.find((r) => (r.bitrate + audioBps) * p.downSafety <= throughput) ?? lower[lower.length - 1];
      const why = lag.late
        ? `${current} arrives ${lag.excess.toFixed(0)} ms late`
        : lag.falling
          ? `${current} falls behind (${lag.excess.toFixed(0)} ms late, +${(lag.slope * 1000).toFixed(0)} ms/s)`
          : stalled
            ? `no ${current} for ${(now - (this.lastVideoAt ?? now)).toFixed(0)} ms`
            : `${current} is ${(-(bufferMs ?? 0)).toFixed(0)} ms behind playback`;
      this.probeEvery = p.probeEveryMs;
      return this.decision(now, fit.name, `${why}; received ${(throughput / 1000).toFixed(0)} kbit/s`);
    }
    if (idx === 0) return { kind: 'none' };
    if (now - Math.max(this.lastSwitchAt, this.lastBehindAt) < p.stableMs) return { kind: 'none' };
    const need = (r: AbrRendition) => (r.bitrate + audioBps) * p.upSafety;
    const next = renditions[idx - 1];
    const probe = s.probe;
    if (probe && now - probe.at < p.probeFreshMs) {
      // A probe that did not finish (cancelled: too slow, or the live streams got late) says
      // there is no room.
      const capacity = throughput + (probe.complete ? probe.spareBps : 0);
      s.probe = { ...probe, at: -Infinity }; // Used once.
      // The largest rendition the capacity carries (more than one step when there is room).
      const up = renditions.slice(0, idx).find((r) => capacity >= need(r));
      if (up) {
        this.probeEvery = p.probeEveryMs;
        return this.decision(
          now,
          up.name,
          `capacity ${(capacity / 1000).toFixed(0)} kbit/s (probe ${(probe.spareBps / 1000).toFixed(0)} spare) ≥ ${(need(up) / 1000).toFixed(0)}`,
        );
      }
      // No room: probe less often (a probe costs the live streams a little).
      this.probeEvery = Math.min(this.probeEvery * 2, p.maxProbeEveryMs);
    }
    if (!this.probeRunning && now - this.lastProbeEnd >= this.probeEvery) {
      return {
        kind: 'probe',
        bytes: Math.min(p.maxProbeBytes, Math.max(p.minProbeBytes, Math.ceil(((need(next) / 8) * p.probeMs) / 1000))),
        reason: `stable on ${current} for ${((now - Math.max(this.lastSwitchAt, this.lastBehindAt)) / 1000).toFixed(1)} s`,
      };
    }
    return { kind: 'none' };
  }

  private decision(now: number, to: string, reason: string): AbrDecision {
    this.stats.decisions.push({ at: now, to, reason });
    if (this.stats.decisions.length > 20) this.stats.decisions.shift();
    return { kind: 'switch', to, reason };
  }
}

/**
 * A probe's spare capacity in bits per second. Finished: the bytes after its first chunk over
 * the time from the first chunk to the last (everything in one chunk: as if in 2 ms).
 * Cancelled unfinished: the bytes that came over the time since it was asked for.
 */
export function probeRate(
  r: { bytes: number; firstChunkBytes: number; firstChunkAt: number | null; lastChunkAt: number | null; complete: boolean },
  startedAt: number,
  now: number,
): number {
  if (r.firstChunkAt === null) return 0;
  if (!r.complete) return (r.bytes * 8) / Math.max((now - startedAt) / 1000, 0.002);
  const span = (r.lastChunkAt ?? r.firstChunkAt) - r.firstChunkAt;
  if (span <= 0) return (r.bytes * 8) / 0.002;
  return (Math.max(r.bytes - r.firstChunkBytes, 0) * 8) / Math.max(span / 1000, 0.002);
}
