import type { AggregateFunction } from '../config/job';
import { decodeFloats, encodeFloats, type EncodedNumber } from './float-codec';

/**
 * An aggregation is a stateless description of how to fold values into a few
 * `Float64Array` slots. The state itself lives in the caller's array, so one
 * window's whole accumulator (all of its aggregates) is a single typed array:
 * 100k stations x open windows stay compact and snapshot as plain numbers.
 *
 * Every aggregation is order-insensitive by construction: `first`/`last` and
 * `time_of_*` break ties by event time and then by arrival number, never by the
 * order in which `add`/`merge` happened to be called. That is what lets
 * sessions merge and partial aggregates combine without changing results.
 */
export interface Aggregation {
  readonly fn: AggregateFunction;
  /** Names the slot layout; changes whenever the layout or meaning changes. */
  readonly stateKey: string;
  /** How many slots this aggregation occupies. */
  readonly slots: number;
  /** Whether `add` needs a number (count accepts any non-null value). */
  readonly numeric: boolean;
  /** Write the empty state at `at`. */
  init(state: Float64Array, at: number): void;
  /**
   * Fold one value in. `arrival` is a number that grows with arrival order;
   * only `first`/`last` use it, to break event-time ties.
   */
  add(state: Float64Array, at: number, value: number, eventTime: number, arrival: number): void;
  /** Fold the state at `from[fromAt]` into `into[intoAt]` (as if all its values were added). */
  merge(into: Float64Array, intoAt: number, from: Float64Array, fromAt: number): void;
  /** The output value; `null` when no value contributed (SQL semantics). */
  result(state: Float64Array, at: number): number | Date | null;
}

/**
 * One aggregation with its own state: handy outside the window operator
 * (tests, partial aggregates). The operator itself packs many aggregations
 * into one array per window instead.
 *
 * @example
 * const acc = new Accumulator(createAggregation('max'));
 * acc.add(1.2, Date.UTC(2020, 0, 1));
 * acc.add(0.7, Date.UTC(2020, 0, 2));
 * acc.result(); // 1.2
 */
export class Accumulator {
  readonly aggregation: Aggregation;
  state: Float64Array;
  private arrival = 0;

  constructor(aggregation: Aggregation) {
    this.aggregation = aggregation;
    this.state = new Float64Array(aggregation.slots);
    aggregation.init(this.state, 0);
  }

  /** Add a value; `arrival` defaults to a counter local to this accumulator. */
  add(value: number, eventTime: number, arrival = this.arrival++): this {
    this.aggregation.add(this.state, 0, value, eventTime, arrival);
    return this;
  }

  /** Fold another accumulator of the same aggregation into this one. */
  merge(other: Accumulator): this {
    if (other.aggregation.stateKey !== this.aggregation.stateKey) {
      throw new TypeError(`cannot merge ${other.aggregation.stateKey} into ${this.aggregation.stateKey}`);
    }
    this.aggregation.merge(this.state, 0, other.state, 0);
    return this;
  }

  result(): number | Date | null {
    return this.aggregation.result(this.state, 0);
  }

  snapshot(): { stateKey: string; slots: EncodedNumber[] } {
    return { stateKey: this.aggregation.stateKey, slots: encodeFloats(this.state) };
  }

  restore(snapshot: { stateKey: string; slots: unknown }): void {
    if (snapshot.stateKey !== this.aggregation.stateKey) {
      throw new TypeError(`snapshot of ${snapshot.stateKey} cannot restore ${this.aggregation.stateKey}`);
    }
    const slots = decodeFloats(snapshot.slots);
    if (slots.length !== this.aggregation.slots) throw new TypeError('snapshot has the wrong number of slots');
    this.state = slots;
  }
}
