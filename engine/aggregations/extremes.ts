import type { Aggregation } from './aggregation';

// min / max slot layout: [n, value]; range: [n, min, max].
//
// `n` rather than a ±Infinity sentinel marks "empty", because ±Infinity are
// legitimate readings. Values are normalised with `+ 0` so that -0 and +0 are
// one value: otherwise min(0, -0) would depend on arrival order.

const N = 0;

/**
 * `min(field)`; `null` when no value contributed.
 *
 * @example
 * new Accumulator(min).add(3, 0).add(-1, 1).result(); // -1
 */
export const min: Aggregation = {
  fn: 'min',
  stateKey: 'min/1',
  slots: 2,
  numeric: true,
  init(state, at) {
    state[at + N] = 0;
    state[at + 1] = Infinity;
  },
  add(state, at, value) {
    const v = value + 0;
    if (state[at + N]++ === 0 || v < state[at + 1]) state[at + 1] = v;
  },
  merge(into, intoAt, from, fromAt) {
    const n = from[fromAt + N];
    if (n === 0) return;
    if (into[intoAt + N] === 0 || from[fromAt + 1] < into[intoAt + 1]) into[intoAt + 1] = from[fromAt + 1];
    into[intoAt + N] += n;
  },
  result(state, at) {
    return state[at + N] === 0 ? null : state[at + 1];
  },
};

/**
 * `max(field)`; `null` when no value contributed.
 *
 * @example
 * new Accumulator(max).add(3, 0).add(-1, 1).result(); // 3
 */
export const max: Aggregation = {
  fn: 'max',
  stateKey: 'max/1',
  slots: 2,
  numeric: true,
  init(state, at) {
    state[at + N] = 0;
    state[at + 1] = -Infinity;
  },
  add(state, at, value) {
    const v = value + 0;
    if (state[at + N]++ === 0 || v > state[at + 1]) state[at + 1] = v;
  },
  merge(into, intoAt, from, fromAt) {
    const n = from[fromAt + N];
    if (n === 0) return;
    if (into[intoAt + N] === 0 || from[fromAt + 1] > into[intoAt + 1]) into[intoAt + 1] = from[fromAt + 1];
    into[intoAt + N] += n;
  },
  result(state, at) {
    return state[at + N] === 0 ? null : state[at + 1];
  },
};

/**
 * `range(field)`: max - min; `null` when no value contributed.
 *
 * @example
 * new Accumulator(range).add(3, 0).add(-1, 1).result(); // 4
 */
export const range: Aggregation = {
  fn: 'range',
  stateKey: 'range/1',
  slots: 3,
  numeric: true,
  init(state, at) {
    state[at + N] = 0;
    state[at + 1] = Infinity;
    state[at + 2] = -Infinity;
  },
  add(state, at, value) {
    const v = value + 0;
    if (v < state[at + 1]) state[at + 1] = v;
    if (v > state[at + 2]) state[at + 2] = v;
    // A lone +Infinity (or -Infinity) must still set both ends.
    if (state[at + N]++ === 0) {
      state[at + 1] = v;
      state[at + 2] = v;
    }
  },
  merge(into, intoAt, from, fromAt) {
    const n = from[fromAt + N];
    if (n === 0) return;
    if (into[intoAt + N] === 0) {
      into[intoAt + 1] = from[fromAt + 1];
      into[intoAt + 2] = from[fromAt + 2];
    } else {
      if (from[fromAt + 1] < into[intoAt + 1]) into[intoAt + 1] = from[fromAt + 1];
      if (from[fromAt + 2] > into[intoAt + 2]) into[intoAt + 2] = from[fromAt + 2];
    }
    into[intoAt + N] += n;
  },
  result(state, at) {
    return state[at + N] === 0 ? null : state[at + 2] - state[at + 1];
  },
};
