import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { AggregateSet } from '../aggregations/aggregate-set';
import type { AggregateFunction, AggregateSpec } from '../config/job';
import { assignedRowBuilder, windowRowBuilder } from './window-row';

const FUNCTIONS: AggregateFunction[] = ['count', 'sum', 'avg', 'min', 'max', 'stddev', 'range', 'first', 'last', 'time_of_min', 'time_of_max'];
/** Names that collide with each other, with the window bounds, or need quoting in code. */
const NAMES = ['station', 'avg', 'window_start', 'window_end', 'n', 'a"b', "it's", 'line\nbreak', '\\', 'constructor', '__proto__', 'toString'];

describe('windowRowBuilder', () => {
  it('builds the tide row: key, bounds, aggregates in order', () => {
    const set = new AggregateSet([
      { name: 'avg', fn: 'avg', field: 'v' },
      { name: 'high', fn: 'max', field: 'v' },
      { name: 'count', fn: 'count', field: 'v' },
    ]);
    const acc = set.create();
    for (const [t, v] of [[0, 1.5], [360_000, 2.5]]) {
      set.read({ v });
      set.add(acc, t, 0);
    }
    const row = windowRowBuilder(['station'], set)(['8443970'], 0, 1_800_000, acc);
    assert.deepEqual(Object.entries(row), [
      ['station', '8443970'],
      ['window_start', new Date(0)],
      ['window_end', new Date(1_800_000)],
      ['avg', 2],
      ['high', 2.5],
      ['count', 2],
    ]);
  });

  it('gives exactly the rows of field-by-field assignment, for any names and aggregates (property)', () => {
    const spec = fc.record({ name: fc.constantFrom(...NAMES), fn: fc.constantFrom(...FUNCTIONS), field: fc.constantFrom('v', 'w') });
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.constantFrom(...NAMES), { maxLength: 3 }),
        fc.array(spec, { minLength: 1, maxLength: 6 }),
        fc.array(fc.record({ v: fc.option(fc.double({ min: -1e6, max: 1e6, noNaN: true })), w: fc.option(fc.integer()) }), { maxLength: 5 }),
        (keyFields, specs, rows) => {
          const set = new AggregateSet(specs as AggregateSpec[]);
          const acc = set.create();
          rows.forEach((row, i) => {
            set.read(row);
            set.add(acc, i * 60_000, i);
          });
          const keyValues = keyFields.map((field, k) => `${field}#${k}`);
          const expected = assignedRowBuilder(keyFields, set)(keyValues, 0, 1_800_000, acc);
          const actual = windowRowBuilder(keyFields, set)(keyValues, 0, 1_800_000, acc);
          assert.deepEqual(Object.entries(actual), Object.entries(expected));
          // A field named __proto__ sets the prototype when assigned (kept as it was: the builder falls back to assignment).
          assert.deepEqual(Object.getPrototypeOf(actual), Object.getPrototypeOf(expected));
        },
      ),
      { numRuns: 300 },
    );
  });
});
