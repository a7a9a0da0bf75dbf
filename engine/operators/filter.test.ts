import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { FilterStepSpec } from '../config/job';
import { ConfigError } from '../core/errors';
import type { RecordBatch, Row } from '../core/batch';
import { emptyCounters, type OperatorContext } from '../core/operator';
import { FilterOperator } from './filter';

function spec(when: string): FilterStepSpec {
  return { kind: 'filter', id: 'keep', when, at: { line: 3, col: 5 } };
}

function context(): OperatorContext {
  return { counters: emptyCounters(), late: () => {}, deadLetter: () => {}, emitTo: () => assert.fail('filter never routes'), now: () => 0, setTimer: () => {} };
}

function batch(rows: Row[]): RecordBatch {
  return {
    rows,
    watermarks: Float64Array.from(rows, (_, i) => 1000 + i),
    offsets: Float64Array.from(rows, (_, i) => 50 + i),
    watermark: 2000,
    source: { partition: 'file:x', fromOffset: 50, toOffset: 50 + rows.length },
  };
}

const ROWS: Row[] = [
  { station: 'a', v: 1.2, q: 'p' },
  { station: 'b', v: null, q: 'p' },
  { station: 'c', v: 0, q: 'x' },
  { station: 'd', q: 'v' },
  { station: 'e', v: 3.4, q: 'v' },
];

test('keeps rows whose condition is true, with watermarks and offsets still aligned', () => {
  const ctx = context();
  const input = batch(ROWS);
  const out = new FilterOperator(spec("v != null and q in ['p', 'v']")).process(input, ctx);
  assert.deepEqual(out.rows, [ROWS[0], ROWS[4]]);
  assert.deepEqual([...out.watermarks], [1000, 1004]);
  assert.deepEqual([...out.offsets], [50, 54]);
  assert.equal(out.watermark, 2000);
  assert.equal(out.source, input.source);
  assert.equal(ctx.counters.filteredOut, 3);
  assert.equal(out.rows[0], ROWS[0], 'rows pass through as the same objects');
});

test('a null result drops the row; 0 is a value and keeps it', () => {
  const ctx = context();
  const out = new FilterOperator(spec('v')).process(batch(ROWS), ctx);
  assert.deepEqual(out.rows.map((row) => row.station), ['a', 'c', 'e']);
  assert.deepEqual([...out.offsets], [50, 52, 54]);
  assert.equal(ctx.counters.filteredOut, 2);
});

test('an evaluation error drops the row instead of failing the batch', () => {
  const ctx = context();
  const out = new FilterOperator(spec('sqrt(q) > 0 or v > 3')).process(batch(ROWS), ctx);
  assert.deepEqual(out.rows.map((row) => row.station), ['e']);
  assert.equal(ctx.counters.filteredOut, 4);
});

test('all kept returns the batch itself; none kept returns an empty aligned batch', () => {
  const ctx = context();
  const input = batch(ROWS);
  assert.equal(new FilterOperator(spec('station != null')).process(input, ctx), input);
  const none = new FilterOperator(spec('false')).process(input, ctx);
  assert.deepEqual(none.rows, []);
  assert.equal(none.watermarks.length, 0);
  assert.equal(none.offsets.length, 0);
  assert.equal(ctx.counters.filteredOut, 5);
  const empty = new FilterOperator(spec('true')).process(batch([]), ctx);
  assert.deepEqual(empty.rows, []);
  assert.equal(ctx.counters.filteredOut, 5);
});

test('counts accumulate across batches', () => {
  const ctx = context();
  const filter = new FilterOperator(spec('v > 1'));
  filter.process(batch(ROWS), ctx);
  filter.process(batch(ROWS), ctx);
  assert.equal(ctx.counters.filteredOut, 6);
});

test('a condition that does not parse is a ConfigError at construction', () => {
  assert.throws(() => new FilterOperator(spec('v > )')), (error: unknown) => {
    assert.ok(error instanceof ConfigError);
    assert.equal(error.problems[0].line, 3);
    assert.match(error.message, /step 'keep' when: unexpected '\)' — expected a value \(at character 4/);
    return true;
  });
});
