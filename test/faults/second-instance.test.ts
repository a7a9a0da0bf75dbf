/**
 * One instance per job: a second `tideflow run` of a job that is already
 * running (same checkpoint table) is refused at start with exit 2 and a
 * message naming the running instance, before it reads or writes anything;
 * the first goes on undisturbed and its results stay exact.
 *
 *   first    joined --c--c--c--------------------- SIGTERM -> exit 0
 *   second              start -> exit 2 ("already running")
 *   third                                                   resume -> end of topic -> exact
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { requireCluster } from '../support/cluster';
import { compareWithPlain, describeComparison, observationSlice, openFaultRun, RESULT_TABLE, startCli, unaccountedOf, type JobName } from './harness';

const JOINED = /kafka: joined group/;

test('a second instance of a running job is refused with exit 2; the first is undisturbed and the results exact', { timeout: 180_000 }, async (t) => {
  if (!(await requireCluster(t))) return;
  const job: JobName = 'tides-lunar-day';
  const run = await openFaultRun('second');
  try {
    const input = await observationSlice(16);
    await run.produce(input);
    const total = await run.topicSize();
    await run.prepareKeyspace();
    const group = `faults-second-${run.id}`;
    const env = run.env({ FAULTS_GROUP: group });
    const file = run.jobFile(job);
    // Streaming (no --until-end): it holds the job until stopped.
    const first = startCli(['run', file, '--checkpoint-interval', '200ms'], env);
    if ((await first.waitForStderr(JOINED)) === null) assert.fail(`the first instance did not start: ${(await first.exited).stderr}`);

    const second = await startCli(['run', file, '--until-end'], env).exited;
    t.diagnostic(`second instance: exit ${second.code} after ${second.durationMs} ms: ${second.stderr.trim()}`);
    assert.equal(second.code, 2, second.stderr);
    assert.match(second.stderr, new RegExp(`tideflow: job '${job}' is already running: the instance on host '[^']+' \\(pid ${first.child.pid}\\) since \\S+ holds it \\(Cassandra table ${run.keyspace}\\.tideflow_checkpoints\\)\\.`));
    assert.doesNotMatch(second.stderr, /joined group|\n\s+at /, 'refused before consuming; no stack trace');

    // The first instance still owns the job: stop it, and let a fresh instance finish the topic.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    first.kill('SIGTERM');
    const stopped = await first.exited;
    assert.equal(stopped.code, 0, stopped.stderr);
    assert.doesNotMatch(stopped.stderr, /no longer held|ClaimLost/);
    const third = await startCli(['run', file, '--until-end'], env).exited;
    assert.equal(third.code, 0, third.stderr);
    const comparison = compareWithPlain(job, input, await run.table(RESULT_TABLE[job]));
    const final = await run.lastCheckpoint(job);
    assert.ok(comparison.exact, describeComparison(comparison));
    assert.equal(final?.counters.recordsIn, total);
    assert.equal(final ? unaccountedOf(job, final.counters) : NaN, 0);
  } finally {
    await run.close();
  }
});
