import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import * as avro from 'avsc';
import fc from 'fast-check';
import { ExternalError } from '../core/errors';
import { loadAvroType, tideObservationSchemaPath } from './avro-schema';
import { ConfluentAvroDecoder, encodeConfluent } from './confluent-avro';

const reader = loadAvroType(tideObservationSchemaPath());
const row = { station: '8454000', name: 'Providence, State Pier no.1', lat: 41.8072, lon: -71.4007, t: 1600921080000, v: 1.2, s: null, f: '0,0,0,0', q: 'p' };

// v1: an older writer without `q` (the reader fills in its default null).
const v1 = avro.Type.forSchema({
  type: 'record', name: 'TideObservation', namespace: 'noaa.coops',
  fields: [
    { name: 'station', type: 'string' }, { name: 'name', type: 'string' }, { name: 'lat', type: 'double' }, { name: 'lon', type: 'double' },
    { name: 't', type: 'long' }, { name: 'v', type: ['null', 'double'], default: null }, { name: 's', type: ['null', 'double'], default: null },
    { name: 'f', type: ['null', 'string'], default: null },
  ],
});
// v2: a newer writer with an extra field the reader does not know (skipped).
const v2 = avro.Type.forSchema({
  type: 'record', name: 'TideObservation', namespace: 'noaa.coops',
  fields: [...(reader.schema() as { fields: object[] }).fields, { name: 'datum', type: 'string', default: 'MLLW' }],
} as avro.Schema);
// Incompatible: station is an int.
const broken = avro.Type.forSchema({ type: 'record', name: 'TideObservation', namespace: 'noaa.coops', fields: [{ name: 'station', type: 'int' }] });

function fakeRegistry(schemas: Record<number, avro.Type>, calls: number[] = []) {
  return async (id: number) => {
    calls.push(id);
    if (id === 404) throw Object.assign(new Error('Schema 404 not found'), { status: 404, errorCode: 40403 });
    return schemas[id];
  };
}

describe('Confluent wire format', () => {
  it('frames with magic byte 0 and a big-endian schema id, and decodes back to a plain row', async () => {
    const payload = encodeConfluent(258, reader, row);
    assert.deepEqual([...payload.subarray(0, 5)], [0, 0, 0, 1, 2]);
    const decoder = new ConfluentAvroDecoder(reader, fakeRegistry({ 258: reader }));
    const out = await decoder.decodeRows([payload], [42], 'tides/0');
    assert.deepEqual(out, { rows: [row], offsets: [42], deadLetters: [] });
    assert.equal(Object.getPrototypeOf(out.rows[0]), Object.prototype);
  });

  it('resolves older and newer writer schemas to the reader schema', async () => {
    const { q: _q, ...withoutQ } = row;
    const decoder = new ConfluentAvroDecoder(reader, fakeRegistry({ 1: v1, 2: v2 }));
    const out = await decoder.decodeRows([encodeConfluent(1, v1, withoutQ), encodeConfluent(2, v2, { ...row, datum: 'STND' })], [0, 1], 'p');
    assert.deepEqual(out.deadLetters, []);
    assert.deepEqual(out.rows, [{ ...row, q: null }, row]);
  });

  it('fetches each writer schema once and caches the resolver', async () => {
    const calls: number[] = [];
    const decoder = new ConfluentAvroDecoder(reader, fakeRegistry({ 1: v1, 3: reader }, calls));
    const payloads = [encodeConfluent(1, v1, row), encodeConfluent(3, reader, row), encodeConfluent(1, v1, row)];
    await decoder.decodeRows(payloads, [0, 1, 2], 'p');
    await decoder.decodeRows(payloads, [3, 4, 5], 'p');
    assert.deepEqual(calls.sort(), [1, 3]);
  });

  it('turns every kind of bad payload into a dead letter with a precise reason', async () => {
    const good = encodeConfluent(3, reader, row);
    const payloads = [
      null,
      Buffer.alloc(0),
      Buffer.from('{"t":1}'),
      Buffer.from([0, 0, 0]),
      encodeConfluent(99, reader, row),
      encodeConfluent(404, reader, row),
      encodeConfluent(5, broken, { station: 1 }),
      good.subarray(0, good.length - 3),
      Buffer.concat([good, Buffer.from([1, 2])]),
      'text',
    ];
    const decoder = new ConfluentAvroDecoder(reader, fakeRegistry({ 3: reader, 5: broken }));
    const out = await decoder.decodeRows(payloads, payloads.map((_, i) => 100 + i), 'tides/3');
    assert.equal(out.rows.length, 0);
    assert.deepEqual(out.deadLetters.map((d) => [d.offset, d.reason]), [
      [100, 'empty payload: the record has no value (a tombstone?)'],
      [101, 'empty payload: 0 bytes'],
      [102, 'bad magic byte 0x7b: expected 0x00 (not Confluent-framed Avro)'],
      [103, 'truncated payload: 3 bytes, shorter than the 5-byte Confluent header'],
      [104, 'unknown schema id 99: the schema registry has no such schema'],
      [105, 'unknown schema id 404: the schema registry has no such schema'],
      [106, out.deadLetters[6].reason],
      [107, `truncated payload: the Avro record (writer schema 3) ends early; the payload has ${good.length - 3} bytes`],
      [108, 'trailing bytes: 2 bytes after the Avro record (writer schema 3)'],
      [109, 'payload is text, expected Confluent-framed Avro bytes'],
    ]);
    assert.match(out.deadLetters[6].reason, /^writer schema 5 is incompatible with the reader schema: /);
    assert.ok(out.deadLetters.every((d) => d.stage === 'decode' && d.partition === 'tides/3'));
    assert.equal(out.deadLetters[4].payload, payloads[4]);
  });

  it('throws a retriable ExternalError when the registry cannot be reached, and retries next time', async () => {
    let down = true;
    const decoder = new ConfluentAvroDecoder(reader, async () => {
      if (down) throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:8081'), { code: 'ECONNREFUSED' });
      return reader;
    });
    const payloads = [encodeConfluent(3, reader, row)];
    await assert.rejects(decoder.decodeRows(payloads, [0], 'p'), (e: unknown) =>
      e instanceof ExternalError && e.retriable && e.message === 'schema registry: cannot fetch writer schema 3: connect ECONNREFUSED 127.0.0.1:8081');
    down = false;
    assert.deepEqual((await decoder.decodeRows(payloads, [0], 'p')).rows, [row]);
  });

  it('rows read by the compiled flat reader are the rows avsc decodes, for any record, writer, damage and projection (property)', async () => {
    // Without the strings a window job never reads, as engine/runtime/projection.ts narrows the tide schema.
    const projected = avro.Type.forSchema({
      ...(reader.schema() as object),
      fields: (reader.schema() as { fields: Array<{ name: string }> }).fields.filter((field) => !['name', 'f', 'q'].includes(field.name)),
    } as avro.Schema);
    const writers: Record<number, avro.Type> = { 1: reader, 2: v2, 3: v1 };
    const text = fc.string({ unit: 'binary', maxLength: 12 });
    const number = fc.oneof(fc.double(), fc.constantFrom(-0, 0.1, 1e300));
    const record = fc.record({
      station: text, name: text, lat: number, lon: number, t: fc.integer({ min: -1e15, max: 1e15 }),
      v: fc.option(number, { nil: null }), s: fc.option(number, { nil: null }), f: fc.option(text, { nil: null }), q: fc.option(text, { nil: null }), datum: text,
    });
    const payload = fc.record({ id: fc.constantFrom(1, 2, 3), value: record, damage: fc.array(fc.tuple(fc.nat(), fc.nat({ max: 255 })), { maxLength: 2 }), cut: fc.nat({ max: 12 }) });
    await fc.assert(
      fc.asyncProperty(fc.array(payload, { minLength: 1, maxLength: 20 }), fc.boolean(), fc.nat({ max: 120 }), async (items, project, wholeAbove) => {
        const payloads = items.map(({ id, value, damage, cut }) => {
          const bytes = Buffer.from(encodeConfluent(id, writers[id], value));
          // Damage after the header only: framing has its own test above.
          for (const [at, byte] of damage) bytes[5 + (at % (bytes.length - 5))] = byte;
          return bytes.subarray(0, Math.max(5, bytes.length - (cut > 6 ? cut - 6 : 0)));
        });
        const projection = project ? { type: projected, wholeAboveBytes: wholeAbove } : null;
        const decoder = new ConfluentAvroDecoder(reader, fakeRegistry(writers), projection);
        const out = await decoder.decodeRows(payloads, payloads.map((_, i) => i), 'p');
        // The reference: avsc alone, read whole or projected by the same length rule.
        const expected: Array<Record<string, unknown>> = [];
        const dead: number[] = [];
        payloads.forEach((bytes, i) => {
          const type = projection !== null && bytes.length <= projection.wholeAboveBytes ? projected : reader;
          let decoded: { value: unknown; offset: number } | null = null;
          try {
            decoded = type.decode(bytes, 5, type.createResolver(writers[items[i].id]));
          } catch {
            decoded = null;
          }
          if (decoded !== null && decoded.offset === bytes.length) expected.push({ ...(decoded.value as object) });
          else if (type === projected) {
            // A projected read that fails is read whole (its reason worded as without projection).
            try {
              decoded = reader.decode(bytes, 5, reader.createResolver(writers[items[i].id]));
            } catch {
              decoded = null;
            }
            if (decoded !== null && decoded.offset === bytes.length) expected.push({ ...(decoded.value as object) });
            else dead.push(i);
          } else dead.push(i);
        });
        assert.deepStrictEqual(out.rows, expected);
        assert.deepEqual(out.rows.map(Object.keys), expected.map(Object.keys));
        assert.deepEqual(out.deadLetters.map((letter) => letter.offset), dead);
      }),
      { numRuns: 300 },
    );
  });
});
