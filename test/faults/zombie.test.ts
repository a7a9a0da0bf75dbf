/**
 * A zombie: one of two instances of a job is paused (SIGSTOP) past the
 * group's session timeout and its claims' time to live; the other takes its
 * partitions over (it waits for the claims to run out, then resumes each task
 * from its checkpoint). Continued (SIGCONT), the zombie finds its claims gone:
 * it neither writes the results of what it still held nor saves a checkpoint
 * (the attempt is logged and refused), and the tables end exact.
 *
 *   A  ==run==|SIGSTOP ....................|SIGCONT -> "not writing", "stops running it"
 *   B  ==run=============== takes A's partitions (after 8 s session + 8 s claim) ====
 *   producer  records every 50 ms throughout;     then a bounded run finishes: exact
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { requireCluster } from '../support/cluster';
import { compareWithPlain, describeComparison, observationSlice, openFaultRun, RESULT_TABLE, startCli, unaccountedOf, type JobName } from './harness';
import { recordOutcome } from './report';

const JOINED = /kafka: joined group .* partitions \d/;

test('a zombie (SIGSTOP past the session timeout and claim TTL, then SIGCONT) writes and saves nothing more; results exact', { timeout: 300_000 }, async (t) => {
  if (!(await requireCluster(t))) return;
  const job: JobName = 'tides-30m-average';
  const run = await openFaultRun('zombie', t);
  try {
    const input = await observationSlice(6);
    const half = Math.floor(input.length / 2);
    await run.produce(input.slice(0, half), 4);
    await run.prepareKeyspace();
    const file = run.jobFile(job, (text) => text.replace(/^( {4}group: .*)$/m, '$1\n    sessionTimeout: 8s') + '\ncheckpoint:\n  cassandra:\n    interval: 1s\n    claimTtl: 8s\n');
    const env = run.env({ FAULTS_GROUP: `faults-zombie-${run.id}` });
    const zombie = startCli(['run', file, '--batch-size', '50'], env);
    assert.ok((await zombie.waitForStderr(JOINED)) !== null, `the first instance started: ${zombie.stderrSoFar()}`);
    const other = startCli(['run', file, '--batch-size', '50'], env);
    assert.ok((await other.waitForStderr(/resuming|starts? from the source/)) !== null, 'the second instance took partitions');
    // Records keep arriving, a few at a time, so the zombie holds some when it is paused.
    let producing = true;
    const rest = input.slice(half);
    const trickle = (async () => {
      for (let i = 0; i < rest.length && producing; i += 40) {
        await run.produce(rest.slice(i, i + 40), 4);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    })();
    await new Promise((resolve) => setTimeout(resolve, 3000));
    const held = zombie.lines.filter(({ line }) => JOINED.test(line)).at(-1)?.line ?? '';
    zombie.kill('SIGSTOP');
    const pausedAt = Date.now();
    // The other instance takes the zombie's partitions: after the session timeout and the claims' TTL.
    await new Promise((resolve) => setTimeout(resolve, 22_000));
    const continuedAt = Date.now();
    zombie.kill('SIGCONT');
    producing = false;
    await trickle;
    await new Promise((resolve) => setTimeout(resolve, 8000));
    zombie.kill('SIGTERM');
    other.kill('SIGTERM');
    const [zombieExit, otherExit] = await Promise.all([zombie.exited, other.exited]);
    // The rest of the topic, read to its end.
    const finish = await startCli(['run', file, '--until-end'], env).exited;
    assert.equal(finish.code, 0, finish.stderr);

    const afterContinue = zombie.lines.filter(({ at }) => at >= continuedAt).map(({ line }) => line);
    const refused = afterContinue.filter((line) => /not writing the results|stops running it|not renewing the claim/.test(line));
    const tookOver = other.lines.filter(({ at, line }) => at > pausedAt && /resuming .* from checkpoints|starts? from the source/.test(line)).map(({ line }) => line);
    const comparison = compareWithPlain(job, input, await run.table(RESULT_TABLE[job]));
    const final = await run.lastCheckpoint(job);
    recordOutcome({
      scenario: 'zombie (SIGSTOP past session timeout and claim TTL)',
      job,
      faultsInjected: 1,
      faults: [`SIGSTOP ${Math.round((continuedAt - pausedAt) / 1000)} s, then SIGCONT`],
      recordsIn: final?.counters.recordsIn ?? 0,
      resultsExact: comparison.exact,
      lost: comparison.lost,
      duplicated: comparison.duplicated,
      recoveryMs: null,
      unaccounted: final ? unaccountedOf(job, final.counters) : Number.NaN,
      notes: `zombie held "${held.replace(/^.*partitions/, 'partitions')}"; after SIGCONT it logged: ${refused.slice(0, 3).join(' | ') || '(nothing refused)'}; the other instance took over: ${tookOver.length} lines`,
    });
    t.diagnostic(`zombie after SIGCONT: ${afterContinue.join(' | ').slice(0, 1500)}`);
    t.diagnostic(`other instance after the pause: ${tookOver.join(' | ')}`);
    const produced = await run.topicSize();
    t.diagnostic(`topic ${produced} records; checkpoints: positions ${JSON.stringify(final?.positions)}, records in ${final?.counters.recordsIn}, duplicates ${final?.counters.duplicatesDropped}`);
    assert.ok(tookOver.length > 0, 'the other instance resumed the zombie\'s partitions');
    assert.ok(refused.length > 0, `the zombie's writes or saves after SIGCONT were refused: ${afterContinue.join('\n')}`);
    assert.equal(zombieExit.code, 0, zombieExit.stderr);
    assert.equal(otherExit.code, 0, otherExit.stderr);
    assert.ok(comparison.exact, describeComparison(comparison));
    assert.equal(produced, input.length);
    assert.equal(final?.counters.recordsIn, input.length, "every record counted once over the tasks' checkpoints");
  } finally {
    await run.close();
  }
});
