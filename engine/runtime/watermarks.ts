import type { Row } from '../core/batch';

/**
 * Event-time watermarks:
 *
 * - per source partition: max event time seen - maxOutOfOrder;
 * - job watermark: min over partitions that are not idle; a partition silent
 *   for `idleTimeout` of wall-clock time stops holding it back;
 * - it never goes backwards, and jumps to +Infinity at the end of a finite input.
 *
 * The tracker assigns each row the watermark in force *before* that row, so
 * lateness is decided per row and results do not depend on how rows were cut
 * into batches.
 */
export class WatermarkTracker {
  private readonly maxEventTime = new Map<string, number>();
  private readonly lastSeenAt = new Map<string, number>();
  private current = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly eventTimeField: string,
    private readonly maxOutOfOrderMs: number,
    private readonly idleTimeoutMs: number,
    /** Wall clock, injectable for tests. */
    private readonly now: () => number = Date.now,
  ) {}

  /** The job watermark now. */
  get watermark(): number {
    return this.current;
  }

  /**
   * A partition this task reads from now on (assigned to it): one that has
   * delivered nothing yet holds the watermark back (until it goes idle), so
   * the first records of a partition read after the others are not late; its
   * idle timeout starts now, not at the last record before a restart.
   */
  track(partition: string): void {
    if (!this.maxEventTime.has(partition)) this.maxEventTime.set(partition, Number.NEGATIVE_INFINITY);
    this.lastSeenAt.set(partition, this.now());
  }

  /**
   * Fill `out[i]` with the job watermark in force before `rows[i]`, advancing
   * the partition's maximum as it goes. Returns the watermark after the last row.
   */
  assign(partition: string, rows: readonly Row[], out: Float64Array): number {
    const times = new Float64Array(rows.length);
    const field = this.eventTimeField;
    for (let i = 0; i < rows.length; i++) times[i] = rows[i][field] as number;
    return this.assignTimes(partition, times, out);
  }

  /** As `assign`, from the rows' event times (pre-aggregated batches have no rows). */
  assignTimes(partition: string, times: Float64Array, out: Float64Array): number {
    const wallClock = this.now();
    this.lastSeenAt.set(partition, wallClock);
    // Other partitions do not move during this batch: compute their minimum once.
    let othersMin = Number.POSITIVE_INFINITY;
    for (const [other, max] of this.maxEventTime) {
      if (other === partition) continue;
      const seen = this.lastSeenAt.get(other) ?? wallClock;
      if (wallClock - seen >= this.idleTimeoutMs) continue;
      const candidate = max - this.maxOutOfOrderMs;
      if (candidate < othersMin) othersMin = candidate;
    }
    let partitionMax = this.maxEventTime.get(partition) ?? Number.NEGATIVE_INFINITY;
    let watermark = this.current;
    for (let i = 0; i < times.length; i++) {
      out[i] = watermark;
      const t = times[i];
      if (t > partitionMax) {
        partitionMax = t;
        const own = partitionMax - this.maxOutOfOrderMs;
        const candidate = own < othersMin ? own : othersMin;
        if (candidate > watermark) watermark = candidate;
      }
    }
    this.maxEventTime.set(partition, partitionMax);
    this.current = watermark;
    return watermark;
  }

  /**
   * Re-evaluate idleness without new data (the run's timer calls this): a
   * partition silent for `idleTimeout` no longer holds the watermark back.
   * When every partition is silent, the stream as a whole has gone quiet:
   * the watermark moves to the most advanced partition's own, so windows
   * everything read so far completes close instead of waiting for the next
   * record, which may be hours away.
   *
   *   partition 0   ----max0 - out-of-order            (silent for idleTimeout)
   *   partition 1   --------------max1 - out-of-order  (still reporting)
   *   watermark  -> min over partitions still reporting = partition 1's;
   *                 all silent -> the largest of them
   */
  tick(): number {
    const wallClock = this.now();
    let activeMin = Number.POSITIVE_INFINITY;
    let anyMax = Number.NEGATIVE_INFINITY;
    let active = 0;
    for (const [partition, max] of this.maxEventTime) {
      const own = max - this.maxOutOfOrderMs;
      if (own > anyMax) anyMax = own;
      const seen = this.lastSeenAt.get(partition) ?? wallClock;
      if (wallClock - seen >= this.idleTimeoutMs) continue;
      active++;
      if (own < activeMin) activeMin = own;
    }
    const candidate = active > 0 ? activeMin : anyMax;
    if (candidate > this.current) this.current = candidate;
    return this.current;
  }

  /**
   * Event-time alignment: the partitions to stop reading for now because
   * their own watermark (max event time - maxOutOfOrder) runs more than
   * `maxDriftMs` ahead of the job watermark.
   *
   * Replaying a backlog, Kafka hands out partitions by bytes, not by event
   * time: a partition with fewer stations races days ahead, and every open
   * window and dedupe key of its stations waits in memory for the slowest
   * partition. Holding the runaway until the others catch up bounds that
   * state by the drift instead of by the backlog.
   *
   * Only while a partition that is not ahead still has records to read
   * (`remaining`, from the source): a partition that is merely quiet (a live
   * stream that caught up, or the end of a bounded run) must never stall the
   * others, so then nothing is held. `minWaiting` makes it a backlog-only
   * measure: behind partitions must have at least that many records left.
   *
   *   watermark            W
   *   partition 0      ----|-----------max0            (holds W back, 5,000 waiting)
   *   partition 1      ----|---------------------max1  (more than maxDrift past W: held)
   */
  partitionsAhead(maxDriftMs: number, remaining: Readonly<Record<string, number>>, minWaiting = 1): Set<string> {
    const ahead = new Set<string>();
    if (!Number.isFinite(this.current)) return ahead;
    const limit = this.current + maxDriftMs;
    let behindWaiting = false;
    for (const [partition, left] of Object.entries(remaining)) {
      if (!(left >= minWaiting)) continue;
      const max = this.maxEventTime.get(partition);
      // A partition not read yet may hold anything: it counts as behind.
      if (max === undefined || max - this.maxOutOfOrderMs <= limit) behindWaiting = true;
    }
    if (!behindWaiting) return ahead;
    for (const [partition, max] of this.maxEventTime) {
      if (max - this.maxOutOfOrderMs > limit) ahead.add(partition);
    }
    return ahead;
  }

  /** End of a finite input: everything is complete. */
  finish(): number {
    this.current = Number.POSITIVE_INFINITY;
    return this.current;
  }

  snapshot(): { current: number | null; partitions: Record<string, number> } {
    const partitions: Record<string, number> = {};
    for (const [partition, max] of this.maxEventTime) if (Number.isFinite(max)) partitions[partition] = max;
    return { current: Number.isFinite(this.current) ? this.current : null, partitions };
  }

  restore(state: unknown): void {
    const saved = state as { current: number | null; partitions: Record<string, number> } | undefined;
    if (!saved) return;
    this.current = saved.current ?? Number.NEGATIVE_INFINITY;
    const wallClock = this.now();
    for (const [partition, max] of Object.entries(saved.partitions)) {
      this.maxEventTime.set(partition, max);
      this.lastSeenAt.set(partition, wallClock);
    }
  }
}
