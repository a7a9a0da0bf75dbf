import assert from 'node:assert/strict';
import { test } from 'node:test';
import { errors as driverErrors, types, type Client } from 'cassandra-driver';
import type { CassandraSinkSpec } from '../config/job';
import { ExternalError } from '../core/errors';
import type { Row } from '../core/batch';
import { CassandraSink, partitionKeyOf, type CassandraSinkOptions } from './cassandra-sink';

// The sink's queueing, backpressure, retry and error logic against a fake
// driver client; the real server is exercised in test/integration/cassandra-sink.test.ts.

interface Request {
  query: string;
  rows: unknown[][];
}

/** The driver's own decoder (not in its typings), as the client sets it up: bound values read back as the server reads them. */
interface DriverDecoder {
  decode(bytes: Buffer, type: { code: number }): unknown;
}
const { Encoder } = require('cassandra-driver') as { Encoder: new (protocolVersion: number, options: object) => DriverDecoder };
const wire = new Encoder(types.protocolVersion.v4, { encoding: { useBigIntAsLong: true } });
const dataTypes = types.dataTypes as unknown as { getByName(name: string): { code: number } };

/**
 * A stand-in for the driver client: records requests (their values decoded
 * where the sink sent wire bytes) and lets each test decide how they end.
 */
class FakeClient {
  readonly statements: string[] = [];
  readonly requests: Request[] = [];
  inFlight = 0;
  maxInFlight = 0;
  /** Rows of `system_schema.columns` for the table (empty: the table does not exist). */
  tableColumns: Array<Record<string, unknown>> = [];
  /** Decides how a write ends; default: at once. */
  onWrite: (request: Request) => Promise<void> = async () => {};

  async connect(): Promise<void> {}
  async shutdown(): Promise<void> {}

  async execute(query: string, params?: unknown[]): Promise<{ rows: Array<Record<string, unknown>> }> {
    if (query.startsWith('SELECT column_name')) return { rows: this.tableColumns };
    if (!query.startsWith('INSERT')) {
      this.statements.push(query);
      return { rows: [] };
    }
    await this.write({ query, rows: [this.decoded(query, params ?? [])] });
    return { rows: [] };
  }

  async batch(queries: Array<{ query: string; params: unknown[] }>, options: { logged?: boolean }): Promise<void> {
    assert.equal(options.logged, false, 'single-partition batches need no batch log');
    await this.write({ query: queries[0].query, rows: queries.map((entry) => this.decoded(entry.query, entry.params)) });
  }

  /** Values the sink sent as bytes, decoded by their column's type (from the CREATE TABLE or `tableColumns`); the write time last. */
  private decoded(query: string, params: unknown[]): unknown[] {
    const typeOf = new Map<string, string>();
    for (const column of this.tableColumns) typeOf.set(column['column_name'] as string, column['type'] as string);
    for (const statement of this.statements) {
      if (statement.startsWith('CREATE TABLE')) for (const [, name, type] of statement.matchAll(/"([^"]+)" ([a-z]+)[,)]/g)) typeOf.set(name, type);
    }
    const columns = [...query.slice(query.indexOf('(') + 1, query.indexOf(')')).matchAll(/"([^"]+)"/g)].map((match) => match[1]);
    return params.map((value, i) => {
      if (!Buffer.isBuffer(value)) return value;
      const type = i < columns.length ? typeOf.get(columns[i]) : 'bigint';
      assert.ok(type !== undefined, `the type of column ${columns[i]}`);
      return wire.decode(value, dataTypes.getByName(type));
    });
  }

  private async write(request: Request): Promise<void> {
    this.requests.push(request);
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      await this.onWrite(request);
    } finally {
      this.inFlight--;
    }
  }
}

function spec(overrides: Partial<CassandraSinkSpec> = {}): CassandraSinkSpec {
  return {
    contactPoints: ['127.0.0.1:9042'],
    localDataCenter: 'datacenter1',
    keyspace: 'tides',
    table: 'avg_30m',
    columns: {},
    primaryKey: { partition: ['station'], clustering: ['window_start'] },
    createTable: true,
    replicationFactor: 1,
    concurrency: 4,
    ...overrides,
  };
}

function sinkWith(fake: FakeClient, sinkSpec = spec(), options: Partial<CassandraSinkOptions> = {}) {
  const lines: string[] = [];
  const sink = new CassandraSink(sinkSpec, 'main', {
    timestampFields: new Set(['window_start', 'window_end']),
    log: (line) => lines.push(line),
    retry: { initialDelayMs: 1, maxDelayMs: 4 },
    createClient: () => fake as unknown as Client,
    ...options,
  });
  return { sink, lines };
}

function windowRows(stations: number, perStation: number): Row[] {
  const rows: Row[] = [];
  for (let s = 0; s < stations; s++) {
    for (let w = 0; w < perStation; w++) {
      rows.push({ station: `st${s}`, window_start: w * 1_800_000, window_end: (w + 1) * 1_800_000, avg: s + w / 10, count: 3 });
    }
  }
  return rows;
}

/** A promise with its resolve exposed. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

test('creates keyspace and table from the first rows, then upserts mapped values with a write time', async () => {
  const fake = new FakeClient();
  const { sink, lines } = sinkWith(fake);
  await sink.open();
  await sink.write([{ station: '8454000', window_start: 0, window_end: 1_800_000, avg: 1.5, count: 3, note: null }]);
  await sink.flush();
  assert.match(fake.statements[0], /^CREATE KEYSPACE IF NOT EXISTS "tides"/);
  assert.equal(
    fake.statements[1],
    'CREATE TABLE IF NOT EXISTS "tides"."avg_30m" ("station" text, "window_start" timestamp, "window_end" timestamp, "avg" double, ' +
      '"count" double, "note" double, PRIMARY KEY (("station"), "window_start"))',
  );
  assert.equal(fake.requests.length, 1);
  const [params] = fake.requests[0].rows;
  assert.deepEqual(params.slice(0, -1), ['8454000', new Date(0), new Date(1_800_000), 1.5, 3, null]);
  assert.equal(typeof params.at(-1), 'bigint', 'write time (µs) bound last');
  assert.ok(lines.some((line) => /columns note of tides.avg_30m were null/.test(line)));
  assert.equal(sink.rowsAcknowledged, 1);
  await sink.close();
});

test('groups rows by partition into unlogged batches of at most batchRows', async () => {
  const fake = new FakeClient();
  const { sink } = sinkWith(fake, spec(), { batchRows: 3 });
  await sink.open();
  await sink.write(windowRows(2, 7));
  await sink.flush();
  const sizes = fake.requests.map((request) => request.rows.length).sort();
  assert.deepEqual(sizes, [1, 1, 3, 3, 3, 3]);
  for (const request of fake.requests) {
    assert.equal(new Set(request.rows.map((row) => row[0])).size, 1, 'one partition per request');
  }
  assert.equal(sink.rowsAcknowledged, 14);
});

test('backpressure: at most `concurrency` requests in flight, and write waits while the queue is full', async () => {
  const fake = new FakeClient();
  const release = gate();
  fake.onWrite = () => release.promise;
  const { sink } = sinkWith(fake, spec({ concurrency: 2 }), { batchRows: 1, maxPendingRows: 5 });
  await sink.open();
  let written = false;
  const writing = sink.write(windowRows(1, 20)).then(() => (written = true));
  await tick();
  await tick();
  assert.equal(fake.inFlight, 2);
  assert.equal(written, false, '20 rows do not fit in 2 in flight + 5 queued');
  let flushed = false;
  release.open();
  await writing;
  const flushing = sink.flush().then(() => (flushed = true));
  await flushing;
  assert.equal(flushed, true);
  assert.equal(fake.maxInFlight, 2);
  assert.equal(sink.rowsAcknowledged, 20);
});

test('flush resolves only once every row written so far is acknowledged', async () => {
  const fake = new FakeClient();
  const release = gate();
  fake.onWrite = () => release.promise;
  const { sink } = sinkWith(fake);
  await sink.open();
  await sink.write(windowRows(3, 2));
  let flushed = false;
  const flushing = sink.flush().then(() => (flushed = true));
  await tick();
  await tick();
  assert.equal(flushed, false);
  release.open();
  await flushing;
  assert.equal(sink.rowsAcknowledged, 6);
});

test('outage errors are retried with the same write time, and logged; nothing is lost', async () => {
  const fake = new FakeClient();
  let failures = 5;
  fake.onWrite = async () => {
    if (failures-- > 0) throw new driverErrors.NoHostAvailableError({ '127.0.0.1:9042': new Error('connect ECONNREFUSED') });
  };
  const { sink, lines } = sinkWith(fake, spec({ concurrency: 1 }));
  await sink.open();
  await sink.write([{ station: 'a', window_start: 0, avg: 1 }]);
  await sink.flush();
  assert.equal(fake.requests.length, 6);
  assert.equal(new Set(fake.requests.map((request) => request.rows[0].at(-1))).size, 1, 'a retry keeps its write time');
  assert.equal(sink.retries, 5);
  assert.match(lines.find((line) => line.includes('retrying')) ?? '', /write of 1 row\(s\) to tides.avg_30m failed \(NoHostAvailableError: .*\); retrying in \d+ ms/);
  assert.ok(lines.some((line) => /succeeded again/.test(line)));
});

test('a later update of a key gets a later write time than an earlier one, whatever order they finish in', async () => {
  const fake = new FakeClient();
  const { sink } = sinkWith(fake, spec(), { batchRows: 1 });
  await sink.open();
  await sink.write([{ station: 'a', window_start: 0, avg: 1 }]);
  await sink.write([{ station: 'a', window_start: 0, avg: 2 }]);
  await sink.flush();
  const [first, second] = fake.requests.map((request) => request.rows[0]);
  assert.ok((second.at(-1) as bigint) > (first.at(-1) as bigint));
});

test('a server rejection fails the sink with a non-retriable error naming table and column', async () => {
  const fake = new FakeClient();
  fake.onWrite = async () => {
    throw new driverErrors.ResponseError(types.responseErrorCodes.invalid, 'Invalid value for column avg');
  };
  const { sink } = sinkWith(fake);
  await sink.open();
  await sink.write(windowRows(1, 2));
  await assert.rejects(sink.flush(), (error: unknown) => {
    assert.ok(error instanceof ExternalError);
    assert.equal(error.retriable, false);
    assert.match(error.message, /tides\.avg_30m/);
    assert.match(error.message, /column 'avg'/);
    return true;
  });
  await assert.rejects(sink.write(windowRows(1, 1)), ExternalError, 'a failed sink refuses more rows');
  assert.deepEqual(
    fake.requests.map((request) => request.rows.length),
    [2, 1],
    'the refused batch was retried row by row, stopping at the row at fault',
  );
  await sink.close();
});

test('a value that does not fit its column is refused at write, naming table, column and field', async () => {
  const fake = new FakeClient();
  const { sink } = sinkWith(fake, spec({ columns: { avg: 'mean' } }));
  await sink.open();
  await sink.write([{ station: 'a', window_start: 0, mean: 1.5 }]);
  await assert.rejects(sink.write([{ station: 'a', window_start: 1, mean: 'high' }]), (error: unknown) => {
    assert.ok(error instanceof ExternalError);
    assert.equal(error.retriable, false);
    assert.match(error.message, /Cassandra table tides\.avg_30m: column 'avg' \(double, from field 'mean'\) cannot take a string \("high"\)/);
    return true;
  });
  await assert.rejects(sink.write([{ station: null, window_start: 1, mean: 1 }]), /tides\.avg_30m/);
});

test('an existing table is used as it is: its columns, its key, and a clear error for a column it lacks', async () => {
  const fake = new FakeClient();
  fake.tableColumns = [
    { column_name: 'station', type: 'text', kind: 'partition_key', position: 0 },
    { column_name: 'window_start', type: 'timestamp', kind: 'clustering', position: 0 },
    { column_name: 'count', type: 'int', kind: 'regular', position: -1 },
  ];
  const { sink, lines } = sinkWith(fake);
  await sink.open();
  await sink.write([{ station: 'a', window_start: new Date(0), count: 3, extra: 1 }]);
  await sink.flush();
  assert.equal(fake.statements.filter((statement) => statement.startsWith('CREATE TABLE')).length, 0);
  assert.deepEqual(fake.requests[0].rows[0].slice(0, -1), ['a', new Date(0), 3]);
  assert.ok(lines.some((line) => /field 'extra' has no column in tides.avg_30m/.test(line)));

  const mapped = sinkWith(fake, spec({ columns: { mean: 'avg' } })).sink;
  await assert.rejects(mapped.open(), /tides\.avg_30m has no column 'mean' \(it has station, window_start, count\)/);
});

test('a missing table with createTable off is refused at open', async () => {
  const { sink } = sinkWith(new FakeClient(), spec({ createTable: false }));
  await assert.rejects(sink.open(), /tides\.avg_30m does not exist and createTable is off/);
});

test('partitionKeyOf: equal keys group, different types never collide', () => {
  assert.equal(partitionKeyOf(['a', 1], [0]), partitionKeyOf(['a', 2], [0]));
  assert.notEqual(partitionKeyOf(['1'], [0]), partitionKeyOf([1], [0]));
  assert.notEqual(partitionKeyOf(['a:1', 'b'], [0, 1]), partitionKeyOf(['a', '1:b'], [0, 1]));
  assert.equal(partitionKeyOf(['x', 'a', 'b'], [1, 2]), partitionKeyOf(['y', 'a', 'b'], [1, 2]));
  assert.equal(partitionKeyOf([new Date(5)], [0]), partitionKeyOf([5], [0]), 'a timestamp key is its instant');
});

test('a key column the rows lack is refused before any table is created', async () => {
  const fake = new FakeClient();
  const { sink } = sinkWith(fake);
  await sink.open();
  await assert.rejects(
    sink.write([{ station: 'a', t: 0 }]),
    /cannot create Cassandra table tides\.avg_30m: primary key column 'window_start' \(field 'window_start'\) is not a field of the rows \(they have station, t\)/,
  );
  assert.equal(fake.statements.filter((statement) => statement.startsWith('CREATE TABLE')).length, 0);
});
