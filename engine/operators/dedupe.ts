import type { DedupeStepSpec } from '../config/job';
import { selectRows, type RecordBatch, type Row } from '../core/batch';
import type { Operator, OperatorContext } from '../core/operator';
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
  /**
   * Key -> event time of the first arrival, in two levels. A key is the text
   * `String(part)` of its parts joined by NUL, as it always was (snapshots
   * hold it), but building that text per record cost more than the rest of
   * the operator together: a timestamp part is a number to print. So the
   * text is split at its last NUL: the part before is the outer key, and the
   * part after is the inner key, held as the number it reads as when it is
   * a number's own text (`lastKey`), so a number part is used as it comes.
   * The split is one-to-one with the text: same keys, same collisions.
   */
  private seen = new Map<string, Map<number | string, number>>();
  /** Keys in `seen`. */
  private count = 0;
  /** The outer key of the row `splitKey` last read. */
  private prefix = '';
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
      const last = this.splitKey(row);
      let inner = this.seen.get(this.prefix);
      if (inner === undefined) {
        inner = new Map();
        this.seen.set(this.prefix, inner);
      }
      const first = inner.get(last);
      if (first === undefined) this.count++;
      else if (first + horizon > watermarks[i]) {
        context.counters.duplicatesDropped++;
        continue;
      }
      // New, or forgotten for this row's watermark (a key without the event time in it can outlive its
      // first arrival): this row is the first arrival now, whether or not the sweep has dropped the old one.
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
    this.oldestSeen = Number.POSITIVE_INFINITY;
    return [];
  }

  /** Number of keys currently remembered (for metrics and memory benchmarks). */
  get size(): number {
    return this.count;
  }

  /** `{ entries: [key text, event time][] }`, the key texts as described at `seen`. */
  snapshot(): unknown {
    const entries: Array<[string, number]> = [];
    const whole = this.keyFields.length === 1;
    for (const [prefix, inner] of this.seen) {
      for (const [last, t] of inner) entries.push([whole ? String(last) : `${prefix}\u0000${String(last)}`, t]);
    }
    return { entries };
  }

  restore(state: unknown): void {
    const saved = state as { entries: Array<[string, number]> };
    this.seen = new Map();
    this.count = 0;
    this.oldestSeen = Number.POSITIVE_INFINITY;
    const whole = this.keyFields.length === 1;
    for (const [text, t] of saved.entries) {
      const nul = whole ? -1 : text.lastIndexOf('\u0000');
      const prefix = nul < 0 ? '' : text.slice(0, nul);
      let inner = this.seen.get(prefix);
      if (inner === undefined) {
        inner = new Map();
        this.seen.set(prefix, inner);
      }
      const last = lastKey(text.slice(nul + 1));
      if (!inner.has(last)) this.count++;
      inner.set(last, t);
      if (t < this.oldestSeen) this.oldestSeen = t;
    }
  }

  /**
   * The key text of `row` split at its last NUL (see `seen`): the outer key
   * goes to `this.prefix`, the inner one is returned. No text is built for a
   * number last part, nor for a single-part key.
   */
  private splitKey(row: Record<string, unknown>): number | string {
    const fields = this.keyFields;
    const parts = fields.length;
    let prefix = '';
    for (let k = 0; k < parts - 1; k++) prefix += (k === 0 ? '' : '\u0000') + String(row[fields[k]]);
    const value = row[fields[parts - 1]];
    // A number's text never holds a NUL, and lastKey(String(n)) is n as the Map compares it (0 and -0, NaN).
    if (typeof value === 'number') {
      this.prefix = prefix;
      return value;
    }
    let text = String(value);
    const nul = parts > 1 ? text.lastIndexOf('\u0000') : -1;
    if (nul >= 0) {
      prefix += '\u0000' + text.slice(0, nul);
      text = text.slice(nul + 1);
    }
    this.prefix = prefix;
    return lastKey(text);
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
    this.oldestSeen = oldest;
  }
}

/**
 * The inner key for the text after a key's last NUL: the number it is the
 * text of (`String(n) === text`), else the text. Texts and numbers map one
 * to one, so the string '5' and the number 5 stay one key, as their text is.
 */
function lastKey(text: string): number | string {
  // The common case (a timestamp) without printing the number back: up to 15 digits, no leading zero, read exactly.
  const length = text.length;
  if (length > 0 && length <= 15 && text.charCodeAt(0) > 48 && text.charCodeAt(0) <= 57) {
    let digits = 1;
    while (digits < length && text.charCodeAt(digits) >= 48 && text.charCodeAt(digits) <= 57) digits++;
    if (digits === length) return Number(text);
  }
  const number = Number(text);
  return String(number) === text ? number : text;
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
