import type { DedupeStepSpec } from '../config/job';
import { selectRows, type RecordBatch, type Row } from '../core/batch';
import type { Operator, OperatorContext } from '../core/operator';
import { KeySplitter } from '../core/row-keys';
import { durationMs, durationSchema, fieldListSchema, STATEFUL_ID_WHY, stepIdSchema } from '../config/component';
import type { JsonSchema, StepContext } from '../config/component';

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
 * the same however the input is cut into batches. That includes a key that
 * does not hold the event time (e.g. `station` alone): its first arrival is
 * forgotten for the first row whose watermark passes it, and that row is new.
 * Keys are the window step's keys (core/row-keys.ts): the number 5 and the
 * string "5" are different keys.
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
  /** Keys as core/row-keys.ts makes them, in two levels (KeySplitter) so that no text is built per row. */
  private readonly keys: KeySplitter;
  /** Key -> event time of the first arrival: prefix -> last part -> time. */
  private seen = new Map<string, Map<number | string, number>>();
  /** Keys in `seen`. */
  private count = 0;
  /**
   * First arrivals restored from a checkpoint written before keys were
   * core/row-keys.ts keys: key text `String(part)` joined by NUL -> event
   * time. Those texts do not say which parts were numbers, so they are not
   * turned into keys; a row also looks its old text up here until the last
   * of them has expired (one horizon of event time), then this is null.
   */
  private legacy: Map<string, number> | null = null;
  /** Oldest event time that may still be in `seen` or `legacy`; lets most batches skip the sweep. */
  private oldestSeen = Number.POSITIVE_INFINITY;
  /** Watermark at the last sweep: sweeping at most every quarter horizon keeps it amortised O(1) per record. */
  private lastSweep = Number.NEGATIVE_INFINITY;

  constructor(spec: DedupeStepSpec, eventTimeField: string) {
    this.id = spec.id;
    this.keyFields = spec.key;
    this.keys = new KeySplitter(spec.key);
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
    const keys = this.keys;
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
      const last = keys.split(row);
      let inner = this.seen.get(keys.prefix);
      if (inner === undefined) {
        inner = new Map();
        this.seen.set(keys.prefix, inner);
      }
      const known = inner.get(last);
      const first = known ?? (this.legacy === null ? undefined : this.legacy.get(legacyKeyText(row, this.keyFields)));
      if (first !== undefined && first + horizon > watermarks[i]) {
        context.counters.duplicatesDropped++;
        continue;
      }
      // New, or forgotten for this row's watermark (a key without the event time in it can outlive its
      // first arrival): this row is the first arrival now, whether or not the sweep has dropped the old one.
      if (known === undefined) this.count++;
      inner.set(last, t);
      if (t < this.oldestSeen) this.oldestSeen = t;
      keep[i] = 1;
      kept++;
    }
    this.evict(batch.watermark);
    return selectRows(batch, keep, kept);
  }

  /** A quiet stream's watermark still moves: keys it passed are forgotten. */
  onWatermark(watermark: number): Row[] {
    this.evict(watermark);
    return [];
  }

  close(): Row[] {
    this.seen.clear();
    this.count = 0;
    this.legacy = null;
    this.oldestSeen = Number.POSITIVE_INFINITY;
    return [];
  }

  /** Number of keys currently remembered (for metrics and memory benchmarks). */
  get size(): number {
    return this.count + (this.legacy?.size ?? 0);
  }

  /**
   * `{ format: 2, entries: [key text, event time][], legacy?: [old key text, event time][] }`.
   * Format 1 (no `format`) is `{ entries }` with the old texts, restored as `legacy`.
   */
  snapshot(): unknown {
    const entries: Array<[string, number]> = [];
    for (const [prefix, inner] of this.seen) {
      for (const [last, t] of inner) entries.push([this.keys.join(prefix, last), t]);
    }
    return this.legacy === null ? { format: SNAPSHOT_FORMAT, entries } : { format: SNAPSHOT_FORMAT, entries, legacy: Array.from(this.legacy) };
  }

  restore(state: unknown): void {
    const saved = state as { format?: number; entries: Array<[string, number]>; legacy?: Array<[string, number]> };
    this.seen = new Map();
    this.count = 0;
    this.legacy = null;
    this.oldestSeen = Number.POSITIVE_INFINITY;
    const legacy = saved.format === undefined ? saved.entries : saved.legacy;
    if (legacy !== undefined && legacy.length > 0) {
      this.legacy = new Map(legacy);
      for (const [, t] of legacy) if (t < this.oldestSeen) this.oldestSeen = t;
    }
    if (saved.format === undefined) return;
    const keys = this.keys;
    for (const [text, t] of saved.entries) {
      const last = keys.splitText(text);
      let inner = this.seen.get(keys.prefix);
      if (inner === undefined) {
        inner = new Map();
        this.seen.set(keys.prefix, inner);
      }
      if (!inner.has(last)) this.count++;
      inner.set(last, t);
      if (t < this.oldestSeen) this.oldestSeen = t;
    }
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
    const until = watermark - this.horizonMs;
    let oldest = Number.POSITIVE_INFINITY;
    let dropped = 0;
    // forEach: no [key, value] pair per entry (on a backlog this visits every key about every batch).
    this.seen.forEach((inner, prefix) => {
      inner.forEach((t, last) => {
        if (t <= until) {
          inner.delete(last);
          dropped++;
        } else if (t < oldest) oldest = t;
      });
      if (inner.size === 0) this.seen.delete(prefix);
    });
    this.count -= dropped;
    const legacy = this.legacy;
    if (legacy !== null) {
      legacy.forEach((t, text) => {
        if (t <= until) legacy.delete(text);
        else if (t < oldest) oldest = t;
      });
      if (legacy.size === 0) this.legacy = null;
    }
    this.oldestSeen = oldest;
  }
}

/** Snapshot format 2: entries hold core/row-keys.ts key texts. */
const SNAPSHOT_FORMAT = 2;

/** A row's key as dedupe snapshots of format 1 hold it: `String(part)` joined by NUL. */
function legacyKeyText(row: Row, fields: readonly string[]): string {
  let text = '';
  for (let k = 0; k < fields.length; k++) text += (k === 0 ? '' : '\u0000') + String(row[fields[k]]);
  return text;
}

// ---------------------------------------------------------------- job-file configuration

/**
 * Dedupe step: drops repeats of a key, first arrival wins, remembering each
 * key for `horizon` of event time past the watermark.
 *
 * @example
 * steps:
 *   - dedupe: { id: dedupe-observations, key: [station, t], horizon: 2h }
 */

export interface DedupeConfig {
  id: string;
  key: string[];
  horizon: string;
}

export const schema: JsonSchema = {
  title: 'dedupe step',
  description: 'Drops rows whose key was already seen within the horizon.',
  examples: [{ id: 'dedupe-observations', key: ['station', 't'], horizon: '2h' }],
  type: 'object',
  required: ['id', 'key', 'horizon'],
  requiredWhy: { id: STATEFUL_ID_WHY },
  additionalProperties: false,
  properties: {
    id: stepIdSchema(true),
    key: fieldListSchema('Fields that identify a repeat.', [['station', 't']], 1),
    horizon: durationSchema('How long (event time) a key is remembered.', { positive: true, examples: ['2h'] }),
  },
};

/** Schema-validated YAML to the JobSpec form: defaults filled in, durations and timestamps in milliseconds. */
export function normalize(raw: DedupeConfig, context: StepContext): DedupeStepSpec {
  return { kind: 'dedupe', id: raw.id, key: [...raw.key], horizonMs: durationMs(raw.horizon), at: context.at };
}
