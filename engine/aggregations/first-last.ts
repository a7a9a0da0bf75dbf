import type { Aggregation } from './aggregation';

// Slot layout: [n, eventTime, arrival, value]
//
// "First" and "last" are by event time, not by arrival, so replays and
// re-partitioned input give the same answer. Records with the same event time
// are ordered by arrival number: the earliest arrival wins for both, which
// makes the winner unique and independent of merge order.

const N = 0;
const TIME = 1;
const ARRIVAL = 2;
const VALUE = 3;

function init(state: Float64Array, at: number): void {
  state[at + N] = 0;
  state[at + TIME] = NaN;
  state[at + ARRIVAL] = NaN;
  state[at + VALUE] = NaN;
}

function take(state: Float64Array, at: number, eventTime: number, arrival: number, value: number): void {
  state[at + TIME] = eventTime;
  state[at + ARRIVAL] = arrival;
  state[at + VALUE] = value;
}

function result(state: Float64Array, at: number): number | null {
  return state[at + N] === 0 ? null : state[at + VALUE];
}

/** Whether (time, arrival) comes before the held (TIME, ARRIVAL). */
function before(state: Float64Array, at: number, eventTime: number, arrival: number): boolean {
  const held = state[at + TIME];
  return eventTime < held || (eventTime === held && arrival < state[at + ARRIVAL]);
}

/** Whether (time, arrival) beats the held one for `last`: later time, or same time and earlier arrival. */
function laterOrTieEarlier(state: Float64Array, at: number, eventTime: number, arrival: number): boolean {
  const held = state[at + TIME];
  return eventTime > held || (eventTime === held && arrival < state[at + ARRIVAL]);
}

/**
 * `first(field)`: the value at the earliest event time (ties: earliest arrival).
 *
 * @example
 * new Accumulator(first).add(5, 200).add(7, 100).result(); // 7
 */
export const first: Aggregation = {
  fn: 'first',
  stateKey: 'first/1',
  slots: 4,
  numeric: true,
  init,
  add(state, at, value, eventTime, arrival) {
    if (state[at + N]++ === 0 || before(state, at, eventTime, arrival)) take(state, at, eventTime, arrival, value);
  },
  merge(into, intoAt, from, fromAt) {
    const n = from[fromAt + N];
    if (n === 0) return;
    if (into[intoAt + N] === 0 || before(into, intoAt, from[fromAt + TIME], from[fromAt + ARRIVAL])) {
      take(into, intoAt, from[fromAt + TIME], from[fromAt + ARRIVAL], from[fromAt + VALUE]);
    }
    into[intoAt + N] += n;
  },
  result,
};

/**
 * `last(field)`: the value at the latest event time (ties: earliest arrival).
 *
 * @example
 * new Accumulator(last).add(5, 200).add(7, 100).result(); // 5
 */
export const last: Aggregation = {
  fn: 'last',
  stateKey: 'last/1',
  slots: 4,
  numeric: true,
  init,
  add(state, at, value, eventTime, arrival) {
    if (state[at + N]++ === 0 || laterOrTieEarlier(state, at, eventTime, arrival)) {
      take(state, at, eventTime, arrival, value);
    }
  },
  merge(into, intoAt, from, fromAt) {
    const n = from[fromAt + N];
    if (n === 0) return;
    if (into[intoAt + N] === 0 || laterOrTieEarlier(into, intoAt, from[fromAt + TIME], from[fromAt + ARRIVAL])) {
      take(into, intoAt, from[fromAt + TIME], from[fromAt + ARRIVAL], from[fromAt + VALUE]);
    }
    into[intoAt + N] += n;
  },
  result,
};
