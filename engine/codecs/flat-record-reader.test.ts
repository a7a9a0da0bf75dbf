import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as avro from 'avsc';
import fc from 'fast-check';
import type { Row } from '../core/batch';
import { loadAvroType, tideObservationSchemaPath } from './avro-schema';
import { compileFlatRecordReader, StringInterner, type FlatValidation } from './flat-record-reader';
import { createRowValidator, MAX_STRING_LENGTH, MAX_TIMESTAMP_DISTANCE_MS } from './validate';

const tide = loadAvroType(tideObservationSchemaPath());
const NOW = Date.UTC(2026, 0, 1);
const VALIDATION: FlatValidation = {
  eventTimeField: 't',
  earliest: NOW - MAX_TIMESTAMP_DISTANCE_MS,
  latest: NOW + MAX_TIMESTAMP_DISTANCE_MS,
  maxStringLength: MAX_STRING_LENGTH,
};

const observation = {
  station: '8454000',
  name: 'Providence',
  lat: 41.8071,
  lon: -71.4012,
  t: Date.UTC(2024, 0, 1, 6, 12),
  v: 1.234,
  s: null,
  f: '0,0,0,0',
  q: 'p',
};

/** Field types a generated schema may use, each with values for it (avsc's own encoding is the reference). */
const FIELD_TYPES: Array<{ schema: avro.Schema | ((field: number) => avro.Schema); values: fc.Arbitrary<unknown> }> = [
  { schema: 'string', values: fc.string({ unit: 'binary', maxLength: 40 }) },
  { schema: 'double', values: fc.double() },
  { schema: 'float', values: fc.float().filter((x) => !Number.isNaN(x)) },
  { schema: 'long', values: fc.maxSafeInteger().filter((n) => Math.abs(n) <= 9007199254740990) },
  { schema: 'int', values: fc.integer() },
  { schema: 'boolean', values: fc.boolean() },
  { schema: 'null', values: fc.constant(null) },
  { schema: ['null', 'double'], values: fc.option(fc.double(), { nil: null }) },
  { schema: ['null', 'string'], values: fc.option(fc.string({ maxLength: 8 }), { nil: null }) },
  { schema: ['null', 'long'], values: fc.option(fc.integer(), { nil: null }) },
  { schema: ['null', 'string', 'double'], values: fc.oneof(fc.constant(null), fc.string({ maxLength: 8 }), fc.double({ noNaN: true })) },
  { schema: 'bytes', values: fc.uint8Array({ maxLength: 6 }).map((bytes) => Buffer.from(bytes)) },
  { schema: (field) => ({ type: 'enum', name: `Quality${field}`, symbols: ['p', 'v'] }), values: fc.constantFrom('p', 'v') },
  { schema: (field) => ({ type: 'fixed', name: `Tag${field}`, size: 3 }), values: fc.constant(Buffer.from('abc')) },
];

/** A writer schema of 1-8 fields and records for it; the reader reads a subset, some strings skipped. */
const scenario = fc
  .array(fc.integer({ min: 0, max: FIELD_TYPES.length - 1 }), { minLength: 1, maxLength: 8 })
  .chain((kinds) =>
    fc.record({
      kinds: fc.constant(kinds),
      records: fc.array(fc.tuple(...kinds.map((kind) => FIELD_TYPES[kind].values)), { minLength: 1, maxLength: 5 }),
      readerKeeps: fc.array(fc.boolean(), { minLength: kinds.length, maxLength: kinds.length }),
      skip: fc.array(fc.boolean(), { minLength: kinds.length, maxLength: kinds.length }),
      damage: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 3 }),
      cut: fc.nat(12),
    }),
  );

describe('compileFlatRecordReader', () => {
  it('reads a tide observation exactly as avsc does, and skips fields it is told to', () => {
    const payload = tide.toBuffer(observation);
    const whole = compileFlatRecordReader(tide, tide);
    assert.ok(typeof whole !== 'string', String(whole));
    const row = whole.newRow();
    assert.equal(whole.read(payload, 0, payload.length, row), true);
    assert.deepStrictEqual(row, observation);

    const projected = compileFlatRecordReader(tide, tide, { skipped: new Set(['name', 'f', 'q']) });
    assert.ok(typeof projected !== 'string');
    const narrow = projected.newRow();
    assert.equal(projected.read(payload, 0, payload.length, narrow), true);
    assert.deepStrictEqual(narrow, { station: '8454000', lat: 41.8071, lon: -71.4012, t: observation.t, v: 1.234, s: null });
  });

  it('reads a record in the middle of a larger buffer and refuses truncated and trailing bytes', () => {
    const payload = tide.toBuffer(observation);
    const buffer = Buffer.concat([Buffer.from([9, 9, 9]), payload, Buffer.from([1, 2])]);
    const flat = compileFlatRecordReader(tide, tide);
    assert.ok(typeof flat !== 'string');
    const row = flat.newRow();
    assert.equal(flat.read(buffer, 3, 3 + payload.length, row), true);
    assert.equal(row.station, '8454000');
    assert.equal(flat.read(buffer, 3, 3 + payload.length - 1, row), false, 'truncated');
    assert.equal(flat.read(buffer, 3, 3 + payload.length + 1, row), false, 'trailing byte');
  });

  it('says why when it cannot read a schema pair exactly', () => {
    const nested = avro.Type.forSchema({ type: 'record', name: 'N', fields: [{ name: 'at', type: { type: 'array', items: 'double' } }] });
    assert.match(String(compileFlatRecordReader(nested, nested)), /not a primitive/);
    const promoted = avro.Type.forSchema({ type: 'record', name: 'P', fields: [{ name: 'n', type: 'long' }] });
    const narrower = avro.Type.forSchema({ type: 'record', name: 'P', fields: [{ name: 'n', type: 'int' }] });
    assert.match(String(compileFlatRecordReader(promoted, narrower)), /promotion/);
    const defaulted = avro.Type.forSchema({ type: 'record', name: 'P', fields: [{ name: 'n', type: 'int' }, { name: 'extra', type: 'int', default: 0 }] });
    assert.match(String(compileFlatRecordReader(defaulted, narrower)), /default/);
    const wrapped = avro.Type.forSchema({ type: 'record', name: 'W', fields: [{ name: 'x', type: ['int', 'long'] }] }, { wrapUnions: true });
    assert.match(String(compileFlatRecordReader(wrapped, wrapped)), /not a primitive/);
    assert.match(String(compileFlatRecordReader(tide, tide, { validation: { ...VALIDATION, eventTimeField: 'name' } })), /event time/);
  });

  it('decodes exactly what avsc decodes, for any flat schema, field subset and damage; refuses the rest (property)', () => {
    fc.assert(
      fc.property(scenario, ({ kinds, records, readerKeeps, skip, damage, cut }) => {
        // Named types (enum, fixed) get a name per field: avsc refuses a name defined twice.
        const fields = kinds.map((kind, i) => {
          const schema = FIELD_TYPES[kind].schema;
          return { name: `f${i}`, type: typeof schema === 'function' ? schema(i) : schema };
        });
        const writer = avro.Type.forSchema({ type: 'record', name: 'R', fields });
        const kept = fields.filter((_, i) => readerKeeps[i]);
        const reader = avro.Type.forSchema({ type: 'record', name: 'R', fields: kept.length > 0 ? kept : fields.slice(0, 1) });
        const readerFields = (reader.schema() as { fields: Array<{ name: string; type: avro.Schema }> }).fields;
        const skipped = new Set(readerFields.filter((field, i) => skip[i] && JSON.stringify(field.type).includes('string')).map((field) => field.name));
        const flat = compileFlatRecordReader(reader, writer, { skipped });
        const readable = readerFields.every((field) => skipped.has(field.name) || !/bytes|enum|fixed/.test(JSON.stringify(field.type)));
        assert.equal(typeof flat !== 'string', readable, typeof flat === 'string' ? flat : 'compiled a reader for a field it cannot read');
        if (typeof flat === 'string') return;
        const resolver = reader.createResolver(writer);
        for (const values of records) {
          const record = Object.fromEntries(fields.map((field, i) => [field.name, values[i]]));
          const intact = writer.toBuffer(record);
          // Damage: overwrite bytes, then drop a tail.
          const payload = Buffer.from(intact);
          for (const [at, byte] of damage) if (payload.length > 0) payload[at % payload.length] = byte;
          const bytes = payload.subarray(0, Math.max(0, payload.length - (cut > 8 ? cut - 8 : 0)));
          const row: Row = flat.newRow();
          const ok = flat.read(bytes, 0, bytes.length, row);
          let expected: { value: unknown; offset: number } | null;
          try {
            expected = reader.decode(bytes, 0, resolver);
          } catch {
            expected = null;
          }
          if (damage.length === 0 && cut <= 8) assert.equal(ok, true, 'an intact record must be read');
          if (!ok) continue;
          // Read: avsc must agree on every byte and every value.
          assert.ok(expected !== null && expected.offset === bytes.length, 'flat reader accepted bytes avsc refuses');
          const value = expected.value as Row;
          for (const name of flat.fields) assert.deepStrictEqual(row[name], value[name], `field ${name}`);
          assert.deepStrictEqual(Object.keys(row), flat.fields);
        }
      }),
      { numRuns: 400 },
    );
  });

  it('with validation: accepts a row only when the validator accepts it (property)', () => {
    const validate = createRowValidator(tide, 't', { mayBeAbsent: ['name', 'f', 'q'], now: NOW });
    const flat = compileFlatRecordReader(tide, tide, { skipped: new Set(['name', 'f', 'q']), validation: VALIDATION });
    assert.ok(typeof flat !== 'string');
    const row = flat.newRow();
    const value = fc.oneof(fc.double(), fc.constantFrom(Number.NaN, Infinity, -Infinity, 0.5));
    const time = fc.oneof(fc.integer({ min: -1e15, max: 4e12 }), fc.constant(NOW), fc.constant(NOW + MAX_TIMESTAMP_DISTANCE_MS + 1));
    const station = fc.oneof(fc.string({ maxLength: 10 }), fc.constant('x'.repeat(MAX_STRING_LENGTH + 1)), fc.constant('é'.repeat(MAX_STRING_LENGTH)));
    let accepted = 0;
    fc.assert(
      fc.property(station, value, value, time, fc.option(value, { nil: null }), fc.option(value, { nil: null }), (stationId, lat, lon, t, v, s) => {
        const record = { ...observation, station: stationId, lat, lon, t, v, s };
        const payload = tide.toBuffer(record);
        const ok = flat.read(payload, 0, payload.length, row);
        const reason = validate(tide.fromBuffer(payload) as Row);
        if (ok) accepted++;
        assert.equal(ok, reason === null, `flat reader ${ok ? 'accepted' : 'refused'}; validator: ${reason}`);
      }),
      { numRuns: 2000 },
    );
    assert.ok(accepted > 50, `only ${accepted} valid rows were generated`);
  });
});

describe('StringInterner', () => {
  it('returns the decoded text, the same string for the same bytes, and survives slot collisions', () => {
    const interner = new StringInterner();
    const texts = Array.from({ length: 20_000 }, (_, i) => `station-${i % 5000}-é`);
    for (const text of texts) {
      const bytes = Buffer.from(`..${text}`);
      assert.equal(interner.get(bytes, 2, bytes.length - 2), text);
    }
    const long = Buffer.from('y'.repeat(100));
    assert.equal(interner.get(long, 0, 100), 'y'.repeat(100));
    assert.equal(interner.get(Buffer.alloc(0), 0, 0), '');
  });
});
