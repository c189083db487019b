// How far behind the newest media the player plays: the playout target.
//
// Fixed when the page asks for a latency (`?latency=`). Otherwise adaptive, like a jitter buffer:
// it starts low, so a viewer on a good path sits at the live edge within a second or two of
// joining; media decoded after its time to play raises the target by how late it was (plus a
// margin) and delays the clock by as much, so playback continues from that media instead of
// skipping it; and when, over a whole window, every piece of media arrived with more room than
// needed, the clock jumps ahead by the excess and the target becomes the room left (the first
// window after a join is short, so a join settles at the live edge within a second or two). A
// raise costs one stall; a lowering, a few skipped frames at most once a window.
//
// Pure: times are passed in (media time and the clock in µs, the page's clock in ms).

/** Settings of the adaptive target (ms). */
export interface LiveEdgeConfig {
  /** The target on joining. */
  startMs: number;
  /** Never below. */
  minMs: number;
  /** Never above. */
  maxMs: number;
  /** Added to how late media was when the target is raised. */
  raiseMarginMs: number;
  /** Room every piece of media must keep before the target is lowered. */
  keepMs: number;
  /** Length of the window over which the least room is taken. */
  windowMs: number;
  /** The first window after a (re)start, shorter: a join settles at the live edge at once. */
  firstWindowMs: number;
  /** Lowerings smaller than this are not worth a jump. */
  minStepMs: number;
  /** After a (re)start, a seek or a switch: arrivals not judged (a joining burst is old media). */
  graceMs: number;
  /** For this long after a raise, a lowering keeps at least the room that raise asked for. */
  memoryMs: number;
}

export const DEFAULT_LIVE_EDGE: LiveEdgeConfig = {
  startMs: 120,
  minMs: 50,
  maxMs: 3000,
  raiseMarginMs: 40,
  keepMs: 30,
  windowMs: 4000,
  firstWindowMs: 1000,
  minStepMs: 20,
  graceMs: 500,
  memoryMs: 30_000,
};

const US_PER_MS = 1000;

export class LiveEdge {
  /** The current playout target (µs). */
  targetUs: number;
  /** Raises (stalls) and lowerings so far. */
  raises = 0;
  lowerings = 0;
  private graceUntil = -Infinity;
  private windowStart: number | null = null;
  private windowMin = Infinity;
  private firstWindow = true;
  /** The last raise: when, and the target it set. */
  private raised: { at: number; targetUs: number } | null = null;

  /** `fixedMs`: a target the page asked for (null: adaptive). */
  constructor(
    readonly fixedMs: number | null,
    private readonly config: LiveEdgeConfig = DEFAULT_LIVE_EDGE,
  ) {
    this.targetUs = (fixedMs ?? config.startMs) * US_PER_MS;
  }

  get adaptive(): boolean {
    return this.fixedMs === null;
  }

  /** Playback (re)started at `wallMs` (join, back to live, a switch, a catch-up). */
  restart(wallMs: number): void {
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
  arrived(mediaUs: number, clockUs: number, wallMs: number): number {
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
    // The room left after the jump: what the media needs, never under the target's floor.
    let floor = Math.max(c.keepMs, c.minMs) * US_PER_MS;
    // A path that stalled recently may stall again: keep the room it needed for a while.
    if (this.raised && wallMs - this.raised.at < c.memoryMs) floor = Math.max(floor, this.raised.targetUs);
    const step = this.windowMin - floor;
    this.windowStart = wallMs;
    this.windowMin = Infinity;
    if (step < c.minStepMs * US_PER_MS) return 0;
    this.targetUs = floor;
    this.lowerings += 1;
    return step;
  }
}
