/**
 * A task lost while the group still gives its partition to this instance is
 * taken up again. An instance paused past its claim's TTL (but not past the
 * group's session timeout) finds, once it runs again, that another instance
 * claimed its task meanwhile, ran it further and let go. Its own state is
 * behind, so it drops the task. But no rebalance follows (the group never
 * missed it), so nobody else would read the partition: the instance claims
 * the task again, restores the newer checkpoint, and reads on from there.
 *
 * The "other instance" is played by the test: it claims the lapsed task,
 * saves the task's last checkpoint again as the next epoch, and lets go.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CassandraCheckpointStore } from '../../engine/state/cassandra-checkpoint-store';
import { requireCluster } from '../support/cluster';
import { compareWithPlain, describeComparison, observationSlice, openFaultRun, RESULT_TABLE, runCli, startCli, type JobName } from './harness';

const JOB: JobName = 'tides-30m-average';

test('a task lost while its partition is still this instance\'s in the group is taken up again from the newer checkpoint; results exact', { timeout: 300_000 }, async (t) => {
  if (!(await requireCluster(t))) return;
  const input = await observationSlice(8);
  const run = await openFaultRun('lost-task', t);
  const half = Math.floor(input.length / 2);
  try {
    await run.produce(input.slice(0, half), 2);
    await run.prepareKeyspace();
    const file = run.jobFile(JOB, (text) => text + `\ncheckpoint:\n  cassandra:\n    interval: 300ms\n    claimTtl: 3s\n`);
    const env = run.env({ FAULTS_GROUP: `lost-task-${run.id}` });
    const engine = startCli(['run', file], env);
    const key = `${JOB}/${run.topic}/0`;
    try {
      while (((await run.lastCheckpoint(JOB))?.counters.recordsIn ?? 0) < half) await new Promise((resolve) => setTimeout(resolve, 300));

      // Paused past the claim's TTL (3 s), well inside the group's session timeout (30 s).
      engine.kill('SIGSTOP');
      await new Promise((resolve) => setTimeout(resolve, 4_500));
      const other = new CassandraCheckpointStore({ contactPoints: run.cluster.cassandraContactPoints, localDataCenter: run.cluster.cassandraLocalDc, keyspace: run.keyspace, table: 'tideflow_checkpoints' });
      let newer: number;
      try {
        await other.claim(key);
        const last = (await other.load(key))!;
        newer = last.epoch + 1;
        await other.save({ ...last, epoch: newer, createdAt: new Date().toISOString() });
        await other.release(key);
      } finally {
        await other.close();
      }
      t.diagnostic(`while the instance was paused, another claimed ${key}, saved epoch ${newer} and let go`);
      engine.kill('SIGCONT');
      // Heartbeats first (the group still has it), then new records.
      await new Promise((resolve) => setTimeout(resolve, 3_000));
      await run.produce(input.slice(half), 2);

      const retaken = await Promise.race([
        engine.waitForStderr(new RegExp(`${run.topic.replace(/[.]/g, '\\.')}/0 is still this instance's in group \\S+: taking its task up again`)),
        new Promise<null>((resolve) => setTimeout(() => resolve(null), 60_000)),
      ]);
      assert.notEqual(retaken, null, `the lost task was not taken up again:\n${engine.stderrSoFar()}`);
      assert.match(engine.stderrSoFar(), new RegExp(`${key.replace(/[.]/g, '\\.')}: .*this instance stops running it`));
      while (((await run.lastCheckpoint(JOB))?.counters.recordsIn ?? 0) < input.length) await new Promise((resolve) => setTimeout(resolve, 300));
      engine.kill('SIGTERM');
      const exit = await engine.exited;
      assert.equal(exit.code, 0, exit.stderr);
      const store = new CassandraCheckpointStore({ contactPoints: run.cluster.cassandraContactPoints, localDataCenter: run.cluster.cassandraLocalDc, keyspace: run.keyspace, table: 'tideflow_checkpoints' });
      try {
        const final = (await store.load(key))!;
        t.diagnostic(`${key}: epoch ${final.epoch} at the end (the other instance's was ${newer})`);
        assert.ok(final.epoch > newer, `went on from the newer checkpoint: epoch ${final.epoch} after ${newer}`);
      } finally {
        await store.close();
      }
      // The windows still open at the end of the input close in a bounded run.
      const finish = await runCli(['run', file, '--until-end'], env);
      assert.equal(finish.code, 0, finish.stderr);
      const comparison = compareWithPlain(JOB, input, await run.table(RESULT_TABLE[JOB]));
      t.diagnostic(describeComparison(comparison));
      assert.ok(comparison.exact, describeComparison(comparison));
      assert.equal((await run.lastCheckpoint(JOB))?.counters.recordsIn, input.length, 'every record counted once');
    } finally {
      engine.kill('SIGKILL');
    }
  } finally {
    await run.close();
  }
});
