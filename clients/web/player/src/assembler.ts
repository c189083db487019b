// Objects of one track, put back in order: a group is played from its first object (a
// keyframe) onward, objects of a group strictly in Object ID order. Objects come from the
// Joining FETCH and from subgroup streams, in any interleaving.

import type { MoqObject } from './wire';

/** Objects held while waiting for a missing one (bounded; the oldest groups go first). */
const MAX_PENDING = 1024;

export class GroupAssembler {
  /** The group being played, or null before the first group start. */
  group: number | null = null;
  private next = 0;
  private pending = new Map<number, Map<number, MoqObject>>();
  private pendingCount = 0;
  /** Objects dropped: older than the group being played, or duplicates. */
  dropped = 0;

  /**
   * `emit(o, groupStart)` receives objects with a payload, in play order; `onGroup(g)` hears
   * when group `g` starts being played (older groups are then of no use).
   */
  constructor(
    private emit: (o: MoqObject, groupStart: boolean) => void,
    private onGroup: (group: number) => void = () => {},
  ) {}

  push(o: MoqObject): void {
    if (this.group !== null && o.group < this.group) {
      this.dropped += 1;
      return;
    }
    if (this.group === null || o.group > this.group) {
      // A newer group starts at its object 0: move on to it, abandoning the rest of the
      // current one (a keyframe makes the older frames useless).
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

  private startGroup(g: number): void {
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

  private accept(o: MoqObject): void {
    this.next = o.object + 1;
    // Status objects (End of Group, ...) only move the position on.
    if (o.status === 0 && o.payload.length > 0) this.emit(o, o.object === 0);
  }

  private drain(): void {
    const objects = this.group === null ? undefined : this.pending.get(this.group);
    if (!objects) return;
    for (;;) {
      const o = objects.get(this.next);
      if (!o) break;
      objects.delete(this.next);
      this.pendingCount -= 1;
      this.accept(o);
    }
    if (objects.size === 0 && this.group !== null) this.pending.delete(this.group);
  }

  private hold(o: MoqObject): void {
    let objects = this.pending.get(o.group);
    if (!objects) {
      objects = new Map();
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
}
