/**
 * A cut-off instance: instances of a job share a consumer group on a
 * multi-partition topic; one of them loses its connection to Kafka (a proxy
 * in front of a broker of the test's own stops forwarding) while it still
 * reaches Cassandra. The group gives its partitions to the others after the
 * session timeout; they wait for its claims to run out (it stops renewing a
 * claim once its source cannot tell it still owns the partition) and resume
 * each task from its checkpoint. What the cut-off instance would write
 * afterwards is refused: it holds no claim on those partitions while the
 * others run them, so it can save no checkpoint for them (the claim is a
 * lightweight transaction) and writes no results (it checks its claim first).
 * Then the link is mended, the instances are stopped, a bounded run finishes
 * the topic, and the table equals the plain computation and the checkpoints'
 * counters account for every record once.
 *
 *   A (via proxy)  ==run==|cut ........................|mended -> rejoins the group
 *   B (direct)     ==run========= takes A's partitions (8 s session, then A's claims run out) ====
 *   producer       a trickle throughout;                  then --until-end: exact, books balance
 *   claims         polled: while cut, A never holds a claim on a partition B runs
 *
 * The broker is private (scripts/cluster/up.sh, CLUSTER_NAME=cutoff): the
 * instance to cut reaches it through a listener advertised at the proxy's
 * port, so its clients cannot go around the proxy after bootstrapping. The
 * registry and Cassandra are the shared ones.
 *
 * A second scenario stops the instance with SIGTERM while it is still cut
 * off: its final checkpoints are refused and it exits 0.
 *
 * CI size (default): 1/6 of the bundled observations, 4 partitions, 2
 * instances, the first scenario only. Full size (FAULTS_SIZE=full): 1/2 of
 * them, 6 partitions, 3 instances. FAULTS_CUT_MODE=reset makes the first
 * scenario reset the connections and refuse new ones instead of blackholing
 * them (the second one always resets).
 */
import assert from 'node:assert/strict';
import { after, test, type TestContext } from 'node:test';
import type { Client } from 'cassandra-driver';
import { requireCluster } from '../support/cluster';
import type { CutMode } from '../support/cuttable-proxy';
import { privateKafka, type PrivateKafka } from '../support/private-kafka';
import {
  compareWithPlain,
  describeComparison,
  faultsSize,
  observationSlice,
  openFaultRun,
  RESULT_TABLE,
  runCli,
  startCli,
  unaccountedOf,
  type CliExit,
  type CliProcess,
  type FaultRun,
  type JobName,
} from './harness';
import { recordOutcome } from './report';
import { sleep, waitFor } from './support-servers';
import { createTopic, encodeObservations, startTrickle } from './support-stream';
import { tailOf, teeStderr } from './support-outage';

const FULL = faultsSize() === 'full';
const JOB: JobName = 'tides-30m-average';
const PARTITIONS = FULL ? 6 : 4;
const HEALTHY_INSTANCES = FULL ? 2 : 1;
/** The private cluster's name and port offset (Kafka on 9492; 9496 is the proxied listener). */
const CLUSTER = { name: 'cutoff', offset: 400 };

const JOINED = /kafka: joined group .* partitions ([\d,]+|none) of /;
const RESTORED = /resuming .* from checkpoints|starts? from the source/;
const REFUSED = /not writing the results|stops running it|not renewing the claim|will not write another checkpoint|cannot commit checkpoint/;

interface Scenario {
  /** How the link is cut (see test/support/cuttable-proxy.ts). */
  mode: CutMode;
  /** After the take-over: mend the link (the instance rejoins), or stop the instance while still cut off, then mend. */
  end: 'mend' | 'stop';
}

interface ClaimSample {
  at: number;
  partition: number;
  pid: number | null;
  epoch: number | null;
}

/** One private broker for the file's scenarios (started by the first, stopped after the last). */
let broker: { kafka: PrivateKafka; startMs: number | null; ready: Promise<number> } | null = null;
after(async () => {
  await broker?.kafka.stop();
});

test('a cut-off instance is fenced: its partitions move to the others, it writes and saves nothing for them; results exact', { timeout: 300_000 }, async (t) => {
  if (!(await requireCluster(t))) return;
  const mode: CutMode = process.env.FAULTS_CUT_MODE === 'reset' ? 'reset' : 'blackhole';
  await cutOffScenario(t, { mode, end: 'mend' });
});

test('a cut-off instance stopped while still cut off: its final checkpoints are refused, it exits 0; results exact', { timeout: 300_000 }, async (t) => {
  if (!(await requireCluster(t))) return;
  await cutOffScenario(t, { mode: 'reset', end: 'stop' });
});

async function cutOffScenario(t: TestContext, scenario: Scenario): Promise<void> {
  const started = Date.now();
  if (broker === null) {
    const kafka = await privateKafka(CLUSTER.name, CLUSTER.offset, ['CUT']);
    // The broker starts while everything that does not need it is prepared.
    broker = { kafka, startMs: null, ready: kafka.start() };
    broker.ready.catch(() => {});
  }
  const { kafka } = broker;
  const proxy = kafka.proxied.CUT.proxy;
  let run: FaultRun | null = null;
  let claims: ClaimPoller | null = null;
  const instances: CliProcess[] = [];
  try {
    run = await withBrokers(kafka.brokers, () => openFaultRun('cut-off', t));
    const input = await observationSlice(FULL ? 2 : 6);
    const { messages } = await encodeObservations(run.cluster.registryUrl, run.topic, input);
    await run.prepareKeyspace();
    const file = run.jobFile(JOB, (text) => text.replace(/^( {4}group: .*)$/m, '$1\n    sessionTimeout: 8s') + '\ncheckpoint:\n  cassandra:\n    interval: 1s\n    claimTtl: 8s\n');
    if (broker.startMs === null) {
      broker.startMs = await broker.ready;
      t.diagnostic(`private broker ${kafka.brokers} (proxied listener ${kafka.proxied.CUT.address}) ready in ${broker.startMs} ms, at +${seconds(Date.now() - started)} s`);
    }
    await createTopic(run.kafka, run.topic, PARTITIONS);
    const head = Math.floor(messages.length / 3);
    await startTrickle(run.kafka, run.topic, messages.slice(0, head), { chunk: 2000, intervalMs: 0 }).done;

    // A reaches Kafka through the proxy only; the others directly. All of them reach Cassandra.
    const group = `faults-cut-off-${run.id}`;
    const direct = run.env({ FAULTS_GROUP: group });
    const viaProxy = run.env({ FAULTS_GROUP: group, KAFKA_BROKERS: kafka.proxied.CUT.address });
    const cutOff = startCli(['run', file, '--batch-size', '50'], viaProxy);
    instances.push(cutOff);
    teeStderr(cutOff, 'cut-off-A');
    for (let i = 0; i < HEALTHY_INSTANCES; i++) {
      const healthy = startCli(['run', file, '--batch-size', '50'], direct);
      instances.push(healthy);
      teeStderr(healthy, `cut-off-${String.fromCharCode(66 + i)}`);
    }
    const healthy = instances.slice(1);
    await waitFor(
      'the group to share the partitions among all instances',
      async () => {
        for (const instance of instances) if (instance.child.exitCode !== null) throw new Error(`an instance exited: ${tailOf(instance.stderrSoFar())}`);
        const latest = instances.map((instance) => partitionsOf(lastJoin(instance)?.line ?? ''));
        const all = latest.flat().sort((x, y) => x - y);
        return latest.every((partitions) => partitions.length > 0) && all.length === PARTITIONS && all.every((partition, index) => partition === index) ? true : undefined;
      },
      90_000,
      200,
    );
    t.diagnostic(`${instances.length} instances share the group at +${seconds(Date.now() - started)} s`);

    // The rest arrives over ~20 s, spanning the cut and the take-over.
    const rest = messages.slice(head);
    const trickle = startTrickle(run.kafka, run.topic, rest, { chunk: Math.max(10, Math.ceil(rest.length / 200)), intervalMs: 100 });
    claims = pollClaims(run.cassandra, run.keyspace, run.topic);
    await sleep(3000);

    // Partitions as the group last gave them to the instance about to be cut.
    const held = partitionsOf(lastJoin(cutOff)?.line ?? '');
    assert.ok(held.length > 0, `the instance to cut holds partitions: ${tailOf(cutOff.stderrSoFar())}`);
    const cutAt = Date.now();
    await proxy.cut(scenario.mode);
    t.diagnostic(`cut (${scenario.mode}) the instance holding partitions ${held.join(',')} at +${seconds(cutAt - started)} s`);

    // Running elsewhere: each of its partitions restored (from its checkpoint) by a healthy instance.
    const takenOver = await waitFor(
      `healthy instances resuming partitions ${held.join(',')} after the cut`,
      async () => {
        const at = new Map<number, number>();
        for (const instance of healthy) {
          for (const { at: when, line } of instance.lines) {
            if (when < cutAt || !RESTORED.test(line)) continue;
            for (const partition of partitionsNamed(line, run!.topic)) if (held.includes(partition) && !at.has(partition)) at.set(partition, when);
          }
        }
        return held.every((partition) => at.has(partition)) ? at : undefined;
      },
      90_000,
      200,
    ).catch((error: unknown) => {
      recordOutcome({
        scenario: `cut-off instance (Kafka link ${scenario.mode})`,
        job: JOB,
        faultsInjected: 1,
        faults: [`Kafka link of 1 of ${instances.length} instances cut (${scenario.mode})`],
        recordsIn: 0,
        resultsExact: false,
        lost: 0,
        duplicated: 0,
        recoveryMs: null,
        durationMs: Date.now() - started,
        notes: `partitions ${held.join(',')} were not taken over: ${(error as Error).message}; the cut-off instance logged: ${cutOff.lines.filter(({ at }) => at >= cutAt).map(({ line }) => line).join(' | ').slice(0, 1000)}`,
      });
      throw error;
    });
    const regroupedAt = firstLineAfter(healthy, cutAt, (line) => JOINED.test(line) && held.every((partition) => partitionsOf(line).includes(partition)));
    const takeoverMs = Math.max(...takenOver.values()) - cutAt;
    t.diagnostic(
      `partitions ${held.join(',')} running elsewhere ${takeoverMs} ms after the cut` +
        (regroupedAt !== null ? ` (the group gave them away after ${regroupedAt - cutAt} ms; then the claims ran out)` : ''),
    );
    // Let the cut-off instance go on a while beside the new owners: whatever it tries must be refused.
    await sleep(3000);

    let cutOffExit: CliExit | null = null;
    let stopAt: number | null = null;
    let rejoined: { at: number; partitions: number[] } | null = null;
    if (scenario.end === 'stop') {
      cutOff.kill('SIGTERM');
      stopAt = Date.now();
      const exitedInTime = await Promise.race([cutOff.exited, sleep(60_000).then(() => null)]);
      if (exitedInTime === null) cutOff.kill('SIGTERM');
      cutOffExit = await cutOff.exited;
      t.diagnostic(`the cut-off instance ${exitedInTime === null ? 'did not stop within 60 s of SIGTERM (a second one ended it)' : `stopped ${cutOffExit.durationMs - (stopAt - cutOff.startedAt)} ms after SIGTERM`}, exit ${cutOffExit.code}`);
    }
    const mendedAt = Date.now();
    await proxy.mend();
    if (scenario.end === 'mend') {
      // Back in the group: it rejoins, and partitions it gets back are claimed and restored afresh (from the others' checkpoints).
      rejoined = await waitFor(
        'the cut-off instance to rejoin the group after the mend',
        async () => {
          const joined = cutOff.lines.filter(({ at, line }) => at >= mendedAt && JOINED.test(line)).at(-1);
          if (joined === undefined) return undefined;
          const partitions = partitionsOf(joined.line);
          const restored = cutOff.lines.some(({ at, line }) => at >= joined.at && RESTORED.test(line));
          return partitions.length === 0 || restored ? { at: joined.at, partitions } : undefined;
        },
        40_000,
        200,
      ).catch(() => null);
      t.diagnostic(
        rejoined === null
          ? 'the cut-off instance did not rejoin within 40 s of the mend'
          : `the cut-off instance rejoined ${rejoined.at - mendedAt} ms after the mend with partitions ${rejoined.partitions.join(',') || 'none'}`,
      );
    }
    await trickle.done;
    await sleep(2000);
    claims.stop();
    for (const instance of instances) instance.kill('SIGTERM');
    const exits = await Promise.all(instances.map((instance) => instance.exited));
    const finish = await runCli(['run', file, '--until-end'], direct);

    const cutPid = cutOff.child.pid!;
    // Cut off until mended, or until it exited.
    const cutEnd = Math.min(mendedAt, cutOffExit === null ? Infinity : cutOff.startedAt + cutOffExit.durationMs);
    const whileCut = cutOff.lines.filter(({ at }) => at >= cutAt && at < cutEnd).map(({ line }) => line);
    const refused = whileCut.filter((line) => REFUSED.test(line));
    const refusedLater = cutOff.lines.filter(({ at, line }) => at >= cutEnd && REFUSED.test(line)).map(({ line }) => line);
    // While cut off, it held no claim on a partition after a healthy instance had resumed it.
    const samples = claims.samples;
    const fencingViolations = samples.filter(
      (sample) => sample.pid === cutPid && sample.at < cutEnd && takenOver.has(sample.partition) && sample.at >= takenOver.get(sample.partition)!,
    );
    // Every owner goes on from the last checkpoint (restored afresh when a partition comes back): epochs never go back.
    const epochsBack = epochRegressions(samples, cutOff.child.pid!);
    const comparison = compareWithPlain(JOB, input, await run.table(RESULT_TABLE[JOB]));
    const final = await run.lastCheckpoint(JOB);
    const afterCut = cutOff.lines.filter(({ at }) => at >= cutEnd).map(({ line }) => line).filter((line) => !/rec\/s/.test(line));
    const kinds = (lines: string[]) => [...new Set(lines.map((line) => REFUSED.exec(line)![0]))].join(', ') || 'none';
    recordOutcome({
      scenario: `cut-off instance (Kafka link ${scenario.mode}, then ${scenario.end === 'mend' ? 'mended' : 'instance stopped'})`,
      job: JOB,
      faultsInjected: 1,
      faults: [`Kafka link of 1 of ${instances.length} instances cut (${scenario.mode}) ${seconds(cutEnd - cutAt)} s, then ${scenario.end === 'mend' ? 'mended' : 'SIGTERM while cut'}`],
      recordsIn: final?.counters.recordsIn ?? 0,
      resultsExact: comparison.exact,
      lost: comparison.lost,
      duplicated: comparison.duplicated,
      recoveryMs: { median: takeoverMs, max: takeoverMs, samples: 1 },
      unaccounted: final ? unaccountedOf(JOB, final.counters) : Number.NaN,
      durationMs: Date.now() - started,
      notes:
        `recovery = cut until its partitions ${held.join(',')} were resumed by the others (session timeout 8 s, claim TTL 8 s)` +
        (regroupedAt !== null ? `, of which the group's rebalance ${regroupedAt - cutAt} ms` : '') +
        `; refusals while cut ${refused.length} (${kinds(refused)}), after ${refusedLater.length} (${kinds(refusedLater)}); ` +
        `claims polled ${samples.length} times, held by the cut-off instance on a partition run elsewhere: ${fencingViolations.length}, committed epochs going back: ${epochsBack.length}${epochsBack.length > 0 ? ` (first: ${epochsBack[0]})` : ''}` +
        (rejoined !== null ? `; rejoined ${rejoined.at - mendedAt} ms after the mend` : '') +
        (cutOffExit !== null ? `; stopped while cut: exit ${cutOffExit.code}` : '') +
        `; private broker up in ${broker.startMs} ms`,
    });
    t.diagnostic(`cut-off instance while cut: ${whileCut.filter((line) => !/rec\/s/.test(line)).join(' | ').slice(0, 2000)}`);
    t.diagnostic(`cut-off instance afterwards: ${afterCut.join(' | ').slice(0, 2000)}`);
    t.diagnostic(`claim holder and committed epoch per partition over time: ${describeClaims(samples, cutPid).slice(0, 3000)}`);
    t.diagnostic(`topic ${await run.topicSize()} records; checkpoints: records in ${final?.counters.recordsIn}, duplicates ${final?.counters.duplicatesDropped}`);

    assert.ok(refused.length > 0, `the cut-off instance refused to renew, write or save: ${whileCut.join('\n')}`);
    assert.deepEqual(fencingViolations, [], 'the cut-off instance held no claim on a partition another instance ran');
    assert.deepEqual(epochsBack, [], 'committed epochs never went back (an owner resumed from older state than the last checkpoint)');
    if (scenario.end === 'mend') assert.ok(rejoined !== null, `the cut-off instance rejoined the group once mended: ${afterCut.join('\n')}`);
    if (stopAt !== null) {
      const stoppedAt = stopAt;
      assert.ok(
        cutOff.lines.some(({ at, line }) => at >= stoppedAt && /cannot commit checkpoint|stops running it|will not write another checkpoint/.test(line)),
        `stopped while cut off, its final checkpoints were refused: ${whileCut.join('\n')}`,
      );
    }
    for (const [index, exit] of exits.entries()) assert.equal(exit.code, 0, `instance ${index}: ${tailOf(exit.stderr)}`);
    assert.equal(finish.code, 0, finish.stderr);
    assert.ok(comparison.exact, describeComparison(comparison));
    assert.ok(final, 'checkpoints left');
    assert.equal(final.counters.recordsIn, input.length, 'every record read exactly once');
    assert.equal(final.counters.deadLetters, 0);
    assert.equal(final.counters.late, 0);
    assert.equal(unaccountedOf(JOB, final.counters), 0, `accounting ${JSON.stringify(final.counters)}`);
  } finally {
    claims?.stop();
    for (const instance of instances) instance.kill('SIGKILL');
    await Promise.all(instances.map((instance) => instance.exited));
    await run?.close();
    if (proxy.status !== 'open') await proxy.mend();
  }
}

/** The last "joined group" line of an instance. */
function lastJoin(instance: CliProcess): { at: number; line: string } | undefined {
  return instance.lines.filter(({ line }) => JOINED.test(line)).at(-1);
}

/** `fn` with KAFKA_BROKERS pointing at `brokers` (openFaultRun takes the cluster from the environment). */
async function withBrokers<T>(brokers: string, fn: () => Promise<T>): Promise<T> {
  const saved = process.env.KAFKA_BROKERS;
  process.env.KAFKA_BROKERS = brokers;
  try {
    return await fn();
  } finally {
    if (saved === undefined) delete process.env.KAFKA_BROKERS;
    else process.env.KAFKA_BROKERS = saved;
  }
}

function seconds(ms: number): string {
  return (ms / 1000).toFixed(1);
}

/** Partition numbers of a "joined group ... partitions 0,2 of <topic>" line. */
function partitionsOf(line: string): number[] {
  const match = JOINED.exec(line);
  if (!match || match[1] === 'none') return [];
  return match[1].split(',').map(Number);
}

/** Partition numbers named as `<topic>/<n>` in a line. */
function partitionsNamed(line: string, topic: string): number[] {
  const out: number[] = [];
  for (const match of line.matchAll(new RegExp(`${topic.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/(\\d+)`, 'g'))) out.push(Number(match[1]));
  return out;
}

function firstLineAfter(instances: CliProcess[], after: number, matches: (line: string) => boolean): number | null {
  let first: number | null = null;
  for (const instance of instances) {
    for (const { at, line } of instance.lines) if (at >= after && matches(line) && (first === null || at < first)) first = at;
  }
  return first;
}

interface ClaimPoller {
  readonly samples: ClaimSample[];
  stop(): void;
}

/** Reads who holds each task's claim (the claiming process's pid) and its committed epoch, every 250 ms. */
function pollClaims(cassandra: Client, keyspace: string, topic: string): ClaimPoller {
  const samples: ClaimSample[] = [];
  let stopped = false;
  const prefix = `${JOB}/${topic}/`;
  void (async () => {
    while (!stopped) {
      const at = Date.now();
      try {
        const result = await cassandra.execute(`SELECT DISTINCT job, claim_pid, committed_epoch FROM ${keyspace}.tideflow_checkpoints`);
        for (const row of result.rows) {
          const job = row['job'] as string;
          if (!job.startsWith(prefix)) continue;
          const epoch = row['committed_epoch'];
          samples.push({ at, partition: Number(job.slice(prefix.length)), pid: (row['claim_pid'] as number | null) ?? null, epoch: epoch === null || epoch === undefined ? null : Number(epoch) });
        }
      } catch {
        // A missed sample; the next one comes in 250 ms.
      }
      await sleep(250);
    }
  })();
  return { samples, stop: () => (stopped = true) };
}

/** Samples whose committed epoch is lower than an earlier sample's of the same partition ("p1 at +24.8 s: epoch 6 (claim: cut-off) after epoch 11 (claim: pid 4242)"). */
function epochRegressions(samples: ClaimSample[], cutPid: number): string[] {
  const highest = new Map<number, ClaimSample>();
  const out: string[] = [];
  const t0 = samples[0]?.at ?? 0;
  const holder = (sample: ClaimSample) => (sample.pid === null ? 'none' : sample.pid === cutPid ? 'cut-off' : `pid ${sample.pid}`);
  for (const sample of samples) {
    if (sample.epoch === null) continue;
    const before = highest.get(sample.partition);
    if (before !== undefined && sample.epoch < before.epoch!) {
      out.push(`p${sample.partition} at +${seconds(sample.at - t0)} s: epoch ${sample.epoch} (claim: ${holder(sample)}) after epoch ${before.epoch} (claim: ${holder(before)})`);
    } else highest.set(sample.partition, sample);
  }
  return out;
}

/** "p0: cut-off e3@0.0s -> none e3@9.1s -> pid 4242 e3@10.2s -> ..." for the diagnostics: each change of claim holder or committed epoch, per partition. */
function describeClaims(samples: ClaimSample[], cutPid: number): string {
  if (samples.length === 0) return '(no samples)';
  const t0 = samples[0].at;
  const byPartition = new Map<number, string[]>();
  const last = new Map<number, string>();
  for (const sample of samples) {
    const holder = sample.pid === null ? 'none' : sample.pid === cutPid ? 'cut-off' : `pid ${sample.pid}`;
    const state = `${holder} e${sample.epoch ?? '-'}`;
    if (last.get(sample.partition) === state) continue;
    last.set(sample.partition, state);
    const list = byPartition.get(sample.partition) ?? [];
    list.push(`${state}@${((sample.at - t0) / 1000).toFixed(1)}s`);
    byPartition.set(sample.partition, list);
  }
  return [...byPartition].sort(([a], [b]) => a - b).map(([partition, list]) => `p${partition}: ${list.join(' -> ')}`).join('; ');
}
