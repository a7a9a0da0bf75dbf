import type { DedupeStepSpec } from '../config/job';
import { derivedBatch, selectRows, type RecordBatch } from '../runtime/batch';
import type { Operator, OperatorContext } from '../runtime/operator';

/**
 * Drops repeats of a key (e.g. `station, t`), first arrival wins, within an
 * event-time horizon.
 *
 * A key is remembered until the watermark passes `eventTime + horizon`. A
 * record already older than that when it arrives cannot be judged (its twin
 * may have been forgotten), so it goes to the late output instead of being
 * passed on as new: we never risk counting an observation twice.
 *
 * Both decisions use the watermark in force for each row, so the result is
 * the same however the input is cut into batches.
 *
 *   event time ->      t            t + horizon
 *   key seen:          |<--- remembered --->|
 *   watermark:                                  ^ forgotten; a repeat now is "late"
 */
export class DedupeOperator implements Operator {
  readonly id: string;
  readonly stateKey: string;
  private readonly keyFields: string[];
  private readonly horizonMs: number;
  private readonly eventTimeField: string;
  /** key -> event time of the first arrival. */
  private seen = new Map<string, number>();
  /** Oldest event time that may still be in `seen`; lets most batches skip the sweep. */
  private oldestSeen = Number.POSITIVE_INFINITY;
  /** Watermark at the last sweep: sweeping at most every quarter horizon keeps it amortised O(1) per record. */
  private lastSweep = Number.NEGATIVE_INFINITY;

  constructor(spec: DedupeStepSpec, eventTimeField: string) {
    this.id = spec.id;
    this.keyFields = spec.key;
    this.horizonMs = spec.horizonMs;
    this.eventTimeField = eventTimeField;
    this.stateKey = `dedupe:v1:key=${spec.key.join(',')}:horizon=${spec.horizonMs}:time=${eventTimeField}`;
  }

  process(batch: RecordBatch, context: OperatorContext): RecordBatch {
    const { rows, watermarks } = batch;
    const keep = new Uint8Array(rows.length);
    let kept = 0;
    const field = this.eventTimeField;
    const horizon = this.horizonMs;
    for (let i = 0; i < rows.length; i++) {
      const row = rows[i];
      const t = row[field] as number;
      if (t + horizon <= watermarks[i]) {
        context.late({
          row,
          operator: this.id,
          reason: `older than the dedupe horizon (${horizon} ms behind the watermark): cannot tell whether it is a duplicate`,
          watermark: watermarks[i],
        });
        context.counters.late++;
        continue;
      }
      const key = this.keyOf(row);
      if (this.seen.has(key)) {
        context.counters.duplicatesDropped++;
        continue;
      }
      this.seen.set(key, t);
      if (t < this.oldestSeen) this.oldestSeen = t;
      keep[i] = 1;
      kept++;
    }
    this.evict(batch.watermark);
    return selectRows(batch, keep, kept);
  }

  close(last: RecordBatch): RecordBatch {
    this.seen.clear();
    this.oldestSeen = Number.POSITIVE_INFINITY;
    return derivedBatch(last, []);
  }

  /** Number of keys currently remembered (for metrics and memory benchmarks). */
  get size(): number {
    return this.seen.size;
  }

  snapshot(): unknown {
    return { entries: Array.from(this.seen) };
  }

  restore(state: unknown): void {
    const saved = state as { entries: Array<[string, number]> };
    this.seen = new Map(saved.entries);
    this.oldestSeen = Number.POSITIVE_INFINITY;
    for (const t of this.seen.values()) if (t < this.oldestSeen) this.oldestSeen = t;
  }

  private keyOf(row: Record<string, unknown>): string {
    const fields = this.keyFields;
    if (fields.length === 1) return String(row[fields[0]]);
    let key = String(row[fields[0]]);
    for (let k = 1; k < fields.length; k++) key += '\u0000' + String(row[fields[k]]);
    return key;
  }

  /**
   * Forget keys whose horizon the watermark has passed. Keeping an expired key
   * a little longer changes nothing (the per-row horizon check comes first),
   * so sweep only when something can expire and the watermark moved a quarter
   * horizon since the last sweep.
   */
  private evict(watermark: number): void {
    if (this.oldestSeen + this.horizonMs > watermark) return;
    if (watermark - this.lastSweep < this.horizonMs / 4) return;
    this.lastSweep = watermark;
    let oldest = Number.POSITIVE_INFINITY;
    for (const [key, t] of this.seen) {
      if (t + this.horizonMs <= watermark) this.seen.delete(key);
      else if (t < oldest) oldest = t;
    }
    this.oldestSeen = oldest;
  }
}
