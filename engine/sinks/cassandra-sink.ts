import type { Client } from 'cassandra-driver';
import type { CassandraSinkSpec } from '../config/job';
import { ExternalError } from '../core/errors';
import type { Row } from '../core/batch';
import { RetryPolicy, type Backoff } from '../core/retry';
import { ColumnValueError, createTableCql, inferColumnDefinitions, insertCql, resolveColumns, valueConverter, WriteClock, type ColumnBinding, type ValueConverter } from './cassandra-schema';
import { createCassandraClient, awaitTableReady, createKeyspaceCql, describeCassandraError, isRetriableCassandraError, type CassandraConnection } from '../clients/cassandra';
import { batchRequestWriterState } from '../patches/cassandra-batch-request';
import { WireSlab, wireEncoder, type WireEncoder } from './cassandra-wire';
import type { Sink, SinkOptions } from '../core/sink';
import { fieldListSchema, hostList, hostListSchema } from '../config/component';
import type { ComponentContext, JsonSchema } from '../config/component';

/** Options beyond the job's `cassandra:` spec; every one has a default. */
export interface CassandraSinkOptions extends SinkOptions {
  /** Informational lines: table created, retries during an outage, recovery. */
  log?: (line: string) => void;
  /**
   * Column -> CQL type for a table this sink creates (`{ count: 'int' }`).
   * Columns not named here get a type inferred from the first rows written.
   */
  columnTypes?: Record<string, string>;
  /**
   * Rows of one partition sent together as one unlogged batch (one mutation
   * per partition on the server). 1 sends single INSERTs. Default 32.
   */
  batchRows?: number;
  /** Rows queued beyond those in flight before `write` waits. Default: max(10,000, 4 x concurrency x batchRows). */
  maxPendingRows?: number;
  /** Backoff of the retry helper (default: 100 ms doubling to 10 s, forever while retriable). */
  retry?: Partial<Backoff>;
  /** Makes the driver client (tests pass a fake; default `createCassandraClient`). */
  createClient?: (connection: CassandraConnection) => Client;
}

/** The upsert for the table, once its columns are known. */
interface PreparedTable {
  cql: string;
  bindings: ColumnBinding[];
  fields: string[];
  converters: ValueConverter[];
  /** Per column, the writer of its wire bytes (null: the driver encodes the value). */
  encoders: Array<WireEncoder | null>;
  /** Positions of the partition-key columns in the parameter list (rows are grouped by them). */
  partitionIndexes: number[];
}

/** One row's bound parameters: the column values (mostly as wire bytes, cassandra-wire.ts), then its write time (µs). */
type Params = unknown[];

/**
 * Measured on the local single node (2 cores): single INSERTs at concurrency 32
 * ~7k rows/s (128: ~14k); per-partition batches of 32 ~41k rows/s, 64 ~42k.
 * 32 keeps each request small while taking nearly all of the gain.
 */
const DEFAULT_BATCH_ROWS = 32;
/** How long closing a failed sink waits for requests already sent. */
const CLOSE_GRACE_MS = 2_000;

/**
 * Upserts result rows into a Cassandra table.
 *
 * Why this is effectively-once: every write is an INSERT keyed by the table's
 * primary key (an upsert), so replaying an epoch after a crash rewrites the
 * same rows with the same values. Each row's write time is fixed when it is
 * queued, so a retried write never overwrites a newer update of the same key
 * (emit mode `update`).
 *
 * Flow control: at most `spec.concurrency` requests are in flight; rows
 * beyond them wait in a queue of at most `maxPendingRows`, and `write` waits
 * while that queue is full — memory stays bounded however long Cassandra is
 * away. Requests that fail for a reason that passes (no host, timeouts,
 * unavailable replicas, closed sockets) are retried with backoff, forever:
 * an outage stalls the job, it never drops rows. Anything else (invalid
 * query, a value that does not fit its column) fails the sink with a
 * non-retriable ExternalError naming the table and column; `write`/`flush`
 * then reject.
 *
 * Table creation (`createTable`): the keyspace (SimpleStrategy) is created in
 * `open`; the table, when missing, on the first `write`, with column types
 * inferred from that write's rows (see `inferColumnType`) unless given in
 * `columnTypes`, and primary key `((partition...), clustering...)`.
 * An existing table is used as it is, its column types read from the server.
 *
 * Consistency LOCAL_QUORUM: on the single-node test cluster (replication
 * factor 1) that is the same as ONE.
 *
 * @example
 *   const sink = new CassandraSink(spec, 'main', { timestampFields: new Set(['window_start', 'window_end']), log: console.log });
 *   await sink.open();
 *   await sink.write(rows);   // returns once queued (backpressure)
 *   await sink.flush();       // returns once Cassandra acknowledged every row
 *   await sink.close();
 */
export class CassandraSink implements Sink {
  readonly description: string;
  private readonly tableName: string;
  private readonly concurrency: number;
  private readonly batchRows: number;
  private readonly maxPendingRows: number;
  private readonly retrying: RetryPolicy;
  private readonly log: (line: string) => void;
  private readonly clock = new WriteClock();
  /** Where bound values are written in wire format (shared by every column's encoder). */
  private readonly slab = new WireSlab();

  private client: Client | null = null;
  /** Column name -> CQL type of an existing table; null when the sink must create it. */
  private existingColumns: Map<string, string> | null = null;
  /** The table's real primary key (an existing table may differ from the spec, which is only used to create one). */
  private tableKey: { partition: string[]; clustering: string[] } | null = null;
  private table: PreparedTable | null = null;
  private tableReady: Promise<PreparedTable> | null = null;

  // Queue: grouped by partition key, in first-arrival order of the partitions.
  private readonly pending = new Map<string, Params[]>();
  private pendingRows = 0;
  private inFlight = 0;
  private failure: ExternalError | null = null;
  private spaceWaiters: Array<() => void> = [];
  private idleWaiters: Array<() => void> = [];

  private acknowledgedRows = 0;
  private readonly unknownFields = new Set<string>();
  private closed = false;
  /** Ends retry loops when a failed sink is closed (a healthy one flushes first). */
  private readonly stopping = new AbortController();

  constructor(
    private readonly spec: CassandraSinkSpec,
    private readonly name: string,
    private readonly options: CassandraSinkOptions,
  ) {
    this.tableName = `${spec.keyspace}.${spec.table}`;
    this.description = `Cassandra table ${this.tableName} (${spec.contactPoints.join(', ')})`;
    this.concurrency = Math.max(1, Math.floor(spec.concurrency));
    this.batchRows = Math.max(1, Math.floor(options.batchRows ?? DEFAULT_BATCH_ROWS));
    this.maxPendingRows = Math.max(1, Math.floor(options.maxPendingRows ?? Math.max(10_000, 4 * this.concurrency * this.batchRows)));
    this.log = options.log ?? (() => {});
    this.retrying = new RetryPolicy({
      subject: `cassandra sink '${name}'`,
      log: this.log,
      backoff: options.retry,
      retriable: isRetriableCassandraError,
      signal: this.stopping.signal,
      describeError: describeCassandraError,
    });
    // Correct either way; slower without it (the driver builds each frame from hundreds of small Buffers), so say so.
    const writer = batchRequestWriterState() ?? { active: false, reason: 'the batch request writer was not installed (installDependencyPatches): the driver writes batch requests itself' };
    if (!writer.active) this.log(`cassandra sink '${name}': ${writer.reason}`);
  }

  /** Rows Cassandra has acknowledged so far. */
  get rowsAcknowledged(): number {
    return this.acknowledgedRows;
  }

  /** Rows queued and not yet sent (at most `maxPendingRows`). */
  get rowsQueued(): number {
    return this.pendingRows;
  }

  /** Failed attempts that were retried so far (0 when Cassandra never failed). */
  get retries(): number {
    return this.retrying.retries;
  }

  /** Connects (waiting out an outage), creates the keyspace when `createTable` is on, and reads the table's columns if it exists. */
  async open(_resume?: unknown): Promise<void> {
    const client = (this.options.createClient ?? createCassandraClient)(this.spec);
    this.client = client;
    await this.withRetry('connect', () => client.connect());
    if (this.spec.createTable) {
      await this.withRetry('create keyspace', () => client.execute(createKeyspaceCql(this.spec.keyspace, this.spec.replicationFactor)));
    }
    const existing = await this.withRetry('read the table definition', () => this.readTableDefinition(client));
    if (existing) {
      this.existingColumns = existing.columns;
      this.tableKey = existing.key;
      this.tableReady = Promise.resolve(this.prepareTable([]));
      this.table = await this.tableReady;
    } else if (!this.spec.createTable) {
      throw new ExternalError(
        `Cassandra table ${this.tableName} does not exist and createTable is off: create the table, or set createTable: true in the sink`,
        { retriable: false },
      );
    }
  }

  /** Queues rows; resolves once they are queued within the bound (not yet durable — see `flush`). */
  async write(rows: Row[]): Promise<void> {
    this.throwIfFailed();
    if (rows.length === 0) return;
    const table = this.table ?? (await this.ensureTable(rows));
    this.noteUnknownFields(table, rows[0]);
    let next = 0;
    while (next < rows.length) {
      if (this.pendingRows >= this.maxPendingRows) await new Promise<void>((resolve) => this.spaceWaiters.push(resolve));
      this.throwIfFailed();
      const end = Math.min(rows.length, next + (this.maxPendingRows - this.pendingRows));
      // One reading of the wall clock for the rows queued together (the clock still counts up per row).
      const nowMs = this.clock.nowMs();
      try {
        for (; next < end; next++) this.enqueue(table, rows[next], nowMs);
      } catch (error) {
        throw this.fail(this.nonRetriable(error));
      }
      this.pump();
    }
  }

  /** Resolves when Cassandra has acknowledged every row written so far; rejects if the sink failed. */
  async flush(): Promise<void> {
    this.throwIfFailed();
    if (this.pendingRows > 0 || this.inFlight > 0) {
      await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    }
    this.throwIfFailed();
  }

  /**
   * Flushes, then disconnects. A sink that already failed does not flush (its
   * rows will be replayed from the last checkpoint); it stops retrying and gives
   * requests already on the wire a moment to finish before the connections close.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    try {
      if (!this.failure) await this.flush();
    } finally {
      this.stopping.abort();
      if (this.inFlight > 0) {
        const settled = new Promise<void>((resolve) => this.idleWaiters.push(resolve));
        await Promise.race([settled, new Promise((resolve) => setTimeout(resolve, CLOSE_GRACE_MS).unref())]);
      }
      this.closed = true;
      await this.client?.shutdown();
      this.client = null;
    }
  }

  // ---------------------------------------------------------------- table

  private async readTableDefinition(client: Client): Promise<{ columns: Map<string, string>; key: { partition: string[]; clustering: string[] } } | null> {
    const result = await client.execute(
      'SELECT column_name, type, kind, position FROM system_schema.columns WHERE keyspace_name = ? AND table_name = ?',
      [this.spec.keyspace, this.spec.table],
    );
    if (result.rows.length === 0) return null;
    const columns = new Map<string, string>();
    const partition: Array<{ name: string; position: number }> = [];
    const clustering: Array<{ name: string; position: number }> = [];
    for (const row of result.rows) {
      const name = row['column_name'] as string;
      columns.set(name, row['type'] as string);
      if (row['kind'] === 'partition_key') partition.push({ name, position: row['position'] as number });
      if (row['kind'] === 'clustering') clustering.push({ name, position: row['position'] as number });
    }
    const inOrder = (list: Array<{ name: string; position: number }>): string[] => list.sort((a, b) => a.position - b.position).map((column) => column.name);
    return { columns, key: { partition: inOrder(partition), clustering: inOrder(clustering) } };
  }

  private ensureTable(sample: Row[]): Promise<PreparedTable> {
    this.tableReady ??= this.createTable(sample).then((table) => (this.table = table));
    return this.tableReady;
  }

  /** Creates the table from the first rows' types (or the explicit `columnTypes`). */
  private async createTable(sample: Row[]): Promise<PreparedTable> {
    const bindings = resolveColumns(this.spec.columns, this.spec.primaryKey, null, sample);
    // A key column the rows do not carry would be created with a guessed type and then
    // refuse every row; say so before creating anything.
    const keyColumns = new Set([...this.spec.primaryKey.partition, ...this.spec.primaryKey.clustering]);
    const absent = bindings.filter((binding) => keyColumns.has(binding.column) && sample[0][binding.field] === undefined);
    if (absent.length > 0) {
      throw this.fail(
        new ExternalError(
          `cannot create Cassandra table ${this.tableName}: primary key ${absent.map((binding) => `column '${binding.column}' (field '${binding.field}')`).join(', ')} ` +
            `is not a field of the rows (they have ${Object.keys(sample[0]).join(', ')}); fix primaryKey or columns in the sink`,
          { retriable: false },
        ),
      );
    }
    const { columns, guessedFromNulls } = inferColumnDefinitions(bindings, sample, this.options.timestampFields, this.options.columnTypes);
    if (guessedFromNulls.length > 0) {
      this.log(
        `cassandra sink '${this.name}': columns ${guessedFromNulls.join(', ')} of ${this.tableName} were null in every row of the first write; ` +
          `created as double (pass columnTypes to choose)`,
      );
    }
    let cql: string;
    try {
      cql = createTableCql(this.spec.keyspace, this.spec.table, columns, this.spec.primaryKey);
    } catch (error) {
      throw this.fail(new ExternalError(`cannot create Cassandra table ${this.tableName}: ${(error as Error).message}`, { retriable: false }));
    }
    try {
      await this.withRetry('create table', () => this.requireClient().execute(cql));
      await this.withRetry('wait for the table', () => awaitTableReady(this.requireClient(), this.spec.keyspace, this.spec.table));
    } catch (error) {
      throw this.fail(this.nonRetriable(error));
    }
    this.log(`cassandra sink '${this.name}': table ${this.tableName} ready (${columns.map((column) => `${column.name} ${column.type}`).join(', ')})`);
    this.existingColumns = new Map(columns.map((column) => [column.name, column.type]));
    this.tableKey = { partition: [...this.spec.primaryKey.partition], clustering: [...this.spec.primaryKey.clustering] };
    return this.prepareTable(sample);
  }

  /** Binds fields to the table's columns and picks a converter per column. */
  private prepareTable(sample: Row[]): PreparedTable {
    const columnTypes = this.existingColumns!;
    const key = this.tableKey!;
    const bindings = resolveColumns(this.spec.columns, key, [...columnTypes.keys()], sample);
    const missing = bindings.filter((binding) => !columnTypes.has(binding.column)).map((binding) => binding.column);
    if (missing.length > 0) {
      throw this.fail(
        new ExternalError(
          `Cassandra table ${this.tableName} has no column ${missing.map((column) => `'${column}'`).join(', ')} ` +
            `(it has ${[...columnTypes.keys()].join(', ')}); add the column or change the sink's columns`,
          { retriable: false },
        ),
      );
    }
    const keyColumns = new Set([...key.partition, ...key.clustering]);
    const converters = bindings.map((binding) =>
      valueConverter(binding, columnTypes.get(binding.column)!, keyColumns.has(binding.column), this.options.timestampFields.has(binding.field)),
    );
    const partitionIndexes = key.partition.map((column) => bindings.findIndex((binding) => binding.column === column));
    const encoders = bindings.map((binding) => wireEncoder(columnTypes.get(binding.column)!, this.slab));
    return {
      cql: insertCql(this.spec.keyspace, this.spec.table, bindings.map((binding) => binding.column)),
      bindings,
      fields: bindings.map((binding) => binding.field),
      converters,
      encoders,
      partitionIndexes,
    };
  }

  /** Fields no column takes are not written; say so once per field rather than dropping them silently. */
  private noteUnknownFields(table: PreparedTable, row: Row): void {
    for (const field in row) {
      if (this.unknownFields.has(field) || table.fields.includes(field)) continue;
      this.unknownFields.add(field);
      this.log(`cassandra sink '${this.name}': field '${field}' has no column in ${this.tableName}; it is not written`);
    }
  }

  // ---------------------------------------------------------------- queue

  private enqueue(table: PreparedTable, row: Row, nowMs: number): void {
    const { converters, encoders, fields } = table;
    const count = converters.length;
    const params: Params = new Array(count + 1);
    for (let i = 0; i < count; i++) params[i] = converters[i](row[fields[i]]);
    // Grouped by the values; sent as their wire bytes.
    const key = partitionKeyOf(params, table.partitionIndexes);
    for (let i = 0; i < count; i++) {
      const encode = encoders[i];
      if (encode !== null) params[i] = encode(params[i]);
    }
    params[count] = this.slab.int64(this.clock.nextMicros(nowMs));
    const group = this.pending.get(key);
    if (group) group.push(params);
    else this.pending.set(key, [params]);
    this.pendingRows++;
  }

  /** Starts requests while there are free slots; wakes writers when the queue has room again. */
  private pump(): void {
    while (this.inFlight < this.concurrency && this.pendingRows > 0 && !this.failure) {
      const request = this.takeRequest();
      this.inFlight++;
      void this.send(request);
    }
    if (this.pendingRows < this.maxPendingRows || this.failure) wake(this.spaceWaiters);
  }

  /** Up to `batchRows` rows of the partition that has waited longest. */
  private takeRequest(): Params[] {
    const [key, group] = this.pending.entries().next().value as [string, Params[]];
    let rows: Params[];
    if (group.length <= this.batchRows) {
      this.pending.delete(key);
      rows = group;
    } else {
      rows = group.splice(0, this.batchRows);
    }
    this.pendingRows -= rows.length;
    return rows;
  }

  private async send(rows: Params[]): Promise<void> {
    const table = this.table!;
    const context = () => `${this.retrying.waiting} request(s) waiting, ${this.pendingRows} row(s) queued`;
    try {
      try {
        await this.retrying.run(`write of ${rows.length} row(s) to ${this.tableName}`, () => this.execute(table, rows), { context });
      } catch (error) {
        if (rows.length === 1 || isRetriableCassandraError(error)) throw error;
        // A batch the server refuses (say, one mutation over the size limit): row by row,
        // which either succeeds or pins the error on the one row (and column) at fault.
        for (const row of rows) await this.retrying.run(`write of 1 row(s) to ${this.tableName}`, () => this.execute(table, [row]), { context });
      }
      this.acknowledgedRows += rows.length;
    } catch (error) {
      this.fail(this.nonRetriable(error, rows));
    } finally {
      this.inFlight--;
      this.pump();
      if (this.inFlight === 0 && (this.pendingRows === 0 || this.failure)) wake(this.idleWaiters);
    }
  }

  private execute(table: PreparedTable, rows: Params[]): Promise<unknown> {
    const client = this.requireClient();
    if (rows.length === 1) return client.execute(table.cql, rows[0], { prepare: true });
    // Unlogged: all rows share a partition, so the batch is one mutation on one replica set — no batch log needed.
    return client.batch(
      rows.map((params) => ({ query: table.cql, params })),
      { prepare: true, logged: false },
    );
  }

  // ---------------------------------------------------------------- errors

  private async withRetry<T>(what: string, operation: () => Promise<T>): Promise<T> {
    return this.retrying.run(`${what} for ${this.tableName}`, operation).catch((error: unknown) => {
      throw this.nonRetriable(error, undefined, what);
    });
  }

  /** A failure as the ExternalError the runtime sees, naming table and (when it can tell) column. */
  private nonRetriable(error: unknown, rows?: Params[], what = 'write'): ExternalError {
    if (error instanceof ExternalError) return error;
    if (error instanceof ColumnValueError) {
      return new ExternalError(`cannot write to Cassandra table ${this.tableName}: ${error.message}`, { retriable: false, cause: error });
    }
    const retriable = isRetriableCassandraError(error);
    let detail = describeCassandraError(error);
    const column = rows && this.table ? this.columnIn(detail) : null;
    if (column) detail += ` (column '${column}')`;
    const verb = what === 'write' ? `write ${rows?.length ?? 0} row(s) to` : `${what} for`;
    return new ExternalError(
      retriable ? `cannot ${verb} Cassandra table ${this.tableName}, gave up retrying: ${detail}` : `cannot ${verb} Cassandra table ${this.tableName}: ${detail}`,
      { retriable, cause: error },
    );
  }

  /** The column a server message talks about, if it names one of ours. */
  private columnIn(message: string): string | null {
    for (const binding of this.table!.bindings) {
      if (new RegExp(`\\b${binding.column.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\b`).test(message)) return binding.column;
    }
    return null;
  }

  private fail(error: ExternalError): ExternalError {
    if (!this.failure) {
      this.failure = error;
      wake(this.spaceWaiters);
      wake(this.idleWaiters);
    }
    return this.failure;
  }

  private throwIfFailed(): void {
    if (this.failure) throw this.failure;
    if (this.closed) throw new ExternalError(`cassandra sink '${this.name}' is closed`, { retriable: false });
  }

  private requireClient(): Client {
    if (!this.client) throw new ExternalError(`cassandra sink '${this.name}' is not open`, { retriable: false });
    return this.client;
  }
}

/** Identity of a row's partition, for grouping; values of different types never collide. */
export function partitionKeyOf(params: readonly unknown[], indexes: readonly number[]): string {
  if (indexes.length === 1) return keyPart(params[indexes[0]]);
  // Length-prefixed parts, so no value can imitate a separator.
  let key = '';
  for (let i = 0; i < indexes.length; i++) {
    const part = keyPart(params[indexes[i]]);
    key += `${part.length}:${part}`;
  }
  return key;
}

function keyPart(value: unknown): string {
  if (typeof value === 'string') return `s${value}`;
  if (typeof value === 'number' || typeof value === 'bigint') return `n${value}`;
  if (value instanceof Date) return `n${value.getTime()}`;
  if (Buffer.isBuffer(value)) return `b${value.toString('hex')}`;
  return `o${String(value)}`;
}

function wake(waiters: Array<() => void>): void {
  if (waiters.length === 0) return;
  const woken = waiters.splice(0, waiters.length);
  for (const resolve of woken) resolve();
}

// ---------------------------------------------------------------- job-file configuration

/**
 * Cassandra sink: idempotent upserts keyed by the table's primary key, so a
 * replay after a crash rewrites the same rows (effectively-once results).
 *
 * @example
 * sink:
 *   cassandra:
 *     contactPoints: ${CASSANDRA_CONTACT_POINTS:-localhost:9042}
 *     keyspace: ${CASSANDRA_KEYSPACE:-tides}
 *     table: lunar_day
 *     primaryKey: { partition: [station], clustering: [window_start] }
 */

export interface CassandraSinkConfig {
  contactPoints: string | string[];
  localDataCenter?: string;
  keyspace: string;
  table: string;
  primaryKey: { partition: string[]; clustering?: string[] };
  columns?: Record<string, string>;
  createTable?: boolean;
  replicationFactor?: number;
  concurrency?: number;
  auth?: { username: string; password: string };
  ssl?: boolean;
}

const DEFAULTS = { localDataCenter: 'datacenter1', createTable: true, replicationFactor: 1, concurrency: 32 };

const IDENTIFIER = '^[A-Za-z][A-Za-z0-9_]{0,47}$';
const IDENTIFIER_HINT = 'a Cassandra name (letters, digits and _, starting with a letter, at most 48 characters)';
const columnList = (description: string, example: string[], minItems: number): JsonSchema => ({
  ...fieldListSchema(description, [example], minItems),
  items: { type: 'string', pattern: IDENTIFIER, patternHint: IDENTIFIER_HINT },
});

export const schema: JsonSchema = {
  title: 'cassandra sink',
  description: 'Upserts result rows into a Cassandra table.',
  examples: [
    {
      contactPoints: '${CASSANDRA_CONTACT_POINTS:-localhost:9042}',
      keyspace: '${CASSANDRA_KEYSPACE:-tides}',
      table: 'lunar_day',
      primaryKey: { partition: ['station'], clustering: ['window_start'] },
    },
  ],
  type: 'object',
  required: ['contactPoints', 'keyspace', 'table', 'primaryKey'],
  additionalProperties: false,
  properties: {
    contactPoints: hostListSchema('host:port of one or more nodes, as a list or comma-separated.', '${CASSANDRA_CONTACT_POINTS:-localhost:9042}'),
    localDataCenter: {
      description: 'Data center the driver prefers.',
      type: 'string',
      minLength: 1,
      default: DEFAULTS.localDataCenter,
      examples: ['${CASSANDRA_LOCAL_DC:-datacenter1}'],
    },
    keyspace: {
      description: 'Keyspace of the table (created with `replicationFactor` when missing and `createTable` is on).',
      type: 'string',
      pattern: IDENTIFIER,
      patternHint: IDENTIFIER_HINT,
      examples: ['${CASSANDRA_KEYSPACE:-tides}'],
    },
    table: { description: 'Table the rows are upserted into.', type: 'string', pattern: IDENTIFIER, patternHint: IDENTIFIER_HINT, examples: ['lunar_day'] },
    primaryKey: {
      title: 'cassandra primaryKey',
      description: 'Partition key and clustering columns; results upsert by them, so they must identify a result row.',
      examples: [{ partition: ['station'], clustering: ['window_start'] }],
      type: 'object',
      required: ['partition'],
      additionalProperties: false,
      properties: {
        partition: columnList('Partition key columns.', ['station'], 1),
        clustering: columnList('Clustering columns.', ['window_start'], 0),
      },
    },
    columns: {
      title: 'cassandra columns',
      description: 'Column -> row field (default: every output field to the column of the same name).',
      type: 'object',
      propertyNames: { pattern: IDENTIFIER, patternHint: IDENTIFIER_HINT },
      additionalProperties: { type: 'string', minLength: 1 },
      examples: [{ station: 'station', window_start: 'window_start', high: 'high' }],
    },
    createTable: { description: 'Create keyspace and table if missing.', type: 'boolean', default: DEFAULTS.createTable },
    replicationFactor: { description: 'For a keyspace this sink creates.', type: 'integer', minimum: 1, default: DEFAULTS.replicationFactor },
    concurrency: { description: 'Concurrent in-flight writes.', type: 'integer', minimum: 1, default: DEFAULTS.concurrency },
    auth: {
      title: 'cassandra auth',
      description: 'User name and password (PasswordAuthenticator); keep them in environment references.',
      type: 'object',
      required: ['username', 'password'],
      additionalProperties: false,
      properties: {
        username: { description: 'User name.', type: 'string', examples: ['${CASSANDRA_USERNAME}'] },
        password: { description: 'Password.', type: 'string', examples: ['${CASSANDRA_PASSWORD}'] },
      },
    },
    ssl: { description: 'Connect with TLS, verifying the node certificates (a private CA: NODE_EXTRA_CA_CERTS).', type: 'boolean', default: false },
  },
};

/** Schema-validated YAML to the JobSpec form: defaults filled in, durations and timestamps in milliseconds. */
export function normalize(raw: CassandraSinkConfig, _context: ComponentContext): CassandraSinkSpec {
  return {
    contactPoints: hostList(raw.contactPoints),
    localDataCenter: raw.localDataCenter ?? DEFAULTS.localDataCenter,
    keyspace: raw.keyspace,
    table: raw.table,
    columns: { ...(raw.columns ?? {}) },
    primaryKey: { partition: [...raw.primaryKey.partition], clustering: [...(raw.primaryKey.clustering ?? [])] },
    createTable: raw.createTable ?? DEFAULTS.createTable,
    replicationFactor: raw.replicationFactor ?? DEFAULTS.replicationFactor,
    concurrency: raw.concurrency ?? DEFAULTS.concurrency,
    ...(raw.auth === undefined ? {} : { auth: { ...raw.auth } }),
    ...(raw.ssl === undefined ? {} : { ssl: raw.ssl }),
  };
}
