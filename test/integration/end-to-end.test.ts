/**
 * The production path for real: the bundled NOAA data (with poller-style
 * duplicates and a few poison payloads) is produced into Kafka as Confluent
 * Avro through the registry; each reference job runs from Kafka into
 * Cassandra; the tables must equal the plain computation of the golden tests.
 * The lunar-day job is stopped mid-stream and restarted from its Cassandra
 * checkpoint on the way.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { Client, types } from 'cassandra-driver';
import { Kafka, logLevel } from 'kafkajs';
import { produceFile } from '../../engine/cli/produce';
import { loadJobFile } from '../../engine/jobfile';
import type { JobSpec } from '../../engine/config/job';
import { assemble } from '../../engine/jobfile/assemble';
import { unaccounted } from '../../engine/core/operator';
import { runJob, type RunResult } from '../../engine/runtime/run-job';
import { clusterEnv, requireCluster } from '../support/cluster';
import { assertRowsEqual, byStationThenStart, expectedAverages, expectedLunarDays, iso, plainAverages, plainDedupe, readBundled, THIRTY_MINUTES, type Observation } from '../support/plain';
import { job, ROOT, temporaryDirectory } from '../support/run-local';

const run = Date.now();
const TOPIC = `tides-e2e-${run}`;
const KEYSPACE = `tides_e2e_${run}`;
const POISON = [
  Buffer.from('{"error": {"message": "No data was found. This product may not be offered at this station at the requested time."}}'),
  Buffer.from('<html><body><h1>503 Service Unavailable</h1></body></html>'),
  Buffer.from([0x07, 0, 0, 0, 1, 2, 3]),
];

/** Every 20th observation is sent twice in a row, as a poller of "latest" does. */
function withDuplicates(rows: Observation[]): Observation[] {
  const out: Observation[] = [];
  rows.forEach((row, i) => {
    out.push(row);
    if (i % 20 === 0) out.push(row);
  });
  return out;
}

function jobFor(name: string, env: NodeJS.ProcessEnv): JobSpec {
  const spec = loadJobFile(job(name), { env, cwd: ROOT });
  if (spec.source.kind !== 'kafka') throw new Error('reference jobs read from Kafka');
  const topic = (suffix: string) => ({ kind: 'kafka' as const, kafka: { ...(spec.deadLetters as { kafka: object }).kafka, topic: `${TOPIC}.${suffix}`, format: { kind: 'json' as const } } });
  return {
    ...spec,
    source: { kind: 'kafka', kafka: { ...spec.source.kafka, topic: TOPIC, group: `e2e-${name}-${run}`, stopAtEnd: true } },
    deadLetters: topic('dead-letters') as JobSpec['deadLetters'],
    late: topic('late') as JobSpec['late'],
  };
}

async function runFromKafka(spec: JobSpec, options: { stopAfterBatches?: number; workers?: number; onAggregated?: () => void } = {}): Promise<RunResult> {
  const controller = new AbortController();
  let batches = 0;
  const parts = await assemble(spec, { workers: options.workers });
  const decoder = parts.decoder;
  if (decoder) {
    const decode = decoder.decode.bind(decoder);
    decoder.decode = async (raw) => {
      const decoded = await decode(raw);
      if (decoded.kind === 'aggregated') options.onAggregated?.();
      return decoded;
    };
  }
  return runJob(parts, {
    signal: controller.signal,
    inject: (point) => {
      if (point === 'after-batch' && options.stopAfterBatches !== undefined && ++batches === options.stopAfterBatches) controller.abort();
    },
  });
}

/** A Cassandra table as JSON-like rows: timestamps as ISO strings, bigint as number. */
async function selectAll(client: Client, table: string): Promise<Array<Record<string, unknown>>> {
  const rows: Array<Record<string, unknown>> = [];
  const stream = client.stream(`SELECT * FROM ${KEYSPACE}.${table}`, [], { prepare: true, fetchSize: 5000 }) as unknown as AsyncIterable<types.Row>;
  for await (const row of stream) {
    const plain: Record<string, unknown> = {};
    for (const key of row.keys()) {
      const value = row.get(key);
      plain[key] = value instanceof Date ? value.toISOString() : value !== null && typeof value === 'object' && 'toNumber' in value ? (value as { toNumber(): number }).toNumber() : value;
    }
    rows.push(plain);
  }
  return rows;
}

test('end to end: Kafka + Schema Registry -> reference jobs -> Cassandra equals the golden computation', { timeout: 600_000 }, async (t) => {
  if (!(await requireCluster(t))) return;
  const cluster = clusterEnv();
  const env = {
    ...process.env,
    KAFKA_BROKERS: cluster.kafkaBrokers.join(','),
    SCHEMA_REGISTRY_URL: cluster.registryUrl,
    CASSANDRA_CONTACT_POINTS: cluster.cassandraContactPoints.join(','),
    CASSANDRA_LOCAL_DC: cluster.cassandraLocalDc,
    CASSANDRA_KEYSPACE: KEYSPACE,
  };

  // 1. The input: bundled observations with duplicates, as JSONL, produced as Confluent Avro.
  const input = withDuplicates(await readBundled());
  const file = join(temporaryDirectory(), 'tides.jsonl');
  writeFileSync(file, input.map((row) => JSON.stringify(row)).join('\n') + '\n');
  const started = Date.now();
  const produced = await produceFile({
    file,
    topic: TOPIC,
    connection: { brokers: cluster.kafkaBrokers, clientId: 'tideflow-e2e' },
    registryUrl: cluster.registryUrl,
    schemaPath: join(ROOT, 'schemas', 'tide_observation.avsc'),
    partitions: 3,
    keyField: 'station',
  });
  t.diagnostic(`produced ${input.length} records in ${Date.now() - started} ms`);
  assert.equal(produced.records, input.length);

  // 2. Poison: what a REST poller and a broken producer put on such topics.
  const kafka = new Kafka({ brokers: cluster.kafkaBrokers, clientId: 'tideflow-e2e-poison', logLevel: logLevel.NOTHING });
  const producer = kafka.producer();
  await producer.connect();
  await producer.send({ topic: TOPIC, messages: POISON.map((value) => ({ key: '8410140', value })) });
  await producer.disconnect();

  const cassandra = new Client({ contactPoints: cluster.cassandraContactPoints, localDataCenter: cluster.cassandraLocalDc });
  await cassandra.connect();
  try {
    // 3. Each job from Kafka into Cassandra; the lunar-day job stops mid-stream and resumes.
    const rates: string[] = [];
    const timed = async (name: string, body: () => Promise<RunResult>) => {
      const begin = Date.now();
      const result = await body();
      rates.push(`${name}: ${Math.round((input.length + POISON.length) / ((Date.now() - begin) / 1000))} records/s`);
      return result;
    };
    const dedupe = await timed('tides-dedupe', () => runFromKafka(jobFor('tides-dedupe', env)));
    assert.equal(dedupe.counters.deadLetters, POISON.length);
    assert.equal(dedupe.counters.late, 0);
    assert.equal(dedupe.counters.recordsIn, input.length + POISON.length);
    assert.equal(unaccounted(dedupe.counters, false), 0);

    const average = await timed('tides-30m-average', () => runFromKafka(jobFor('tides-30m-average', env)));
    assert.equal(average.counters.deadLetters, POISON.length);
    assert.equal(average.counters.duplicatesDropped, dedupe.counters.duplicatesDropped, 'repeats dropped before the window');
    assert.equal(unaccounted(average.counters, true), 0);

    // The same window without the dedupe before it starts with a window, so it is pre-aggregated:
    // --workers 1 on the run loop's thread as it decodes (flat reader, no rows), --workers 2 on a worker thread.
    const spec30m = jobFor('tides-30m-average', env);
    if (spec30m.sink.kind !== 'cassandra' || spec30m.source.kind !== 'kafka') throw new Error('the 30m job writes to Cassandra');
    const { kafka: kafkaSpec } = spec30m.source;
    const { cassandra: cassandraSpec } = spec30m.sink;
    const windowFirst = (workers: number): JobSpec => ({
      ...spec30m,
      job: `tides-30m-window-only-workers${workers}`,
      steps: spec30m.steps.filter((step) => step.kind === 'window'),
      source: { kind: 'kafka', kafka: { ...kafkaSpec, group: `e2e-window-only-${workers}-${run}` } },
      sink: { kind: 'cassandra', cassandra: { ...cassandraSpec, table: `avg_30m_window_only_workers${workers}` } },
    });
    let aggregatedInThread = 0;
    const inThread = await timed('30m window only', () => runFromKafka(windowFirst(1), { onAggregated: () => aggregatedInThread++ }));
    assert.equal(unaccounted(inThread.counters, true), 0);
    assert.ok(aggregatedInThread > 0, 'batches were pre-aggregated on the run loop thread');
    t.diagnostic(`--workers 1: ${aggregatedInThread} batches pre-aggregated`);
    let aggregatedBatches = 0;
    const parallel = await timed('30m window only --workers 2', () => runFromKafka(windowFirst(2), { workers: 2, onAggregated: () => aggregatedBatches++ }));
    assert.deepEqual(parallel.counters, inThread.counters, 'same counters as --workers 1');
    assert.ok(aggregatedBatches > 0, 'batches were pre-aggregated on the worker thread');
    t.diagnostic(`--workers 2: ${aggregatedBatches} batches pre-aggregated`);

    const lunarSpec = jobFor('tides-lunar-day', env);
    const firstHalf = await runFromKafka(lunarSpec, { stopAfterBatches: 6 });
    assert.equal(firstHalf.stopped, true, 'the first run stops mid-stream');
    const secondHalf = await timed('tides-lunar-day (resumed)', () => runFromKafka(lunarSpec));
    assert.equal(secondHalf.resumedFromEpoch !== null, true, 'the second run resumes from the Cassandra checkpoint');
    assert.equal(secondHalf.counters.recordsIn, input.length + POISON.length, 'restored counters + the rest = every record once');
    assert.equal(unaccounted(secondHalf.counters, true), 0);
    t.diagnostic(rates.join('; '));

    // 4. The tables equal the plain computation.
    const observations = (await selectAll(cassandra, 'observations')).sort((a, b) => byStationThenStart({ station: a.station, window_start: a.t }, { station: b.station, window_start: b.t }));
    const expectedObservations = plainDedupe(input)
      .map((row) => ({ ...row, t: iso(row.t) }))
      .sort((a, b) => byStationThenStart({ station: a.station, window_start: a.t }, { station: b.station, window_start: b.t }));
    assert.equal(observations.length, expectedObservations.length);
    assert.deepEqual(observations, expectedObservations);

    assertRowsEqual((await selectAll(cassandra, 'avg_30m')).sort(byStationThenStart), expectedAverages(input), ['avg']);
    const windowOnly = (await selectAll(cassandra, 'avg_30m_window_only_workers1')).sort(byStationThenStart);
    assertRowsEqual(windowOnly, plainAverages(input, THIRTY_MINUTES), ['avg']);
    // Bit for bit: sums of millimetre readings are exact in any order (engine/aggregations/sum.ts).
    assert.deepEqual((await selectAll(cassandra, 'avg_30m_window_only_workers2')).sort(byStationThenStart), windowOnly);
    assertRowsEqual((await selectAll(cassandra, 'lunar_day')).sort(byStationThenStart), expectedLunarDays(input), ['mean', 'range']);
  } finally {
    await cassandra.execute(`DROP KEYSPACE IF EXISTS ${KEYSPACE}`).catch(() => {});
    await cassandra.shutdown();
  }
});
