import type { Aggregation } from './aggregation';

// Slot layout: [n]

/**
 * `count(field)`: how many records had a non-null value in `field`.
 *
 * @example
 * const acc = new Accumulator(count);
 * acc.add(1.5, 0).add(2, 10).result(); // 2
 */
export const count: Aggregation = {
  fn: 'count',
  stateKey: 'count/1',
  slots: 1,
  numeric: false,
  init(state, at) {
    state[at] = 0;
  },
  add(state, at) {
    state[at]++;
  },
  merge(into, intoAt, from, fromAt) {
    into[intoAt] += from[fromAt];
  },
  result(state, at) {
    return state[at];
  },
};
