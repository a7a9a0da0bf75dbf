import type { Upstream } from '../codecs/decoder';
import type { Row } from '../core/batch';
import { InternalError } from '../core/errors';
import { WatermarkTracker } from './watermarks';

/**
 * The watermark of a task of a job's second stage, which reads a
 * `repartition` step's internal topic (jobfile/stages.ts): rows of every
 * origin partition (of the job's own topic) arrive interleaved, each origin's
 * in its own order, with marks of each origin's watermark between them.
 * What it knows is kept per (origin, internal partition): each partition of
 * the internal topic gets an origin's rows in order, and a task may read
 * several (a job writing a local file runs as one task).
 *
 * - Its watermark is the smallest over the origins of what each reported (a
 *   mark, or a row's event time less maxOutOfOrder): the rules of a task of
 *   one partition, over origins instead of partitions. An origin silent for
 *   the idle timeout stops holding it back; an ended origin never again.
 * - A row is judged by the watermark its origin's task had when the row
 *   arrived there (carried in the envelope), so a record is late exactly when
 *   it would be in a job reading its origin partition, whatever the
 *   interleaving. This watermark never runs ahead of that one, so a window
 *   closes here only after every row that is not late reached it.
 * - Rows whose origin offset it has seen are a first stage's replay after a
 *   restart: dropped. The offsets seen and the ended origins are saved with
 *   the watermarks in the task's checkpoint.
 */
export class UpstreamWatermarks extends WatermarkTracker {
  /** The last origin offset taken, per origin. */
  private readonly seen = new Map<string, number>();
  private readonly ended = new Set<string>();
  private readonly time = new Float64Array(1);
  private readonly ignored = new Float64Array(1);

  constructor(
    private readonly field: string,
    private readonly outOfOrderMs: number,
    idleTimeoutMs: number,
    now: () => number,
    private readonly origins: readonly string[],
    /** The internal partition of a task per partition (null: a task of every partition, told of each by `track`). */
    partition: string | null,
  ) {
    super(field, outOfOrderMs, idleTimeoutMs, now);
    if (partition !== null) this.track(partition);
  }

  /**
   * A partition of the internal topic this task reads: every origin holds the
   * watermark back from now on (until it goes idle), since one not heard of
   * yet in it may send anything.
   */
  override track(partition: string): void {
    for (const origin of this.origins) super.track(pairOf(origin, partition));
  }

  override assign(): number {
    throw new InternalError('rows of a repartition topic take their watermarks through admit()');
  }

  /**
   * Takes a batch of the internal topic: applies its marks in order, fills
   * `out[i]` with the watermark `rows[i]` is judged by, and returns which
   * rows are new (null: all of them) and how many were replays.
   */
  admit(partition: string, rows: readonly Row[], upstream: Upstream, out: Float64Array): { keep: Uint8Array | null; replays: number } {
    const { origins, originOffsets, watermarks, marks } = upstream;
    let keep: Uint8Array | null = null;
    let replays = 0;
    let next = 0;
    for (let i = 0; i < rows.length; i++) {
      while (next < marks.length && marks[next].before <= i) this.mark(pairOf(marks[next].origin, partition), marks[next++].watermark);
      const origin = pairOf(origins[i], partition);
      const offset = originOffsets[i];
      if (offset <= (this.seen.get(origin) ?? Number.NEGATIVE_INFINITY)) {
        keep ??= new Uint8Array(rows.length).fill(1);
        keep[i] = 0;
        replays++;
        continue;
      }
      this.seen.set(origin, offset);
      this.time[0] = rows[i][this.field] as number;
      this.assignTimes(origin, this.time, this.ignored);
      out[i] = watermarks[i];
    }
    while (next < marks.length) this.mark(pairOf(marks[next].origin, partition), marks[next++].watermark);
    return { keep, replays };
  }

  /** Every origin ended in `partition` (a bounded first stage read all of its topic): nothing more to read there. */
  allEnded(partition: string): boolean {
    return this.origins.every((origin) => this.ended.has(pairOf(origin, partition)));
  }

  /** Whether a saved state of such a tracker (`snapshot`) says every origin ended in `partition`. */
  static endedIn(saved: unknown, origins: readonly string[], partition: string): boolean {
    const ended = new Set((saved as { ended?: string[] } | null | undefined)?.ended ?? []);
    return origins.every((origin) => ended.has(pairOf(origin, partition)));
  }

  override snapshot(): { current: number | null; partitions: Record<string, number>; seen: Record<string, number>; ended: string[] } {
    return { ...super.snapshot(), seen: Object.fromEntries(this.seen), ended: [...this.ended] };
  }

  override restore(state: unknown): void {
    super.restore(state);
    const saved = state as { seen?: Record<string, number>; ended?: string[] } | undefined;
    for (const [origin, offset] of Object.entries(saved?.seen ?? {})) this.seen.set(origin, offset);
    for (const origin of saved?.ended ?? []) this.mark(origin, Number.POSITIVE_INFINITY);
  }

  /** `origin`'s watermark (an origin in one internal partition) is `watermark` (+Infinity: it ended). */
  private mark(origin: string, watermark: number): void {
    if (watermark === Number.POSITIVE_INFINITY) this.ended.add(origin);
    if (!(watermark > Number.NEGATIVE_INFINITY)) return;
    // Its own watermark is its largest event time less maxOutOfOrder: a mark stands for that event time.
    this.time[0] = watermark + this.outOfOrderMs;
    this.assignTimes(origin, this.time, this.ignored);
  }
}

/** An origin partition as seen in one partition of the internal topic. */
function pairOf(origin: string, partition: string): string {
  return `${origin}@${partition}`;
}
