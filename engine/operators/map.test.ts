import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { MapStepSpec } from '../config/job';
import { ConfigError } from '../core/errors';
import type { RecordBatch, Row } from '../core/batch';
import { emptyCounters, type OperatorContext } from '../core/operator';
import { MapOperator } from './map';

function spec(set: Record<string, string>, drop: string[] = []): MapStepSpec {
  return { kind: 'map', id: 'shape', set, drop, at: { line: 4, col: 5 } };
}

const ctx: OperatorContext = { counters: emptyCounters(), late: () => {}, deadLetter: () => {}, emitTo: () => {}, now: () => 0, setTimer: () => {} };

function batch(rows: Row[]): RecordBatch {
  return {
    rows,
    watermarks: Float64Array.from(rows, (_, i) => 10 * i),
    offsets: Float64Array.from(rows, (_, i) => 7 + i),
    watermark: 99,
    source: { partition: 'p', fromOffset: 7, toOffset: 7 + rows.length },
  };
}

test('sets new fields from expressions over the input row', () => {
  const rows = [
    { station: 'a', v: 1, q: 'p' },
    { station: 'b', v: null, q: 'v' },
  ];
  const out = new MapOperator(spec({ v_ft: 'round(v * 3.28084, 3)', level: "v == null ? 'none' : 'ok'" })).process(batch(rows), ctx);
  assert.deepEqual(out.rows, [
    { station: 'a', v: 1, q: 'p', v_ft: 3.281, level: 'ok' },
    { station: 'b', v: null, q: 'v', v_ft: null, level: 'none' },
  ]);
  assert.deepEqual(Object.keys(out.rows[0]), ['station', 'v', 'q', 'v_ft', 'level']);
});

test('every set sees the original values (a swap works)', () => {
  const out = new MapOperator(spec({ a: 'b', b: 'a', c: 'a + b' })).process(batch([{ a: 1, b: 2 }]), ctx);
  assert.deepEqual(out.rows, [{ a: 2, b: 1, c: 3 }]);
});

test('replaced fields keep their position', () => {
  const out = new MapOperator(spec({ v: 'v * 2' })).process(batch([{ station: 'a', v: 1, q: 'p' }]), ctx);
  assert.deepEqual(Object.keys(out.rows[0]), ['station', 'v', 'q']);
  assert.deepEqual(out.rows[0], { station: 'a', v: 2, q: 'p' });
});

test('drop removes fields; a field both set and dropped stays set', () => {
  const rows = [{ station: 'a', v: 1, q: 'p', f: 'x' }];
  assert.deepEqual(new MapOperator(spec({}, ['q', 'f', 'absent'])).process(batch(rows), ctx).rows, [{ station: 'a', v: 1 }]);
  assert.deepEqual(new MapOperator(spec({ level: 'v' }, ['v'])).process(batch(rows), ctx).rows, [{ station: 'a', q: 'p', f: 'x', level: 1 }]);
  assert.deepEqual(new MapOperator(spec({ v: 'v + 1' }, ['v', 'q'])).process(batch(rows), ctx).rows, [{ station: 'a', f: 'x', v: 2 }]);
});

test('input rows are never mutated; outputs are new objects', () => {
  const nested = { lat: 1 };
  const rows = [{ station: 'a', v: 1, position: nested }];
  const frozen = rows.map((row) => Object.freeze({ ...row }));
  const input = batch(frozen);
  const out = new MapOperator(spec({ v: 'v + 1', w: 'position.lat' }, ['station'])).process(input, ctx);
  assert.deepEqual(frozen[0], { station: 'a', v: 1, position: nested });
  assert.notEqual(out.rows[0], frozen[0]);
  assert.deepEqual(out.rows[0], { v: 2, position: nested, w: 1 });
  const noDrop = new MapOperator(spec({ v: 'v + 1' })).process(input, ctx);
  assert.notEqual(noDrop.rows[0], frozen[0]);
  assert.deepEqual(noDrop.rows[0], { station: 'a', v: 2, position: nested });
});

test('aligned arrays, watermark and source pass through unchanged', () => {
  const input = batch([{ v: 1 }, { v: 2 }, { v: 3 }]);
  const out = new MapOperator(spec({ w: 'v * 10' })).process(input, ctx);
  assert.deepEqual(out.rows, [{ v: 1, w: 10 }, { v: 2, w: 20 }, { v: 3, w: 30 }]);
  assert.deepEqual([...out.watermarks], [0, 10, 20]);
  assert.deepEqual([...out.offsets], [7, 8, 9]);
  assert.equal(out.watermark, 99);
  assert.equal(out.source, input.source);
  assert.deepEqual(new MapOperator(spec({ w: 'v' })).process(batch([]), ctx).rows, []);
});

test('an evaluation error sets null and the job goes on', () => {
  const out = new MapOperator(spec({ root: 'sqrt(v)', low: 'lower(v)' })).process(batch([{ v: 'x' }, { v: 4 }]), ctx);
  assert.deepEqual(out.rows, [
    { v: 'x', root: null, low: 'x' },
    { v: 4, root: 2, low: null },
  ]);
});

test('a field named __proto__ is an own field, never the prototype', () => {
  const input = JSON.parse('[{"__proto__": {"polluted": 1}, "v": 1}]') as Row[];
  // An object literal `{ __proto__: ... }` would set a prototype, not a key; build the spec the way YAML does.
  const yamlSet = Object.defineProperty({}, '__proto__', { value: 'v + 1', enumerable: true }) as Record<string, string>;
  const out = new MapOperator(spec(yamlSet, ['v'])).process(batch(input), ctx).rows[0];
  assert.equal(Object.getPrototypeOf(out), Object.prototype);
  assert.deepEqual(Object.getOwnPropertyDescriptor(out, '__proto__')?.value, 2);
  assert.equal((out as { polluted?: unknown }).polluted, undefined);
  const copied = new MapOperator(spec({}, ['v'])).process(batch(input), ctx).rows[0];
  assert.equal(Object.getPrototypeOf(copied), Object.prototype);
  assert.deepEqual(Object.getOwnPropertyDescriptor(copied, '__proto__')?.value, { polluted: 1 });
});

test('an expression that does not parse is a ConfigError naming the field', () => {
  assert.throws(() => new MapOperator(spec({ ok: 'v', bad: 'sqr(v)' })), (error: unknown) => {
    assert.ok(error instanceof ConfigError);
    assert.match(error.message, /step 'shape' set\.bad: unknown function 'sqr' \(did you mean 'sqrt'\?\)/);
    return true;
  });
});
