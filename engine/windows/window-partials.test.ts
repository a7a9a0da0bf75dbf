import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { WindowStepSpec } from '../config/job';
import { canPreAggregate, WindowPartialsBuilder } from './window-partials';

const MINUTE = 60_000;
const spec: WindowStepSpec = {
  kind: 'window',
  id: 'avg-30m',
  key: ['station'],
  window: { kind: 'tumbling', sizeMs: 30 * MINUTE, anchorMs: 0 },
  allowedLatenessMs: 0,
  emit: 'final',
  aggregates: [
    { name: 'n', fn: 'count', field: 'v' },
    { name: 'high', fn: 'max', field: 'v' },
  ],
  at: { line: 1, col: 1 },
};

describe('WindowPartialsBuilder', () => {
  it('folds a chunk into one accumulator per key and window, with the last row of each', () => {
    const builder = new WindowPartialsBuilder(spec, 't');
    const rows = [
      { station: 'a', t: 0, v: 1 },
      { station: 'b', t: 6 * MINUTE, v: 5 },
      { station: 'a', t: 12 * MINUTE, v: 3 },
      { station: 'a', t: 30 * MINUTE, v: 2 },
      { station: 'b', t: 18 * MINUTE, v: null },
    ];
    rows.forEach((row, i) => assert.equal(builder.add(row, i), true));
    const partials = builder.finish();
    assert.deepEqual(partials.keyIds, ['a', 'b']);
    assert.deepEqual(partials.keyValues, [['a'], ['b']]);
    assert.deepEqual([...partials.keyIndex], [0, 1, 0]);
    assert.deepEqual([...partials.starts], [0, 0, 30 * MINUTE]);
    assert.deepEqual([...partials.ends], [30 * MINUTE, 30 * MINUTE, 60 * MINUTE]);
    assert.deepEqual([...partials.lastRow], [2, 1, 3]);
    assert.equal(partials.accs.length, 3 * builder.slots);
    assert.deepEqual({ aggregated: partials.aggregated, nullReadings: partials.nullReadings, arrivals: partials.arrivals }, { aggregated: 4, nullReadings: 1, arrivals: 4 });
    // The builder starts over for the next chunk.
    assert.equal(builder.add({ station: 'c', t: 0, v: 1 }, 0), true);
    assert.deepEqual(builder.finish().keyIds, ['c']);
  });

  it('grows past its initial capacity', () => {
    const builder = new WindowPartialsBuilder(spec, 't');
    for (let i = 0; i < 1000; i++) assert.equal(builder.add({ station: `s${i}`, t: 0, v: i }, i), true);
    const partials = builder.finish();
    assert.equal(partials.starts.length, 1000);
    assert.equal(partials.keyIds[999], 's999');
  });

  it('leaves rows the operator dead-letters to the operator: add returns false', () => {
    const builder = new WindowPartialsBuilder(spec, 't');
    assert.equal(builder.add({ station: 'a', t: 0, v: 'high' }, 0), false);
  });

  it('takes fixed windows only, and no aggregate that breaks ties by arrival', () => {
    assert.equal(canPreAggregate(spec), true);
    assert.equal(canPreAggregate({ ...spec, window: { kind: 'session', gapMs: MINUTE } }), false);
    assert.equal(canPreAggregate({ ...spec, aggregates: [{ name: 'opening', fn: 'first', field: 'v' }] }), false);
    assert.throws(() => new WindowPartialsBuilder({ ...spec, window: { kind: 'session', gapMs: MINUTE } }, 't'), /cannot be pre-aggregated/);
  });
});
