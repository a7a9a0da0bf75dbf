import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as avro from 'avsc';
import { ColumnEncoder, planColumns, rebuildRows, type ColumnPlan } from './row-columns';
import type { Row } from '../core/batch';

const type = avro.Type.forSchema({
  type: 'record',
  name: 'Everything',
  fields: [
    { name: 'id', type: 'string' },
    { name: 'level', type: ['null', 'double'] },
    { name: 'count', type: 'long' },
    { name: 'ok', type: 'boolean' },
    { name: 'flag', type: ['string', 'null'] },
    { name: 'kind', type: { type: 'enum', name: 'Kind', symbols: ['A', 'B'] } },
    { name: 'maybe', type: ['null', 'boolean'] },
  ],
});

test('columns carry every number exactly (NaN, -0, Infinity), nulls, booleans and strings, in field order', () => {
  const plan = planColumns(type) as ColumnPlan;
  assert.equal(typeof plan, 'object');
  const rows: Row[] = [
    { id: 'a', level: 1.5, count: 2 ** 53 - 1, ok: true, flag: 'x', kind: 'A', maybe: null },
    { id: 'b', level: null, count: -3, ok: false, flag: null, kind: 'B', maybe: false },
    { id: 'a', level: Number.NaN, count: 0, ok: true, flag: 'x', kind: 'A', maybe: true },
    { id: 'é\u0000', level: -0, count: 1, ok: false, flag: '', kind: 'B', maybe: null },
    { id: 'c', level: Number.NEGATIVE_INFINITY, count: 7, ok: true, flag: null, kind: 'A', maybe: null },
  ];
  const encoder = new ColumnEncoder(plan, rows.length);
  for (const row of rows) encoder.add(row);
  const columns = encoder.finish();
  assert.deepEqual(columns.table, ['a', 'x', 'A', 'b', 'B', 'é\u0000', '', 'c'], 'repeated strings are sent once');
  const out: Row[] = [];
  rebuildRows(plan, structuredClone(columns), out);
  assert.deepStrictEqual(out, rows);
  assert.ok(Object.is(out[3].level, -0));
  assert.deepEqual(Object.keys(out[0]), ['id', 'level', 'count', 'ok', 'flag', 'kind', 'maybe']);
});

test('schemas a flat column cannot carry exactly have no plan', () => {
  const nested = (fields: avro.Schema) => planColumns(avro.Type.forSchema({ type: 'record', name: 'R', fields: [{ name: 'x', type: fields }] } as avro.Schema));
  assert.match(nested({ type: 'array', items: 'int' }) as string, /field "x" is of type array/);
  assert.match(nested('bytes') as string, /field "x" is of type bytes/);
  assert.match(nested(['null', 'int', 'string']) as string, /union other than \[null, X\]/);
  assert.match(planColumns(avro.Type.forSchema('int')) as string, /not a record/);
});

test('a value its plan does not allow is a bug, not a silent coercion', () => {
  const plan = planColumns(type) as ColumnPlan;
  const encoder = new ColumnEncoder(plan, 1);
  assert.throws(() => encoder.add({ id: null, level: 1, count: 1, ok: true, flag: null, kind: 'A', maybe: null }), /field "id" holds null/);
});
