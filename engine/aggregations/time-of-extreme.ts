import type { Aggregation } from './aggregation';

// Slot layout: [n, value, eventTime]
//
// The answer is the EARLIEST event time at which the extreme occurs, so when
// the high tide reading repeats (common with 1 cm resolution) the result does
// not depend on which duplicate arrived first.

const N = 0;
const VALUE = 1;
const TIME = 2;

function extremeTime(fn: 'time_of_max' | 'time_of_min', sign: 1 | -1): Aggregation {
  // `sign` folds max and min into one comparison: compare sign * value.
  const beats = (value: number, time: number, heldValue: number, heldTime: number): boolean =>
    sign * value > sign * heldValue || (value === heldValue && time < heldTime);
  return {
    fn,
    stateKey: `${fn}/1`,
    slots: 3,
    numeric: true,
    init(state, at) {
      state[at + N] = 0;
      state[at + VALUE] = NaN;
      state[at + TIME] = NaN;
    },
    add(state, at, value, eventTime) {
      const v = value + 0;
      if (state[at + N]++ === 0 || beats(v, eventTime, state[at + VALUE], state[at + TIME])) {
        state[at + VALUE] = v;
        state[at + TIME] = eventTime;
      }
    },
    merge(into, intoAt, from, fromAt) {
      const n = from[fromAt + N];
      if (n === 0) return;
      const v = from[fromAt + VALUE];
      const t = from[fromAt + TIME];
      if (into[intoAt + N] === 0 || beats(v, t, into[intoAt + VALUE], into[intoAt + TIME])) {
        into[intoAt + VALUE] = v;
        into[intoAt + TIME] = t;
      }
      into[intoAt + N] += n;
    },
    result(state, at) {
      return state[at + N] === 0 ? null : new Date(state[at + TIME]);
    },
  };
}

/**
 * `time_of_max(field)`: the earliest event time at which the maximum occurs, as a `Date`.
 *
 * @example
 * new Accumulator(timeOfMax).add(2, 300).add(2, 100).add(1, 0).result(); // new Date(100)
 */
export const timeOfMax: Aggregation = extremeTime('time_of_max', 1);

/**
 * `time_of_min(field)`: the earliest event time at which the minimum occurs, as a `Date`.
 *
 * @example
 * new Accumulator(timeOfMin).add(-1, 300).add(-1, 100).add(0, 0).result(); // new Date(100)
 */
export const timeOfMin: Aggregation = extremeTime('time_of_min', -1);
