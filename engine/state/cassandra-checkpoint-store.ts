import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import { gunzip, gzip } from 'node:zlib';
import type { Client } from 'cassandra-driver';
import { ExternalError, StateIncompatibleError } from '../errors';
import { DEFAULT_RETRY, retry, type RetryOptions } from '../runtime/retry';
import {
  createCassandraClient,
  awaitTableReady,
  createKeyspaceCql,
  describeCassandraError,
  isRetriableCassandraError,
  qualifiedName,
  type CassandraConnection,
} from '../sinks/cassandra-schema';
import type { Checkpoint, CheckpointStore } from './checkpoint';

const gzipAsync = promisify(gzip);
const gunzipAsync = promisify(gunzip);

/** Where the checkpoint table is and how to reach it. */
export interface CassandraCheckpointStoreOptions extends CassandraConnection {
  keyspace: string;
  table: string;
  /** For the keyspace, if this store has to create it. Default 1. */
  replicationFactor?: number;
  /** Informational lines (retries during an outage). */
  log?: (line: string) => void;
  /**
   * Bytes of compressed state per row. Default 512 KiB: far below the largest
   * mutation Cassandra accepts (half a commit-log segment, 16 MiB by default)
   * and the native protocol's frame limit, so a save never trips either.
   */
  chunkBytes?: number;
  /** Backoff of the retry helper (default: 100 ms doubling to 10 s, forever while retriable). */
  retry?: Pick<Partial<RetryOptions>, 'initialDelayMs' | 'maxDelayMs' | 'maxElapsedMs'>;
  /** Makes the driver client (tests pass a fake; default `createCassandraClient`). */
  createClient?: (connection: CassandraConnection) => Client;
}

/** The committed pointer of one job, as stored in the partition's static columns. */
export interface CommitPointer {
  slot: number;
  epoch: number;
  chunks: number;
  bytes: number;
  sha256: string;
}

const DEFAULT_CHUNK_BYTES = 512 * 1024;
/** Chunk rows written or read at once: enough to overlap round trips, few enough not to swamp a recovering node. */
const CHUNK_CONCURRENCY = 4;

/**
 * Checkpoints in a Cassandra table, next to the results (one system to back
 * up; results and checkpoints share fate).
 *
 * Layout: one partition per job, two slots of chunk rows, and a commit pointer
 * in static columns (one value per partition):
 *
 *   job text, slot int, chunk int, epoch bigint, data blob,
 *   committed_slot/epoch/chunks/bytes/sha256/at, format_version  (static)
 *   PRIMARY KEY ((job), slot, chunk)
 *
 * A checkpoint is gzip(JSON of the whole Checkpoint), cut into `chunkBytes`
 * rows. Steps of `save`, in the order that makes it atomic:
 *   1. pick the slot the pointer does NOT name (the committed checkpoint is never touched);
 *   2. write every chunk row of the new epoch into that slot;
 *   3. update the pointer (one single-partition write: atomic and isolated)
 *      to slot, epoch, chunk count, length and SHA-256.
 * A crash before 3 leaves the pointer on the previous epoch, complete; `load`
 * follows only the pointer, so a half-written epoch is never read, and it checks
 * length and digest, so a mixed-up slot is reported instead of restored.
 * The previous epoch stays in the other slot until the next save overwrites it.
 * Nothing is ever deleted between saves, so the partition gathers no tombstones
 * however long the job runs (rows beyond a shrunken state's last chunk stay
 * behind, unread, and are overwritten when the state grows again).
 *
 * Durability: writes use LOCAL_QUORUM — on a single node with replication
 * factor 1 that is ONE, and Cassandra acknowledges a write once it is in the
 * commit log (fsynced periodically per `commitlog_sync`; the default 10 s
 * period is the usual Cassandra trade-off). Outages are retried like the sink's
 * writes: with backoff, for as long as they last.
 *
 * @example
 *   const store = new CassandraCheckpointStore({ contactPoints: ['127.0.0.1:9042'], localDataCenter: 'datacenter1',
 *     keyspace: 'tides', table: 'tideflow_checkpoints' });
 *   const last = await store.load('tides-lunar-day');
 */
export class CassandraCheckpointStore implements CheckpointStore {
  readonly description: string;
  private readonly tableName: string;
  private readonly chunkBytes: number;
  private readonly retryOptions: RetryOptions;
  private readonly log: (line: string) => void;
  private client: Client | null = null;
  private ready: Promise<Client> | null = null;
  /** Committed slot per job as last seen, so a save need not read it back. */
  private readonly committedSlots = new Map<string, number | null>();
  /**
   * Aborted by `close`: retries in progress (an outage at start-up) stop instead of going on, and logging,
   * behind a closed store. A new one for whatever the store is asked after that (it reconnects).
   */
  private closing = new AbortController();

  constructor(private readonly options: CassandraCheckpointStoreOptions) {
    this.tableName = `${options.keyspace}.${options.table}`;
    this.description = `Cassandra table ${this.tableName} (${options.contactPoints.join(', ')})`;
    this.chunkBytes = Math.max(1024, Math.floor(options.chunkBytes ?? DEFAULT_CHUNK_BYTES));
    this.retryOptions = { ...DEFAULT_RETRY, ...options.retry, retriable: isRetriableCassandraError };
    this.log = options.log ?? (() => {});
  }

  /** The latest complete checkpoint of `job`, or null when it has none. */
  async load(job: string): Promise<Checkpoint | null> {
    const client = await this.connect();
    const pointer = await this.readPointer(client, job);
    this.committedSlots.set(job, pointer?.slot ?? null);
    if (!pointer) return null;
    const chunks = await mapLimited(range(pointer.chunks), CHUNK_CONCURRENCY, (chunk) =>
      this.run(`read checkpoint chunk ${chunk} of job '${job}'`, () =>
        client.execute(`SELECT epoch, data FROM ${this.table()} WHERE job = ? AND slot = ? AND chunk = ?`, [job, pointer.slot, chunk]),
      ),
    );
    const parts: Buffer[] = [];
    for (let chunk = 0; chunk < chunks.length; chunk++) {
      const row = chunks[chunk].rows[0];
      if (!row || Number(row['epoch']) !== pointer.epoch) {
        throw this.damaged(job, pointer, `chunk ${chunk} ${row ? `belongs to epoch ${Number(row['epoch'])}` : 'is missing'}`);
      }
      parts.push(row['data'] as Buffer);
    }
    const compressed = Buffer.concat(parts);
    if (compressed.length !== pointer.bytes || sha256(compressed) !== pointer.sha256) {
      throw this.damaged(job, pointer, `its ${compressed.length} bytes do not match the recorded length or SHA-256`);
    }
    let checkpoint: Checkpoint;
    try {
      checkpoint = JSON.parse((await gunzipAsync(compressed)).toString('utf8')) as Checkpoint;
    } catch (error) {
      throw this.damaged(job, pointer, `it does not decompress to JSON (${(error as Error).message})`);
    }
    return checkpoint;
  }

  /** Writes the checkpoint into the free slot, then moves the commit pointer to it. Durable when it resolves. */
  async save(checkpoint: Checkpoint): Promise<void> {
    const client = await this.connect();
    const job = checkpoint.job;
    const compressed = await gzipAsync(Buffer.from(JSON.stringify(checkpoint), 'utf8'));
    const chunks = splitIntoChunks(compressed, this.chunkBytes);
    // Step 1: the slot the pointer does not name.
    let committed = this.committedSlots.get(job);
    if (committed === undefined) committed = (await this.readPointer(client, job))?.slot ?? null;
    const slot = freeSlot(committed);
    // Step 2: the chunks.
    const epoch = BigInt(checkpoint.epoch);
    await mapLimited(chunks, CHUNK_CONCURRENCY, (data, chunk) =>
      this.run(`save checkpoint chunk ${chunk + 1}/${chunks.length} of job '${job}'`, () =>
        client.execute(`INSERT INTO ${this.table()} (job, slot, chunk, epoch, data) VALUES (?, ?, ?, ?, ?)`, [job, slot, chunk, epoch, data]),
      ),
    );
    // Step 3: the pointer — the checkpoint exists from this write on.
    await this.run(`commit checkpoint epoch ${checkpoint.epoch} of job '${job}'`, () =>
      client.execute(
        `UPDATE ${this.table()} SET committed_slot = ?, committed_epoch = ?, committed_chunks = ?, committed_bytes = ?, ` +
          `committed_sha256 = ?, committed_at = ?, format_version = ? WHERE job = ?`,
        [slot, epoch, chunks.length, compressed.length, sha256(compressed), new Date(), checkpoint.formatVersion, job],
      ),
    );
    this.committedSlots.set(job, slot);
  }

  /** Deletes every checkpoint of `job` (one partition tombstone). */
  async clear(job: string): Promise<void> {
    const client = await this.connect();
    await this.run(`clear checkpoints of job '${job}'`, () => client.execute(`DELETE FROM ${this.table()} WHERE job = ?`, [job]));
    this.committedSlots.set(job, null);
  }

  async close(): Promise<void> {
    this.closing.abort();
    this.closing = new AbortController();
    const client = this.client;
    this.client = null;
    this.ready = null;
    await client?.shutdown();
  }

  // ---------------------------------------------------------------- internals

  private table(): string {
    return qualifiedName(this.options.keyspace, this.options.table);
  }

  /** Connects and creates keyspace and table if missing, once; waits out an outage. */
  private connect(): Promise<Client> {
    this.ready ??= this.open().catch((error: unknown) => {
      this.ready = null;
      throw error;
    });
    return this.ready;
  }

  private async open(): Promise<Client> {
    const client = this.client ?? (this.options.createClient ?? createCassandraClient)(this.options);
    this.client = client;
    await this.run('connect', () => client.connect());
    const { keyspace, table } = this.options;
    // Look before creating: CREATE ... IF NOT EXISTS still needs the CREATE permission,
    // which a production role that only writes to an existing keyspace may lack.
    const keyspaces = await this.run('read keyspaces', () =>
      client.execute('SELECT keyspace_name FROM system_schema.keyspaces WHERE keyspace_name = ?', [keyspace]),
    );
    if (keyspaces.rows.length === 0) {
      await this.run('create keyspace', () => client.execute(createKeyspaceCql(keyspace, this.options.replicationFactor ?? 1)));
    }
    const tables = await this.run('read tables', () =>
      client.execute('SELECT table_name FROM system_schema.tables WHERE keyspace_name = ? AND table_name = ?', [keyspace, table]),
    );
    if (tables.rows.length === 0) await this.run('create table', () => client.execute(checkpointTableCql(keyspace, table)));
    await this.run('wait for the table', () => awaitTableReady(client, keyspace, table));
    return client;
  }

  private async readPointer(client: Client, job: string): Promise<CommitPointer | null> {
    const result = await this.run(`read the checkpoint pointer of job '${job}'`, () =>
      client.execute(
        `SELECT committed_slot, committed_epoch, committed_chunks, committed_bytes, committed_sha256 FROM ${this.table()} WHERE job = ? LIMIT 1`,
        [job],
      ),
    );
    const row = result.rows[0];
    if (!row || row['committed_slot'] === null || row['committed_slot'] === undefined) return null;
    return {
      slot: row['committed_slot'] as number,
      epoch: Number(row['committed_epoch']),
      chunks: row['committed_chunks'] as number,
      bytes: row['committed_bytes'] as number,
      sha256: row['committed_sha256'] as string,
    };
  }

  /** One Cassandra operation under the retry helper; failures that will not pass become a non-retriable ExternalError. */
  private async run<T>(what: string, operation: () => Promise<T>): Promise<T> {
    try {
      return await retry(operation, {
        ...this.retryOptions,
        signal: this.closing.signal,
        onRetry: (error, attempt, delayMs) =>
          this.log(
            `checkpoint store ${this.tableName}: ${what} failed (${describeCassandraError(error)}); retrying in ${delayMs} ms (attempt ${attempt})`,
          ),
      });
    } catch (error) {
      if (error instanceof ExternalError) throw error;
      const retriable = isRetriableCassandraError(error);
      throw new ExternalError(
        `checkpoint store ${this.tableName}: cannot ${what}${retriable ? ', gave up retrying' : ''}: ${describeCassandraError(error)}`,
        { retriable, cause: error },
      );
    }
  }

  private damaged(job: string, pointer: CommitPointer, why: string): StateIncompatibleError {
    return new StateIncompatibleError(
      `the checkpoint of job '${job}' (epoch ${pointer.epoch}) in Cassandra table ${this.tableName} is damaged: ${why}. ` +
        `Run with --reset-state to discard it and start fresh.`,
    );
  }
}

/** CREATE TABLE for checkpoints (see CassandraCheckpointStore for the layout). */
export function checkpointTableCql(keyspace: string, table: string): string {
  const statics = ['committed_slot int', 'committed_epoch bigint', 'committed_chunks int', 'committed_bytes int', 'committed_sha256 text', 'committed_at timestamp', 'format_version int'];
  return (
    `CREATE TABLE IF NOT EXISTS ${qualifiedName(keyspace, table)} (job text, slot int, chunk int, epoch bigint, data blob, ` +
    `${statics.map((column) => `${column} static`).join(', ')}, PRIMARY KEY ((job), slot, chunk))` +
    ` WITH comment = 'tideflow checkpoints: chunk rows in two slots, committed_* names the complete one'`
  );
}

/** The slot a save writes into: never the committed one. */
export function freeSlot(committed: number | null): number {
  return committed === 0 ? 1 : 0;
}

/**
 * Cuts `data` into pieces of at most `chunkBytes` (views, not copies).
 * An empty input still yields one (empty) chunk, so every checkpoint has a row.
 *
 * @example
 *   splitIntoChunks(Buffer.alloc(5), 2).map((chunk) => chunk.length)   // [2, 2, 1]
 */
export function splitIntoChunks(data: Buffer, chunkBytes: number): Buffer[] {
  if (!(chunkBytes >= 1)) throw new RangeError(`chunk size must be at least 1 byte, got ${chunkBytes}`);
  const chunks: Buffer[] = [];
  for (let start = 0; start < data.length; start += chunkBytes) chunks.push(data.subarray(start, Math.min(data.length, start + chunkBytes)));
  if (chunks.length === 0) chunks.push(data.subarray(0, 0));
  return chunks;
}

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

function range(count: number): number[] {
  return Array.from({ length: count }, (_, index) => index);
}

/** `map` with at most `limit` operations running at once; results in input order. */
async function mapLimited<T, R>(items: readonly T[], limit: number, operation: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const index = next++;
      results[index] = await operation(items[index], index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
