import type { Aggregation } from './aggregation';

// Slot layout: [n, mean, m2] (Welford). Summing squares would cancel
// catastrophically for water levels (large mean, small spread); Welford's
// running mean and M2 do not, and Chan et al.'s formula merges two of them.

const N = 0;
const MEAN = 1;
const M2 = 2;

/**
 * `stddev(field)`: the SAMPLE standard deviation (divides by n - 1, like SQL
 * `STDDEV` / Spark `stddev`); `null` for fewer than two values.
 *
 * @example
 * new Accumulator(stddev).add(2, 0).add(4, 1).add(4, 2).add(4, 3).add(5, 4).add(5, 5).add(7, 6).add(9, 7).result();
 * // 2.138089935299395
 */
export const stddev: Aggregation = {
  fn: 'stddev',
  stateKey: 'stddev/1',
  slots: 3,
  numeric: true,
  init(state, at) {
    state[at + N] = 0;
    state[at + MEAN] = 0;
    state[at + M2] = 0;
  },
  add(state, at, value) {
    const n = ++state[at + N];
    const delta = value - state[at + MEAN];
    state[at + MEAN] += delta / n;
    state[at + M2] += delta * (value - state[at + MEAN]);
  },
  merge(into, intoAt, from, fromAt) {
    const nb = from[fromAt + N];
    if (nb === 0) return;
    const na = into[intoAt + N];
    if (na === 0) {
      into[intoAt + N] = nb;
      into[intoAt + MEAN] = from[fromAt + MEAN];
      into[intoAt + M2] = from[fromAt + M2];
      return;
    }
    const n = na + nb;
    const delta = from[fromAt + MEAN] - into[intoAt + MEAN];
    into[intoAt + MEAN] += (delta * nb) / n;
    into[intoAt + M2] += from[fromAt + M2] + (delta * delta * na * nb) / n;
    into[intoAt + N] = n;
  },
  result(state, at) {
    const n = state[at + N];
    if (n < 2) return null;
    // Rounding can leave M2 a hair below zero for identical values.
    return Math.sqrt(Math.max(0, state[at + M2]) / (n - 1));
  },
};
