import { AggregateSet, ReadOutcome } from '../aggregations/aggregate-set';
import type { WindowStepSpec } from '../config/job';
import type { Row } from '../core/batch';
import type { WindowAssigner } from './assigner';
import { createAssigner } from './create-assigner';
import { keyIdOfRow, keyValuesOfRow } from '../core/row-keys';

/**
 * Partial aggregates of one chunk of rows for a window step: per (key,
 * window) the chunk touched, the accumulator of the chunk's rows. Built on a
 * worker thread next to the Avro decoding, merged into the window operator's
 * state on the run loop (WindowOperator, `preAggregated` batches), so the run
 * loop's thread handles one partial per key and window instead of one row
 * per record.
 *
 * Everything is typed arrays and strings: it crosses threads by structured
 * clone with its buffers transferred.
 */
export interface WindowPartials {
  /** Distinct keys of the chunk (composite ids, core/row-keys.ts) and their original values. */
  keyIds: string[];
  keyValues: unknown[][];
  /** Per partial: its key (index into keyIds), window bounds, and the chunk-relative index of the last row in it. */
  keyIndex: Uint32Array;
  starts: Float64Array;
  ends: Float64Array;
  lastRow: Uint32Array;
  /** The accumulators, `slots` numbers per partial, back to back (AggregateSet layout). */
  accs: Float64Array;
  /** Rows that went into at least one window. */
  aggregated: number;
  /** Rows whose aggregate inputs were all null (counted, dropped). */
  nullReadings: number;
  /** Rows the operator would number (every row but null readings). */
  arrivals: number;
}

/**
 * Whether a window step's rows can be pre-aggregated in chunks and merged:
 * fixed windows (tumbling, hopping, lunar day), and no aggregate that breaks
 * event-time ties by arrival number (first, last), since arrival numbers are
 * only known once every earlier chunk was counted.
 */
export function canPreAggregate(spec: WindowStepSpec): boolean {
  return spec.window.kind !== 'session' && spec.aggregates.every((aggregate) => aggregate.fn !== 'first' && aggregate.fn !== 'last');
}

const INITIAL_PARTIALS = 256;

/**
 * Builds {@link WindowPartials} for one chunk at a time. A row the
 * operator would not simply aggregate (a non-numeric aggregate input, a row
 * the assigner cannot place: dead letters on the operator's own path) makes
 * `add` return false; the caller then leaves the whole batch to that path.
 * Lateness is not judged here (the watermark is only known on the run loop):
 * `lastRow` lets the operator check it per partial.
 *
 * @example
 *   const builder = new WindowPartialsBuilder(windowSpec, 't');
 *   for (let i = 0; i < rows.length; i++) if (!builder.add(rows[i], i)) return null;
 *   const partials = builder.finish(); // builder is ready for the next chunk
 */
export class WindowPartialsBuilder {
  readonly slots: number;
  private readonly keyFields: string[];
  private readonly eventTimeField: string;
  private readonly aggregates: AggregateSet;
  private readonly assigner: WindowAssigner;
  private readonly assigned: number[] = [];

  // The chunk being built.
  private keys = new Map<string, number>();
  private keyIds: string[] = [];
  private keyValues: unknown[][] = [];
  /** Per key index: its partials so far. */
  private partialsOfKey: number[][] = [];
  private count = 0;
  private keyIndex = new Uint32Array(INITIAL_PARTIALS);
  private starts = new Float64Array(INITIAL_PARTIALS);
  private ends = new Float64Array(INITIAL_PARTIALS);
  private lastRow = new Uint32Array(INITIAL_PARTIALS);
  private accs: Float64Array;
  private aggregated = 0;
  private nullReadings = 0;
  private arrivals = 0;

  constructor(spec: WindowStepSpec, eventTimeField: string) {
    if (!canPreAggregate(spec)) throw new RangeError(`window step '${spec.id}' cannot be pre-aggregated (sessions, first/last)`);
    this.keyFields = spec.key.slice();
    this.eventTimeField = eventTimeField;
    this.aggregates = new AggregateSet(spec.aggregates);
    this.slots = this.aggregates.slots;
    this.assigner = createAssigner(spec.window) as WindowAssigner;
    this.accs = new Float64Array(INITIAL_PARTIALS * this.slots);
  }

  /** Add chunk row `index` (rows in chunk order); false when the operator must see this row itself. */
  add(row: Row, index: number): boolean {
    const aggregates = this.aggregates;
    const outcome = aggregates.read(row);
    if (outcome === ReadOutcome.AllNull) {
      this.nullReadings++;
      return true;
    }
    if (outcome === ReadOutcome.Invalid) return false;
    const eventTime = row[this.eventTimeField];
    if (typeof eventTime !== 'number' || !Number.isFinite(eventTime)) return false;
    const assigned = this.assigned;
    while (assigned.length > 0) assigned.pop();
    if (this.assigner.assign(eventTime, row, assigned) !== undefined) return false;
    this.arrivals++;
    if (assigned.length === 0) return true;
    const id = keyIdOfRow(row, this.keyFields);
    let key = this.keys.get(id);
    if (key === undefined) {
      key = this.keyIds.length;
      this.keys.set(id, key);
      this.keyIds.push(id);
      this.keyValues.push(keyValuesOfRow(row, this.keyFields));
      this.partialsOfKey.push([]);
    }
    const own = this.partialsOfKey[key];
    for (let j = 0; j < assigned.length; j += 2) {
      const start = assigned[j];
      const end = assigned[j + 1];
      let partial = -1;
      for (let k = own.length - 1; k >= 0; k--) {
        const candidate = own[k];
        if (this.starts[candidate] === start && this.ends[candidate] === end) {
          partial = candidate;
          break;
        }
      }
      if (partial < 0) {
        partial = this.open(key, start, end);
        own.push(partial);
      }
      // Arrival numbers are unused: canPreAggregate rules out the aggregates that read them.
      aggregates.add(this.accs, eventTime, 0, partial * this.slots);
      this.lastRow[partial] = index;
    }
    this.aggregated++;
    return true;
  }

  /** The chunk's partials (fresh arrays); the builder starts over. */
  finish(): WindowPartials {
    const count = this.count;
    const partials: WindowPartials = {
      keyIds: this.keyIds,
      keyValues: this.keyValues,
      keyIndex: this.keyIndex.slice(0, count),
      starts: this.starts.slice(0, count),
      ends: this.ends.slice(0, count),
      lastRow: this.lastRow.slice(0, count),
      accs: this.accs.slice(0, count * this.slots),
      aggregated: this.aggregated,
      nullReadings: this.nullReadings,
      arrivals: this.arrivals,
    };
    this.keys = new Map();
    this.keyIds = [];
    this.keyValues = [];
    this.partialsOfKey = [];
    this.count = 0;
    this.aggregated = 0;
    this.nullReadings = 0;
    this.arrivals = 0;
    return partials;
  }

  private open(key: number, start: number, end: number): number {
    if (this.count === this.starts.length) this.grow();
    const partial = this.count++;
    this.keyIndex[partial] = key;
    this.starts[partial] = start;
    this.ends[partial] = end;
    this.aggregates.reset(this.accs, partial * this.slots);
    return partial;
  }

  private grow(): void {
    const size = this.starts.length * 2;
    const grown = <T extends Float64Array | Uint32Array>(from: T, to: T): T => {
      to.set(from);
      return to;
    };
    this.keyIndex = grown(this.keyIndex, new Uint32Array(size));
    this.starts = grown(this.starts, new Float64Array(size));
    this.ends = grown(this.ends, new Float64Array(size));
    this.lastRow = grown(this.lastRow, new Uint32Array(size));
    this.accs = grown(this.accs, new Float64Array(size * this.slots));
  }
}
