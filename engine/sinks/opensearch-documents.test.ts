import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { bulkActionLine, describeItemError, documentId, documentSource, readBulkItems, valueAt } from './opensearch-documents';

const NO_TIMESTAMPS = new Set<string>();

test('documentId: the key and the window, timestamps as ISO-8601 UTC', () => {
  const row = { station: '8454000', window_start: new Date(Date.UTC(2019, 0, 1)), mean: 1.5 };
  assert.equal(documentId(row, ['station', 'window_start'], NO_TIMESTAMPS), '8454000|2019-01-01T00:00:00.000Z');
  // An epoch-ms number in a timestamp field names the same document as the Date.
  assert.equal(documentId({ station: '8454000', window_start: Date.UTC(2019, 0, 1) }, ['station', 'window_start'], new Set(['window_start'])), '8454000|2019-01-01T00:00:00.000Z');
  assert.equal(documentId({ station: 'a', t: 1700000000000 }, ['station', 't'], NO_TIMESTAMPS), 'a|1700000000000');
});

test('documentId: separators inside values are escaped and absent values marked, so no two keys share an id', () => {
  assert.equal(documentId({ a: 'x|y', b: 'z' }, ['a', 'b'], NO_TIMESTAMPS), 'x%7Cy|z');
  assert.equal(documentId({ a: 'x', b: 'y|z' }, ['a', 'b'], NO_TIMESTAMPS), 'x|y%7Cz');
  assert.equal(documentId({ a: '%00' }, ['a'], NO_TIMESTAMPS), '%2500');
  assert.equal(documentId({ a: null }, ['a'], NO_TIMESTAMPS), '%00');
  assert.equal(documentId({}, ['a'], NO_TIMESTAMPS), '%00');
});

test('documentId: distinct keys give distinct ids, equal keys equal ids (property)', () => {
  const value = fc.oneof(fc.string(), fc.constant('|'), fc.constant('%'), fc.constant(null), fc.integer(), fc.double({ noNaN: true }));
  fc.assert(
    fc.property(fc.tuple(value, value), fc.tuple(value, value), (left, right) => {
      const id = (values: unknown[]) => documentId({ a: values[0], b: values[1] }, ['a', 'b'], NO_TIMESTAMPS);
      // Values name the same document when their texts are equal: 0 and -0, or 5 and '5' (a key field holds one type).
      const sameText = left.every((item, i) => (item === null) === (right[i] === null) && String(item) === String(right[i]));
      if (sameText) assert.equal(id(left), id(right));
      else assert.notEqual(id(left), id(right));
    }),
    { numRuns: 2000 },
  );
});

test('documentId: ids over 512 bytes become a digest of the same text', () => {
  const long = 'ä'.repeat(300);
  const id = documentId({ a: long }, ['a'], NO_TIMESTAMPS);
  assert.match(id, /^sha256:[0-9a-f]{64}$/);
  assert.equal(documentId({ a: long }, ['a'], NO_TIMESTAMPS), id);
  assert.notEqual(documentId({ a: `${long}b` }, ['a'], NO_TIMESTAMPS), id);
});

test('documentId: a dotted field reaches into an object unless the row has that very field', () => {
  const late = { operator: 'lunar-day', record: { station: 's1', t: 60_000 } };
  assert.equal(documentId(late, ['operator', 'record.station', 'record.t'], new Set(['record.t'])), 'lunar-day|s1|1970-01-01T00:01:00.000Z');
  assert.equal(valueAt({ 'a.b': 1, a: { b: 2 } }, 'a.b'), 1);
  assert.equal(valueAt({ a: null }, 'a.b'), undefined);
});

test('documentSource: timestamps as ISO strings, non-finite numbers as null, the geo point added when both coordinates are numbers', () => {
  const geo = { field: 'location', lat: 'lat', lon: 'lon' };
  const row = { station: 's', window_start: new Date(0), high_time: new Date(60_000), t: 120_000, mean: Number.NaN, lat: 41.5, lon: -71.25, count: 3 };
  assert.deepEqual(JSON.parse(documentSource(row, new Set(['t']), geo)), {
    station: 's',
    window_start: '1970-01-01T00:00:00.000Z',
    high_time: '1970-01-01T00:01:00.000Z',
    t: '1970-01-01T00:02:00.000Z',
    mean: null,
    lat: 41.5,
    lon: -71.25,
    count: 3,
    location: { lat: 41.5, lon: -71.25 },
  });
  assert.deepEqual(JSON.parse(documentSource({ lat: null, lon: 1 }, NO_TIMESTAMPS, geo)), { lat: null, lon: 1 });
  assert.deepEqual(JSON.parse(documentSource({ lat: 1, lon: 2 }, NO_TIMESTAMPS, null)), { lat: 1, lon: 2 });
});

test('documentSource: nested fields are not taken for timestamps; Buffers as base64', () => {
  const row = { t: 0, record: { t: 5 }, payload: Buffer.from('hi') };
  assert.deepEqual(JSON.parse(documentSource(row, new Set(['t']), null)), { t: '1970-01-01T00:00:00.000Z', record: { t: 5 }, payload: 'aGk=' });
});

test('documentSource: the same document JSON.stringify makes with the rules applied by a replacer (property)', () => {
  const timestampFields = new Set(['t', 'window_start']);
  const geo = { field: 'location', lat: 'lat', lon: 'lon' };
  /** The rules the hand-written serialiser follows, written the slow and obvious way. */
  const reference = (row: Record<string, unknown>): unknown => {
    const copy: Record<string, unknown> = {};
    for (const [field, value] of Object.entries(row)) {
      if (value === undefined || field === 'location') continue;
      let converted: unknown = value instanceof Date ? value.toISOString() : value;
      if (typeof value === 'number') converted = !Number.isFinite(value) ? null : timestampFields.has(field) && Math.abs(value) <= 8.64e15 ? new Date(value).toISOString() : value;
      // A field named __proto__ is a field here, as in the row.
      Object.defineProperty(copy, field, { value: converted, enumerable: true, writable: true, configurable: true });
    }
    if (typeof row.lat === 'number' && typeof row.lon === 'number' && Number.isFinite(row.lat) && Number.isFinite(row.lon)) copy.location = { lat: row.lat, lon: row.lon };
    return JSON.parse(JSON.stringify(copy));
  };
  const value = fc.oneof(
    fc.double(),
    fc.integer({ min: -8.64e15, max: 8.64e15 }),
    fc.string(),
    fc.boolean(),
    fc.constant(null),
    fc.constant(undefined),
    fc.date({ noInvalidDate: true }),
    fc.dictionary(fc.string(), fc.oneof(fc.string(), fc.integer())),
  );
  const name = fc.oneof(fc.constantFrom('t', 'window_start', 'lat', 'lon', 'station', 'a"b', 'ü'), fc.string());
  fc.assert(
    fc.property(fc.dictionary(name, value), (row) => {
      assert.deepEqual(JSON.parse(documentSource(row, timestampFields, geo)), reference(row));
    }),
    { numRuns: 2000 },
  );
});

test('bulkActionLine: an index action with the id and an external version, valid JSON whatever the id holds', () => {
  const line = bulkActionLine('tides', 'a"b\\c|d', 1_700_000_000_000_123);
  assert.deepEqual(JSON.parse(line), { index: { _index: 'tides', _id: 'a"b\\c|d', version: 1_700_000_000_000_123, version_type: 'external' } });
  assert.ok(!line.includes('\n'));
});

test('readBulkItems: each item by its status: stored, refused for now (429/503), refused for good (400-class), 409 on a newer version is stored', () => {
  const body = {
    errors: true,
    items: [
      { index: { _id: 'a', status: 201, result: 'created' } },
      { index: { _id: 'b', status: 200, result: 'updated' } },
      {
        index: {
          _id: 'c',
          status: 400,
          error: {
            type: 'mapper_parsing_exception',
            reason: "failed to parse field [high] of type [double] in document with id 'c'",
            caused_by: { type: 'number_format_exception', reason: 'For input string: "oops"' },
          },
        },
      },
      { index: { _id: 'd', status: 429, error: { type: 'es_rejected_execution_exception', reason: 'rejected execution (queue capacity 200)' } } },
      { index: { _id: 'e', status: 503, error: { type: 'unavailable_shards_exception', reason: 'primary shard is not active' } } },
      { index: { _id: 'f', status: 409, error: { type: 'version_conflict_engine_exception', reason: 'current version [9] is higher or equal' } } },
      { index: { _id: 'g', status: 409, error: { type: 'other_conflict', reason: 'x' } } },
      { index: { _id: 'h', status: 500, error: 'plain text error' } },
    ],
  };
  assert.deepEqual(readBulkItems(body, 8), [
    { kind: 'indexed' },
    { kind: 'indexed' },
    {
      kind: 'rejected',
      status: 400,
      reason: `400 mapper_parsing_exception: failed to parse field [high] of type [double] in document with id 'c' (caused by number_format_exception: For input string: "oops")`,
    },
    { kind: 'retry', status: 429, reason: '429 es_rejected_execution_exception: rejected execution (queue capacity 200)' },
    { kind: 'retry', status: 503, reason: '503 unavailable_shards_exception: primary shard is not active' },
    { kind: 'indexed' },
    { kind: 'rejected', status: 409, reason: '409 other_conflict: x' },
    { kind: 'rejected', status: 500, reason: '500 plain text error' },
  ]);
});

test('readBulkItems: a response whose items do not line up with the request is refused', () => {
  assert.throws(() => readBulkItems({ items: [{ index: { status: 201 } }] }, 2), /1 items for 2 documents/);
  assert.throws(() => readBulkItems({ error: 'x' }, 1), /no items for 1 documents/);
});

test('describeItemError: without a reason, the status alone', () => {
  assert.equal(describeItemError(400, undefined), '400 (no reason given)');
  assert.equal(describeItemError(400, {}), '400 error:');
});
