/**
 * Threads: a job that runs as tasks runs on `--workers N` threads that share
 * nothing, each a member of the consumer group with its share of the
 * partitions. The same bounded run on 1, 2 and 3 threads over a 6-partition
 * topic gives exactly the plain computation each time; a run on 3 threads
 * stopped mid-way (SIGTERM) and finished on 2 does too (tasks handed over
 * between threads and between runs).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { requireCluster } from '../support/cluster';
import { compareWithPlain, describeComparison, observationSlice, openFaultRun, RESULT_TABLE, runCli, startCli, unaccountedOf, type JobName } from './harness';

const PARTITIONS = 6;
const JOBS_ON_THREADS: JobName[] = ['tides-lunar-day', 'tides-30m-average'];

test('threads: the same bounded run on 1, 2 and 3 threads (--workers) over a 6-partition topic; each equals the plain computation', { timeout: 600_000 }, async (t) => {
  if (!(await requireCluster(t))) return;
  const input = await observationSlice(8);
  for (const workers of [1, 2, 3]) {
    const run = await openFaultRun(`threads${workers}`, t);
    try {
      await run.produce(input, PARTITIONS);
      await run.prepareKeyspace();
      for (const job of JOBS_ON_THREADS) {
        const exit = await runCli(['run', run.jobFile(job), '--until-end', '--workers', String(workers)], run.env({ FAULTS_GROUP: `threads-${job}-${run.id}` }));
        assert.equal(exit.code, 0, exit.stderr);
        const comparison = compareWithPlain(job, input, await run.table(RESULT_TABLE[job]));
        const final = await run.lastCheckpoint(job);
        t.diagnostic(`${job} --workers ${workers}: ${describeComparison(comparison)} in ${exit.durationMs} ms`);
        assert.ok(comparison.exact, `${job} --workers ${workers}: ${describeComparison(comparison)}`);
        assert.equal(final?.counters.recordsIn, input.length, 'every record counted once over all tasks');
        assert.equal(unaccountedOf(job, final!.counters), 0);
        if (workers > 1) {
          assert.match(exit.stderr, new RegExp(`${job}: ${workers} threads, each a member of the consumer group`));
          // Every thread joined the group and was given partitions; together they read the whole topic.
          for (let thread = 1; thread <= workers; thread++) assert.match(exit.stderr, new RegExp(`\\[thread ${thread}\\] kafka: joined group`));
        } else {
          assert.doesNotMatch(exit.stderr, /\[thread/);
        }
        // The summary counts each record once, however the partitions moved between threads at start-up.
        assert.match(exit.stderr, new RegExp(`${input.length.toLocaleString('en-US')} records`));
      }
    } finally {
      await run.close();
    }
  }
});

test('threads: half the topic read live on 3 threads, stopped (SIGTERM), the rest on 2; tasks resume on other threads, results exact', { timeout: 600_000 }, async (t) => {
  if (!(await requireCluster(t))) return;
  const input = await observationSlice(8);
  const job: JobName = 'tides-lunar-day';
  const run = await openFaultRun('threads-stop', t);
  try {
    // The first half, read live by 3 threads, which stop with windows open in their tasks' checkpoints;
    // then the second half, read to the end by 2 threads: tasks resume on other threads than they left.
    const half = Math.floor(input.length / 2);
    await run.produce(input.slice(0, half), PARTITIONS);
    await run.prepareKeyspace();
    const file = run.jobFile(job, (text) => text + `\ncheckpoint:\n  cassandra:\n    interval: 200ms\n`);
    const env = run.env({ FAULTS_GROUP: `threads-stop-${run.id}` });
    const first = startCli(['run', file, '--workers', '3'], env);
    for (let thread = 1; thread <= 3; thread++) {
      assert.notEqual(await first.waitForStderr(new RegExp(`\\[thread ${thread}\\] kafka: joined group`)), null, first.stderrSoFar());
    }
    while (((await run.lastCheckpoint(job))?.counters.recordsIn ?? 0) < half) await new Promise((resolve) => setTimeout(resolve, 500));
    first.kill('SIGTERM');
    const stopped = await first.exited;
    assert.equal(stopped.code, 0, stopped.stderr);
    t.diagnostic(`3 threads stopped in ${stopped.durationMs} ms after reading the first ${half} records`);
    await run.produce(input.slice(half), PARTITIONS);

    const rest = await runCli(['run', file, '--until-end', '--workers', '2'], env);
    t.diagnostic(`2 threads read the rest in ${rest.durationMs} ms`);
    assert.equal(rest.code, 0, rest.stderr);
    assert.match(rest.stderr, /resuming tides-lunar-day from checkpoints/);
    const comparison = compareWithPlain(job, input, await run.table(RESULT_TABLE[job]));
    const final = await run.lastCheckpoint(job);
    t.diagnostic(`${describeComparison(comparison)}`);
    assert.ok(comparison.exact, describeComparison(comparison));
    assert.equal(final?.counters.recordsIn, input.length, 'every record counted once over all tasks');
    assert.equal(unaccountedOf(job, final!.counters), 0);
  } finally {
    await run.close();
  }
});
