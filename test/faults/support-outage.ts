/**
 * One server stopped under running jobs (Cassandra or the Kafka broker), the
 * shared shape of cassandra-outage.test.ts and kafka-restart.test.ts:
 *
 *   producer  |==c==c==c==c==c==c=(paused if Kafka is down)=c==c==|rush|~tail~|
 *   server    |----up----|  down.sh ... >= outage ...  up.sh |-----up------------|
 *   job run 1 |read, checkpoint every 500 ms | waits, retries | resumes by itself | SIGTERM: checkpoint, exit 0
 *   job run 2                                                            --until-end: resumes, drains, closes windows
 *   monitor   committed group offsets <= checkpoint positions, always; frozen while Cassandra is down; RSS sampled
 *
 * Every reference job runs as the real CLI in a consumer group of its own on
 * the same live topic. The second run exists because an unbounded run never
 * closes its last windows; it also shows the graceful stop's checkpoint
 * resumes exactly.
 */
import assert from 'node:assert/strict';
import { appendFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { CassandraCheckpointStore } from '../../engine/state/cassandra-checkpoint-store';
import { probeCluster, type ClusterServer } from '../support/cluster';
import {
  assertExactRun,
  compareWithPlain,
  describeComparison,
  openFaultRun,
  RESULT_TABLE,
  runCli,
  startCli,
  unaccountedOf,
  type CliExit,
  type CliProcess,
  type FaultRun,
  type JobName,
  type Observation,
} from './harness';
import { recordOutcome } from './report';
import {
  aheadOf,
  committedOffsets,
  ensureAllUp,
  megabytes,
  sampleRss,
  sleep,
  topicPositions,
  total,
  waitFor,
  type OutageCluster,
  type RssSampler,
} from './support-servers';
import { createTopic, encodeObservations, startTrickle } from './support-stream';

/** The engine's resident memory must stay under this (bytes) through the outage. */
export const RSS_BOUND_BYTES = 1024 * 1024 * 1024;

export interface StreamOutageOptions {
  scenario: string;
  server: Extract<ClusterServer, 'cassandra' | 'kafka'>;
  jobs: readonly JobName[];
  input: Observation[];
  /** The server stays stopped at least this long (from down.sh returning to up.sh starting). */
  outageMs: number;
  /** How long the live stream would last without pauses (sets the producer's pace). */
  streamMs: number;
}

interface JobWatch {
  job: JobName;
  group: string;
  file: string;
  cli: CliProcess;
  rss: RssSampler;
  /** Committed offsets just after the server went down (Cassandra) / before (Kafka). */
  baseline: Map<number, number> | null;
  recoveryMs: number | null;
  violations: string[];
  /** Committed offsets seen during the outage that differ from the baseline. */
  movedDuringOutage: string[];
  /** Rounds of the offsets-vs-checkpoint check that ran. */
  checks: number;
}

/** The job copy for a live stream: the silence of an outage must not make partitions idle (their later records would be late). */
export function withLongIdleTimeout(text: string): string {
  const edited = text.replace(/^( {2}maxOutOfOrder: .*)$/m, '$1\n  idleTimeout: 1h');
  if (edited === text) throw new Error('job file: no eventTime.maxOutOfOrder line to add idleTimeout after');
  return edited;
}

export async function streamOutage(t: TestContext, cluster: OutageCluster, options: StreamOutageOptions): Promise<void> {
  const { scenario, server, jobs, input } = options;
  const started = Date.now();
  const run = await openFaultRun(scenario, t);
  const watches: JobWatch[] = [];
  let serverDown = false;
  let monitorStop = false;
  let monitor: Promise<void> = Promise.resolve();
  try {
    await createTopic(run.kafka, run.topic, 3);
    const { messages } = await encodeObservations(run.cluster.registryUrl, run.topic, input);
    const chunk = Math.max(1, Math.ceil((messages.length * 200) / options.streamMs));
    t.diagnostic(`${scenario}: ${messages.length} records into ${run.topic}, ${chunk} every 200 ms; jobs ${jobs.join(', ')}`);

    for (const job of jobs) {
      const group = `${run.topic}-${job}`;
      const file = run.jobFile(job, withLongIdleTimeout);
      const cli = startCli(['run', file, '--checkpoint-interval', '500ms', '--batch-size', '1000', '--quiet'], run.env({ FAULTS_GROUP: group }));
      teeStderr(cli, job);
      watches.push({ job, group, file, cli, rss: sampleRss(cli.child.pid!), baseline: null, recoveryMs: null, violations: [], movedDuringOutage: [], checks: 0 });
    }
    await Promise.all(watches.map((w) => w.cli.waitForStderr(/kafka: joined group/)));
    const trickle = startTrickle(run.kafka, run.topic, messages, { chunk, intervalMs: 200 });

    // The invariant, checked all along: a group offset is committed only after the
    // checkpoint holding it was saved, so it never runs ahead of the checkpoint.
    // (Offsets read first, checkpoint second: checkpoints only move forward.)
    monitor = (async () => {
      while (!monitorStop) {
        for (const w of watches) {
          if (serverDown || monitorStop) break;
          try {
            const committed = await committedOffsets(run.kafka, w.group, run.topic);
            if (serverDown) break;
            const positions = await withTimeout(checkpointPositions(run, w.job), 5000);
            if (!positions || serverDown) continue;
            const ahead = aheadOf(new Map([...committed].filter(([, o]) => o >= 0)), positions);
            if (ahead.length > 0) w.violations.push(`committed past the checkpoint: ${ahead.join(', ')}`);
            w.checks++;
          } catch {
            // A server on its way down or up; the next round checks again.
          }
        }
        await sleep(500);
      }
    })();

    // Results flowing: every job has committed a checkpoint with records.
    await waitFor(
      'every job to commit its first checkpoint',
      async () => {
        for (const w of watches) if (total(await committedOffsets(run.kafka, w.group, run.topic)) === 0) return undefined;
        return true;
      },
      60_000,
    );
    await trickle.reach(Math.floor(messages.length * 0.2));
    for (const w of watches) await assertAlive(w, 'before the outage');

    // ---- the outage
    if (server === 'kafka') {
      // Offsets before: after the restart, none may be committed past a checkpoint.
      await trickle.pause();
      for (const w of watches) w.baseline = await committedOffsets(run.kafka, w.group, run.topic);
    }
    serverDown = true;
    const downMs = await cluster.down(server);
    const downAt = Date.now();
    t.diagnostic(`${server} stopped in ${downMs} ms at ${trickle.produced}/${messages.length} records produced`);
    if (server === 'cassandra') {
      // A save that finished as the node went down may still commit; after that nothing can.
      await sleep(1000);
      for (const w of watches) w.baseline = await committedOffsets(run.kafka, w.group, run.topic);
    }
    while (Date.now() - downAt < options.outageMs) {
      await sleep(1000);
      for (const w of watches) {
        await assertAlive(w, `${Math.round((Date.now() - downAt) / 1000)} s into the ${server} outage`);
        if (server !== 'cassandra') continue;
        const now = await committedOffsets(run.kafka, w.group, run.topic);
        const moved = aheadOf(now, w.baseline!);
        if (moved.length > 0) w.movedDuringOutage.push(...moved);
      }
    }
    const upStarted = Date.now();
    const outageMs = upStarted - downAt;
    const upMs = await cluster.up(server);
    const backAt = Date.now();
    serverDown = false;
    if (server === 'kafka') trickle.resume();
    t.diagnostic(`${server} stopped ${outageMs} ms (down.sh ${downMs} ms, up.sh ${upMs} ms); ${trickle.produced} records produced so far`);

    // ---- recovery: from the server being back to each job committing past its pre-outage offsets
    await Promise.all(
      watches.map(async (w) => {
        await waitFor(
          `${w.job} to commit past its pre-outage offsets after the ${server} restart`,
          async () => {
            await assertAlive(w, 'after the restart');
            const now = await committedOffsets(run.kafka, w.group, run.topic);
            return total(now) > total(w.baseline!) ? true : undefined;
          },
          180_000,
        );
        w.recoveryMs = Date.now() - backAt;
      }),
    );
    t.diagnostic(`recovery: ${watches.map((w) => `${w.job} ${w.recoveryMs} ms`).join(', ')}`);

    // ---- finish: the rest of the stream, a graceful stop while records still flow, a draining run
    const tail = Math.min(chunk * 10, Math.floor(messages.length / 10));
    trickle.rush(tail);
    await trickle.reach(messages.length - tail);
    for (const w of watches) w.cli.kill('SIGTERM');
    const firstRuns = await Promise.all(
      watches.map(async (w) => {
        const exit = await withTimeout(w.cli.exited, 60_000);
        if (exit === null) throw new Error(`${w.job}: SIGTERM (graceful stop) not honoured within 60 s`);
        return exit;
      }),
    );
    await trickle.done;
    for (const w of watches) w.rss.stop();
    monitorStop = true;
    await monitor;
    const drains: CliExit[] = await Promise.all(
      watches.map((w) => runCli(['run', w.file, '--until-end', '--checkpoint-interval', '500ms', '--quiet'], run.env({ FAULTS_GROUP: w.group }))),
    );

    for (const [i, w] of watches.entries()) {
      const comparison = compareWithPlain(w.job, input, await run.table(RESULT_TABLE[w.job]));
      const last = await run.lastCheckpoint(w.job);
      const counters = last?.counters;
      const committed = await committedOffsets(run.kafka, w.group, run.topic);
      const positions = await checkpointPositions(run, w.job);
      const unaccounted = counters ? unaccountedOf(w.job, counters) : Number.NaN;
      const peak = w.rss.peakBytes;
      recordOutcome({
        scenario,
        job: w.job,
        faultsInjected: 1,
        faults: [`${server} stopped ${(outageMs / 1000).toFixed(1)} s mid-stream (down.sh ${downMs} ms, up.sh ${upMs} ms)`],
        recordsIn: counters?.recordsIn ?? 0,
        resultsExact: comparison.exact,
        lost: comparison.lost,
        duplicated: comparison.duplicated,
        recoveryMs: w.recoveryMs === null ? null : { median: w.recoveryMs, max: w.recoveryMs, samples: 1 },
        unaccounted,
        notes:
          `live stream of ${messages.length} records (paced, ${server === 'kafka' ? 'producer paused while Kafka was down' : 'producer kept going'}); ` +
          `recovery = ${server} ready (up.sh returned) until the job committed past its pre-outage offsets; ` +
          `peak RSS ${megabytes(peak)} MB (${w.rss.samples} samples); ` +
          `offsets-vs-checkpoint checks ${w.checks}, violations ${w.violations.length}${server === 'cassandra' ? `, commits during the outage ${w.movedDuringOutage.length}` : ''}; ` +
          `run 1 exit ${firstRuns[i].code} (SIGTERM while records flowed), run 2 (--until-end) exit ${drains[i].code}.`,
        durationMs: Date.now() - started,
      });
      t.diagnostic(`${w.job}: ${describeComparison(comparison)}; recovery ${w.recoveryMs} ms; peak RSS ${megabytes(peak)} MB`);
      assert.equal(firstRuns[i].code, 0, `${w.job}: the run through the outage failed:\n${tailOf(firstRuns[i].stderr)}`);
      assert.ok(/retrying|restarting|unavailable|disconnect|Connection/i.test(firstRuns[i].stderr), `${w.job}: no retry was logged:\n${tailOf(firstRuns[i].stderr)}`);
      assert.equal(drains[i].code, 0, `${w.job}: the draining run failed:\n${tailOf(drains[i].stderr)}`);
      assert.deepEqual(w.violations, [], `${w.job}: group offsets ran ahead of the checkpoint`);
      assert.deepEqual(w.movedDuringOutage, [], `${w.job}: offsets were committed while Cassandra (results and checkpoints) was down`);
      assertExactRun(w.job, comparison, counters, messages.length);
      assert.deepEqual(aheadOf(new Map([...committed].filter(([, o]) => o >= 0)), positions), [], `${w.job}: final group offsets past the checkpoint`);
      assert.ok(peak < RSS_BOUND_BYTES, `${w.job}: peak RSS ${megabytes(peak)} MB >= ${megabytes(RSS_BOUND_BYTES)} MB`);
    }
  } finally {
    monitorStop = true;
    for (const w of watches) {
      await killWatched(t, w.job, w.cli, w.rss);
    }
    await monitor.catch(() => {});
    await ensureAllUp(cluster);
    await run.close();
  }
}

/** FAULTS_LOG_DIR=<dir>: each engine's stderr, time-stamped, in <dir>/<job>.log as it happens (debugging a hung scenario). */
export function teeStderr(cli: CliProcess, name: string): void {
  const dir = process.env.FAULTS_LOG_DIR;
  if (!dir) return;
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${name}.log`);
  cli.child.stderr!.on('data', (chunk: string) => {
    const stamp = new Date().toISOString().slice(11, 23);
    appendFileSync(file, String(chunk).split('\n').filter((line) => line.length > 0).map((line) => `${stamp} ${line}\n`).join(''));
  });
}

/** Throws when the engine has exited, with the end of its stderr (waiting briefly for the last of it). */
async function assertAlive(w: JobWatch, when: string): Promise<void> {
  const { exitCode, signalCode } = w.cli.child;
  if (exitCode !== null || signalCode !== null) {
    const exit = await Promise.race([w.cli.exited, sleep(2000).then(() => null)]);
    throw new Error(`${w.job}: the engine exited (${exitCode ?? signalCode}) ${when}; its stderr ended:\n${tailOf(exit?.stderr ?? w.cli.stderrSoFar())}`);
  }
}

async function checkpointPositions(run: FaultRun, job: JobName): Promise<Map<number, number>> {
  const store = new CassandraCheckpointStore({
    contactPoints: run.cluster.cassandraContactPoints,
    localDataCenter: run.cluster.cassandraLocalDc,
    keyspace: run.keyspace,
    table: 'tideflow_checkpoints',
    retry: { maxElapsedMs: 3000 },
  });
  try {
    // A Kafka job checkpoints per partition (<job>/<partition>): the positions of all its tasks.
    const keys = await store.list(`${job}/`);
    const positions: Record<string, number> = {};
    for (const key of keys) Object.assign(positions, (await store.load(key))?.positions ?? {});
    return topicPositions(positions, run.topic);
  } finally {
    await store.close();
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T | null> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([promise, new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), ms)))]).finally(() => clearTimeout(timer));
}

/**
 * The end of every watched engine, pass or fail: stop sampling, SIGKILL (a no-op
 * when it already exited), and print its stderr when it had to be killed or
 * FAULTS_VERBOSE=1 asks, the engine's own account of a failing run.
 */
export async function killWatched(t: { diagnostic(message: string): void }, job: string, cli: CliProcess, rss: RssSampler): Promise<void> {
  rss.stop();
  cli.kill('SIGKILL');
  const exit = await cli.exited;
  if (process.env.FAULTS_VERBOSE === '1' || exit.signal === 'SIGKILL') t.diagnostic(`${job} stderr (last lines):\n${tailOf(exit.stderr, 40)}`);
}

export function tailOf(text: string, lines = 30): string {
  return text.split('\n').slice(-lines).join('\n');
}

/** Whether any server is down right now (for the finally of a test that skipped early). */
export async function anyServerDown(): Promise<boolean> {
  return (await probeCluster()).length > 0;
}
