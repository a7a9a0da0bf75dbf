/**
 * Scale out: three instances of each reference job share a 6-partition topic
 * (CI: the same on a smaller slice of the data)
 * (one consumer group, a task per partition) while records are produced.
 * Instances are stopped (SIGTERM), killed (SIGKILL) and started again at
 * random instants, at least 10 membership changes per job. Then two instances
 * finish the topic as a bounded backfill (each ends once every partition is
 * finished), and every Cassandra table equals the plain computation row for
 * row: 0 lost, 0 doubled, 0 partial.
 *
 *   instance 1  ==run==|SIGTERM     ==run=================|
 *   instance 2  ==run=========|SIGKILL   ==run======|
 *   instance 3  ==run==================|SIGTERM   ==run===|    then 2 x --until-end -> exact
 *   producer    chunk 1 ....... chunk 2 ........ chunk 3
 *
 * Also reported: how long a partition of a stopped or killed instance took
 * to be running again elsewhere (rebalance time).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { requireCluster } from '../support/cluster';
import { compareWithPlain, describeComparison, faultsSize, JOBS, observationSlice, openFaultRun, prng, RESULT_TABLE, seedFromEnvironment, startCli, unaccountedOf, type CliProcess, type JobName } from './harness';
import { recordOutcome, summarizeRecovery } from './report';

// The three reference jobs at once, 3 instances each, 10 membership changes each (about 2 minutes);
// CI reads every 8th observation, `npm run faults` every 4th.
const FULL = faultsSize() === 'full';
const INSTANCES = 3;
const CHANGES = 10;
const SCALED_JOBS = JOBS;
const PARTITIONS = 6;
/** Short enough that a killed instance's partitions move within seconds (the broker allows 6 s at least). */
const SESSION_TIMEOUT = '8s';

/** The partitions an instance was last given (from its "joined group" lines). */
function partitionsOf(cli: CliProcess): number[] {
  const joins = cli.lines.filter(({ line }) => line.includes('kafka: joined group'));
  const last = joins.at(-1)?.line.match(/partitions ([\d,]+) of/);
  return last ? last[1].split(',').map(Number) : [];
}

test(`scale out: ${INSTANCES} instances per job, ${CHANGES}+ membership changes each (start, SIGTERM, SIGKILL), then a 2-instance bounded backfill; tables exact`, { timeout: 900_000 }, async (t) => {
  if (!(await requireCluster(t))) return;
  const seed = seedFromEnvironment();
  const random = prng(seed);
  t.diagnostic(`seed ${seed} (TIDEFLOW_TEST_SEED=${seed} reproduces the schedule)`);
  const run = await openFaultRun('scale', t);
  try {
    const input = await observationSlice(FULL ? 4 : 8);
    const third = Math.ceil(input.length / 3);
    const chunks = [input.slice(0, third), input.slice(third, 2 * third), input.slice(2 * third)];
    await run.produce(chunks[0], PARTITIONS);
    await run.prepareKeyspace();
    // The rest arrives while the instances come and go.
    const producing = (async () => {
      for (const chunk of chunks.slice(1)) {
        await new Promise((resolve) => setTimeout(resolve, 8000));
        await run.produce(chunk, PARTITIONS);
      }
    })();

    await Promise.all(
      SCALED_JOBS.map((job) =>
        t.test(job, async () => {
          const group = `faults-scale-${job}-${run.id}`;
          const file = run.jobFile(job, (text) =>
            text.replace(/^( {4}group: .*)$/m, `$1\n    sessionTimeout: ${SESSION_TIMEOUT}`) + `\ncheckpoint:\n  cassandra:\n    interval: 500ms\n    claimTtl: 8s\n`,
          );
          const env = run.env({ FAULTS_GROUP: group });
          const slots: Array<CliProcess | null> = Array.from({ length: INSTANCES }, () => startCli(['run', file], env));
          const all: CliProcess[] = [...(slots as CliProcess[])];
          const changes: string[] = [];
          const moves: Array<{ at: number; partitions: number[]; from: CliProcess }> = [];
          try {
            for (let change = 0; change < CHANGES; change++) {
              await new Promise((resolve) => setTimeout(resolve, 1500 + random() * 3500));
              const slot = Math.floor(random() * INSTANCES);
              const cli = slots[slot];
              if (cli === null || cli.child.exitCode !== null || cli.child.signalCode !== null) {
                const started = startCli(['run', file], env);
                slots[slot] = started;
                all.push(started);
                changes.push(`start ${slot}`);
                continue;
              }
              const signal: NodeJS.Signals = random() < 0.5 ? 'SIGTERM' : 'SIGKILL';
              moves.push({ at: Date.now(), partitions: partitionsOf(cli), from: cli });
              cli.kill(signal);
              const exit = await cli.exited;
              // SIGTERM before Node got as far as the CLI's handler ends the process by the signal, having done nothing.
              const beforeStart = exit.signal === 'SIGTERM' && exit.stderr === '';
              if (signal === 'SIGTERM' && !beforeStart) assert.equal(exit.code, 0, `instance ${slot} stopped by SIGTERM: ${exit.stderr}`);
              slots[slot] = null;
              changes.push(`${signal} ${slot}`);
            }
          } finally {
            for (const cli of slots) cli?.kill('SIGTERM');
            for (const cli of slots) if (cli) await cli.exited;
          }
          await producing;

          // A bounded backfill on two instances finishes the topic; each ends once every partition is finished.
          const backfill = [startCli(['run', file, '--until-end'], env), startCli(['run', file, '--until-end'], env)];
          const exits = await Promise.all(backfill.map((cli) => cli.exited));
          for (const exit of exits) assert.equal(exit.code, 0, `bounded backfill: ${exit.stderr}`);
          all.push(...backfill);

          // Rebalance time: from an instance leaving to each of its partitions being resumed by another.
          const rebalanceMs: number[] = [];
          for (const { at, partitions, from } of moves) {
            for (const partition of partitions) {
              const pattern = new RegExp(`resuming ${job} from checkpoints: .*${run.topic}/${partition} \\(epoch|${run.topic}/${partition}[ ,].*starts? from`);
              const resumed = all
                .filter((cli) => cli !== from)
                .flatMap((cli) => cli.lines)
                .filter(({ at: when, line }) => when >= at && pattern.test(line))
                .map(({ at: when }) => when - at);
              if (resumed.length > 0) rebalanceMs.push(Math.min(...resumed));
            }
          }
          const sorted = [...rebalanceMs].sort((a, b) => a - b);
          const p99 = sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.99))];

          const comparison = compareWithPlain(job as JobName, input, await run.table(RESULT_TABLE[job as JobName]));
          const final = await run.lastCheckpoint(job);
          const unaccounted = final ? unaccountedOf(job as JobName, final.counters) : Number.NaN;
          const refusedWrites = all.reduce((sum, cli) => sum + cli.lines.filter(({ line }) => /not writing the results|stops running it/.test(line)).length, 0);
          recordOutcome({
            scenario: `scale out (${INSTANCES} instances)`,
            job,
            faultsInjected: changes.length,
            faults: changes,
            recordsIn: final?.counters.recordsIn ?? 0,
            resultsExact: comparison.exact,
            lost: comparison.lost,
            duplicated: comparison.duplicated,
            recoveryMs: summarizeRecovery(rebalanceMs),
            unaccounted,
            notes:
              `${INSTANCES} instances, ${PARTITIONS} partitions, session timeout ${SESSION_TIMEOUT}; rebalance time (a leaving instance's partition resumed elsewhere) ` +
              `median ${sorted.length === 0 ? '-' : sorted[Math.floor(sorted.length / 2)]} ms, p99 ${p99} ms over ${sorted.length} moves; ${refusedWrites} refused writes logged; then a 2-instance bounded backfill.`,
          });
          t.diagnostic(`${job}: ${changes.join(', ')}; ${describeComparison(comparison)}; rebalance ms ${sorted.join(' ')}`);
          assert.ok(changes.length >= CHANGES);
          assert.ok(comparison.exact, describeComparison(comparison));
          assert.equal(final?.counters.recordsIn, input.length, 'every record counted once over all tasks');
          assert.equal(unaccounted, 0);
        }),
      ),
    );
  } finally {
    await run.close();
  }
});
