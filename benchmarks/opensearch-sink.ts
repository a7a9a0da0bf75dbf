/**
 * Scenario "opensearch sink": rows per second the OpenSearch sink indexes,
 * for lunar-day result rows (station, window bounds, high/low and their
 * times, range, mean, count, lat/lon -> geo_point: about 430 bytes a
 * document), beside the Cassandra sink taking the same rows in the same run.
 *
 * Timed: from the first `write` to the `flush` that acknowledges the last
 * row, written in batches of 1,000 as the runtime hands them over. Not
 * timed: opening (index / table creation). Each sink writes into a scratch
 * index / keyspace of its own, deleted afterwards.
 *
 *   node dist/benchmarks/opensearch-sink.js                      # 200,000 rows, the default settings, both sinks
 *   node dist/benchmarks/opensearch-sink.js --rows 100000 --sweep # bulk size x concurrency grid (OpenSearch only)
 *   node dist/benchmarks/opensearch-sink.js --no-cassandra
 * Servers: OPENSEARCH_URL (default http://127.0.0.1:9200), CASSANDRA_CONTACT_POINTS, CASSANDRA_LOCAL_DC.
 */
import { performance } from 'node:perf_hooks';
import { Client } from 'cassandra-driver';
import type { Row } from '../engine/core/batch';
import { CassandraSink } from '../engine/sinks/cassandra-sink';
import type { SearchField } from '../engine/sinks/opensearch-mapping';
import { OpenSearchSink, type OpenSearchSinkSpec } from '../engine/sinks/opensearch-sink';
import type { Sink } from '../engine/core/sink';

const LUNAR_DAY = 89_428_329;
const BATCH_ROWS = 1_000;

const FIELDS: SearchField[] = [
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

export interface SinkBenchResult {
  sink: string;
  /** `bulkDocuments=2000 concurrency=2` for OpenSearch; the defaults for Cassandra. */
  settings: string;
  rows: number;
  seconds: number;
  rowsPerSecond: number;
  retries: number;
}

/** Lunar-day rows of `stations` stations, one window after the other, as the window step emits them (Dates). */
export function lunarDayLikeRows(count: number, stations = 1_000): Row[] {
  const rows: Row[] = new Array(count);
  for (let i = 0; i < count; i++) {
    const station = 8_400_000 + (i % stations);
    const start = Date.UTC(2020, 0, 1) + Math.floor(i / stations) * LUNAR_DAY;
    const high = 1 + ((i * 7919) % 1000) / 1000;
    const low = -((i * 104729) % 1000) / 1000;
    rows[i] = {
      station: String(station),
      window_start: new Date(start),
      window_end: new Date(start + LUNAR_DAY),
      high,
      high_time: new Date(start + ((i * 31) % LUNAR_DAY)),
      low,
      low_time: new Date(start + ((i * 57) % LUNAR_DAY)),
      range: high - low,
      mean: (high + low) / 2,
      count: 240 + (i % 9),
      lat: 25 + (i % stations) / 50,
      lon: -125 + (i % stations) / 20,
    };
  }
  return rows;
}

/** Writes `rows` in runtime-sized batches and flushes; seconds from the first write to the end of the flush. */
async function timeWrites(sink: Sink, rows: readonly Row[]): Promise<number> {
  const started = performance.now();
  for (let start = 0; start < rows.length; start += BATCH_ROWS) await sink.write(rows.slice(start, start + BATCH_ROWS));
  await sink.flush();
  return (performance.now() - started) / 1000;
}

function opensearchUrl(): string {
  return (process.env.OPENSEARCH_URL?.trim() || 'http://127.0.0.1:9200').replace(/\/+$/, '');
}

/** One OpenSearch run into a fresh index (deleted afterwards). */
export async function benchOpenSearchSink(rows: readonly Row[], settings: { bulkDocuments: number; concurrency: number; bulkBytes?: number }): Promise<SinkBenchResult> {
  const index = `tideflow-bench-${Date.now()}-${settings.bulkDocuments}-${settings.concurrency}`;
  const spec: OpenSearchSinkSpec = {
    nodes: [opensearchUrl()],
    index,
    fieldTypes: {},
    createIndex: true,
    replicas: 0,
    bulkDocuments: settings.bulkDocuments,
    bulkBytes: settings.bulkBytes ?? 5 * 1024 * 1024,
    concurrency: settings.concurrency,
    requestTimeoutMs: 60_000,
  };
  const sink = new OpenSearchSink(spec, 'main', { timestampFields: new Set(), fields: FIELDS, idFields: ['station', 'window_start'] });
  try {
    await sink.open();
    const seconds = await timeWrites(sink, rows);
    return {
      sink: 'opensearch',
      settings: `bulkDocuments=${settings.bulkDocuments} concurrency=${settings.concurrency}`,
      rows: sink.documentsIndexed,
      seconds,
      rowsPerSecond: Math.round(sink.documentsIndexed / seconds),
      retries: sink.retries,
    };
  } finally {
    await sink.close().catch(() => {});
    await fetch(`${opensearchUrl()}/${index}`, { method: 'DELETE' }).then((response) => response.arrayBuffer()).catch(() => {});
  }
}

/** The same rows into a fresh Cassandra table with the sink's defaults (keyspace dropped afterwards). */
export async function benchCassandraSink(rows: readonly Row[]): Promise<SinkBenchResult> {
  const contactPoints = (process.env.CASSANDRA_CONTACT_POINTS ?? '127.0.0.1:9042').split(',').map((point) => point.trim());
  const localDataCenter = process.env.CASSANDRA_LOCAL_DC ?? 'datacenter1';
  const keyspace = `tideflow_bench_${Date.now()}`;
  const sink = new CassandraSink(
    {
      contactPoints,
      localDataCenter,
      keyspace,
      table: 'lunar_day',
      columns: {},
      primaryKey: { partition: ['station'], clustering: ['window_start'] },
      createTable: true,
      replicationFactor: 1,
      concurrency: 32,
    },
    'main',
    { timestampFields: new Set(), columnTypes: { count: 'bigint' } },
  );
  try {
    await sink.open();
    // The table is created at the first write: out of the timed part, like the index.
    await sink.write(rows.slice(0, 1));
    await sink.flush();
    const seconds = await timeWrites(sink, rows);
    return { sink: 'cassandra', settings: 'defaults (concurrency 32, batches of 32)', rows: rows.length, seconds, rowsPerSecond: Math.round(rows.length / seconds), retries: sink.retries };
  } finally {
    await sink.close().catch(() => {});
    const admin = new Client({ contactPoints, localDataCenter });
    await admin.connect();
    await admin.execute(`DROP KEYSPACE IF EXISTS ${keyspace}`).catch(() => {});
    await admin.shutdown();
  }
}

function argument(name: string, fallback: number): number {
  const index = process.argv.indexOf(`--${name}`);
  return index >= 0 ? Number(process.argv[index + 1]) : fallback;
}

async function main(): Promise<void> {
  const rows = lunarDayLikeRows(argument('rows', 200_000));
  const results: SinkBenchResult[] = [];
  const report = (result: SinkBenchResult) => {
    results.push(result);
    process.stdout.write(
      `${result.sink.padEnd(10)} ${result.settings.padEnd(40)} ${String(result.rows).padStart(8)} rows ${result.seconds.toFixed(2).padStart(7)} s ` +
        `${String(result.rowsPerSecond).padStart(8)} rows/s  retries ${result.retries}\n`,
    );
  };
  if (process.argv.includes('--sweep')) {
    for (const bulkDocuments of [500, 1000, 2000, 5000]) {
      for (const concurrency of [1, 2, 4]) report(await benchOpenSearchSink(rows, { bulkDocuments, concurrency }));
    }
  } else {
    report(await benchOpenSearchSink(rows, { bulkDocuments: argument('bulk-documents', 2000), concurrency: argument('concurrency', 2) }));
    if (!process.argv.includes('--no-cassandra')) report(await benchCassandraSink(rows));
  }
  if (process.argv.includes('--json')) process.stdout.write(`${JSON.stringify(results)}\n`);
}

if (require.main === module) {
  main().catch((error: unknown) => {
    process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
    process.exit(1);
  });
}
