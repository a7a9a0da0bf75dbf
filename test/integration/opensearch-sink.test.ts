// The OpenSearch sink against the real server (bash scripts/cluster/up.sh opensearch).
//
//   set -a; . .cluster/env; set +a; node --test dist/test/integration/opensearch-sink.test.js
//
// Every index is a scratch index of this run, deleted afterwards; the shared
// server is never stopped (the outage goes through a TCP proxy of the test's own).
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Row } from '../../engine/core/batch';
import { IndexMappingConflictError, OpenSearchSink, type OpenSearchSinkOptions, type OpenSearchSinkSpec } from '../../engine/sinks/opensearch-sink';
import { TcpProxy } from '../faults/support-servers';
import {
  allDocuments,
  expectedDocument,
  LUNAR_DAY_SEARCH_FIELDS,
  lunarDayRows,
  opensearch,
  opensearchUrl,
  requireOpenSearch,
  scratchIndices,
} from '../support/opensearch';

const scratch = scratchIndices();

function spec(index: string, overrides: Partial<OpenSearchSinkSpec> = {}): OpenSearchSinkSpec {
  return {
    nodes: [opensearchUrl()],
    index,
    fieldTypes: {},
    createIndex: true,
    replicas: 0,
    bulkDocuments: 500,
    bulkBytes: 1024 * 1024,
    concurrency: 2,
    requestTimeoutMs: 10_000,
    ...overrides,
  };
}

/** A sink that logs into the test's diagnostics and is closed when the test ends, passed or not. */
function openSink(t: TestContext, sinkSpec: OpenSearchSinkSpec, overrides: Partial<OpenSearchSinkOptions> = {}, lines: string[] = []): OpenSearchSink {
  const sink = new OpenSearchSink(sinkSpec, 'main', {
    timestampFields: new Set(),
    fields: LUNAR_DAY_SEARCH_FIELDS,
    idFields: ['station', 'window_start'],
    retry: { initialDelayMs: 100, maxDelayMs: 1000 },
    log: (line) => {
      lines.push(line);
      t.diagnostic(line);
    },
    ...overrides,
  });
  t.after(() => sink.close().catch(() => {}));
  return sink;
}

function idOf(row: Row): string {
  return `${row.station as string}|${(row.window_start as Date).toISOString()}`;
}

/** Every document equals its row, and there is no other document. */
function assertDocumentsEqual(documents: Map<string, Row>, rows: readonly Row[]): void {
  assert.equal(documents.size, rows.length, 'document count');
  for (const row of rows) assert.deepEqual(documents.get(idOf(row)), expectedDocument(row), idOf(row));
}

test('lunar-day results: every document equals the plain computation, the mapping is typed as derived, geo queries find the stations', async (t) => {
  if (!(await requireOpenSearch(t))) return;
  const index = scratch.index('lunar-day');
  const rows = await lunarDayRows();
  const sink = openSink(t, spec(index));
  await sink.open();
  for (let start = 0; start < rows.length; start += 100) await sink.write(rows.slice(start, start + 100));
  await sink.flush();
  assert.equal(sink.documentsIndexed, rows.length);

  assertDocumentsEqual(await allDocuments(index), rows);

  const mapping = await opensearch('GET', `/${index}/_mapping`);
  const types = Object.fromEntries(Object.entries(mapping.body[index].mappings.properties as Record<string, { type: string }>).map(([field, definition]) => [field, definition.type]));
  assert.deepEqual(types, {
    station: 'keyword',
    window_start: 'date',
    window_end: 'date',
    high: 'double',
    high_time: 'date',
    low: 'double',
    low_time: 'date',
    range: 'double',
    mean: 'double',
    count: 'long',
    lat: 'double',
    lon: 'double',
    location: 'geo_point',
  });
  assert.equal(mapping.body[index].mappings.dynamic, 'false');

  // Within 500 km of Boston: Boston and Eastport (about 430 km away), none of the others.
  const nearBoston = await opensearch('POST', `/${index}/_search`, {
    size: 0,
    query: { geo_distance: { distance: '500km', location: { lat: 42.3539, lon: -71.0503 } } },
    aggs: { stations: { terms: { field: 'station', size: 20 } } },
  });
  const stationsOf = (body: any) => (body.aggregations.stations.buckets as Array<{ key: string }>).map((bucket) => bucket.key).sort();
  assert.deepEqual(stationsOf(nearBoston.body), ['8410140', '8443970']);
  const expectedNearBoston = rows.filter((row) => row.station === '8410140' || row.station === '8443970').length;
  assert.equal(nearBoston.body.hits.total.value, expectedNearBoston);
  // The Gulf of Mexico as a bounding box: Panama City and Grand Isle.
  const gulf = await opensearch('POST', `/${index}/_search`, {
    size: 0,
    query: { geo_bounding_box: { location: { top_left: { lat: 31, lon: -91 }, bottom_right: { lat: 28, lon: -84 } } } },
    aggs: { stations: { terms: { field: 'station', size: 20 } } },
  });
  assert.deepEqual(stationsOf(gulf.body), ['8729108', '8761724']);

  // Dates are dates: a range query on window_start counts exactly the windows that start in it.
  const from = Date.UTC(2020, 0, 1);
  const to = Date.UTC(2020, 1, 1);
  const inJanuary = await opensearch('POST', `/${index}/_count`, { query: { range: { window_start: { gte: '2020-01-01T00:00:00Z', lt: '2020-02-01T00:00:00Z' } } } });
  assert.equal(inJanuary.body.count, rows.filter((row) => (row.window_start as Date).getTime() >= from && (row.window_start as Date).getTime() < to).length);
});

test('a replay after a crash overwrites: same ids, the count exact, contents equal', async (t) => {
  if (!(await requireOpenSearch(t))) return;
  const index = scratch.index('replay');
  const rows = (await lunarDayRows()).slice(0, 600);
  // Run 1: a checkpoint after 400 rows, then 150 more written, then a crash (no flush, no close).
  const first = openSink(t, spec(index, { bulkDocuments: 50 }));
  await first.open();
  await first.write(rows.slice(0, 400));
  await first.flush();
  await first.write(rows.slice(400, 550));
  // Let part of what followed the checkpoint land, as it would before a crash.
  await sleep(50);
  // Run 2 replays from the checkpoint (row 400) and goes on to the end.
  const second = openSink(t, spec(index, { bulkDocuments: 50 }));
  await second.open();
  await second.write(rows.slice(400));
  await second.flush();
  await first.flush().catch(() => {});
  assertDocumentsEqual(await allDocuments(index), rows);
});

test('emit mode update: a later version of a result replaces the earlier one, whatever order the requests finish in', async (t) => {
  if (!(await requireOpenSearch(t))) return;
  const index = scratch.index('updates');
  const [row] = await lunarDayRows();
  const sink = openSink(t, spec(index, { bulkDocuments: 1, concurrency: 4 }));
  await sink.open();
  // Four versions of one window's row, each in a request of its own, up to four in flight.
  const versions = [1, 2, 3, 4].map((count) => ({ ...row, count }));
  await sink.write(versions);
  await sink.flush();
  const documents = await allDocuments(index);
  assert.equal(documents.size, 1);
  assert.equal(documents.get(idOf(row))!.count, 4);
  // An older write arriving late (a retried item of an earlier version) loses.
  const stale = new OpenSearchSink(spec(index), 'stale', {
    timestampFields: new Set(),
    fields: LUNAR_DAY_SEARCH_FIELDS,
    idFields: ['station', 'window_start'],
    now: () => Date.now() - 60_000,
  });
  await stale.open();
  await stale.write([{ ...row, count: 0 }]);
  await stale.flush();
  await stale.close();
  assert.equal((await allDocuments(index)).get(idOf(row))!.count, 4);
});

test('poison documents: dead letters with the server reason, every other document indexed once', async (t) => {
  if (!(await requireOpenSearch(t))) return;
  const index = scratch.index('poison');
  const rows = (await lunarDayRows()).slice(0, 300);
  const dead: Array<{ row: Row; reason: string }> = [];
  const sink = openSink(t, spec(index, { bulkDocuments: 100 }), { onRejected: (row, reason) => void dead.push({ row, reason }) });
  await sink.open();
  const input: Row[] = rows.map((row) => ({ ...row }));
  // A string where the mapping has a double, and a keyword longer than Lucene's 32766-byte term limit.
  input[42] = { ...input[42], mean: 'not a number' };
  input[250] = { ...input[250], station: 'x'.repeat(40_000) };
  await sink.write(input);
  await sink.flush();
  assert.equal(dead.length, 2);
  assert.equal(dead[0].row, input[42]);
  assert.match(dead[0].reason, new RegExp(`^OpenSearch index ${index} refused document ${idOf(input[42]).replace(/[|.]/g, '\\$&')}: 400 mapper_parsing_exception: failed to parse field \\[mean\\] of type \\[double\\]`));
  assert.equal(dead[1].row, input[250]);
  assert.match(dead[1].reason, /: 400 illegal_argument_exception: Document contains at least one immense term in field="station"/);
  assert.equal(sink.documentsIndexed, 298);
  assertDocumentsEqual(await allDocuments(index), rows.filter((_, i) => i !== 42 && i !== 250));
});

test('an existing index whose mapping conflicts fails at start, naming the field; nothing is written', async (t) => {
  if (!(await requireOpenSearch(t))) return;
  const index = scratch.index('conflict');
  // What an index created by dynamic mapping looks like: numbers as float, strings as text.
  const created = await opensearch('PUT', `/${index}`, {
    settings: { number_of_replicas: 0 },
    mappings: { properties: { station: { type: 'keyword' }, mean: { type: 'text' }, count: { type: 'long' } } },
  });
  assert.equal(created.status, 200);
  const sink = openSink(t, spec(index));
  await assert.rejects(sink.open(), (error: unknown) => {
    assert.ok(error instanceof IndexMappingConflictError);
    assert.deepEqual(error.conflicts, [{ field: 'mean', existing: 'text', wanted: 'double' }]);
    assert.match(error.message, new RegExp(`OpenSearch index ${index} maps field 'mean' as text \\(the job writes double\\)`));
    return true;
  });
  const count = await opensearch('GET', `/${index}/_count`);
  assert.equal(count.body.count, 0);
});

test('an existing index with a compatible mapping gets the missing fields and is written to', async (t) => {
  if (!(await requireOpenSearch(t))) return;
  const index = scratch.index('partial');
  await opensearch('PUT', `/${index}`, { settings: { number_of_replicas: 0 }, mappings: { properties: { station: { type: 'keyword' }, note: { type: 'text' } } } });
  const rows = (await lunarDayRows()).slice(0, 20);
  const sink = openSink(t, spec(index));
  await sink.open();
  await sink.write(rows);
  await sink.flush();
  const mapping = await opensearch('GET', `/${index}/_mapping`);
  const properties = mapping.body[index].mappings.properties;
  assert.equal(properties.note.type, 'text');
  assert.equal(properties.location.type, 'geo_point');
  assert.equal(properties.window_start.type, 'date');
  assertDocumentsEqual(await allDocuments(index), rows);
});

test('time-based indices: an index template, one index per month of window_start, each typed from the start', async (t) => {
  if (!(await requireOpenSearch(t))) return;
  const prefix = scratch.index('monthly');
  const rows = await lunarDayRows();
  const sink = openSink(t, spec(`${prefix}-{window_start:yyyy.MM}`));
  await sink.open();
  await sink.write(rows);
  await sink.flush();
  const months = new Set(rows.map((row) => `${prefix}-${(row.window_start as Date).toISOString().slice(0, 7).replace('-', '.')}`));
  const indices = await opensearch('GET', `/_cat/indices/${prefix}-*?format=json&h=index`);
  assert.deepEqual((indices.body as Array<{ index: string }>).map((entry) => entry.index).sort(), [...months].sort());
  for (const month of months) {
    const mapping = await opensearch('GET', `/${month}/_mapping`);
    assert.equal(mapping.body[month].mappings.properties.location.type, 'geo_point', month);
    assert.equal(mapping.body[month].mappings.properties.count.type, 'long', month);
  }
  assertDocumentsEqual(await allDocuments(`${prefix}-*`), rows);
});

test('OpenSearch unreachable for a while (a proxy that stops forwarding): the sink retries and waits, nothing is lost', async (t) => {
  if (!(await requireOpenSearch(t))) return;
  const index = scratch.index('outage');
  const target = new URL(opensearchUrl());
  const proxy = new TcpProxy(target.hostname, Number(target.port || 9200));
  await proxy.start();
  t.after(() => proxy.stop());
  const rows = await lunarDayRows();
  const lines: string[] = [];
  const sink = openSink(t, spec(index, { nodes: [`http://127.0.0.1:${proxy.port}`], bulkDocuments: 50, requestTimeoutMs: 3000 }), {}, lines);
  await sink.open();
  // Batches of 50 and a flush every 200 rows, as a job checkpointing would; the proxy goes away after 400 rows.
  const writing = (async () => {
    for (let start = 0; start < rows.length; start += 50) {
      await sink.write(rows.slice(start, start + 50));
      if ((start + 50) % 200 === 0) await sink.flush();
    }
    await sink.flush();
  })();
  while (sink.documentsIndexed < 400) await sleep(5);
  await proxy.stop();
  const stoppedAt = Date.now();
  await sleep(6000);
  // The writer is stuck behind the outage, neither finished nor failed.
  const state = await Promise.race([writing.then(() => 'finished', () => 'failed'), sleep(0).then(() => 'waiting')]);
  assert.equal(state, 'waiting');
  const indexedDuringOutage = sink.documentsIndexed;
  assert.ok(indexedDuringOutage < rows.length);
  await proxy.start();
  await writing;
  t.diagnostic(`outage ${Date.now() - stoppedAt} ms; ${sink.retries} retries`);
  assert.ok(sink.retries > 0);
  assert.match(lines.join('\n'), /retrying in \d+ ms/);
  assert.match(lines.join('\n'), /succeeded again/);
  assertDocumentsEqual(await allDocuments(index), rows);
});
