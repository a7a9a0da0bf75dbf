/**
 * Repartition: a topic keyed by time, not by station, so each station's
 * records are spread over all 6 partitions. The 30-minute job with a
 * `repartition: { by: [station] }` step runs as two stages joined by an
 * internal topic (jobfile/stages.ts), on real Kafka and Cassandra:
 *
 * - two instances side by side, as a bounded backfill: both end, and the
 *   table equals the plain computation row for row;
 * - one instance reading live, SIGKILLed mid-way (its first stage re-sends
 *   what it sent after its last checkpoint), then a bounded run finishing the
 *   topic: still exact, every record counted once.
 *
 * Without the step the same job is refused by lint: its window groups by
 * station, the topic is keyed by time.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { lintJobFiles } from '../../engine/jobfile';
import { formatProblem } from '../../engine/core/errors';
import { Kafka, logLevel } from 'kafkajs';
import { clusterEnv, requireCluster } from '../support/cluster';
import { BOUNDED_RUN, compareWithPlain, describeComparison, logsOf, observationSlice, openFaultRun, RESULT_TABLE, runCli, startCli, unaccountedOf, type FaultRun, type JobName } from './harness';

const PARTITIONS = 6;

/** Low and high offsets of each partition of a topic. */
async function internalTopicOffsets(topic: string): Promise<Array<{ low: number; high: number }>> {
  const admin = new Kafka({ brokers: clusterEnv().kafkaBrokers, logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    return (await admin.fetchTopicOffsets(topic)).map((o) => ({ low: Number(o.low), high: Number(o.high) }));
  } finally {
    await admin.disconnect();
  }
}
const JOB: JobName = 'tides-30m-average';
const SECOND_STAGE = `${JOB}.by-station`;

/** The reference job on a topic keyed by time, re-keyed by station before its dedupe and window. */
function repartitionedJob(run: FaultRun, options: { repartition: boolean }): string {
  return run.jobFile(
    JOB,
    (text) =>
      text
        .replace(/^( {4}keyedBy: )\[station\]$/m, '$1[t]')
        .replace(/^( {4}group: .*)$/m, `$1\n    sessionTimeout: 8s`)
        .replace(/^steps:\n/m, options.repartition ? 'steps:\n  - repartition: { id: by-station, by: [station] }\n' : 'steps:\n') +
      `\ncheckpoint:\n  cassandra:\n    interval: 300ms\n    claimTtl: 8s\n`,
    options.repartition ? `${JOB}.yaml` : `${JOB}-not-repartitioned.yaml`,
  );
}

test('repartition: a topic keyed by time, re-keyed by station; 2 instances as a bounded backfill; the table is exact', { timeout: 600_000 }, async (t) => {
  if (!(await requireCluster(t))) return;
  const input = await observationSlice(8);
  const run = await openFaultRun('repartition', t);
  try {
    await run.produce(input, PARTITIONS, 't');
    await run.prepareKeyspace();
    const group = `repartition-${run.id}`;
    run.ownTopic(`${group}-by-station-repartition`);
    const without = repartitionedJob(run, { repartition: false });
    const refused = lintJobFiles([without]).map(formatProblem);
    assert.ok(refused.some((line) => /window step 'avg-30m' groups by \[station\], but the topic is keyed by \[t\]/.test(line)), refused.join('\n'));

    const file = repartitionedJob(run, { repartition: true });
    assert.deepEqual(lintJobFiles([file]).map(formatProblem), []);
    const env = run.env({ FAULTS_GROUP: group });
    const instances = [startCli(['run', file, '--until-end'], env, BOUNDED_RUN), startCli(['run', file, '--until-end'], env, BOUNDED_RUN)];
    const exits = await Promise.all(instances.map((cli) => cli.exited));
    for (const exit of exits) assert.equal(exit.code, 0, logsOf(exits));
    assert.match(exits[0].stderr, /two stages, re-keyed through topic repartition-\S+-by-station-repartition/);
    const comparison = compareWithPlain(JOB, input, await run.table(RESULT_TABLE[JOB]));
    t.diagnostic(`2 instances: ${describeComparison(comparison)} in ${Math.max(...exits.map((exit) => exit.durationMs))} ms`);
    assert.ok(comparison.exact, describeComparison(comparison));
    // Every record read once by the first stage and once (replays aside) by the second.
    const first = await run.lastCheckpoint(JOB);
    const second = await run.lastCheckpoint(SECOND_STAGE);
    assert.equal(first?.counters.recordsIn, input.length);
    assert.equal(second?.counters.recordsIn, input.length);
    assert.equal(second!.counters.late, 0);
    assert.equal(unaccountedOf(JOB, second!.counters), 0);
    // The two instances shared the work: each ran tasks of both stages.
    for (const exit of exits) assert.match(exit.stderr, /\[stage 1: tides-30m-average\] kafka: joined group/);
    // What the second stage checkpointed is deleted from the internal topic, not kept for its retention.
    const internal = await internalTopicOffsets(`${group}-by-station-repartition`);
    t.diagnostic(`internal topic, first offset kept / end per partition: ${internal.map(({ low, high }) => `${low}/${high}`).join(', ')}`);
    assert.equal(internal.length, PARTITIONS);
    // A partition read in one batch is purged by the final commit, which a busy machine may not finish before the exit.
    assert.ok(internal.every(({ high }) => high > 0));
    assert.ok(internal.some(({ low }) => low > 0), 'purged up to a checkpoint');

    // --reset-state starts both stages afresh: the internal topic too (a purged one could not be read again).
    const again = await runCli(['run', file, '--until-end', '--reset-state'], env, BOUNDED_RUN);
    assert.equal(again.code, 0, again.stderr);
    const fresh = await internalTopicOffsets(`${group}-by-station-repartition`);
    assert.ok(fresh.every(({ high }) => high > 0), `written again: ${fresh.map(({ low, high }) => `${low}/${high}`).join(', ')}`);
    const rerun = compareWithPlain(JOB, input, await run.table(RESULT_TABLE[JOB]));
    t.diagnostic(`rerun with --reset-state: ${describeComparison(rerun)} in ${again.durationMs} ms`);
    assert.ok(rerun.exact, `${describeComparison(rerun)}\n${again.stderr}`);
    const counted = await run.lastCheckpoint(SECOND_STAGE);
    assert.equal(counted?.counters.recordsIn, input.length, `counted afresh, once:\n${again.stderr}`);
  } finally {
    await run.close();
  }
});

test('repartition: a first stage killed between sending and its checkpoint, then an instance SIGKILLed mid-stream, then a bounded run; exact', { timeout: 600_000 }, async (t) => {
  if (!(await requireCluster(t))) return;
  const input = await observationSlice(8);
  const run = await openFaultRun('repartition-kill', t);
  try {
    await run.produce(input, PARTITIONS, 't');
    await run.prepareKeyspace();
    const group = `repartition-kill-${run.id}`;
    run.ownTopic(`${group}-by-station-repartition`);
    const file = repartitionedJob(run, { repartition: true });
    const env = run.env({ FAULTS_GROUP: group });
    // The first stage dies at its first checkpoint save, after the rows before it were sent: they go out again.
    const crashed = await runCli(['run', file, '--batch-size', '500'], { ...env, TIDEFLOW_TEST_CRASH: 'first-stage:before-checkpoint-save:1' });
    assert.equal(crashed.signal, 'SIGKILL', crashed.stderr);

    const live = startCli(['run', file, '--batch-size', '500'], env);
    // Killed once the second stage has checkpointed part of the topic.
    let progress = 0;
    const deadline = Date.now() + 120_000;
    while (progress < input.length / 3 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      progress = (await run.lastCheckpoint(SECOND_STAGE))?.counters.recordsIn ?? 0;
    }
    assert.ok(progress >= input.length / 3, `the second stage never got going: ${live.stderrSoFar()}`);
    live.kill('SIGKILL');
    const killed = await live.exited;
    t.diagnostic(`killed after the second stage checkpointed ${progress} of ${input.length} records`);

    const rest = await runCli(['run', file, '--until-end'], env, BOUNDED_RUN);
    assert.equal(rest.code, 0, rest.stderr);
    assert.match(rest.stderr, /resuming tides-30m-average\.by-station from checkpoints/);
    // The replays are read by the killed run or by the last one, as far as the killed run got: either says so.
    const dropped = [killed.stderr, rest.stderr].join('\n').match(/dropp(ed [\d,]+|ing) rows the first stage sent again/g) ?? [];
    t.diagnostic(`second stage: ${dropped.join('; ')}`);
    assert.ok(dropped.length > 0, 'the first stage sent rows again, and the second stage dropped them');
    const comparison = compareWithPlain(JOB, input, await run.table(RESULT_TABLE[JOB]));
    t.diagnostic(`after the kills: ${describeComparison(comparison)} in ${rest.durationMs} ms`);
    assert.ok(comparison.exact, describeComparison(comparison));
    const second = await run.lastCheckpoint(SECOND_STAGE);
    assert.equal(second?.counters.recordsIn, input.length, 'every record counted once by the second stage, whatever the first sent twice');
    assert.equal(second!.counters.late, 0);
    assert.equal(unaccountedOf(JOB, second!.counters), 0);
  } finally {
    await run.close();
  }
});
