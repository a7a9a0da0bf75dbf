import type { Aggregation } from './aggregation';

// Slot layout for both: [n, sum, compensation]
//
// Neumaier (improved Kahan) summation keeps the rounding error of every
// addition in a second slot, so a 30-minute or lunar-day mean over thousands
// of readings does not drift, and a merged sum stays within a few ulps of the
// sequential one.

const N = 0;
const SUM = 1;
const COMP = 2;

function addCompensated(state: Float64Array, at: number, value: number): void {
  const sum = state[at + SUM];
  const next = sum + value;
  if (Math.abs(sum) >= Math.abs(value)) state[at + COMP] += sum - next + value;
  else state[at + COMP] += value - next + sum;
  state[at + SUM] = next;
}

function total(state: Float64Array, at: number): number {
  const sum = state[at + SUM];
  // With an infinite term the compensation is NaN (Inf - Inf); the plain sum is right.
  return Number.isFinite(sum) ? sum + state[at + COMP] : sum;
}

function init(state: Float64Array, at: number): void {
  state[at + N] = 0;
  state[at + SUM] = 0;
  state[at + COMP] = 0;
}

function add(state: Float64Array, at: number, value: number): void {
  state[at + N]++;
  addCompensated(state, at, value);
}

function merge(into: Float64Array, intoAt: number, from: Float64Array, fromAt: number): void {
  into[intoAt + N] += from[fromAt + N];
  addCompensated(into, intoAt, from[fromAt + SUM]);
  addCompensated(into, intoAt, from[fromAt + COMP]);
}

/**
 * `sum(field)`; `null` when no value contributed.
 *
 * @example
 * new Accumulator(sum).add(0.1, 0).add(0.2, 1).result(); // 0.30000000000000004
 */
export const sum: Aggregation = {
  fn: 'sum',
  stateKey: 'sum/1',
  slots: 3,
  numeric: true,
  init,
  add,
  merge,
  result(state, at) {
    return state[at + N] === 0 ? null : total(state, at);
  },
};

/**
 * `avg(field)`: arithmetic mean; `null` when no value contributed.
 *
 * @example
 * new Accumulator(avg).add(1, 0).add(2, 1).result(); // 1.5
 */
export const avg: Aggregation = {
  fn: 'avg',
  stateKey: 'avg/1',
  slots: 3,
  numeric: true,
  init,
  add,
  merge,
  result(state, at) {
    const n = state[at + N];
    return n === 0 ? null : total(state, at) / n;
  },
};
