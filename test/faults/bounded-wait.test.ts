/**
 * A bounded run on several members ends only once every partition is
 * finished, not when a member's own partitions are. A member that left as
 * soon as its own were read could be handed a partition by the rebalance its
 * neighbours cause as they leave, and leave with it unread: if every other
 * member had ended too, nobody read it (seen in CI: a run on 3 threads lost
 * 1,615 rows).
 *
 * Shown deterministically: a plain Kafka consumer joins the group first and
 * holds its share of the partitions without reading them. The engine reads
 * its own share to the end and must wait, in the group, instead of ending;
 * once the silent member leaves, the engine is given its partitions, reads
 * them, and ends with exact results.
 *
 * Also: 2 and 3 processes started together as a bounded backfill all end,
 * and together their results are exact.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { requireCluster } from '../support/cluster';
import { BOUNDED_RUN, compareWithPlain, describeComparison, logsOf, observationSlice, openFaultRun, RESULT_TABLE, runCli, startCli, type CliExit, type JobName } from './harness';

const PARTITIONS = 4;

test('bounded run: a member whose partitions are read waits for the partitions another member holds, takes them over when it leaves, and ends exact', { timeout: 300_000 }, async (t) => {
  if (!(await requireCluster(t))) return;
  const input = await observationSlice(8);
  const job: JobName = 'tides-lunar-day';
  const run = await openFaultRun('bounded-wait', t);
  const group = `bounded-wait-${run.id}`;
  const silent = run.kafka.consumer({ groupId: group, sessionTimeout: 30_000, heartbeatInterval: 1_000 });
  try {
    await run.produce(input, PARTITIONS);
    await run.prepareKeyspace();
    // The silent member: in the group, holding partitions, reading nothing.
    const joins: number[][] = [];
    silent.on(silent.events.GROUP_JOIN, (event) => joins.push(event.payload.memberAssignment[run.topic] ?? []));
    await silent.connect();
    await silent.subscribe({ topics: [run.topic], fromBeginning: true });
    await silent.run({ autoCommit: false, eachBatchAutoResolve: false, eachBatch: async () => {} });
    silent.pause([{ topic: run.topic }]);
    while (joins.length === 0) await new Promise((resolve) => setTimeout(resolve, 100));

    const engine = startCli(['run', run.jobFile(job), '--until-end'], run.env({ FAULTS_GROUP: group }), BOUNDED_RUN);
    const waiting = await Promise.race([
      engine.waitForStderr(/partitions of \S+ are read to their end; waiting for the other instances to finish theirs/),
      new Promise<null>((resolve) => setTimeout(() => resolve(null), 120_000)),
    ]);
    assert.notEqual(waiting, null, `the engine never waited for the silent member's partitions:\n${engine.stderrSoFar()}`);
    const held = joins.at(-1)!;
    t.diagnostic(`the silent member holds partitions ${held.join(',')} of ${PARTITIONS}; the engine read its own and waits`);
    assert.ok(held.length > 0 && held.length < PARTITIONS, `the group split the partitions (silent member holds ${held.join(',')})`);
    // It says what it waits for: a partition the silent member holds, never checkpointed.
    const first = /waiting for the other instances to finish theirs \(first: \S+\/(\d+) \(no checkpoint of it yet\)\)/.exec(engine.stderrSoFar());
    assert.ok(first !== null && held.includes(Number(first[1])), engine.stderrSoFar());
    // Still waiting a few seconds later: it does not end on its own share.
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    assert.equal(engine.child.exitCode, null, `the engine ended with partitions ${held.join(',')} unread:\n${engine.stderrSoFar()}`);

    await silent.disconnect();
    const exit = await engine.exited;
    assert.equal(exit.code, 0, exit.stderr);
    const comparison = compareWithPlain(job, input, await run.table(RESULT_TABLE[job]));
    t.diagnostic(`after the silent member left: ${describeComparison(comparison)}`);
    assert.ok(comparison.exact, describeComparison(comparison));
    assert.match(exit.stderr, new RegExp(`${input.length.toLocaleString('en-US')} records`));
  } finally {
    await silent.disconnect().catch(() => {});
    await run.close();
  }
});

test('bounded backfill: 2 and 3 processes started together all end, and the union of their results is exact', { timeout: 600_000 }, async (t) => {
  if (!(await requireCluster(t))) return;
  const input = await observationSlice(8);
  const job: JobName = 'tides-30m-average';
  for (const count of [2, 3]) {
    const run = await openFaultRun(`backfill${count}`, t);
    try {
      await run.produce(input, 6);
      await run.prepareKeyspace();
      const env = run.env({ FAULTS_GROUP: `backfill${count}-${run.id}` });
      const exits: CliExit[] = await Promise.all(Array.from({ length: count }, (): Promise<CliExit> => runCli(['run', run.jobFile(job), '--until-end'], env, BOUNDED_RUN)));
      for (const exit of exits) assert.equal(exit.code, 0, logsOf(exits));
      const comparison = compareWithPlain(job, input, await run.table(RESULT_TABLE[job]));
      const final = await run.lastCheckpoint(job);
      t.diagnostic(`${count} processes: ${describeComparison(comparison)}; ends after ${exits.map((exit) => exit.durationMs).join(' / ')} ms`);
      assert.ok(comparison.exact, describeComparison(comparison));
      assert.equal(final?.counters.recordsIn, input.length, 'every record counted once over all tasks');
    } finally {
      await run.close();
    }
  }
});
