/**
 * Crash: the real CLI (`tideflow run <job> --until-end`) reads a real Kafka
 * topic and writes real Cassandra tables, and is SIGKILLed again and again:
 * at exact fault points (`after-batch`, `before-checkpoint-save`,
 * `after-checkpoint-save`, via TIDEFLOW_TEST_CRASH) and on a timer at random
 * instants while it reads, writes results and saves checkpoints. After each
 * kill it is restarted at once; the last run drains the topic. Every result
 * table must then equal the plain computation row for row and value for
 * value, and the last checkpoint's counters must count every input record
 * exactly once (the accounting identity).
 *
 * Timeline of one job (k = a kill, r = a restart resuming from the last
 * checkpoint, c = a checkpoint every 200 ms):
 *
 *   run 1  |--c--c--k
 *   run 2            r--c--c--c--k        (replays from the last c)
 *   ...
 *   run 11                          r--c--c--c--end of topic -> exact tables
 *
 * Each run joins a consumer group of its own: the checkpoint, not the group,
 * holds the positions, and a SIGKILLed member would hold the partitions of
 * its group until the session timeout (30 s; measured in full size).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { requireCluster } from '../support/cluster';
import {
  compareWithPlain,
  describeComparison,
  faultsSize,
  JOBS,
  observationSlice,
  openFaultRun,
  prng,
  RESULT_TABLE,
  seedFromEnvironment,
  startCli,
  unaccountedOf,
  type CliExit,
  type FaultRun,
  type JobName,
} from './harness';
import { recordOutcome, summarizeRecovery } from './report';

const POISON = [
  Buffer.from('{"error": {"message": "No data was found. This product may not be offered at this station at the requested time."}}'),
  Buffer.from('<html><body><h1>503 Service Unavailable</h1></body></html>'),
  Buffer.from([0x07, 0, 0, 0, 1, 2, 3]),
];

type FaultKind = 'after-batch' | 'before-checkpoint-save' | 'after-checkpoint-save' | 'timer';
/** The order kills cycle through; timers twice, since they land anywhere (sink writes, checkpoint saves, decoding). */
const KINDS: FaultKind[] = ['before-checkpoint-save', 'timer', 'after-batch', 'after-checkpoint-save', 'timer'];
const JOINED = /kafka: joined group/;
const BATCH_SIZE = 250;

interface Chain {
  kills: string[];
  recoveries: number[];
  notes: string[];
  final: CliExit;
}

test('crash: SIGKILL at random instants and fault points, restart, results exact', { timeout: 900_000, concurrency: true }, async (t) => {
  if (!(await requireCluster(t))) return;
  const full = faultsSize() === 'full';
  const killsPerJob = full ? 30 : 10;
  const seed = seedFromEnvironment();
  t.diagnostic(`seed ${seed} (TIDEFLOW_TEST_SEED=${seed} reproduces the fault schedule)`);
  const run = await openFaultRun('crash', t);
  try {
    const input = await observationSlice(full ? 1 : 2);
    await run.produce(input);
    await run.sendRaw(POISON.map((value) => ({ key: '8410140', value })));
    const recordsIn = input.length + POISON.length;
    t.diagnostic(`${recordsIn} records in topic ${run.topic}`);
    // Jobs starting side by side on a fresh keyspace race to create the checkpoint table (reported engine issue).
    await run.prepareKeyspace();

    await Promise.all(
      JOBS.map((job, index) =>
        t.test(job, async (t) => {
          const started = Date.now();
          const chain = await crashChain(run, job, killsPerJob, prng(seed + index));
          const comparison = compareWithPlain(job, input, await run.table(RESULT_TABLE[job]));
          const last = await run.lastCheckpoint(job);
          const counters = last?.counters;
          const unaccounted = counters ? unaccountedOf(job, counters) : Number.NaN;
          const recovery = summarizeRecovery(chain.recoveries);
          recordOutcome({
            scenario: 'crash',
            job,
            faultsInjected: chain.kills.length,
            faults: chain.kills,
            recordsIn: counters?.recordsIn ?? 0,
            resultsExact: comparison.exact,
            lost: comparison.lost,
            duplicated: comparison.duplicated,
            recoveryMs: recovery,
            unaccounted,
            notes:
              `${chain.kills.length} SIGKILLs of the real CLI then a draining run; recovery = kill until the restarted process consumes again ` +
              `(checkpoint restored, fresh consumer group); seed ${seed}.` +
              (chain.notes.length > 0 ? ` ${chain.notes.join(' ')}` : ''),
            durationMs: Date.now() - started,
          });
          t.diagnostic(`${job}: ${chain.kills.length} kills; recovery ${JSON.stringify(recovery)}; ${describeComparison(comparison)}`);
          assert.equal(chain.final.code, 0, `the draining run failed: ${chain.final.stderr}`);
          assert.ok(chain.kills.length >= killsPerJob, `only ${chain.kills.length} kills landed mid-stream (seed ${seed}): ${chain.notes.join(' ')}`);
          assert.ok(comparison.exact, `${job} after ${chain.kills.length} kills (seed ${seed}): ${describeComparison(comparison)}`);
          assert.ok(counters, 'the job left a checkpoint');
          assert.equal(counters.recordsIn, recordsIn, 'every record read exactly once across all the restarts');
          assert.equal(counters.deadLetters, POISON.length);
          assert.equal(counters.late, 0);
          assert.equal(unaccounted, 0, `accounting: ${JSON.stringify(counters)}`);
          if (full) assert.ok(chain.final.stderr.includes('(every record accounted for)'), chain.final.stderr);
        }),
      ),
    );

    if (full) await sameGroupRecovery(t, run, input.length + POISON.length);
  } finally {
    await run.close();
  }
});

/**
 * Kills one job `kills` times, restarting each time, then lets it drain.
 * Once most of the input is checkpointed, only kills that cannot move the
 * checkpoint forward are used, so the input outlasts every planned kill.
 */
async function crashChain(run: FaultRun, job: JobName, kills: number, random: () => number): Promise<Chain> {
  const jobFile = run.jobFile(job);
  const args = ['run', jobFile, '--until-end', '--batch-size', String(BATCH_SIZE), '--checkpoint-interval', '200ms'];
  const total = await run.topicSize();
  const chain: Chain = { kills: [], recoveries: [], notes: [], final: undefined as unknown as CliExit };
  let killedAt: number | null = null;
  let attempt = 0;
  const start = async (crash: string | null) => {
    attempt++;
    const env = run.env({ FAULTS_GROUP: `faults-crash-${job}-${run.id}-${attempt}`, ...(crash ? { TIDEFLOW_TEST_CRASH: crash } : {}) });
    const cli = startCli(args, env);
    const joined = cli.waitForStderr(JOINED);
    if (killedAt !== null) {
      const previousKill = killedAt;
      void joined.then((at) => {
        if (at !== null) chain.recoveries.push(at - previousKill);
      });
    }
    return { cli, joined };
  };

  for (let k = 0; chain.kills.length < kills && k < kills * 2; k++) {
    const saved = k === 0 ? null : await run.lastCheckpoint(job);
    const epoch = saved?.epoch ?? 0;
    const progress = (saved?.counters.recordsIn ?? 0) / total;
    let kind = KINDS[k % KINDS.length];
    // Near the end: kills that cannot checkpoint anything new, so the run is still mid-stream when they land.
    if (progress > 0.6) kind = random() < 0.5 ? 'after-batch' : 'before-checkpoint-save';
    let crash: string | null = null;
    let description: string;
    switch (kind) {
      case 'after-batch': {
        // Batch numbers count this process's batches (the first ones are one empty announcement per partition).
        const n = progress > 0.6 ? 1 + Math.floor(random() * 3) : 1 + Math.floor(random() * 12);
        crash = `after-batch:${n}`;
        description = `SIGKILL at after-batch:${n}`;
        break;
      }
      case 'before-checkpoint-save': {
        // Checkpoint points count epochs, which continue from the restored checkpoint.
        const n = progress > 0.6 ? 1 : 1 + Math.floor(random() * 3);
        crash = `before-checkpoint-save:${epoch + n}`;
        description = `SIGKILL at before-checkpoint-save (epoch ${epoch + n}, the ${ordinal(n)} save of the run)`;
        break;
      }
      case 'after-checkpoint-save': {
        const n = 1 + Math.floor(random() * 2);
        crash = `after-checkpoint-save:${epoch + n}`;
        description = `SIGKILL at after-checkpoint-save (epoch ${epoch + n})`;
        break;
      }
      case 'timer':
        description = '';
        break;
    }
    const { cli, joined } = await start(crash);
    if (kind === 'timer') {
      const delay = Math.round(50 + random() * 650);
      description = `SIGKILL on a timer ${delay} ms after the consumer joined`;
      void joined.then((at) => {
        if (at !== null) setTimeout(() => cli.kill('SIGKILL'), delay);
      });
    }
    const exit = await cli.exited;
    if (exit.signal === 'SIGKILL') {
      killedAt = Date.now();
      chain.kills.push(`${description} (${Math.round((100 * (saved?.counters.recordsIn ?? 0)) / total)}% checkpointed before)`);
      continue;
    }
    if (exit.code === 0) {
      // The fault point was not reached before the end of the topic: the job is done, nothing more to kill.
      chain.notes.push(`attempt ${attempt} (${description}) drained the topic before its fault point.`);
      chain.final = exit;
      return chain;
    }
    throw new Error(`${job}: run ${attempt} (${description}) failed with exit code ${exit.code}: ${exit.stderr}`);
  }
  const { cli } = await start(null);
  chain.final = await cli.exited;
  return chain;
}

function ordinal(n: number): string {
  return n === 1 ? '1st' : n === 2 ? '2nd' : n === 3 ? '3rd' : `${n}th`;
}

/**
 * Full size only: a restart in the SAME consumer group after a SIGKILL waits
 * until the broker expires the dead member before it
 * gets partitions (session timeout, 30 s). Results stay exact; the number goes into the report.
 */
async function sameGroupRecovery(t: { diagnostic(message: string): void }, run: FaultRun, recordsIn: number): Promise<void> {
  const job: JobName = 'tides-dedupe';
  const jobFile = run.jobFile(job, (text) => text.replace(/^job: tides-dedupe$/m, 'job: tides-dedupe-same-group'), 'same-group.yaml');
  const args = ['run', jobFile, '--until-end', '--batch-size', String(BATCH_SIZE), '--checkpoint-interval', '200ms'];
  const env = run.env({ FAULTS_GROUP: `faults-crash-same-group-${run.id}` });
  const first = startCli(args, env);
  const joinedAt = await first.waitForStderr(JOINED);
  if (joinedAt !== null) setTimeout(() => first.kill('SIGKILL'), 300);
  const killed = await first.exited;
  const killedAt = Date.now();
  const second = startCli(args, env);
  const rejoinedAt = await second.waitForStderr(JOINED);
  const exit = await second.exited;
  const recoveryMs = rejoinedAt === null ? null : rejoinedAt - killedAt;
  t.diagnostic(`same-group restart after SIGKILL: consuming again after ${recoveryMs} ms`);
  recordOutcome({
    scenario: 'crash (same consumer group)',
    job,
    faultsInjected: killed.signal === 'SIGKILL' ? 1 : 0,
    faults: ['SIGKILL on a timer 300 ms after the consumer joined; restart in the same group'],
    recordsIn,
    resultsExact: exit.code === 0,
    lost: 0,
    duplicated: 0,
    recoveryMs: recoveryMs === null ? null : { median: recoveryMs, max: recoveryMs, samples: 1 },
    notes:
      'Production-like restart: the dead member keeps its partitions until the broker expires it (session timeout 30 s), so recovery after a crash ' +
      'takes about that long; a graceful stop leaves the group and does not pay it. Results not compared here (the job writes the same table as the dedupe chain).',
  });
  assert.equal(exit.code, 0, exit.stderr);
}
