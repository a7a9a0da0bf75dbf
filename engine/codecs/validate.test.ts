import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import * as avro from 'avsc';
import fc from 'fast-check';
import { loadAvroType, tideObservationSchemaPath } from './avro-schema';
import { createRowValidator } from './validate';

const validate = createRowValidator(loadAvroType(tideObservationSchemaPath()), 't');
const good = { station: '8454000', name: 'Providence, State Pier no.1', lat: 41.8072, lon: -71.4007, t: Date.UTC(2020, 8, 24, 4, 18), v: 1.2, s: 0.01, f: '0,0,0,0', q: 'p' };

describe('createRowValidator', () => {
  it('accepts a good row, null readings and absent nullable fields', () => {
    assert.equal(validate(good), null);
    assert.equal(validate({ ...good, v: null, s: null, f: null, q: null }), null);
    const { f: _f, q: _q, ...withoutFlags } = good;
    assert.equal(validate(withoutFlags), null);
  });

  it('gives exact reasons', () => {
    const { station: _station, ...noStation } = good;
    assert.equal(validate(noStation), 'missing field "station"');
    assert.equal(validate({ ...good, name: null }), 'field "name" is null but the schema does not allow null');
    assert.equal(validate({ ...good, lat: '41.8' }), 'field "lat" must be a number, got a string "41.8"');
    assert.equal(validate({ ...good, v: Number.NaN }), 'field "v" is not a finite number: NaN');
    assert.equal(validate({ ...good, s: Number.POSITIVE_INFINITY }), 'field "s" is not a finite number: Infinity');
    assert.equal(validate({ ...good, v: '1.2' }), 'field "v" must be a number, got a string "1.2"');
    assert.equal(validate({ ...good, q: 7 }), 'field "q" must be a string, got 7');
    assert.equal(validate({ ...good, name: 'x'.repeat(1025) }), 'field "name" is too long (1025 characters, at most 1024)');
    assert.equal(validate({ ...good, t: '2020-09-24' }), 'event time "t" must be epoch milliseconds (a number), got a string "2020-09-24"');
    assert.equal(validate({ ...good, t: 1.5 }), 'event time "t" must be an integer number of epoch milliseconds, got 1.5');
  });

  it('rejects timestamps decades away (seconds or microseconds by mistake)', () => {
    const seconds = Math.floor(good.t / 1000);
    assert.match(validate({ ...good, t: seconds })!, /^timestamp decades away: "t" = 1600921080 \(1970-01-19T12:42:01\.080Z\)/);
    assert.match(validate({ ...good, t: good.t * 1000 })!, /^timestamp decades away: "t" = 1600921080000000 /);
    assert.equal(validate({ ...good, t: Date.UTC(1990, 0, 1) }), null);
  });

  it('the generated quick check never passes a row the checking loop refuses (property)', () => {
    const wide = avro.Type.forSchema({
      type: 'record',
      name: 'Wide',
      fields: [
        { name: 'id', type: 'string' },
        { name: 'n', type: 'int' },
        { name: 'big', type: 'long' },
        { name: 'x', type: 'float' },
        { name: 'y', type: ['null', 'double'], default: null },
        { name: 'ok', type: 'boolean' },
        { name: 'either', type: ['null', 'int', 'string'], default: null },
        { name: 'kind', type: { type: 'enum', name: 'Kind', symbols: ['A', 'B'] } },
        { name: 'tags', type: { type: 'array', items: 'string' }, default: [] },
        { name: 'when', type: 'long' },
        { name: '__proto__', type: ['null', 'string'], default: null },
      ],
    });
    const now = Date.UTC(2026, 0, 1);
    const value = fc.oneof(
      fc.constantFrom<unknown>(undefined, null, true, 'A', 'C', '', NaN, Infinity, -0, 0.5, 2 ** 53, 2 ** 31, -(2 ** 31) - 1, now, now * 1000, [], ['t'], [1], {}),
      fc.string({ maxLength: 4 }),
      fc.string({ minLength: 1020, maxLength: 1030 }),
      fc.integer(),
      fc.double(),
      fc.integer({ min: -(2 ** 52), max: 2 ** 52 }).map((ms) => now + ms),
    );
    const validWide = Object.defineProperty({ id: 'a', n: 1, big: 2 ** 40, x: 0.5, y: null, ok: true, either: 3, kind: 'A', tags: ['t'], when: now }, '__proto__', {
      value: null, enumerable: true, writable: true, configurable: true,
    });
    for (const [schema, time, valid] of [[wide, 'when', validWide], [loadAvroType(tideObservationSchemaPath()), 't', { ...good, t: now }]] as const) {
      const fieldNames = Object.keys(valid);
      const both = createRowValidator(schema, time, { now, mayBeAbsent: ['tags'] });
      const loop = createRowValidator(schema, time, { now, mayBeAbsent: ['tags'], quickCheck: false });
      assert.equal(both(valid), null);
      // A valid row with a few fields replaced (a replaced field may hold undefined: present, but undefined).
      const replaced = fc.array(fc.option(value, { freq: 3 }), { minLength: fieldNames.length, maxLength: fieldNames.length });
      fc.assert(
        fc.property(replaced, (values) => {
          const row: Record<string, unknown> = {};
          values.forEach((v, i) => {
            Object.defineProperty(row, fieldNames[i], { value: v === null ? valid[fieldNames[i] as keyof typeof valid] : v, enumerable: true, writable: true, configurable: true });
          });
          assert.equal(both(row), loop(row));
        }),
        { numRuns: 3000 },
      );
    }
    assert.equal(createRowValidator(wide, 'when', { now })(null as never), 'record is null, not an object');
  });
});
