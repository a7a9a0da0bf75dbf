import type { AggregateSpec } from '../config/job';
import type { Row } from '../core/batch';
import type { Aggregation } from './aggregation';
import { compileAccumulatorOps, type AccumulatorOps } from './compiled-ops';
import { createAggregation } from './create-aggregation';

/** What {@link AggregateSet.read} found in a row. */
export enum ReadOutcome {
  /** At least one input field has a value: the row contributes. */
  Values = 0,
  /** Every input field is null/undefined/NaN: a null reading. */
  AllNull = 1,
  /** A numeric aggregate's field holds something that is not a number. */
  Invalid = 2,
}

/**
 * A window's aggregates compiled into one slot layout: every window's
 * accumulator is a single `Float64Array` of `slots` numbers.
 *
 * Reading a row and adding it are split (`read` then `add`) because the
 * operator must know whether a row contributes at all before it decides
 * which windows it goes to; `read` fills reused scratch arrays, so neither
 * step allocates.
 *
 * Null handling is per aggregate, as in SQL: a null `v` does not count in
 * `count(v)` nor move `avg(v)`, but still counts in `count(s)` if `s` is set.
 *
 * @example
 * const set = new AggregateSet([{ name: 'high', fn: 'max', field: 'v' }, { name: 'n', fn: 'count', field: 'v' }]);
 * const acc = set.create();
 * if (set.read({ v: 1.25 }) === ReadOutcome.Values) set.add(acc, Date.UTC(2020, 0, 1), 0);
 * const row = {};
 * set.writeResults(acc, row); // row: { high: 1.25, n: 1 }
 */
export class AggregateSet {
  readonly specs: readonly AggregateSpec[];
  /** Distinct input fields, in first-use order. */
  readonly fields: readonly string[];
  readonly slots: number;
  /** Changes when any output name, function or input field changes. */
  readonly stateKey: string;
  /** Field name of the last `Invalid` read (for the dead-letter message). */
  invalidField = '';

  private readonly aggregations: Aggregation[];
  private readonly offsets: Int32Array;
  private readonly fieldOf: Int32Array;
  private readonly fieldNumeric: Uint8Array;
  // Scratch for the row being processed: value per field, NaN when absent.
  private readonly values: Float64Array;
  /**
   * Re-initialise an accumulator of this layout for reuse. `base`: where it
   * starts in `state` (partial aggregates keep many accumulators in one array).
   */
  readonly reset: AccumulatorOps['reset'];
  /** Add the row last passed to `read` (which returned `Values`) to the accumulator at `base`. */
  readonly add: AccumulatorOps['add'];
  /** Fold the accumulator at `from[fromBase]` into `into`, as if every value added to it had been added to `into`. */
  readonly merge: AccumulatorOps['merge'];

  constructor(specs: readonly AggregateSpec[]) {
    this.specs = specs;
    this.aggregations = specs.map((spec) => createAggregation(spec.fn));
    const fields: string[] = [];
    this.offsets = new Int32Array(specs.length);
    this.fieldOf = new Int32Array(specs.length);
    let slots = 0;
    for (let i = 0; i < specs.length; i++) {
      let field = fields.indexOf(specs[i].field);
      if (field < 0) field = fields.push(specs[i].field) - 1;
      this.fieldOf[i] = field;
      this.offsets[i] = slots;
      slots += this.aggregations[i].slots;
    }
    this.fields = fields;
    this.slots = slots;
    this.fieldNumeric = new Uint8Array(fields.length);
    for (let i = 0; i < specs.length; i++) if (this.aggregations[i].numeric) this.fieldNumeric[this.fieldOf[i]] = 1;
    this.values = new Float64Array(fields.length);
    // Compiled for this layout (compiled-ops.ts): the hot path of every window, run once per record.
    const ops = compileAccumulatorOps(this.aggregations, this.offsets, this.fieldOf, this.values);
    this.reset = ops.reset;
    this.add = ops.add;
    this.merge = ops.merge;
    this.stateKey = specs.map((spec, i) => `${spec.name}=${this.aggregations[i].stateKey}(${spec.field})`).join(',');
  }

  /**
   * Read this row's input fields into scratch. NaN counts as null: a reading
   * that is not a number carries no information to aggregate.
   */
  read(row: Row): ReadOutcome {
    let any = false;
    for (let f = 0; f < this.fields.length; f++) {
      const raw = row[this.fields[f]];
      let value = NaN;
      if (typeof raw === 'number') value = raw;
      else if (raw === null || raw === undefined) value = NaN;
      else if (typeof raw === 'bigint') value = Number(raw);
      else if (raw instanceof Date) value = raw.getTime();
      else if (this.fieldNumeric[f] === 1) {
        this.invalidField = this.fields[f];
        return ReadOutcome.Invalid;
      } else value = 1; // count() of a non-numeric field only needs presence.
      this.values[f] = value;
      if (value === value) any = true;
    }
    return any ? ReadOutcome.Values : ReadOutcome.AllNull;
  }

  /** A fresh, initialised accumulator. */
  create(): Float64Array {
    return this.reset(new Float64Array(this.slots));
  }

  /** Each aggregate's output name, aggregation and offset in the accumulator, in spec order (for compiled readers of results). */
  resultParts(): Array<{ name: string; aggregation: Aggregation; offset: number }> {
    return this.specs.map((spec, i) => ({ name: spec.name, aggregation: this.aggregations[i], offset: this.offsets[i] }));
  }

  /** Write each aggregate's result into `out` under its output name. */
  writeResults(state: Float64Array, out: Row): void {
    for (let i = 0; i < this.aggregations.length; i++) {
      out[this.specs[i].name] = this.aggregations[i].result(state, this.offsets[i]);
    }
  }
}
