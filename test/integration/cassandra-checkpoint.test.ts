// The Cassandra checkpoint store against the real server (scripts/cluster/up.sh).
//
//   set -a; . .cluster/env; set +a; node --test dist/test/integration/cassandra-checkpoint.test.js
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { test, type TestContext } from 'node:test';
import { ClaimLostError, JobAlreadyRunningError, StateIncompatibleError } from '../../engine/core/errors';
import { createCassandraClient, type CassandraConnection } from '../../engine/clients/cassandra';
import { CassandraCheckpointStore, type CassandraCheckpointStoreOptions } from '../../engine/state/cassandra-checkpoint-store';
import { CHECKPOINT_FORMAT_VERSION, type Checkpoint } from '../../engine/state/checkpoint';
import { clusterEnv, requireCluster, scratchKeyspace } from '../support/cluster';

const env = clusterEnv();
const { keyspace, adminClient } = scratchKeyspace('ckpt');
const table = 'tideflow_checkpoints';

function openStore(t: TestContext, overrides: Partial<CassandraCheckpointStoreOptions> = {}): CassandraCheckpointStore {
  const store = new CassandraCheckpointStore({
    contactPoints: env.cassandraContactPoints,
    localDataCenter: env.cassandraLocalDc,
    keyspace,
    table,
    log: (line) => t.diagnostic(line),
    ...overrides,
  });
  t.after(() => store.close());
  return store;
}

function checkpoint(job: string, epoch: number, state: unknown = { seen: { '8454000|1600000000000': 1 } }): Checkpoint {
  return {
    job,
    formatVersion: CHECKPOINT_FORMAT_VERSION,
    epoch,
    createdAt: new Date(1_700_000_000_000 + epoch).toISOString(),
    positions: { 'tides.observations/0': 1_000 * epoch, 'tides.observations/1': 17 },
    watermarks: { partitions: { 'tides.observations/0': 1_600_000_000_000 } },
    operators: { dedupe: { stateKey: 'dedupe:station,t:2h', state } },
    sinks: { main: null },
    counters: { recordsIn: 10 * epoch, deadLetters: 0 },
  };
}

/** About `bytes` of state that gzip cannot shrink much (random base64), so it spans many chunk rows. */
function bigState(bytes: number): Record<string, string> {
  const state: Record<string, string> = {};
  for (let i = 0; i * 4096 < bytes; i++) state[`window-${i}`] = randomBytes(3072).toString('base64');
  return state;
}

test('save then load returns the same checkpoint; a missing job loads as null', async (t) => {
  if (!(await requireCluster(t))) return;
  const store = openStore(t);
  assert.equal(await store.load('nothing-saved'), null);
  const saved = checkpoint('round-trip', 1);
  await store.save(saved);
  assert.deepEqual(await store.load('round-trip'), saved);
  // A fresh store (another process) sees it too.
  assert.deepEqual(await openStore(t).load('round-trip'), saved);
});

test('a 5 MB state is chunked across rows and comes back intact; successive epochs alternate slots', async (t) => {
  if (!(await requireCluster(t))) return;
  const store = openStore(t);
  const first = checkpoint('big', 1, bigState(5 * 1024 * 1024));
  const started = Date.now();
  await store.save(first);
  t.diagnostic(`saved a ${(JSON.stringify(first).length / 1e6).toFixed(1)} MB checkpoint in ${Date.now() - started} ms`);
  const client = await adminClient();
  const rows = await client.execute(`SELECT slot, chunk, epoch FROM ${keyspace}.${table} WHERE job = ?`, ['big'], { prepare: true });
  assert.ok(rows.rows.length >= 8, `spread over ${rows.rows.length} chunk rows`);
  assert.deepEqual(await openStore(t).load('big'), first);

  const second = checkpoint('big', 2, bigState(1024 * 1024));
  await store.save(second);
  assert.deepEqual(await openStore(t).load('big'), second);
  const epochOfSlot = async (slot: number) =>
    Number((await client.execute(`SELECT epoch FROM ${keyspace}.${table} WHERE job = ? AND slot = ? AND chunk = 0`, ['big', slot], { prepare: true })).rows[0]['epoch']);
  assert.deepEqual([await epochOfSlot(0), await epochOfSlot(1)], [1, 2], 'the previous epoch stays whole in the other slot');
  await store.save(checkpoint('big', 3));
  assert.equal((await openStore(t).load('big'))?.epoch, 3);
});

test('a crash before the commit leaves the previous epoch as the one loaded', async (t) => {
  if (!(await requireCluster(t))) return;
  const store = openStore(t, { chunkBytes: 64 * 1024 });
  const committed = checkpoint('crash', 1, bigState(200 * 1024));
  await store.save(committed);
  await store.close();

  // The next save dies right before its commit: every chunk of epoch 2 is written, the pointer is not moved.
  class Crash extends Error {}
  const crashing = openStore(t, {
    chunkBytes: 64 * 1024,
    createClient: (connection: CassandraConnection) => {
      const real = createCassandraClient(connection);
      const execute = real.execute.bind(real) as (query: string, ...rest: unknown[]) => Promise<unknown>;
      (real as unknown as { execute: typeof execute }).execute = (query: string, ...rest: unknown[]) => {
        if (query.includes('SET committed_slot')) return Promise.reject(new Crash('process killed before the commit'));
        return execute(query, ...rest);
      };
      return real;
    },
  });
  await assert.rejects(crashing.save(checkpoint('crash', 2, bigState(300 * 1024))), /process killed before the commit/);
  const client = await adminClient();
  const partial = await client.execute(`SELECT slot, epoch FROM ${keyspace}.${table} WHERE job = ? AND slot = 2`, ['crash'], { prepare: true });
  assert.ok(partial.rows.length > 0 && partial.rows.every((row) => Number(row['epoch']) === 2), 'epoch 2 chunks are there (slot 2: the second claim\'s), uncommitted');

  assert.deepEqual(await openStore(t).load('crash'), committed);
  // The crashed process's claim goes with it (here: released, as its expiry or a restart on its host would).
  await crashing.close();

  // The restarted job saves epoch 2 again; it now commits and wins.
  const retried = checkpoint('crash', 2, { small: true });
  const restarted = openStore(t, { chunkBytes: 64 * 1024 });
  assert.equal((await restarted.load('crash'))?.epoch, 1);
  await restarted.save(retried);
  assert.deepEqual(await openStore(t).load('crash'), retried);
});

test('damaged chunks are reported, not restored', async (t) => {
  if (!(await requireCluster(t))) return;
  const store = openStore(t, { chunkBytes: 16 * 1024 });
  await store.save(checkpoint('damaged', 1, bigState(64 * 1024)));
  const client = await adminClient();
  await client.execute(`UPDATE ${keyspace}.${table} SET data = ? WHERE job = ? AND slot = 0 AND chunk = 1`, [Buffer.from('garbage'), 'damaged'], { prepare: true });
  await assert.rejects(openStore(t).load('damaged'), (error: unknown) => {
    assert.ok(error instanceof StateIncompatibleError);
    assert.match(error.message, /checkpoint of job 'damaged' \(epoch 1\) .* is damaged: .* do not match the recorded length or SHA-256\. Run with --reset-state/);
    return true;
  });
});

test('clear deletes one job and leaves others alone', async (t) => {
  if (!(await requireCluster(t))) return;
  const store = openStore(t);
  await store.save(checkpoint('keep', 4));
  await store.save(checkpoint('drop', 7));
  await store.clear('drop');
  assert.equal(await store.load('drop'), null);
  assert.equal((await store.load('keep'))?.epoch, 4);
  // A job saved again after a reset starts from its new epochs.
  await store.save(checkpoint('drop', 1));
  assert.equal((await openStore(t).load('drop'))?.epoch, 1);
});

test('four jobs starting at once on a fresh keyspace all create, save and load (no "table does not exist")', async (t) => {
  if (!(await requireCluster(t))) return;
  const fresh = `${keyspace}_race${Date.now() % 100_000}`;
  t.after(async () => (await adminClient()).execute(`DROP KEYSPACE IF EXISTS ${fresh}`).catch(() => {}));
  const stores = Array.from({ length: 4 }, () => openStore(t, { keyspace: fresh }));
  const loaded = await Promise.all(
    stores.map(async (store, i) => {
      await store.save(checkpoint(`race-${i}`, 1));
      return store.load(`race-${i}`);
    }),
  );
  assert.deepEqual(
    loaded.map((c) => c?.job),
    ['race-0', 'race-1', 'race-2', 'race-3'],
  );
});

/** The pid of a process that ran and exited: a holder known to be gone. */
function deadPid(): number {
  return spawnSync(process.execPath, ['-e', '0']).pid!;
}

test('one instance per job: a second store is refused with the holder named, and claims the job once the first closed', async (t) => {
  if (!(await requireCluster(t))) return;
  const first = openStore(t);
  await first.claim('single');
  await first.save(checkpoint('single', 1));
  const second = openStore(t);
  await assert.rejects(second.claim('single'), (error: unknown) => {
    assert.ok(error instanceof JobAlreadyRunningError);
    assert.match(
      error.message,
      new RegExp(`^job 'single' is already running: the instance on host '${hostname()}' \\(pid ${process.pid}\\) since .* holds it \\(Cassandra table ${keyspace}\\.${table}\\)\\. .*stop that one first\\. If it no longer runs, its claim expires in \\d+ s\\.$`),
    );
    return true;
  });
  await first.close();
  await second.claim('single');
  await second.save(checkpoint('single', 2));
  assert.equal((await openStore(t).load('single'))?.epoch, 2);
});

test('a claim left by a crashed process of this host is taken over at once; one of another host is refused until it expires', async (t) => {
  if (!(await requireCluster(t))) return;
  const client = await adminClient();
  const claimAs = (job: string, host: string, pid: number, ttl: number) =>
    client.execute(
      `UPDATE ${keyspace}.${table} USING TTL ? SET claim_id = ?, claim_host = ?, claim_pid = ?, claim_since = ? WHERE job = ?`,
      [ttl, `crashed-${job}`, host, pid, '2026-01-01T00:00:00.000Z', job],
      { prepare: true },
    );
  await openStore(t).load('warm-up'); // creates the table
  await claimAs('crashed', hostname(), deadPid(), 600);
  const restarted = openStore(t);
  await restarted.claim('crashed');
  await restarted.save(checkpoint('crashed', 1));

  await claimAs('elsewhere', 'another-host', 4242, 3);
  await assert.rejects(openStore(t).claim('elsewhere'), /the instance on host 'another-host' \(pid 4242\) since 2026-01-01T00:00:00\.000Z holds it/);
  await new Promise((resolve) => setTimeout(resolve, 3500));
  await openStore(t).claim('elsewhere');
});

test('an instance that lost its claim (paused past the TTL while another took over) cannot commit: ClaimLostError, the newer epoch stays', async (t) => {
  if (!(await requireCluster(t))) return;
  const paused = openStore(t, { claimTtlMs: 3000 });
  await paused.claim('zombie');
  await paused.save(checkpoint('zombie', 1));
  // Paused: stop renewing (as SIGSTOP would), let the claim expire, and let a new instance take the job.
  (paused as unknown as { claims: Map<string, NodeJS.Timeout> }).claims.forEach((timer) => clearTimeout(timer));
  await new Promise((resolve) => setTimeout(resolve, 3500));
  const successor = openStore(t);
  await successor.claim('zombie');
  await successor.save(checkpoint('zombie', 5));
  await assert.rejects(paused.save(checkpoint('zombie', 2)), (error: unknown) => {
    assert.ok(error instanceof ClaimLostError);
    assert.match(error.message, /^cannot commit checkpoint epoch 2 of job 'zombie': job 'zombie' is held by another instance now \(host '.*' \(pid \d+\) since .*\); this instance stops without writing it$/);
    return true;
  });
  await assert.rejects(paused.clear('zombie'), ClaimLostError);
  assert.equal((await openStore(t).load('zombie'))?.epoch, 5);
});

test('a lapsed claim is not taken back once another instance held it, even after that one let go: its state may be ahead', async (t) => {
  if (!(await requireCluster(t))) return;
  const paused = openStore(t, { claimTtlMs: 3000 });
  await paused.claim('rejoined');
  await paused.save(checkpoint('rejoined', 1));
  (paused as unknown as { claims: Map<string, NodeJS.Timeout> }).claims.forEach((timer) => clearTimeout(timer));
  await new Promise((resolve) => setTimeout(resolve, 3500));
  // Nobody took it: taking it back is safe.
  assert.equal(await paused.reclaim('rejoined'), true);
  (paused as unknown as { claims: Map<string, NodeJS.Timeout> }).claims.forEach((timer) => clearTimeout(timer));
  await new Promise((resolve) => setTimeout(resolve, 3500));
  // Another instance runs the task further, saves and lets go (a rebalance moved it on).
  const other = openStore(t);
  await other.claim('rejoined');
  await other.save(checkpoint('rejoined', 7));
  await other.release('rejoined');
  assert.equal(await paused.reclaim('rejoined'), false);
  await assert.rejects(paused.save(checkpoint('rejoined', 2)), ClaimLostError);
  assert.equal((await openStore(t).load('rejoined'))?.epoch, 7);
});

test('a claim left to lapse (its partition went elsewhere) is not renewed once another instance held it, when the partition comes back', async (t) => {
  if (!(await requireCluster(t))) return;
  // Cut off from the group: the runtime says it does not run the task, so renewals stop and the claim runs out.
  let owns = true;
  const cutOff = openStore(t, { claimTtlMs: 3000 });
  cutOff.renewClaimsWhile(() => owns);
  await cutOff.claim('returned');
  await cutOff.save(checkpoint('returned', 2));
  owns = false;
  await new Promise((resolve) => setTimeout(resolve, 3500));
  // Another instance runs it further and lets go (the partition comes back to the first one in a rebalance).
  const other = openStore(t);
  await other.claim('returned');
  await other.save(checkpoint('returned', 6));
  await other.release('returned');
  // Back in the group: renewals resume (every third of the TTL); they must not take the claim its state is behind.
  owns = true;
  await new Promise((resolve) => setTimeout(resolve, 2500));
  assert.equal(cutOff.holds('returned'), false);
  await assert.rejects(cutOff.save(checkpoint('returned', 3)), ClaimLostError);
  assert.equal((await openStore(t).load('returned'))?.epoch, 6);
});

test('a checkpoint table made before claims existed gets the claim columns', async (t) => {
  if (!(await requireCluster(t))) return;
  const client = await adminClient();
  const old = 'tideflow_checkpoints_v0';
  await client.execute(
    `CREATE TABLE IF NOT EXISTS ${keyspace}.${old} (job text, slot int, chunk int, epoch bigint, data blob, committed_slot int static, ` +
      `committed_epoch bigint static, committed_chunks int static, committed_bytes int static, committed_sha256 text static, ` +
      `committed_at timestamp static, format_version int static, PRIMARY KEY ((job), slot, chunk))`,
  );
  const store = openStore(t, { table: old });
  await store.save(checkpoint('old-table', 3));
  assert.equal((await openStore(t, { table: old }).load('old-table'))?.epoch, 3);
  await assert.rejects(openStore(t, { table: old }).claim('old-table'), JobAlreadyRunningError);
});
