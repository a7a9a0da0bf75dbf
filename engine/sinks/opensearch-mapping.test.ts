import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import * as avro from 'avsc';
import fc from 'fast-check';
import {
  applyFieldTypes,
  DEFAULT_GEO_POINT,
  epochMsOf,
  indexMapping,
  inferSearchFields,
  INDEX_NAME_PATTERN,
  mappingConflicts,
  missingFields,
  parseIndexName,
  resolveGeoPoint,
  searchFieldsOfRecord,
  type SearchField,
} from './opensearch-mapping';

/** The lunar-day job's output, as the runtime describes it (plus the station's position). */
const LUNAR_DAY_FIELDS: SearchField[] = [
  { name: 'station', type: 'keyword' },
  { name: 'window_start', type: 'timestamp' },
  { name: 'window_end', type: 'timestamp' },
  { name: 'high', type: 'double' },
  { name: 'high_time', type: 'timestamp' },
  { name: 'low', type: 'double' },
  { name: 'low_time', type: 'timestamp' },
  { name: 'range', type: 'double' },
  { name: 'mean', type: 'double' },
  { name: 'count', type: 'long' },
  { name: 'lat', type: 'double' },
  { name: 'lon', type: 'double' },
];

test('indexMapping: timestamps as date, numbers as double/long, strings as keyword, lat/lon as a geo_point; dynamic false', () => {
  assert.deepEqual(indexMapping(LUNAR_DAY_FIELDS, resolveGeoPoint(LUNAR_DAY_FIELDS, undefined)), {
    dynamic: 'false',
    properties: {
      station: { type: 'keyword' },
      window_start: { type: 'date' },
      window_end: { type: 'date' },
      high: { type: 'double' },
      high_time: { type: 'date' },
      low: { type: 'double' },
      low_time: { type: 'date' },
      range: { type: 'double' },
      mean: { type: 'double' },
      count: { type: 'long' },
      lat: { type: 'double' },
      lon: { type: 'double' },
      location: { type: 'geo_point' },
    },
  });
});

test('indexMapping: text where asked (with a keyword sub-field for aggregations), objects kept but not indexed', () => {
  const fields = applyFieldTypes([{ name: 'name', type: 'keyword' }, { name: 'record', type: 'object' }], { name: 'text', flags: 'keyword' });
  assert.deepEqual(fields, [
    { name: 'name', type: 'text' },
    { name: 'record', type: 'object' },
    { name: 'flags', type: 'keyword' },
  ]);
  assert.deepEqual(indexMapping(fields, null).properties, {
    name: { type: 'text', fields: { keyword: { type: 'keyword', ignore_above: 256 } } },
    record: { type: 'object', enabled: false },
    flags: { type: 'keyword' },
  });
});

test('resolveGeoPoint: the default needs numeric lat and lon; a configured one always applies; false means none', () => {
  assert.deepEqual(resolveGeoPoint(LUNAR_DAY_FIELDS, undefined), DEFAULT_GEO_POINT);
  assert.equal(resolveGeoPoint([{ name: 'lat', type: 'double' }], undefined), null);
  assert.equal(resolveGeoPoint([{ name: 'lat', type: 'keyword' }, { name: 'lon', type: 'double' }], undefined), null);
  assert.equal(resolveGeoPoint(LUNAR_DAY_FIELDS, false), null);
  const custom = { field: 'position', lat: 'latitude', lon: 'longitude' };
  assert.deepEqual(resolveGeoPoint([], custom), custom);
  assert.deepEqual(indexMapping([], custom).properties, { position: { type: 'geo_point' } });
});

test('mappingConflicts: a field typed differently is named with both types; absent fields are missing, not conflicts', () => {
  const wanted = indexMapping(LUNAR_DAY_FIELDS, DEFAULT_GEO_POINT).properties;
  const existing = {
    station: { type: 'text', fields: { keyword: { type: 'keyword' } } },
    window_start: { type: 'date', format: 'epoch_millis' },
    high: { type: 'double' },
    location: { properties: { lat: { type: 'float' }, lon: { type: 'float' } } },
    extra: { type: 'keyword' },
  };
  assert.deepEqual(mappingConflicts(existing, wanted), [
    { field: 'station', existing: 'text', wanted: 'keyword' },
    { field: 'location', existing: 'object', wanted: 'geo_point' },
  ]);
  assert.deepEqual(Object.keys(missingFields(existing, wanted)), ['window_end', 'high_time', 'low', 'low_time', 'range', 'mean', 'count', 'lat', 'lon']);
  assert.deepEqual(mappingConflicts(wanted, wanted), []);
});

test('searchFieldsOfRecord: the tide observation schema, the event time a timestamp, nullable fields by their type', () => {
  const schemaPath = join(__dirname, '..', '..', '..', 'schemas', 'tide_observation.avsc');
  const type = avro.Type.forSchema(JSON.parse(readFileSync(schemaPath, 'utf8')));
  assert.deepEqual(searchFieldsOfRecord(type, 't'), [
    { name: 'station', type: 'keyword' },
    { name: 'name', type: 'keyword' },
    { name: 'lat', type: 'double' },
    { name: 'lon', type: 'double' },
    { name: 't', type: 'timestamp' },
    { name: 'v', type: 'double' },
    { name: 's', type: 'double' },
    { name: 'f', type: 'keyword' },
    { name: 'q', type: 'keyword' },
  ]);
});

test('searchFieldsOfRecord: ints and longs are long, enums keywords, unions of two types and nested records objects', () => {
  const type = avro.Type.forSchema({
    type: 'record',
    name: 'R',
    fields: [
      { name: 'n', type: 'int' },
      { name: 'c', type: ['null', 'long'] },
      { name: 'ok', type: 'boolean' },
      { name: 'e', type: { type: 'enum', name: 'E', symbols: ['A'] } },
      { name: 'either', type: ['null', 'string', 'double'] },
      { name: 'inner', type: { type: 'record', name: 'I', fields: [{ name: 'x', type: 'int' }] } },
      { name: 'f', type: 'float' },
    ],
  });
  assert.deepEqual(searchFieldsOfRecord(type, 'absent'), [
    { name: 'n', type: 'long' },
    { name: 'c', type: 'long' },
    { name: 'ok', type: 'boolean' },
    { name: 'e', type: 'keyword' },
    { name: 'either', type: 'object' },
    { name: 'inner', type: 'object' },
    { name: 'f', type: 'double' },
  ]);
});

test('inferSearchFields: Dates and timestamp fields as timestamps, the first non-null value decides, all-null fields left out', () => {
  const rows = [
    { reason: 'late', window_start: new Date(0), t: null, v: null, record: { a: 1 }, flag: true },
    { reason: 'late', window_start: new Date(1), t: 5, v: 1.5, record: null, flag: false },
  ];
  assert.deepEqual(inferSearchFields(rows, new Set(['t'])), [
    { name: 'reason', type: 'keyword' },
    { name: 'window_start', type: 'timestamp' },
    { name: 'record', type: 'object' },
    { name: 'flag', type: 'boolean' },
    { name: 't', type: 'timestamp' },
    { name: 'v', type: 'double' },
  ]);
  assert.deepEqual(inferSearchFields([{ only: null }], new Set()), []);
});

test('parseIndexName: a fixed name is itself for every row', () => {
  const name = parseIndexName('tides-lunar-day');
  assert.equal(name.field, null);
  assert.equal(name.pattern, 'tides-lunar-day');
  assert.equal(name.indexOf({}), 'tides-lunar-day');
});

test('parseIndexName: a name templated on a timestamp field, in UTC, from Dates, epoch ms or ISO strings', () => {
  const name = parseIndexName('tides-{window_start:yyyy.MM}');
  assert.equal(name.field, 'window_start');
  assert.equal(name.pattern, 'tides-*');
  assert.equal(name.indexOf({ window_start: new Date('2019-01-31T23:59:59.999Z') }), 'tides-2019.01');
  assert.equal(name.indexOf({ window_start: Date.parse('2019-02-01T00:00:00Z') }), 'tides-2019.02');
  assert.equal(name.indexOf({ window_start: '2019-12-31T23:00:00-02:00' }), 'tides-2020.01');
  assert.equal(name.indexOf({ window_start: null }), null);
  assert.equal(name.indexOf({}), null);
  assert.equal(name.indexOf({ window_start: 'soon' }), null);
  assert.equal(name.indexOf({ window_start: Number.NaN }), null);
  const hourly = parseIndexName('obs-{t:yyyy-MM-dd_HH}-raw');
  assert.equal(hourly.pattern, 'obs-*-raw');
  assert.equal(hourly.indexOf({ t: Date.parse('2024-03-09T07:30:00Z') }), 'obs-2024-03-09_07-raw');
  assert.throws(() => parseIndexName('a-{t:yyyy}-{u:MM}'), /more than one field \(t, u\)/);
});

test('parseIndexName: every produced index matches its pattern and sorts in time order (property)', () => {
  const name = parseIndexName('tides-{window_start:yyyy.MM.dd}');
  const pattern = new RegExp(`^${name.pattern.replace(/[.]/g, '\\.').replace(/\*/g, '.*')}$`);
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 4_102_444_800_000 }), fc.integer({ min: 0, max: 4_102_444_800_000 }), (a, b) => {
      const first = name.indexOf({ window_start: Math.min(a, b) })!;
      const second = name.indexOf({ window_start: Math.max(a, b) })!;
      assert.match(first, pattern);
      assert.equal(first, `tides-${new Date(Math.min(a, b)).toISOString().slice(0, 10).replace(/-/g, '.')}`);
      assert.ok(first <= second);
    }),
  );
});

test('INDEX_NAME_PATTERN: lowercase names and one-field placeholders pass; what OpenSearch refuses does not', () => {
  const pattern = new RegExp(INDEX_NAME_PATTERN, 'u');
  for (const ok of ['tides', 'tides-lunar-day', 'tides_2', 'tides-{window_start:yyyy.MM}', 'a.{t:yyyy-MM-dd_HH}']) assert.ok(pattern.test(ok), ok);
  for (const bad of ['Tides', '-tides', '_tides', 'tid es', 'tides*', 'tides-{window_start}', 'tides-{t:yyyy/MM}', 'a,b', 'tides-{t:YYYY}', '']) {
    assert.ok(!pattern.test(bad), bad);
  }
});

test('epochMsOf: Dates, numbers and ISO strings; nothing else, nothing out of the Date range', () => {
  assert.equal(epochMsOf(new Date(5)), 5);
  assert.equal(epochMsOf(5), 5);
  assert.equal(epochMsOf('1970-01-01T00:00:00.005Z'), 5);
  assert.equal(epochMsOf(true), null);
  assert.equal(epochMsOf(Number.POSITIVE_INFINITY), null);
  assert.equal(epochMsOf(9e15), null);
});
