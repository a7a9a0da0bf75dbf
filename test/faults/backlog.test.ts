/**
 * Backlog: a large stream already waiting in Kafka and a deliberately slow
 * results store. The engine must read only as fast as it can write, so the
 * backlog stays in Kafka and not in the engine's memory.
 *
 *   Kafka topic   [=========== N records, produced before the jobs start ===========]
 *   engine          reads a batch -> processes -> queues rows (bounded) -> waits
 *   TCP proxy       Cassandra behind a link of B bytes/s (client -> server)
 *   Cassandra       results and checkpoints
 *
 * Expected, and checked for each reference job (all three run side by side,
 * each behind its own slow link):
 * - resident memory of the engine process (VmRSS from /proc, every 200 ms)
 *   stays under 1 GB while most of the backlog is still waiting in Kafka;
 * - the run ends by itself (`--until-end`), exit 0;
 * - nothing lost, nothing doubled: every result table equals the plain
 *   computation (windows) or the generated input (dedupe), row for row;
 * - the books balance: input = results + duplicates + null readings (+ late
 *   and dead letters, both 0 here).
 *
 * CI size (default): 300,000 records; full size (FAULTS_SIZE=full): 5,000,000.
 * The input is generated (40 gauges every 6 minutes, every 20th reading sent
 * twice, every 97th without a value), so the dedupe table can be checked row
 * by row against the generator without holding millions of rows in memory.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { Partitioners } from 'kafkajs';
import type { types } from 'cassandra-driver';
import { loadAvroType } from '../../engine/codecs/avro-schema';
import { encodeConfluent } from '../../engine/codecs/confluent-avro';
import { SchemaRegistry } from '../../engine/codecs/registry';
import { requireCluster } from '../support/cluster';
import {
  assertExactRun,
  compareWithPlain,
  describeComparison,
  faultsSize,
  JOBS,
  openFaultRun,
  RESULT_TABLE,
  ROOT,
  startCli,
  unaccountedOf,
  type CliExit,
  type CliProcess,
  type Comparison,
  type FaultRun,
  type JobName,
  type Observation,
} from './harness';
import { recordOutcome } from './report';
import { createTopic } from './support-stream';
import { killWatched, RSS_BOUND_BYTES, tailOf, teeStderr } from './support-outage';
import { committedOffsets, endOffsets, megabytes, sampleRss, sleep, TcpProxy, total, type RssSampler } from './support-servers';

const FULL = faultsSize() === 'full';
const RECORDS = Number(process.env.FAULTS_BACKLOG_RECORDS ?? (FULL ? 5_000_000 : 300_000));
/** Client -> Cassandra bytes per second, per job. The dedupe job writes a ~100-byte row per record. */
const LINK_BYTES_PER_SECOND = Number(process.env.FAULTS_BACKLOG_LINK ?? (FULL ? 2 * 1024 * 1024 : 1024 * 1024));

// ---------------------------------------------------------------- the generated input

const STATIONS = 40;
const STEP = 6 * 60 * 1000;
const T0 = Date.UTC(2024, 0, 1);
const M2 = 44_714_164; // principal lunar semidiurnal period, ms
const S2 = 43_200_000;

function stationId(s: number): string {
  return String(9_100_000 + s);
}

/** The reading of gauge `s` at time step `k` (a deterministic two-constituent tide, to the millimetre). */
function observation(s: number, k: number): Observation {
  const t = T0 + k * STEP;
  const v = (k * STATIONS + s) % 97 === 0 ? null : Math.round(1000 * (1.5 + 1.1 * Math.cos((2 * Math.PI * t) / M2 + s) + 0.3 * Math.cos((2 * Math.PI * t) / S2 + 2 * s))) / 1000;
  return { station: stationId(s), name: `Backlog gauge ${s}`, lat: 30 + s / 10, lon: -120 + s / 10, t, v, s: null, f: null, q: 'p' };
}

/** Arrival order: time step by time step, every gauge, every 20th reading sent twice in a row (a "latest" poller). */
function generate(records: number): { input: Observation[]; steps: number } {
  const input: Observation[] = [];
  let n = 0;
  for (let k = 0; input.length < records; k++) {
    for (let s = 0; s < STATIONS && input.length < records; s++) {
      const row = observation(s, k);
      input.push(row);
      if (n++ % 20 === 0 && input.length < records) input.push(row);
    }
  }
  const last = input[input.length - 1];
  return { input, steps: (last.t - T0) / STEP + 1 };
}

async function produceBacklog(run: FaultRun, input: Observation[], t: TestContext): Promise<number> {
  const registry = new SchemaRegistry({ url: run.cluster.registryUrl });
  const schemaPath = join(ROOT, 'schemas', 'tide_observation.avsc');
  const schemaId = await registry.register(`${run.topic}-value`, readFileSync(schemaPath, 'utf8')).finally(() => registry.close());
  const type = loadAvroType(schemaPath);
  const producer = run.kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  const started = Date.now();
  let lastNote = started;
  try {
    const chunk = 20_000;
    // One send in flight while the next chunk is encoded (the producer keeps them in order).
    let inFlight: Promise<unknown> = Promise.resolve();
    for (let i = 0; i < input.length; i += chunk) {
      const messages = input.slice(i, i + chunk).map((row) => ({ key: row.station, value: encodeConfluent(schemaId, type, row) }));
      await inFlight;
      inFlight = producer.send({ topic: run.topic, acks: -1, messages });
      if (Date.now() - lastNote > 15_000) {
        lastNote = Date.now();
        t.diagnostic(`backlog: produced ${i} of ${input.length}`);
      }
    }
    await inFlight;
  } finally {
    await producer.disconnect();
  }
  return Date.now() - started;
}

// ---------------------------------------------------------------- checking the dedupe table row by row, streaming

/** Every row must be a generated observation, each exactly once (Cassandra's key makes doubles impossible; missing rows are lost). */
async function compareDedupe(run: FaultRun, steps: number, input: Observation[]): Promise<Comparison> {
  const expected = new Uint8Array(STATIONS * steps);
  for (const row of input) expected[((row.t - T0) / STEP) * STATIONS + (Number(row.station) - 9_100_000)] = 1;
  let expectedRows = 0;
  for (const bit of expected) expectedRows += bit;
  const found = new Uint8Array(STATIONS * steps);
  const comparison: Comparison = { exact: true, expectedRows, actualRows: 0, lost: 0, duplicated: 0, differing: 0, examples: [] };
  const note = (text: string) => {
    comparison.exact = false;
    if (comparison.examples.length < 5) comparison.examples.push(text);
  };
  const stream = run.cassandra.stream(`SELECT * FROM ${run.keyspace}.observations`, [], { prepare: true, fetchSize: 5000 }) as unknown as AsyncIterable<types.Row>;
  for await (const row of stream) {
    comparison.actualRows++;
    const station = String(row.get('station'));
    const time = (row.get('t') as Date).getTime();
    const s = Number(station) - 9_100_000;
    const k = (time - T0) / STEP;
    const index = k * STATIONS + s;
    if (!(s >= 0 && s < STATIONS && Number.isInteger(k) && k >= 0 && k < steps) || expected[index] === 0) {
      comparison.duplicated++;
      note(`unexpected row ${station}|${new Date(time).toISOString()}`);
      continue;
    }
    if (found[index] === 1) {
      comparison.duplicated++;
      note(`row ${station}|${new Date(time).toISOString()} twice`);
      continue;
    }
    found[index] = 1;
    const want = observation(s, k);
    const problems: string[] = [];
    for (const field of ['name', 'lat', 'lon', 'v', 's', 'f', 'q'] as const) {
      if (row.get(field) !== want[field]) problems.push(`${field} ${String(row.get(field))} != ${String(want[field])}`);
    }
    if (problems.length > 0) {
      comparison.differing++;
      note(`row ${station}|${new Date(time).toISOString()}: ${problems.join('; ')}`);
    }
  }
  for (let i = 0; i < expected.length; i++) {
    if (expected[i] === 1 && found[i] === 0) {
      comparison.lost++;
      note(`missing row ${stationId(i % STATIONS)}|${new Date(T0 + Math.floor(i / STATIONS) * STEP).toISOString()}`);
    }
  }
  return comparison;
}

// ---------------------------------------------------------------- the scenario

interface JobWatch {
  job: JobName;
  group: string;
  proxy: TcpProxy;
  cli: CliProcess;
  rss: RssSampler;
  /** Records still waiting in Kafka (topic end - committed group offsets) at each sample. */
  waiting: number[];
  /** Records waiting in Kafka when the RSS peak was sampled. */
  waitingAtPeak: number;
  peakSeenBytes: number;
}

test('backlog: millions of records waiting, a slow results store; memory stays bounded, nothing lost', { timeout: FULL ? 3_600_000 : 900_000 }, async (t) => {
  if (!(await requireCluster(t))) return;
  const started = Date.now();
  const { input, steps } = generate(RECORDS);
  const run = await openFaultRun('backlog', t);
  const watches: JobWatch[] = [];
  try {
    await createTopic(run.kafka, run.topic, 3);
    const produceMs = await produceBacklog(run, input, t);
    const inKafka = total(await endOffsets(run.kafka, run.topic));
    assert.equal(inKafka, input.length, 'records in the topic');
    t.diagnostic(`backlog: ${inKafka} records in ${run.topic} (${(produceMs / 1000).toFixed(1)} s to produce); link to Cassandra ${LINK_BYTES_PER_SECOND / 1024} KB/s per job`);
    await run.prepareKeyspace();

    const [host, port] = run.cluster.cassandraContactPoints[0].split(':');
    for (const job of JOBS) {
      const proxy = new TcpProxy(host, Number(port ?? 9042), { bytesPerSecond: LINK_BYTES_PER_SECOND });
      await proxy.start();
      const group = `${run.topic}-${job}`;
      const env = run.env({ FAULTS_GROUP: group, CASSANDRA_CONTACT_POINTS: `127.0.0.1:${proxy.port}` });
      const cli = startCli(['run', run.jobFile(job), '--until-end', '--checkpoint-interval', '2s'], env);
      teeStderr(cli, `backlog-${job}`);
      watches.push({ job, group, proxy, cli, rss: sampleRss(cli.child.pid!), waiting: [], waitingAtPeak: inKafka, peakSeenBytes: 0 });
    }

    // How much of the backlog is still in Kafka while the engines run (committed offsets follow each checkpoint).
    const exits: Array<CliExit | null> = watches.map(() => null);
    const ended = Promise.all(watches.map((w, i) => w.cli.exited.then((exit) => (exits[i] = exit))));
    let lastNote = Date.now();
    while (exits.some((exit) => exit === null)) {
      await Promise.race([ended, sleep(1000)]);
      for (const [i, w] of watches.entries()) {
        if (exits[i] !== null) continue;
        try {
          const waiting = inKafka - total(await committedOffsets(run.kafka, w.group, run.topic));
          w.waiting.push(waiting);
          if (w.rss.peakBytes > w.peakSeenBytes) {
            w.peakSeenBytes = w.rss.peakBytes;
            w.waitingAtPeak = waiting;
          }
        } catch {
          // The admin client timed out under load; the next round samples again.
        }
      }
      if (Date.now() - lastNote > 30_000) {
        lastNote = Date.now();
        t.diagnostic(
          `backlog: ${watches.map((w, i) => `${w.job} ${exits[i] ? 'done' : `${w.waiting.at(-1) ?? '?'} waiting, RSS ${megabytes(w.rss.lastBytes)} MB`}`).join('; ')}`,
        );
      }
    }
    for (const w of watches) w.rss.stop();

    for (const [i, w] of watches.entries()) {
      const exit = exits[i]!;
      const comparison =
        w.job === 'tides-dedupe' ? await compareDedupe(run, steps, input) : compareWithPlain(w.job, input, await run.table(RESULT_TABLE[w.job]));
      const counters = (await run.lastCheckpoint(w.job))?.counters;
      const unaccounted = counters ? unaccountedOf(w.job, counters) : Number.NaN;
      const seconds = exit.durationMs / 1000;
      const sorted = [...w.waiting].sort((a, b) => a - b);
      const medianWaiting = sorted.length > 0 ? sorted[Math.floor(sorted.length / 2)] : 0;
      recordOutcome({
        scenario: 'backlog',
        job: w.job,
        faultsInjected: 1,
        faults: [`${input.length} records waiting in Kafka; Cassandra behind a ${LINK_BYTES_PER_SECOND / 1024} KB/s link`],
        recordsIn: counters?.recordsIn ?? 0,
        resultsExact: comparison.exact,
        lost: comparison.lost,
        duplicated: comparison.duplicated,
        recoveryMs: null,
        unaccounted,
        notes:
          `peak RSS ${megabytes(w.rss.peakBytes)} MB (bound ${megabytes(RSS_BOUND_BYTES)} MB, ${w.rss.samples} samples) ` +
          `with ${w.waitingAtPeak} records still waiting in Kafka then (median while running: ${medianWaiting}); ` +
          `drained in ${seconds.toFixed(1)} s (${Math.round(input.length / seconds)} records/s), ` +
          `${megabytes(w.proxy.bytesUp)} MB sent to Cassandra through the slow link; ${comparison.actualRows} result rows; exit ${exit.code}.`,
        durationMs: Date.now() - started,
      });
      t.diagnostic(
        `${w.job}: ${describeComparison(comparison)}; peak RSS ${megabytes(w.rss.peakBytes)} MB with ${w.waitingAtPeak} waiting; ` +
          `${seconds.toFixed(1)} s, ${megabytes(w.proxy.bytesUp)} MB through the link`,
      );
      assert.equal(exit.code, 0, `${w.job} failed:\n${tailOf(exit.stderr)}`);
      assertExactRun(w.job, comparison, counters, input.length);
      assert.ok(w.rss.peakBytes < RSS_BOUND_BYTES, `${w.job}: peak RSS ${megabytes(w.rss.peakBytes)} MB >= ${megabytes(RSS_BOUND_BYTES)} MB`);
      // Only a backlog test if the records really waited in Kafka (not in the engine) for most of the run.
      assert.ok(medianWaiting >= input.length / 5, `${w.job}: a median of ${medianWaiting} records waited in Kafka; the backlog was not exercised`);
    }
  } finally {
    for (const w of watches) {
      await killWatched(t, w.job, w.cli, w.rss);
      await w.proxy.stop();
    }
    await run.close();
  }
});

