import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { AggregateFunction } from '../config/job';
import { Accumulator } from './aggregation';
import { AggregateSet, ReadOutcome } from './aggregate-set';
import { aggregateFunctions, createAggregation } from './create-aggregation';
import { decodeFloats, encodeFloats } from './float-codec';

/** Feed (value, eventTime) pairs in order and return the result. */
function run(fn: AggregateFunction, values: Array<[number, number]>): unknown {
  const acc = new Accumulator(createAggregation(fn));
  for (const [value, time] of values) acc.add(value, time);
  return acc.result();
}

const sample: Array<[number, number]> = [
  [1.5, 300],
  [-0.25, 100],
  [2.75, 200],
  [2.75, 50],
  [-0.25, 400],
];

describe('aggregations', () => {
  it('count, sum, avg, min, max, range', () => {
    assert.equal(run('count', sample), 5);
    assert.equal(run('sum', sample), 6.5);
    assert.equal(run('avg', sample), 1.3);
    assert.equal(run('min', sample), -0.25);
    assert.equal(run('max', sample), 2.75);
    assert.equal(run('range', sample), 3);
  });

  it('empty state: count 0, everything else null', () => {
    for (const fn of aggregateFunctions) assert.equal(run(fn, []), fn === 'count' ? 0 : null, fn);
  });

  it('first/last go by event time, not arrival', () => {
    assert.equal(run('first', sample), 2.75); // t 50
    assert.equal(run('last', sample), -0.25); // t 400
  });

  it('first/last: equal event times -> earliest arrival, whatever the merge order', () => {
    const a = new Accumulator(createAggregation('first'));
    const b = new Accumulator(createAggregation('first'));
    a.add(1, 10, 5); // arrives 5th
    b.add(2, 10, 3); // arrives 3rd: wins the tie
    assert.equal(new Accumulator(createAggregation('first')).merge(a).merge(b).result(), 2);
    assert.equal(new Accumulator(createAggregation('first')).merge(b).merge(a).result(), 2);
    const lastA = new Accumulator(createAggregation('last')).add(1, 10, 5);
    const lastB = new Accumulator(createAggregation('last')).add(2, 10, 3);
    assert.equal(lastA.merge(lastB).result(), 2);
    assert.equal(run('last', [[7, 20], [8, 20]]), 7); // same time: first to arrive
  });

  it('stddev is the sample standard deviation (n - 1), null for n < 2', () => {
    const values = [2, 4, 4, 4, 5, 5, 7, 9].map((v, i): [number, number] => [v, i]);
    assert.equal(run('stddev', values), Math.sqrt(32 / 7));
    assert.equal(run('stddev', [[5, 0]]), null);
    assert.equal(run('stddev', [[5, 0], [5, 1]]), 0);
  });

  it('stddev does not cancel catastrophically for a large mean', () => {
    const values = [1e9 + 4, 1e9 + 7, 1e9 + 13, 1e9 + 16].map((v, i): [number, number] => [v, i]);
    assert.equal(run('stddev', values), Math.sqrt(30));
  });

  it('time_of_max / time_of_min: earliest time of the extreme, whatever the arrival order', () => {
    //  value: 2.75 at t 200 and t 50 -> time_of_max 50; -0.25 at t 100 and t 400 -> time_of_min 100
    assert.deepEqual(run('time_of_max', sample), new Date(50));
    assert.deepEqual(run('time_of_min', sample), new Date(100));
    assert.deepEqual(run('time_of_max', [...sample].reverse()), new Date(50));
    assert.deepEqual(run('time_of_min', [...sample].reverse()), new Date(100));
  });

  it('±Infinity are values, not "empty" sentinels', () => {
    assert.equal(run('max', [[-Infinity, 0]]), -Infinity);
    assert.equal(run('min', [[Infinity, 0]]), Infinity);
    assert.equal(run('range', [[Infinity, 0]]), NaN); // Inf - Inf, as SQL would give
    assert.equal(run('sum', [[Infinity, 0], [1, 1]]), Infinity);
  });

  it('sum is compensated', () => {
    const values: Array<[number, number]> = [[1e16, 0], [1, 1], [-1e16, 2]];
    assert.equal(run('sum', values), 1);
  });

  it('snapshot/restore round-trips through JSON, NaN and Infinity included', () => {
    const acc = new Accumulator(createAggregation('range')).add(-Infinity, 0);
    const json = JSON.parse(JSON.stringify(acc.snapshot()));
    const restored = new Accumulator(createAggregation('range'));
    restored.restore(json);
    assert.deepEqual(restored.state, acc.state);
    assert.deepEqual(decodeFloats(JSON.parse(JSON.stringify(encodeFloats(Float64Array.of(NaN, -0, Infinity, 1.5))))), Float64Array.of(NaN, -0, Infinity, 1.5));
    assert.throws(() => new Accumulator(createAggregation('min')).restore(json), /cannot restore/);
  });
});

describe('AggregateSet', () => {
  const set = new AggregateSet([
    { name: 'high', fn: 'max', field: 'v' },
    { name: 'high_time', fn: 'time_of_max', field: 'v' },
    { name: 'sigma_n', fn: 'count', field: 's' },
    { name: 'flags', fn: 'count', field: 'f' },
  ]);

  it('packs every aggregate into one array', () => {
    assert.equal(set.slots, 2 + 3 + 1 + 1);
    assert.deepEqual(set.fields, ['v', 's', 'f']);
  });

  it('nulls are per aggregate; all-null rows are null readings; non-numbers are invalid', () => {
    const acc = set.create();
    assert.equal(set.read({ v: null, s: 0.01, f: 'x' }), ReadOutcome.Values);
    set.add(acc, 10, 0);
    assert.equal(set.read({ v: 1.5, s: undefined, f: null }), ReadOutcome.Values);
    set.add(acc, 20, 1);
    assert.equal(set.read({ v: null, s: NaN }), ReadOutcome.AllNull);
    assert.equal(set.read({ v: 'high', s: 1 }), ReadOutcome.Invalid);
    assert.equal(set.invalidField, 'v');
    const row = {};
    set.writeResults(acc, row);
    assert.deepEqual(row, { high: 1.5, high_time: new Date(20), sigma_n: 1, flags: 1 });
  });

  it('state key changes with names, functions and fields', () => {
    const base = new AggregateSet([{ name: 'a', fn: 'avg', field: 'v' }]).stateKey;
    assert.notEqual(new AggregateSet([{ name: 'b', fn: 'avg', field: 'v' }]).stateKey, base);
    assert.notEqual(new AggregateSet([{ name: 'a', fn: 'sum', field: 'v' }]).stateKey, base);
    assert.notEqual(new AggregateSet([{ name: 'a', fn: 'avg', field: 's' }]).stateKey, base);
  });
});

describe('merge equals adding everything to one accumulator (property)', () => {
  // Readings like water levels: finite, moderate, with repeats so ties happen.
  const reading = fc.oneof(fc.double({ min: -1e6, max: 1e6, noNaN: true }), fc.constantFrom(0, -0, 1.5, -2.25));
  const observation = fc.tuple(reading, fc.integer({ min: -1000, max: 1000 }));
  const exact: AggregateFunction[] = ['count', 'min', 'max', 'range', 'first', 'last', 'time_of_max', 'time_of_min'];

  for (const fn of aggregateFunctions) {
    it(fn, () => {
      fc.assert(
        fc.property(fc.array(observation, { maxLength: 40 }), fc.array(observation, { maxLength: 40 }), (left, right) => {
          const aggregation = createAggregation(fn);
          const whole = new Accumulator(aggregation);
          const a = new Accumulator(aggregation);
          const b = new Accumulator(aggregation);
          let arrival = 0;
          for (const [v, t] of left) {
            whole.add(v, t, arrival);
            a.add(v, t, arrival++);
          }
          for (const [v, t] of right) {
            whole.add(v, t, arrival);
            b.add(v, t, arrival++);
          }
          // Both merge orders must agree with sequential adding.
          const ab = new Accumulator(aggregation).merge(a).merge(b).result();
          const ba = new Accumulator(aggregation).merge(b).merge(a).result();
          const expected = whole.result();
          for (const merged of [ab, ba]) {
            if (exact.includes(fn) || expected === null || typeof expected !== 'number') assert.deepEqual(merged, expected);
            else {
              assert.equal(typeof merged, 'number');
              const scale = Math.max(1, ...[...left, ...right].map(([v]) => Math.abs(v)));
              assert.ok(Math.abs((merged as number) - expected) <= 1e-9 * scale, `${fn}: ${merged} vs ${expected}`);
            }
          }
        }),
      );
    });
  }
});
