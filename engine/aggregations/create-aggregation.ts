import type { AggregateFunction } from '../config/job';
import type { Aggregation } from './aggregation';
import { count } from './count';
import { max, min, range } from './extremes';
import { first, last } from './first-last';
import { stddev } from './stddev';
import { avg, sum } from './sum';
import { timeOfMax, timeOfMin } from './time-of-extreme';

const byFunction: Record<AggregateFunction, Aggregation> = {
  count,
  sum,
  avg,
  min,
  max,
  range,
  first,
  last,
  stddev,
  time_of_max: timeOfMax,
  time_of_min: timeOfMin,
};

/**
 * The aggregation for a job file's function name.
 *
 * @example
 * createAggregation('time_of_max').slots; // 3
 */
export function createAggregation(fn: AggregateFunction): Aggregation {
  const aggregation = byFunction[fn];
  // The config layer validates names; this guards callers that build specs by hand.
  if (aggregation === undefined) throw new TypeError(`unknown aggregate function: ${String(fn)}`);
  return aggregation;
}

/** Every supported function name, in a stable order. */
export const aggregateFunctions = Object.keys(byFunction) as AggregateFunction[];
