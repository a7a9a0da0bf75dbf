// Helpers for tests against the real OpenSearch server of scripts/cluster
// (`bash scripts/cluster/up.sh opensearch`, OPENSEARCH_URL in .cluster/env).
//
//   test('...', async (t) => {
//     if (!(await requireOpenSearch(t))) return; // skipped locally when down, a failure under CI=true
//     const index = scratch.index('lunar');      // scratch = scratchIndices() at the top of the file
//     ...
//   });
import { after, type TestContext } from 'node:test';
import type { Row } from '../../engine/core/batch';
import type { SearchField } from '../../engine/sinks/opensearch-mapping';
import { skipLine } from './cluster';
import { expectedLunarDays, readBundled } from './plain';

/** OpenSearch base URL (no trailing slash): OPENSEARCH_URL, else the local default. */
export function opensearchUrl(): string {
  const value = process.env.OPENSEARCH_URL?.trim();
  return (value !== undefined && value !== '' ? value : 'http://127.0.0.1:9200').replace(/\/+$/, '');
}

/**
 * True when OpenSearch answers. Otherwise: under CI=true throws (the test
 * fails); elsewhere marks the test skipped and returns false.
 */
export async function requireOpenSearch(t: TestContext): Promise<boolean> {
  const url = opensearchUrl();
  try {
    const response = await fetch(`${url}/`, { signal: AbortSignal.timeout(2000) });
    await response.arrayBuffer();
    if (response.status !== 200) throw new Error(`HTTP ${response.status}`);
    return true;
  } catch (error) {
    const what = `OpenSearch (${url}): ${error instanceof Error ? error.message : String(error)}`;
    if (process.env.CI === 'true') throw new Error(`test server unreachable: ${what}. CI must run it: bash scripts/cluster/up.sh opensearch before the tests.`);
    t.skip(skipLine(['OpenSearch'], 'bash scripts/cluster/up.sh opensearch'));
    return false;
  }
}

/** One request to the server, the JSON answer returned (whatever the status). */
export async function opensearch(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const response = await fetch(`${opensearchUrl()}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text === '' ? null : JSON.parse(text) };
}

/**
 * Fresh index names for one test file (`tideflow-test-<run>-<suffix>`); every
 * index and index template of the run is deleted after the file's tests.
 * Call it at the top level of the file (the cleanup hook belongs to the file, not to a test).
 *
 * @example
 *   const scratch = scratchIndices();
 *   test('...', async (t) => { const index = scratch.index('lunar-day'); ... });
 */
export function scratchIndices(): { index(suffix: string): string } {
  const run = `tideflow-test-${Date.now()}-${process.pid}`;
  after(async () => {
    await opensearch('DELETE', `/${run}-*`).catch(() => {});
    await opensearch('DELETE', `/_index_template/tideflow-${run}-*`).catch(() => {});
  });
  return { index: (suffix) => `${run}-${suffix}` };
}

/** Every document of an index (after a refresh), by id. */
export async function allDocuments(index: string): Promise<Map<string, Row>> {
  await opensearch('POST', `/${index}/_refresh`);
  const documents = new Map<string, Row>();
  let searchAfter: unknown[] | undefined;
  for (;;) {
    const { status, body } = await opensearch('POST', `/${index}/_search`, {
      size: 5000,
      sort: [{ _id: 'asc' }],
      ...(searchAfter ? { search_after: searchAfter } : {}),
    });
    if (status !== 200) throw new Error(`search ${index}: ${status} ${JSON.stringify(body)}`);
    const hits = body.hits.hits as Array<{ _id: string; _source: Row; sort: unknown[] }>;
    for (const hit of hits) documents.set(hit._id, hit._source);
    if (hits.length < 5000) return documents;
    searchAfter = hits[hits.length - 1].sort;
  }
}

/** The lunar-day job's output fields (with the station's position), as the runtime would describe them. */
export const LUNAR_DAY_SEARCH_FIELDS: SearchField[] = [
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

/**
 * The lunar-day results of the bundled observations (plain computation,
 * test/support/plain.ts) as the window step emits them: timestamps as Dates,
 * plus the station's lat/lon. Sorted by station, then window.
 */
export async function lunarDayRows(): Promise<Row[]> {
  const observations = await readBundled();
  const position = new Map<string, { lat: number; lon: number }>();
  for (const observation of observations) position.set(observation.station, { lat: observation.lat, lon: observation.lon });
  return expectedLunarDays(observations).map((row) => ({
    ...row,
    window_start: new Date(row.window_start as string),
    window_end: new Date(row.window_end as string),
    high_time: new Date(row.high_time as string),
    low_time: new Date(row.low_time as string),
    ...position.get(row.station as string)!,
  }));
}

/** A row as the document the sink should have stored: timestamps as ISO strings, the geo point added. */
export function expectedDocument(row: Row): Row {
  const document: Row = {};
  for (const [field, value] of Object.entries(row)) document[field] = value instanceof Date ? value.toISOString() : value;
  document.location = { lat: row.lat, lon: row.lon };
  return document;
}
