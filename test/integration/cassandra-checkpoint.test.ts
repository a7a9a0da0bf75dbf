// The Cassandra checkpoint store against the real server (scripts/cluster/up.sh).
//
//   set -a; . .cluster/env; set +a; node --test dist/test/integration/cassandra-checkpoint.test.js
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test, type TestContext } from 'node:test';
import { StateIncompatibleError } from '../../engine/errors';
import { createCassandraClient, type CassandraConnection } from '../../engine/sinks/cassandra-schema';
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

  // The next save dies right before its commit: every chunk of epoch 2 is written, the pointer is not moved.
  class Crash extends Error {}
  const crashing = openStore(t, {
    chunkBytes: 64 * 1024,
    createClient: (connection: CassandraConnection) => {
      const real = createCassandraClient(connection);
      const execute = real.execute.bind(real) as (query: string, ...rest: unknown[]) => Promise<unknown>;
      (real as unknown as { execute: typeof execute }).execute = (query: string, ...rest: unknown[]) => {
        if (query.startsWith('UPDATE')) return Promise.reject(new Crash('process killed before the commit'));
        return execute(query, ...rest);
      };
      return real;
    },
  });
  await assert.rejects(crashing.save(checkpoint('crash', 2, bigState(300 * 1024))), /process killed before the commit/);
  const client = await adminClient();
  const partial = await client.execute(`SELECT epoch FROM ${keyspace}.${table} WHERE job = ? AND slot = 1`, ['crash'], { prepare: true });
  assert.ok(partial.rows.length > 0 && partial.rows.every((row) => Number(row['epoch']) === 2), 'epoch 2 chunks are there, uncommitted');

  assert.deepEqual(await openStore(t).load('crash'), committed);

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
