// The web UI's API against the real Cassandra: results read as partition slices
// of the reference jobs' tables, jobs from the checkpoint table's commit pointers.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { startUi } from '../../engine/cli/ui';
import { CassandraCheckpointStore } from '../../engine/state/cassandra-checkpoint-store';
import { CassandraCheckpointJobs, type TaskView } from '../../engine/ui/checkpoint-jobs';
import type { JobView } from '../../engine/ui/job-monitor';
import { packageRoot } from '../../engine/ui/bundled-results';
import { clusterEnv, requireCluster, scratchKeyspace } from '../support/cluster';
import { loadResultsIntoCassandra } from '../ui/support';

const scratch = scratchKeyspace('ui');

test('the API reads results from Cassandra: rows equal a direct CQL read of the same partition slice', async (t) => {
  if (!(await requireCluster(t, ['cassandra']))) return;
  const { keyspace } = scratch;
  await loadResultsIntoCassandra(keyspace, join(packageRoot(), 'data/bundled/sample-8729108.jsonl'));
  const admin = await scratch.adminClient();
  const checkpointDir = await mkdtemp(join(tmpdir(), 'tideflow-ui-cassandra-'));
  const cluster = clusterEnv();
  const ui = await startUi({ port: 0, host: '127.0.0.1', checkpointDir, quiet: true, cassandra: cluster.cassandraContactPoints.join(','), keyspace, localDc: cluster.cassandraLocalDc }, {});
  try {
    const get = async (path: string) => (await fetch(new URL(path, ui.url))).json() as Promise<any>;
    const stations = await get('/api/stations');
    assert.equal(stations.results.state, 'ready');
    assert.match(stations.results.detail, new RegExp(`Cassandra keyspace ${keyspace}`));
    const panama = stations.stations.find((station: any) => station.id === '8729108');
    assert.equal(panama.first, '2018-10-09T00:00:00.000Z');
    assert.equal(panama.last, '2018-10-12T00:00:00.000Z');
    assert.equal(stations.stations.filter((station: any) => station.last !== null).length, 1);

    const from = '2018-10-10T00:00:00.000Z';
    const to = '2018-10-11T06:00:00.000Z';
    const levels = await get(`/api/results/levels?station=8729108&from=${from}&to=${to}`);
    const series = levels.series[0];
    const direct = await admin.execute(`SELECT window_start, avg, min, max, count FROM ${keyspace}.avg_30m WHERE station = ? AND window_start >= ? AND window_start < ?`, ['8729108', new Date(from), new Date(to)], { prepare: true });
    assert.equal(series.rows.length, 60);
    assert.equal(series.rows.length, direct.rows.length);
    assert.deepEqual(
      series.rows.map((row: any) => [row.window_start, row.avg, row.min, row.max, row.count]),
      direct.rows.map((row) => [(row['window_start'] as Date).toISOString(), row['avg'], row['min'], row['max'], Number(row['count'])]),
    );
    assert.match(series.query, /WHERE station = \? AND window_start >= \? AND window_start < \?/);
    assert.ok(series.queryMs > 0);

    const lunar = await get(`/api/results/lunar-days?station=8729108&from=2018-10-01T00:00:00Z&to=2018-11-01T00:00:00Z`);
    const lunarDirect = await admin.execute(`SELECT window_start, high, low, range FROM ${keyspace}.lunar_day WHERE station = ?`, ['8729108'], { prepare: true });
    assert.deepEqual(
      lunar.series[0].rows.map((row: any) => [row.window_start, row.high, row.low, row.range]),
      lunarDirect.rows.map((row) => [(row['window_start'] as Date).toISOString(), row['high'], row['low'], row['range']]),
    );
    assert.equal(panama.latestLunarDay.window_start, lunar.series[0].rows[lunar.series[0].rows.length - 1].window_start);
  } finally {
    await ui.close();
    await rm(checkpointDir, { recursive: true, force: true });
  }
});

test('jobs from the Cassandra checkpoint table: running elsewhere while fresh, then stopped', async (t) => {
  if (!(await requireCluster(t, ['cassandra']))) return;
  const { keyspace } = scratch;
  const cluster = clusterEnv();
  const store = new CassandraCheckpointStore({ contactPoints: cluster.cassandraContactPoints, localDataCenter: cluster.cassandraLocalDc, keyspace, table: 'tideflow_checkpoints' });
  await store.save({ job: 'elsewhere', formatVersion: 1, epoch: 5, createdAt: new Date().toISOString(), positions: { 'tides/0': 1 }, watermarks: null, operators: {}, sinks: {}, counters: {} });
  await store.close();
  const admin = await scratch.adminClient();
  const pointer = await admin.execute(`SELECT committed_at, committed_bytes FROM ${keyspace}.tideflow_checkpoints WHERE job = 'elsewhere' LIMIT 1`);
  const committedAt = (pointer.rows[0]['committed_at'] as Date).getTime();

  const fresh = await new CassandraCheckpointJobs(admin, keyspace, 'tideflow_checkpoints', () => committedAt + 2_000).list();
  assert.equal(fresh.length, 1);
  assert.equal(fresh[0].state, 'running');
  assert.match(fresh[0].stateReason, /^running elsewhere: last checkpoint 2 s ago/);
  assert.deepEqual(fresh[0].checkpoint, { epoch: 5, at: committedAt, durationMs: null, bytes: pointer.rows[0]['committed_bytes'], store: `Cassandra table ${keyspace}.tideflow_checkpoints` });

  const later = await new CassandraCheckpointJobs(admin, keyspace, 'tideflow_checkpoints', () => committedAt + 600_000).list();
  assert.equal(later[0].state, 'stopped');
  assert.equal(later[0].stateReason, 'last seen 10 min ago: checkpoint epoch 5');
  assert.equal(await new CassandraCheckpointJobs(admin, keyspace, 'tideflow_checkpoints').checkpointBytes('elsewhere'), pointer.rows[0]['committed_bytes']);
});

test('a job run as tasks shows as one job with its tasks, and the instance holding each', async (t) => {
  if (!(await requireCluster(t, ['cassandra']))) return;
  const { keyspace } = scratch;
  const cluster = clusterEnv();
  const store = new CassandraCheckpointStore({ contactPoints: cluster.cassandraContactPoints, localDataCenter: cluster.cassandraLocalDc, keyspace, table: 'tideflow_checkpoints' });
  const admin = await scratch.adminClient();
  try {
    for (const [partition, epoch] of [[0, 3], [1, 4]] as const) {
      const key = `tasked/tides/${partition}`;
      await store.claim(key);
      await store.save({ job: key, formatVersion: 1, epoch, createdAt: new Date().toISOString(), positions: { [`tides/${partition}`]: 10 * epoch }, watermarks: null, operators: {}, sinks: {}, counters: { recordsIn: 10 * epoch } });
    }
    const [view] = (await new CassandraCheckpointJobs(admin, keyspace, 'tideflow_checkpoints').list()).filter((each) => each.job === 'tasked') as Array<JobView & { tasks?: TaskView[] }>;
    assert.equal(view.state, 'running');
    assert.match(view.stateReason, new RegExp(`^2 tasks \\(one per partition\\): running on ${hostname()}:${process.pid}`));
    assert.deepEqual(
      view.tasks?.map((task) => [task.task, task.instance, task.epoch]).sort(),
      [['tides/0', `${hostname()}:${process.pid}`, 3], ['tides/1', `${hostname()}:${process.pid}`, 4]],
    );
  } finally {
    await store.close();
  }
  // Claims released: nobody holds the tasks any more.
  const [after] = (await new CassandraCheckpointJobs(admin, keyspace, 'tideflow_checkpoints').list()).filter((each) => each.job === 'tasked') as Array<JobView & { tasks?: TaskView[] }>;
  assert.deepEqual(after.tasks?.map((task) => task.instance), [null, null]);
});
