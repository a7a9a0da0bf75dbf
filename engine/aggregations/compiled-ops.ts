import type { Aggregation } from './aggregation';

/** An aggregate set's per-accumulator operations (see AggregateSet for their meaning). */
export interface AccumulatorOps {
  add(state: Float64Array, eventTime: number, arrival: number, base?: number): void;
  merge(into: Float64Array, from: Float64Array, fromBase?: number): void;
  reset(state: Float64Array, base?: number): Float64Array;
}

/**
 * `add`, `merge` and `reset` of an aggregate set, compiled for its layout:
 * one statement per aggregate, each calling its own aggregation at a call site
 * of its own, with offsets and input fields as constants.
 *
 * A loop over the aggregations makes each call site see every aggregation
 * kind (megamorphic): V8 then cannot inline the calls and boxes every number
 * passed, a heap allocation per argument. On the 30-minute job (avg, min, max,
 * count) that was ~50 bytes per record of garbage; compiled, it is gone.
 *
 * Only numbers from the layout go into the generated code; aggregations and
 * the `values` scratch are passed in.
 *
 * @example
 *   const ops = compileAccumulatorOps([avg, max], [0, 3], [0, 0], values);
 *   ops.add(acc, eventTime, arrival); // avg and max of values[0]
 */
export function compileAccumulatorOps(
  aggregations: readonly Aggregation[],
  offsets: ArrayLike<number>,
  fieldOf: ArrayLike<number>,
  values: Float64Array,
): AccumulatorOps {
  const names = aggregations.map((_, i) => `aggregation${i}`);
  const offset = (i: number) => String(Math.trunc(offsets[i]));
  const add = aggregations
    .map((_, i) => `  value = values[${Math.trunc(fieldOf[i])}];\n  if (value === value) ${names[i]}.add(state, base + ${offset(i)}, value, eventTime, arrival);`)
    .join('\n');
  const merge = aggregations.map((_, i) => `  ${names[i]}.merge(into, ${offset(i)}, from, fromBase + ${offset(i)});`).join('\n');
  const reset = aggregations.map((_, i) => `  ${names[i]}.init(state, base + ${offset(i)});`).join('\n');
  const source = [
    'return {',
    'add(state, eventTime, arrival, base) {',
    '  if (base === undefined) base = 0;',
    '  let value;',
    add,
    '},',
    'merge(into, from, fromBase) {',
    '  if (fromBase === undefined) fromBase = 0;',
    merge,
    '},',
    'reset(state, base) {',
    '  if (base === undefined) base = 0;',
    reset,
    '  return state;',
    '},',
    '};',
  ].join('\n');
  const build = new Function('values', ...names, source) as (values: Float64Array, ...aggregations: Aggregation[]) => AccumulatorOps;
  return build(values, ...aggregations);
}
