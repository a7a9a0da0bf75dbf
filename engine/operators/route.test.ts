import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { RouteStepSpec } from '../config/job';
import { ConfigError } from '../core/errors';
import type { RecordBatch, Row } from '../core/batch';
import { emptyCounters, type OperatorContext } from '../core/operator';
import { RouteOperator } from './route';

function spec(routes: Array<{ when: string; to: string }>, otherwise: 'main' | 'drop' = 'main'): RouteStepSpec {
  return { kind: 'route', id: 'split', routes, otherwise, at: { line: 9, col: 5 } };
}

function context() {
  const emitted: Array<[string, Row[]]> = [];
  const ctx: OperatorContext = {
    counters: emptyCounters(),
    late: () => {},
    deadLetter: () => {},
    emitTo: (output, rows) => emitted.push([output, rows]),
    now: () => 0,
    setTimer: () => {},
  };
  return { ctx, emitted };
}

function batch(rows: Row[]): RecordBatch {
  return {
    rows,
    watermarks: Float64Array.from(rows, (_, i) => 100 + i),
    offsets: Float64Array.from(rows, (_, i) => i),
    watermark: 500,
    source: { partition: 'p', fromOffset: 0, toOffset: rows.length },
  };
}

const ROWS: Row[] = [
  { id: 1, v: 3.5 },
  { id: 2, v: 0.5 },
  { id: 3, v: -1 },
  { id: 4, v: null },
  { id: 5, v: 5 },
  { id: 6, v: -2 },
];

const ROUTES = [
  { when: 'v > 3', to: 'high' },
  { when: 'v > 2', to: 'never' }, // v > 3 already took these rows: first match wins
  { when: 'v < 0', to: 'low' },
];

test('first matching route wins; one emitTo per target, rows in input order', () => {
  const { ctx, emitted } = context();
  const out = new RouteOperator(spec(ROUTES)).process(batch(ROWS), ctx);
  assert.deepEqual(emitted, [
    ['high', [ROWS[0], ROWS[4]]],
    ['low', [ROWS[2], ROWS[5]]],
  ]);
  assert.deepEqual(out.rows, [ROWS[1], ROWS[3]]);
  assert.deepEqual([...out.watermarks], [101, 103]);
  assert.deepEqual([...out.offsets], [1, 3]);
  assert.equal(out.watermark, 500);
  assert.equal(ctx.counters.filteredOut, 0);
});

test("otherwise: 'drop' discards and counts unmatched rows", () => {
  const { ctx, emitted } = context();
  const out = new RouteOperator(spec(ROUTES, 'drop')).process(batch(ROWS), ctx);
  assert.equal(emitted.length, 2);
  assert.deepEqual(out.rows, []);
  assert.equal(out.watermarks.length, 0);
  assert.equal(out.offsets.length, 0);
  assert.equal(out.watermark, 500);
  assert.equal(ctx.counters.filteredOut, 2);
});

test('routes sharing a target make one call with rows in input order', () => {
  const { ctx, emitted } = context();
  new RouteOperator(spec([{ when: 'v > 3', to: 'extreme' }, { when: 'v < 0', to: 'extreme' }], 'drop')).process(batch(ROWS), ctx);
  assert.deepEqual(emitted, [['extreme', [ROWS[0], ROWS[2], ROWS[4], ROWS[5]]]]);
});

test('no matches: no emitTo calls, the batch continues unchanged', () => {
  const { ctx, emitted } = context();
  const input = batch(ROWS);
  assert.equal(new RouteOperator(spec([{ when: 'v > 100', to: 'x' }])).process(input, ctx), input);
  assert.deepEqual(emitted, []);
});

test('a null or failing condition does not match', () => {
  const { ctx, emitted } = context();
  const out = new RouteOperator(spec([{ when: 'sqrt(v) > 1 or v', to: 'odd' }])).process(batch([{ v: 'x' }, { v: null }, { v: 4 }]), ctx);
  assert.deepEqual(emitted, [['odd', [{ v: 'x' }, { v: 4 }]]]);
  assert.deepEqual(out.rows, [{ v: null }]);
});

test('a bad condition is a ConfigError naming the route', () => {
  assert.throws(() => new RouteOperator(spec([{ when: 'v > 1', to: 'a' }, { when: 'v = 1', to: 'b' }])), (error: unknown) => {
    assert.ok(error instanceof ConfigError);
    assert.match(error.message, /step 'split' routes\[1\]\.when: '=' is assignment; use '==' to compare/);
    return true;
  });
});
