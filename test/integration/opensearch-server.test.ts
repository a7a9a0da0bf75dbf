// Smoke test of the optional OpenSearch node (bash scripts/cluster/up.sh opensearch):
// the version, an index with the mapping a tide sink writes (date, double, keyword,
// geo_point), a bulk request and a geo query. Skipped locally when OpenSearch is
// down; fails under CI=true.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { clusterEnv, requireOpenSearch } from '../support/cluster';

const base = clusterEnv().opensearchUrl;

interface BulkResponse {
  errors: boolean;
  items: Array<{ index: { _id: string; status: number } }>;
}
interface SearchResponse {
  hits: { hits: Array<{ _id: string; _source: { level: number } }> };
}

async function call<T = Record<string, unknown>>(
  method: string,
  path: string,
  body?: unknown,
  ndjson = false,
): Promise<{ status: number; json: T }> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': ndjson ? 'application/x-ndjson' : 'application/json' },
    body: body === undefined ? undefined : ndjson ? (body as string) : JSON.stringify(body),
    signal: AbortSignal.timeout(30_000),
  });
  const text = await res.text();
  return { status: res.status, json: (text === '' ? {} : JSON.parse(text)) as T };
}

test('opensearch: 2.19.6, a geo_point index, bulk and a geo_distance query', { timeout: 60_000 }, async (t) => {
  if (!(await requireOpenSearch(t))) return;
  const root = await call<{ version: { number: string } }>('GET', '/');
  assert.equal(root.status, 200);
  assert.equal(root.json.version.number, '2.19.6');

  const index = `tideflow-smoke-${randomUUID().slice(0, 8)}`;
  t.after(async () => {
    await call('DELETE', `/${index}`);
  });
  const created = await call('PUT', `/${index}`, {
    mappings: {
      properties: {
        time: { type: 'date' },
        level: { type: 'double' },
        station: { type: 'keyword' },
        location: { type: 'geo_point' },
      },
    },
  });
  assert.equal(created.status, 200, JSON.stringify(created.json));
  // up.sh sets cluster.default_number_of_replicas=0: a single node serves the index green.
  const health = await call<{ status: string }>('GET', `/_cluster/health/${index}?wait_for_status=green&timeout=10s`);
  assert.equal(health.json.status, 'green');

  const bulk = [
    { index: { _index: index, _id: '9414290-1' } },
    { time: '2024-01-01T00:00:00Z', level: 1.5, station: '9414290', location: { lat: 37.8063, lon: -122.4659 } },
    { index: { _index: index, _id: '8518750-1' } },
    { time: '2024-01-01T00:00:00Z', level: 0.25, station: '8518750', location: { lat: 40.7006, lon: -74.0142 } },
  ]
    .map((line) => JSON.stringify(line))
    .join('\n');
  const indexed = await call<BulkResponse>('POST', '/_bulk?refresh=true', `${bulk}\n`, true);
  assert.equal(indexed.status, 200);
  assert.equal(indexed.json.errors, false);
  assert.deepEqual(
    indexed.json.items.map((i) => [i.index._id, i.index.status]),
    [
      ['9414290-1', 201],
      ['8518750-1', 201],
    ],
  );

  const near = await call<SearchResponse>('POST', `/${index}/_search`, {
    query: { geo_distance: { distance: '20km', location: { lat: 37.77, lon: -122.42 } } },
  });
  assert.equal(near.status, 200);
  assert.deepEqual(
    near.json.hits.hits.map((h) => [h._id, h._source.level]),
    [['9414290-1', 1.5]],
  );
});
