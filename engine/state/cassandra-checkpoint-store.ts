import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import { gunzip, gzip } from 'node:zlib';
import { types, type Client } from 'cassandra-driver';
import { ClaimLostError, ExternalError, JobAlreadyRunningError, StateIncompatibleError } from '../core/errors';
import { RetryPolicy, type Backoff } from '../core/retry';
import { createCassandraClient, awaitTableReady, createKeyspaceCql, describeCassandraError, isRetriableCassandraError, qualifiedName, type CassandraConnection } from '../clients/cassandra';
import type { Checkpoint, CheckpointStore } from './checkpoint';
import { describeHolder, holderIsGone, thisInstance, type InstanceIdentity } from './instance';

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
  retry?: Partial<Backoff>;
  /** Makes the driver client (tests pass a fake; default `createCassandraClient`). */
  createClient?: (connection: CassandraConnection) => Client;
  /**
   * How long a claim outlives its last renewal (default 30 s; renewed every
   * third of it). An instance that stops renewing (killed on another host,
   * paused, cut off) loses the job after this long.
   */
  claimTtlMs?: number;
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
const DEFAULT_CLAIM_TTL_MS = 30_000;
/** Our reckoning of a claim's end stays this far ahead of the server's (clock steps, network delay). */
const CLAIM_MARGIN_MS = 2_000;
const CLAIM_COLUMNS = ['claim_id text', 'claim_host text', 'claim_pid int', 'claim_since text', 'claim_generation int'];
/** Chunk rows written or read at once: enough to overlap round trips, few enough not to swamp a recovering node. */
const CHUNK_CONCURRENCY = 4;

/**
 * Checkpoints in a Cassandra table, next to the results (one system to back
 * up; results and checkpoints share fate).
 *
 * Layout: one partition per job, slots of chunk rows, and a commit pointer
 * in static columns (one value per partition):
 *
 *   job text, slot int, chunk int, epoch bigint, data blob,
 *   committed_slot/epoch/chunks/bytes/sha256/at, format_version  (static)
 *   claim_id/host/pid/since                                       (static, with a TTL)
 *   claim_generation                                              (static: one more per claim)
 *   PRIMARY KEY ((job), slot, chunk)
 *
 * One instance writes a job's checkpoints: `claim` sets the claim columns
 * with a lightweight transaction (`IF claim_id = null`), renews them before
 * their TTL runs out, and the pointer is only ever moved by a lightweight
 * transaction conditional on this instance's claim, so an instance that lost
 * the job (paused past the TTL, cut off) cannot commit a checkpoint. Each
 * claim also takes the next generation g and writes only into its own two
 * slots, 2g and 2g + 1: chunks an old instance still writes can never land
 * in a slot a newer one committed.
 *
 * A checkpoint is gzip(JSON of the whole Checkpoint), cut into `chunkBytes`
 * rows. Steps of `save`, in the order that makes it atomic:
 *   1. pick the one of this claim's two slots that the pointer does NOT name
 *      (the committed checkpoint is never touched);
 *   2. write every chunk row of the new epoch into that slot;
 *   3. update the pointer, if this instance still holds the claim (one
 *      single-partition lightweight transaction: atomic, isolated, fenced)
 *      to slot, epoch, chunk count, length and SHA-256.
 * A crash before 3 leaves the pointer on the previous epoch, complete; `load`
 * follows only the pointer, so a half-written epoch is never read, and it checks
 * length and digest, so a mixed-up slot is reported instead of restored.
 * The previous epoch stays in the other slot until the next save overwrites it.
 * Between saves nothing is deleted, so the partition gathers no tombstones
 * however long the job runs (rows beyond a shrunken state's last chunk stay
 * behind, unread, and are overwritten when the state grows again); the slots
 * of earlier claims go, in one range deletion, after a claim's first commit.
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
  private readonly retrying: RetryPolicy;
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
  private readonly instance: InstanceIdentity = thisInstance();
  private readonly claimTtlSeconds: number;
  /** Jobs claimed by this store, with the timer that renews each claim. */
  private readonly claims = new Map<string, NodeJS.Timeout>();
  /** Why a job's claim was lost, once a renewal found another holder. */
  private readonly lost = new Map<string, string>();
  /** The generation of this store's claim per job: its slots are 2g and 2g + 1. */
  private readonly generations = new Map<string, number>();
  /** Jobs whose earlier claims' slots were deleted (after this claim's first commit). */
  private readonly tidied = new Set<string>();
  /** Until when each claim is certainly still ours: its last renewal's request time plus the TTL, less a margin. */
  private readonly validUntil = new Map<string, number>();
  /** Whether a claim should still be renewed (the runtime's word: the group still gives us the partition). */
  private claimCondition: (job: string) => boolean = () => true;
  /** Claims whose renewal was skipped because of the condition (said once each). */
  private readonly notRenewed = new Set<string>();

  constructor(private readonly options: CassandraCheckpointStoreOptions) {
    this.tableName = `${options.keyspace}.${options.table}`;
    this.description = `Cassandra table ${this.tableName} (${options.contactPoints.join(', ')})`;
    this.chunkBytes = Math.max(1024, Math.floor(options.chunkBytes ?? DEFAULT_CHUNK_BYTES));
    this.log = options.log ?? (() => {});
    this.retrying = new RetryPolicy({
      subject: `checkpoint store ${this.tableName}`,
      log: this.log,
      backoff: options.retry,
      retriable: isRetriableCassandraError,
      describeError: describeCassandraError,
    });
    this.claimTtlSeconds = Math.max(3, Math.ceil((options.claimTtlMs ?? DEFAULT_CLAIM_TTL_MS) / 1000));
  }

  /**
   * Claims `job` for this instance (see the class comment). A claim held by a
   * process of this host that no longer runs (a crash) is taken over at once;
   * any other holder is refused until its claim expires.
   */
  async claim(job: string): Promise<void> {
    const client = await this.connect();
    if (!(await this.takeClaim(client, job, null))) {
      const holder = await this.readClaim(client, job);
      const takenOver = holder !== null && holderIsGone(holder) && (await this.takeClaim(client, job, holder.id));
      if (!takenOver) {
        const ttl = holder?.ttlSeconds;
        throw new JobAlreadyRunningError(
          `job '${job}' is already running: the instance on ${holder ? describeHolder(holder) : 'another host'} holds it ` +
            `(Cassandra table ${this.tableName}). Two instances of one job would overwrite each other's checkpoints and results; ` +
            `stop that one first. If it no longer runs, its claim expires ${ttl === undefined ? `within ${this.claimTtlSeconds} s of its last renewal` : `in ${ttl} s`}.`,
        );
      }
    }
    this.lost.delete(job);
    this.scheduleRenewal(job);
    this.generations.set(job, await this.nextGeneration(client, job));
    this.tidied.delete(job);
  }

  /** Whether this store's claim on `job` was renewed within its time to live (and not found taken). */
  holds(job: string): boolean {
    return this.claims.has(job) && !this.lost.has(job) && Date.now() < (this.validUntil.get(job) ?? 0);
  }

  /**
   * After a claim lapsed here (a pause, an outage of the store): renew it, or
   * take it again if it expired and nobody took it meanwhile; false when
   * another instance holds it now, or held it since (its generation moved on:
   * it may have run the job further and let go, and this instance's state is
   * then behind the checkpoint), or the condition says to let it go. Waits
   * out an outage, as every call of this store does.
   */
  async reclaim(job: string): Promise<boolean> {
    if (this.lost.has(job) || !this.claimCondition(job)) return false;
    const client = await this.connect();
    if ((await this.takeClaim(client, job, this.instance.id)) || (await this.takeClaim(client, job, null, this.generations.get(job)))) {
      this.scheduleRenewal(job);
      return true;
    }
    const holder = await this.readClaim(client, job);
    this.lost.set(job, `another instance claimed '${job}' (${holder ? describeHolder(holder) : 'unknown'}) while this one did not renew its claim`);
    return false;
  }

  /** Lets go of `job` now (its state is saved): another instance may claim it at once. */
  async release(job: string): Promise<void> {
    clearTimeout(this.claims.get(job));
    this.claims.delete(job);
    this.validUntil.delete(job);
    this.notRenewed.delete(job);
    if (this.lost.delete(job) || this.client === null) return;
    await this.client
      .execute(`DELETE claim_id, claim_host, claim_pid, claim_since FROM ${this.table()} WHERE job = ? IF claim_id = ?`, [job, this.instance.id])
      .catch(() => {});
  }

  /** Claims are renewed only while `condition(job)` holds (the runtime: while the group gives this instance the partition). */
  renewClaimsWhile(condition: (job: string) => boolean): void {
    this.claimCondition = condition;
  }

  /** The latest complete checkpoint of `job`, or null when it has none. */
  async load(job: string): Promise<Checkpoint | null> {
    const client = await this.connect();
    const pointer = await this.readPointer(client, job);
    this.committedSlots.set(job, pointer?.slot ?? null);
    return this.readCheckpoint(client, job, pointer);
  }

  /** As `load`, but the slot it names is not taken as this instance's to write next to: another instance may be saving it. */
  async peek(job: string): Promise<Checkpoint | null> {
    const client = await this.connect();
    return this.readCheckpoint(client, job, await this.readPointer(client, job));
  }

  private async readCheckpoint(client: Client, job: string, pointer: CommitPointer | null): Promise<Checkpoint | null> {
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

  /** The keys with a committed checkpoint that start with `prefix` (a job's tasks: `<job>/`). */
  async list(prefix: string): Promise<string[]> {
    const client = await this.connect();
    const result = await this.run('list checkpoints', () => client.execute(`SELECT DISTINCT job, committed_slot FROM ${this.table()}`, [], { fetchSize: 10_000 }));
    return result.rows
      .filter((row) => row['committed_slot'] !== null && row['committed_slot'] !== undefined)
      .map((row) => row['job'] as string)
      .filter((key) => key.startsWith(prefix))
      .sort();
  }

  /** Writes the checkpoint into the free slot, then moves the commit pointer to it. Durable when it resolves. */
  async save(checkpoint: Checkpoint): Promise<void> {
    const client = await this.connect();
    const job = checkpoint.job;
    const compressed = await gzipAsync(Buffer.from(JSON.stringify(checkpoint), 'utf8'));
    const chunks = splitIntoChunks(compressed, this.chunkBytes);
    if (!this.claims.has(job) && !this.lost.has(job)) await this.claim(job);
    const generation = this.generations.get(job) ?? 0;
    // Step 1: this claim's slot that the pointer does not name.
    let committed = this.committedSlots.get(job);
    if (committed === undefined) committed = (await this.readPointer(client, job))?.slot ?? null;
    const slot = freeSlot(committed, generation);
    // Step 2: the chunks.
    const epoch = BigInt(checkpoint.epoch);
    await mapLimited(chunks, CHUNK_CONCURRENCY, (data, chunk) =>
      this.run(`save checkpoint chunk ${chunk + 1}/${chunks.length} of job '${job}'`, () =>
        client.execute(`INSERT INTO ${this.table()} (job, slot, chunk, epoch, data) VALUES (?, ?, ?, ?, ?)`, [job, slot, chunk, epoch, data]),
      ),
    );
    // Step 3: the pointer — the checkpoint exists from this write on.
    await this.fenced(client, job, `commit checkpoint epoch ${checkpoint.epoch} of job '${job}'`, (claimId) =>
      client.execute(
        `UPDATE ${this.table()} SET committed_slot = ?, committed_epoch = ?, committed_chunks = ?, committed_bytes = ?, ` +
          `committed_sha256 = ?, committed_at = ?, format_version = ? WHERE job = ? IF claim_id = ?`,
        [slot, epoch, chunks.length, compressed.length, sha256(compressed), new Date(), checkpoint.formatVersion, job, claimId],
      ),
    );
    this.committedSlots.set(job, slot);
    if (!this.tidied.has(job) && generation > 0) {
      // Earlier claims' slots are unreachable now that the pointer names one of ours.
      await this.run(`delete earlier checkpoints of job '${job}'`, () =>
        client.execute(`DELETE FROM ${this.table()} WHERE job = ? AND slot < ?`, [job, 2 * generation]),
      );
    }
    this.tidied.add(job);
  }

  /** Deletes every checkpoint of `job`: the pointer (fenced like a save), then both slots' rows. */
  async clear(job: string): Promise<void> {
    const client = await this.connect();
    await this.fenced(client, job, `clear checkpoints of job '${job}'`, (claimId) =>
      client.execute(
        `DELETE committed_slot, committed_epoch, committed_chunks, committed_bytes, committed_sha256, committed_at, format_version ` +
          `FROM ${this.table()} WHERE job = ? IF claim_id = ?`,
        [job, claimId],
      ),
    );
    await this.run(`clear checkpoints of job '${job}'`, () => client.execute(`DELETE FROM ${this.table()} WHERE job = ? AND slot >= 0`, [job]));
    this.committedSlots.set(job, null);
  }

  async close(): Promise<void> {
    this.closing.abort();
    this.closing = new AbortController();
    for (const timer of this.claims.values()) clearTimeout(timer);
    // Best effort: a claim not released here expires with its TTL.
    if (this.client !== null && this.claims.size > 0) {
      const client = this.client;
      await Promise.all(
        [...this.claims.keys()].map((job) =>
          client
            .execute(`DELETE claim_id, claim_host, claim_pid, claim_since FROM ${this.table()} WHERE job = ? IF claim_id = ?`, [job, this.instance.id])
            .catch(() => {}),
        ),
      );
    }
    this.claims.clear();
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
    else {
      // Tables made before claims existed get the claim columns.
      const columns = await this.run('read columns', () =>
        client.execute('SELECT column_name FROM system_schema.columns WHERE keyspace_name = ? AND table_name = ?', [keyspace, table]),
      );
      const present = new Set(columns.rows.map((row) => row['column_name'] as string));
      const missing = CLAIM_COLUMNS.filter((column) => !present.has(column.split(' ')[0]));
      if (missing.length > 0) {
        await this.run('add the claim columns', () =>
          client.execute(`ALTER TABLE ${this.table()} ADD (${missing.map((column) => `${column} static`).join(', ')})`),
        );
      }
    }
    await this.run('wait for the table', () => awaitTableReady(client, keyspace, table));
    return client;
  }

  /**
   * Sets this instance's claim on `job` if the claim is now `expected` (null:
   * unclaimed or expired). True when it holds the claim afterwards (a retried
   * write that had already applied finds its own claim).
   */
  /** Sets this instance's claim if the claim is `expected` now (and, given `generation`, no other claim came since). */
  private async takeClaim(client: Client, job: string, expected: string | null, generation?: number): Promise<boolean> {
    const { id, host, pid, since } = this.instance;
    // The TTL starts when the server applies the write, which is after this: a safe start for our own reckoning.
    const sentAt = Date.now();
    const sameGeneration = generation === undefined ? '' : ' AND claim_generation = ?';
    const result = await this.run(`claim job '${job}'`, () =>
      client.execute(
        `UPDATE ${this.table()} USING TTL ? SET claim_id = ?, claim_host = ?, claim_pid = ?, claim_since = ? WHERE job = ? IF claim_id = ?${sameGeneration}`,
        [this.claimTtlSeconds, id, host, pid, since, job, expected, ...(generation === undefined ? [] : [generation])],
      ),
    );
    const held = applied(result.rows[0]) || result.rows[0]?.['claim_id'] === id;
    if (held) this.validUntil.set(job, sentAt + this.claimTtlSeconds * 1000 - CLAIM_MARGIN_MS);
    return held;
  }

  /**
   * The generation this claim takes: one more than the last claim's (0 for
   * the first), set while this instance holds the claim, so no two claims
   * share one.
   */
  private async nextGeneration(client: Client, job: string): Promise<number> {
    for (;;) {
      const current = await this.run(`read the claim generation of job '${job}'`, () =>
        client.execute(`SELECT claim_generation FROM ${this.table()} WHERE job = ? LIMIT 1`, [job], { consistency: types.consistencies.serial }),
      );
      const last = current.rows[0]?.['claim_generation'];
      const previous = typeof last === 'number' ? last : null;
      const next = previous === null ? 0 : previous + 1;
      const result = await this.run(`take claim generation ${next} of job '${job}'`, () =>
        client.execute(`UPDATE ${this.table()} SET claim_generation = ? WHERE job = ? IF claim_id = ? AND claim_generation = ?`, [
          next,
          job,
          this.instance.id,
          previous,
        ]),
      );
      const row = result.rows[0];
      if (applied(row) || row?.['claim_generation'] === next) return next;
      if (row?.['claim_id'] !== this.instance.id) {
        throw new ClaimLostError(`job '${job}' was claimed by another instance while this one started (${describeHolder(await this.readClaim(client, job) ?? {})})`);
      }
    }
  }

  private async readClaim(client: Client, job: string): Promise<(InstanceIdentity & { ttlSeconds?: number }) | null> {
    const result = await this.run(`read the claim on job '${job}'`, () =>
      client.execute(
        `SELECT claim_id, claim_host, claim_pid, claim_since, TTL(claim_id) AS ttl FROM ${this.table()} WHERE job = ? LIMIT 1`,
        [job],
      ),
    );
    const row = result.rows[0];
    if (!row || row['claim_id'] === null || row['claim_id'] === undefined) return null;
    return {
      id: row['claim_id'] as string,
      host: row['claim_host'] as string,
      pid: row['claim_pid'] as number,
      since: row['claim_since'] as string,
      ttlSeconds: typeof row['ttl'] === 'number' ? row['ttl'] : undefined,
    };
  }

  /** Renews the claim every third of its TTL; a renewal that finds another holder marks the job lost. */
  private scheduleRenewal(job: string): void {
    clearTimeout(this.claims.get(job));
    const timer = setTimeout(() => {
      void this.renew(job).finally(() => {
        if (this.claims.has(job) && !this.lost.has(job)) this.scheduleRenewal(job);
      });
    }, (this.claimTtlSeconds * 1000) / 3);
    timer.unref();
    this.claims.set(job, timer);
  }

  private async renew(job: string): Promise<void> {
    const client = this.client;
    if (client === null) return;
    if (!this.claimCondition(job)) {
      // Let it run out, so the instance the group gave the partition to can take it over.
      if (!this.notRenewed.has(job)) this.log(`checkpoint store ${this.tableName}: not renewing the claim on '${job}': this instance does not run it any more as far as its source can tell`);
      this.notRenewed.add(job);
      return;
    }
    this.notRenewed.delete(job);
    try {
      // Renewed, or expired (an outage, or left to lapse while the partition was elsewhere) and nobody took it since:
      // take it again. Not when another instance held it meanwhile, even if it let go: its state may be ahead of ours.
      if ((await this.takeClaim(client, job, this.instance.id)) || (await this.takeClaim(client, job, null, this.generations.get(job)))) return;
      const holder = await this.readClaim(client, job);
      const why = `another instance claimed job '${job}' (${holder ? describeHolder(holder) : 'unknown'}) while this one did not renew its claim`;
      this.lost.set(job, why);
      this.log(`checkpoint store ${this.tableName}: ${why}; this instance will not write another checkpoint`);
    } catch {
      // Unreachable now: the next renewal or save tries again, and a save is fenced either way.
    }
  }

  /**
   * Runs a lightweight transaction conditional on this instance's claim. Not
   * applied means the claim is no longer ours: if it merely expired (an outage
   * longer than the TTL) and nobody took it, it is taken again and the write
   * retried once; otherwise ClaimLostError.
   */
  private async fenced(client: Client, job: string, what: string, write: (claimId: string) => Promise<{ rows: Array<Record<string, unknown>> }>): Promise<void> {
    const lost = this.lost.get(job);
    if (lost !== undefined) throw new ClaimLostError(`cannot ${what}: ${lost}`);
    if (!this.claims.has(job)) await this.claim(job);
    for (let attempt = 0; attempt < 2; attempt++) {
      const result = await this.run(what, () => write(this.instance.id));
      if (applied(result.rows[0])) return;
      if (attempt === 0 && (await this.takeClaim(client, job, null))) continue;
      break;
    }
    const holder = await this.readClaim(client, job);
    const why = `job '${job}' is held by another instance now (${holder ? describeHolder(holder) : 'unknown'})`;
    this.lost.set(job, why);
    throw new ClaimLostError(`cannot ${what}: ${why}; this instance stops without writing it`);
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
      return await this.retrying.run(what, operation, { signal: this.closing.signal });
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
  const statics = [
    'committed_slot int',
    'committed_epoch bigint',
    'committed_chunks int',
    'committed_bytes int',
    'committed_sha256 text',
    'committed_at timestamp',
    'format_version int',
    ...CLAIM_COLUMNS,
  ];
  return (
    `CREATE TABLE IF NOT EXISTS ${qualifiedName(keyspace, table)} (job text, slot int, chunk int, epoch bigint, data blob, ` +
    `${statics.map((column) => `${column} static`).join(', ')}, PRIMARY KEY ((job), slot, chunk))` +
    ` WITH comment = 'tideflow checkpoints: chunk rows in two slots, committed_* names the complete one'`
  );
}

/** The slot a save of claim generation `generation` writes into: one of its own two, never the committed one. */
export function freeSlot(committed: number | null, generation = 0): number {
  return committed === 2 * generation ? 2 * generation + 1 : 2 * generation;
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

/** Whether a lightweight transaction's result row says it applied. */
function applied(row: Record<string, unknown> | undefined): boolean {
  return row?.['[applied]'] === true;
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
