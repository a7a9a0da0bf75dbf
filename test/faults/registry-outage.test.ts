/**
 * Schema Registry unavailable: at start-up, and mid-stream while a new
 * writer schema id appears in the topic.
 *
 * The outage is a TCP proxy on 127.0.0.1 in front of the real registry that
 * the job talks to and the test closes (connection refused, open
 * connections reset) and opens again. The registry itself keeps running, so
 * other tests are not disturbed and its in-memory schemas and ids survive
 * (a real restart of the default in-memory registry would lose them: see
 * scripts/cluster/README.md). The test produces through the real registry.
 *
 *   topic     |---- A (v1) ----|---- B1 (v1) ----|---- B2 (v2, new id) ----|-- T (v2) --|
 *   proxy     down .. up        down ......................................  up
 *   job       waits, retries;   decodes B1 with the cached v1 schema;       takes the v2 id,
 *             no dead letters   stops at the first v2 record and retries    goes on; SIGTERM; drain run
 *
 * Expected, and checked: a registry outage is transient, not bad data — no
 * record goes to dead letters; while the registry is away nothing past the
 * first record with an unknown id is committed, but records whose schema is
 * cached keep flowing (offsets advance past A during the outage); after each
 * outage the job goes on by itself; the result tables equal the plain
 * computation (the v2 records, with an extra field, are read with the job's
 * reader schema).
 *
 * CI size: the lunar-day job, outages of 10 s and 15 s. Full: all three
 * jobs, 30 s each.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { clusterEnv, requireCluster } from '../support/cluster';
import {
  assertExactRun,
  compareWithPlain,
  describeComparison,
  faultsSize,
  JOBS,
  observationSlice,
  openFaultRun,
  RESULT_TABLE,
  runCli,
  startCli,
  unaccountedOf,
  type CliProcess,
  type JobName,
} from './harness';
import { recordOutcome } from './report';
import { killWatched, RSS_BOUND_BYTES, tailOf, teeStderr, withLongIdleTimeout } from './support-outage';
import { aheadOf, committedOffsets, endOffsets, megabytes, sampleRss, sleep, TcpProxy, total, waitFor, type RssSampler } from './support-servers';
import { createTopic, encodeObservations, OBSERVATION_SCHEMA, startTrickle } from './support-stream';

/** The observation schema plus a field: a second version under the same subject (BACKWARD compatible: it has a default). */
function versionTwo(): string {
  const schema = JSON.parse(readFileSync(OBSERVATION_SCHEMA, 'utf8')) as { fields: object[] };
  schema.fields.push({ name: 'sensor', type: ['null', 'string'], default: null, doc: 'Sensor id (added in version 2).' });
  return JSON.stringify(schema);
}

interface Watch {
  job: JobName;
  group: string;
  file: string;
  cli: CliProcess;
  rss: RssSampler;
  recovery: number[];
  notes: string[];
}

test('registry outage: at start-up and mid-stream with a new schema id; records wait, no dead letters, results exact', { timeout: 600_000 }, async (t) => {
  if (!(await requireCluster(t))) return;
  const full = faultsSize() === 'full';
  const jobs: readonly JobName[] = full ? JOBS : ['tides-lunar-day'];
  const startupOutageMs = full ? 30_000 : 10_000;
  const midOutageMs = full ? 30_000 : 15_000;
  const started = Date.now();
  const input = await observationSlice(full ? 1 : 4);
  const cut = (share: number) => Math.floor(input.length * share);
  const a = input.slice(0, cut(0.4));
  const b1 = input.slice(cut(0.4), cut(0.65));
  const b2 = input.slice(cut(0.65), cut(0.9));
  const tail = input.slice(cut(0.9));

  const run = await openFaultRun('registry-outage', t);
  const registry = new URL(clusterEnv().registryUrl);
  const proxy = new TcpProxy(registry.hostname, Number(registry.port || 80));
  const watches: Watch[] = [];
  try {
    await createTopic(run.kafka, run.topic, 3);
    const v1 = await encodeObservations(run.cluster.registryUrl, run.topic, [...a, ...b1]);
    const v2 = await encodeObservations(run.cluster.registryUrl, run.topic, [...b2, ...tail], versionTwo(), (_row, i) => ({ sensor: i % 3 === 0 ? null : `S${i % 7}` }));
    assert.notEqual(v2.schemaId, v1.schemaId, 'version 2 has an id of its own');
    const partA = v1.messages.slice(0, a.length);
    const partB1 = v1.messages.slice(a.length);
    const partB2 = v2.messages.slice(0, b2.length);
    const partTail = v2.messages.slice(b2.length);
    // Produced before the new id is known to the job: v2 was registered just now, never fetched by it.
    await startTrickle(run.kafka, run.topic, partA, { chunk: 5000, intervalMs: 0 }).done;
    const endA = await endOffsets(run.kafka, run.topic);

    // ---- 1. down at start-up
    await proxy.start();
    await proxy.stop();
    const proxiedUrl = `http://127.0.0.1:${proxy.port}${registry.pathname}`;
    for (const job of jobs) {
      const group = `${run.topic}-${job}`;
      const file = run.jobFile(job, withLongIdleTimeout);
      const cli = startCli(
        ['run', file, '--checkpoint-interval', '500ms', '--batch-size', '500', '--quiet'],
        run.env({ FAULTS_GROUP: group, SCHEMA_REGISTRY_URL: proxiedUrl }),
      );
      teeStderr(cli, job);
      watches.push({ job, group, file, cli, rss: sampleRss(cli.child.pid!), recovery: [], notes: [] });
    }
    await Promise.all(watches.map((w) => w.cli.waitForStderr(/unreachable.*retrying/)));
    const downAt = Date.now();
    while (Date.now() - downAt < startupOutageMs) {
      await sleep(1000);
      for (const w of watches) {
        alive(w, 'with the registry down at start-up');
        const committed = total(await committedOffsets(run.kafka, w.group, run.topic));
        assert.equal(committed, 0, `${w.job}: committed ${committed} records' offsets with the registry down and no schema known`);
      }
    }
    await proxy.start();
    const upAt = Date.now();
    t.diagnostic(`registry down ${upAt - downAt} ms at start-up (after the first retry line)`);
    await Promise.all(
      watches.map(async (w) => {
        await waitFor(`${w.job} to commit after the registry came up`, async () => {
          alive(w, 'after the registry came up');
          return total(await committedOffsets(run.kafka, w.group, run.topic)) > 0 ? true : undefined;
        }, 120_000);
        w.recovery.push(Date.now() - upAt);
      }),
    );

    // ---- 2. down mid-stream: B1 (cached id) then B2 (new id) arrive while it is away
    const trickle = startTrickle(run.kafka, run.topic, [...partB1, ...partB2], { chunk: Math.max(50, Math.ceil(partB1.length / 25)), intervalMs: 200 });
    await trickle.reach(Math.min(partB1.length, 500));
    await proxy.stop();
    const midDownAt = Date.now();
    await trickle.reach(partB1.length);
    const endB1 = await endOffsets(run.kafka, run.topic);
    const pastB1: string[] = [];
    const advancedPastA = new Set<JobName>();
    while (Date.now() - midDownAt < midOutageMs || trickle.produced < trickle.total) {
      await sleep(500);
      for (const w of watches) {
        alive(w, 'with the registry down mid-stream');
        const committed = await committedOffsets(run.kafka, w.group, run.topic);
        if (total(committed) > total(endA)) advancedPastA.add(w.job);
        pastB1.push(...aheadOf(committed, endB1).map((p) => `${w.job} ${p}`));
      }
    }
    await trickle.done;
    await proxy.start();
    const midUpAt = Date.now();
    t.diagnostic(`registry down ${midUpAt - midDownAt} ms mid-stream; cached id kept flowing for ${[...advancedPastA].join(', ') || 'no job'}`);
    const tailTrickle = startTrickle(run.kafka, run.topic, partTail, { chunk: Math.max(20, Math.ceil(partTail.length / 40)), intervalMs: 200 });
    await Promise.all(
      watches.map(async (w) => {
        await waitFor(`${w.job} to commit past the first new-id record after the registry came back`, async () => {
          alive(w, 'after the registry came back');
          return aheadOf(await committedOffsets(run.kafka, w.group, run.topic), endB1).length > 0 ? true : undefined;
        }, 120_000);
        w.recovery.push(Date.now() - midUpAt);
      }),
    );
    await tailTrickle.reach(Math.floor(partTail.length / 2));
    for (const w of watches) w.cli.kill('SIGTERM');
    const firstRuns = await Promise.all(watches.map((w) => w.cli.exited));
    await tailTrickle.done;
    for (const w of watches) w.rss.stop();
    const drains = await Promise.all(
      watches.map((w) => runCli(['run', w.file, '--until-end', '--checkpoint-interval', '500ms', '--quiet'], run.env({ FAULTS_GROUP: w.group }))),
    );

    const deadLetters = await Promise.all(watches.map((w) => run.readTopic(run.deadLetterTopic(w.job)).catch(() => [])));
    for (const [i, w] of watches.entries()) {
      const comparison = compareWithPlain(w.job, input, await run.table(RESULT_TABLE[w.job]));
      const counters = (await run.lastCheckpoint(w.job))?.counters;
      const unaccounted = counters ? unaccountedOf(w.job, counters) : Number.NaN;
      const retryLines = (firstRuns[i].stderr.match(/schema registry .* unreachable/g) ?? []).length;
      recordOutcome({
        scenario: 'registry-outage',
        job: w.job,
        faultsInjected: 2,
        faults: [
          `registry unreachable at start-up ${(startupOutageMs / 1000).toFixed(0)} s`,
          `registry unreachable mid-stream ${((midUpAt - midDownAt) / 1000).toFixed(1)} s while schema version 2 (new id ${v2.schemaId}) was produced`,
        ],
        recordsIn: counters?.recordsIn ?? 0,
        resultsExact: comparison.exact,
        lost: comparison.lost,
        duplicated: comparison.duplicated,
        recoveryMs: { median: Math.round((w.recovery[0] + w.recovery[1]) / 2), max: Math.max(...w.recovery), samples: w.recovery.length },
        unaccounted,
        notes:
          `outage = TCP proxy in front of the registry closed (the registry keeps its ids); recovery = proxy open until the next commit ` +
          `(start-up ${w.recovery[0]} ms, mid-stream ${w.recovery[1]} ms past the first new-id record); ` +
          `cached v1 id kept flowing during the mid-stream outage: ${advancedPastA.has(w.job) ? 'yes' : 'no'}; ` +
          `${retryLines} retry lines; dead letters ${counters?.deadLetters ?? '?'} (topic: ${deadLetters[i].length}); peak RSS ${megabytes(w.rss.peakBytes)} MB.`,
        durationMs: Date.now() - started,
      });
      t.diagnostic(`${w.job}: ${describeComparison(comparison)}; recovery ${w.recovery.join(' / ')} ms; peak RSS ${megabytes(w.rss.peakBytes)} MB`);
      assert.equal(firstRuns[i].code, 0, `${w.job}: the run through the outages failed:\n${tailOf(firstRuns[i].stderr)}`);
      assert.equal(drains[i].code, 0, `${w.job}: the draining run failed:\n${tailOf(drains[i].stderr)}`);
      assert.ok(retryLines > 0, `${w.job}: no registry retry was logged:\n${tailOf(firstRuns[i].stderr)}`);
      assert.deepEqual(pastB1.filter((p) => p.startsWith(`${w.job} `)), [], `${w.job}: committed past a record whose schema id it could not have fetched`);
      assert.ok(advancedPastA.has(w.job), `${w.job}: records with the cached schema id did not flow while the registry was down`);
      assert.equal(deadLetters[i].length, 0, `${w.job}: dead letters: ${deadLetters[i].map((m) => m.value?.toString().slice(0, 200)).join(' | ')}`);
      assertExactRun(w.job, comparison, counters, input.length);
      assert.ok(w.rss.peakBytes < RSS_BOUND_BYTES, `${w.job}: peak RSS ${megabytes(w.rss.peakBytes)} MB`);
    }
  } finally {
    for (const w of watches) {
      await killWatched(t, w.job, w.cli, w.rss);
    }
    await proxy.stop();
    await run.close();
  }
});

function alive(w: Watch, when: string): void {
  const { exitCode, signalCode } = w.cli.child;
  if (exitCode !== null || signalCode !== null) throw new Error(`${w.job}: the engine exited (${exitCode ?? signalCode}) ${when}`);
}
