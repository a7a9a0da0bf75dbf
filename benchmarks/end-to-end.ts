/**
 * Scenario "end to end": a topic of Confluent Avro tide records -> each
 * reference job, in-process, bounded (`stopAtEnd`) -> Cassandra (a keyspace of
 * its own, dropped afterwards) with the job's own Cassandra checkpoints.
 *
 * - Throughput: records / (first batch decoded .. last checkpoint saved),
 *   i.e. every result durable in Cassandra and the offsets checkpointed; the
 *   same span the client-ceiling scenario measures, so their ratio is fair.
 * - Latency (dedupe job, one output row per input record): producer timestamp
 *   -> Cassandra acknowledged the write of that row, for records produced at a
 *   fixed rate while the job runs unbounded. The same run at falling rates
 *   finds the live maximum: the highest rate rows get through producer ->
 *   Kafka -> engine -> Cassandra while all of them share the machine, which
 *   is what "half the maximum rate" halves (state-and-servers.ts).
 *
 * Run directly, it runs one throughput pass of one job on an existing topic
 * and keyspace (used under `node --cpu-prof` by run.ts):
 *   node --cpu-prof dist/benchmarks/end-to-end.js --job tides-30m-average --topic T --keyspace K
 */
import type { RawBatch } from '../engine/core/batch';
import { performance } from 'node:perf_hooks';
import * as hdr from 'hdr-histogram-js';
import { Client } from 'cassandra-driver';
import { Kafka, logLevel } from 'kafkajs';
import { loadJobFile } from '../engine/jobfile';
import type { JobSpec } from '../engine/config/job';
import { assemble } from '../engine/jobfile/assemble';
import type { Row } from '../engine/core/batch';
import { LATE, runJob, type JobParts } from '../engine/runtime/run-job';
import type { Decoder } from '../engine/codecs/decoder';
import { CassandraSink } from '../engine/sinks/cassandra-sink';
import { createCassandraClient } from '../engine/clients/cassandra';
import type { CheckpointStore } from '../engine/state/checkpoint';
import { cluster, median, produceRecordsInChildProcess, ROOT } from './kafka-topic';
import { cpuPerRecord, sampleCpu, type CpuBreakdown, type CpuSample } from './cpu-usage';
import { join } from 'node:path';

export const REFERENCE_JOBS = ['tides-dedupe', 'tides-30m-average', 'tides-lunar-day'];

export interface EndToEndResult {
  job: string;
  /** `--workers`: 1 = in the run loop; 2 = plus a pool thread (pre-aggregating window jobs). */
  workers: number;
  records: number;
  runs: number[];
  medianRecordsPerSecond: number;
  /** Result rows written to Cassandra in the last run. */
  results: number;
  /** medianRecordsPerSecond / the client ceiling of the same bench run (filled in by run.ts). */
  ratioToCeiling?: number;
  /** CPU per record over the measured span of the median run: this process and each local server. */
  cpu: CpuBreakdown;
  /** Seconds each run waited for Cassandra to finish the compactions and flushes the runs before it left. */
  settleSeconds: number[];
}

export interface LatencyResult {
  job: string;
  /** Records/s asked of the producer. */
  targetRate: number;
  producedRate: number;
  /**
   * Rows acknowledged by Cassandra per second, from the first record's
   * producer timestamp to the last acknowledgement: what got through the
   * whole chain; below the asked rate when some part cannot keep up.
   */
  deliveredRate: number;
  records: number;
  /** Records whose latency was measured (all but the first 2 s of warm-up). */
  measured: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
  /** The two legs of each row's latency: producer -> the engine decoded it (Kafka, kafkajs), and decoded -> Cassandra acknowledged it (engine, sink, Cassandra). */
  legs: { kafka: Percentiles; engineAndCassandra: Percentiles };
  /** How long the run waited for Cassandra's compactions and flushes left by earlier runs, and whether they had ended. */
  settle: CassandraSettle;
}

export interface CassandraSettle {
  waitedMs: number;
  settled: boolean;
}

export interface Percentiles {
  p50Ms: number;
  p99Ms: number;
}

/** The reference job, reading `topic` in its own group and writing to `keyspace`; side outputs go to topics of this run. */
export function benchJob(name: string, topic: string, keyspace: string, group: string, stopAtEnd: boolean): JobSpec {
  const env = cluster();
  const spec = loadJobFile(join(ROOT, 'jobs', `${name}.yaml`), {
    env: {
      ...process.env,
      KAFKA_BROKERS: env.kafkaBrokers.join(','),
      SCHEMA_REGISTRY_URL: env.registryUrl,
      CASSANDRA_CONTACT_POINTS: env.cassandraContactPoints.join(','),
      CASSANDRA_LOCAL_DC: env.cassandraLocalDc,
      CASSANDRA_KEYSPACE: keyspace,
    },
    cwd: ROOT,
  });
  if (spec.source.kind !== 'kafka') throw new Error(`${name} reads from Kafka`);
  const side = (suffix: string) => ({ kind: 'kafka' as const, kafka: { ...(spec.deadLetters as { kafka: object }).kafka, topic: `${topic}.${suffix}`, format: { kind: 'json' as const } } });
  return {
    ...spec,
    source: { kind: 'kafka', kafka: { ...spec.source.kafka, topic, group, startFrom: 'earliest', stopAtEnd } },
    deadLetters: side('dead-letters') as JobSpec['deadLetters'],
    late: side('late') as JobSpec['late'],
  };
}

/** Notes when the first records arrive and when the last checkpoint was saved, with the CPU spent by then. */
function timed(parts: JobParts): {
  firstAt: () => number;
  lastSaveAt: () => number;
  monotonicUs: () => { firstAtUs: number; lastSaveAtUs: number };
  cpu: () => { first: CpuSample; lastSave: CpuSample } | null;
} {
  let firstAt = 0;
  let lastSaveAt = 0;
  let firstCpu: CpuSample | null = null;
  let lastSaveCpu: CpuSample | null = null;
  // The same instants on the clock CPU profiles use, to cut a profile to the measured span.
  let firstAtUs = 0;
  let lastSaveAtUs = 0;
  const monotonicUs = () => Number(process.hrtime.bigint() / 1000n);
  const decoder = parts.decoder!;
  const noteFirst = (raw: RawBatch) => {
    if (firstAt === 0 && (raw.payloads?.length ?? 0) > 0) {
      firstAt = performance.now();
      firstAtUs = monotonicUs();
      firstCpu = sampleCpu();
    }
  };
  // Everything the run loop uses of the decoder passes through: pre-aggregation, read-ahead and expand included.
  parts.decoder = {
    overlaps: decoder.overlaps,
    decode: (raw) => {
      noteFirst(raw);
      return decoder.decode(raw);
    },
    expand: decoder.expand?.bind(decoder),
    describeState: decoder.describeState?.bind(decoder),
    close: () => decoder.close(),
  };
  const store = parts.checkpoints;
  const checkpoints: CheckpointStore = {
    description: store.description,
    claim: (job) => store.claim(job),
    list: (prefix) => store.list(prefix),
    load: (job) => store.load(job),
    save: async (checkpoint) => {
      await store.save(checkpoint);
      lastSaveAt = performance.now();
      lastSaveAtUs = monotonicUs();
      lastSaveCpu = sampleCpu();
    },
    clear: (job) => store.clear(job),
    close: () => store.close(),
  };
  parts.checkpoints = checkpoints;
  return {
    firstAt: () => firstAt,
    lastSaveAt: () => lastSaveAt,
    monotonicUs: () => ({ firstAtUs, lastSaveAtUs }),
    cpu: () => (firstCpu && lastSaveCpu ? { first: firstCpu, lastSave: lastSaveCpu } : null),
  };
}

/** One bounded pass of a job over the whole topic; records/s from first batch to last checkpoint. */
export async function endToEndPass(
  name: string,
  topic: string,
  keyspace: string,
  workers = 1,
): Promise<{ recordsPerSecond: number; records: number; results: number; firstAtUs: number; lastSaveAtUs: number; cpu: CpuBreakdown | null }> {
  const spec = benchJob(name, topic, keyspace, `bench-${name}-${Date.now()}`, true);
  const parts = await assemble(spec, { workers, log: (line) => process.stderr.write(`  ${line}\n`) });
  const clock = timed(parts);
  const result = await runJob(parts, { resetState: true });
  const seconds = (clock.lastSaveAt() - clock.firstAt()) / 1000;
  const cpu = clock.cpu();
  return {
    recordsPerSecond: result.counters.recordsIn / seconds,
    records: result.counters.recordsIn,
    results: result.counters.resultsOut,
    ...clock.monotonicUs(),
    cpu: cpu === null ? null : cpuPerRecord(cpu.first, cpu.lastSave, result.counters.recordsIn),
  };
}

/** Every reference job in the run loop, and the 30-minute job with a pool thread pre-aggregating. */
export const END_TO_END_RUNS: Array<{ job: string; workers: number }> = [
  ...REFERENCE_JOBS.map((job) => ({ job, workers: 1 })),
  { job: 'tides-30m-average', workers: 2 },
];

export async function benchEndToEnd(topic: string, keyspace: string, repeat: number, runsToMake = END_TO_END_RUNS): Promise<EndToEndResult[]> {
  const results: EndToEndResult[] = [];
  for (const { job, workers } of runsToMake) {
    const passes: Array<Awaited<ReturnType<typeof endToEndPass>>> = [];
    const settleSeconds: number[] = [];
    for (let run = 0; run < repeat; run++) {
      // Otherwise a run pays for compacting what the runs before it wrote (lunar-day, 2,000 rows, after
      // dedupe's 3 x 490,000: Cassandra took 2.1 µs of CPU per record instead of 0.6).
      const settle = await awaitCassandraSettled();
      settleSeconds.push(Math.round(settle.waitedMs / 100) / 10);
      process.stderr.write(`end to end: ${job} --workers ${workers} (run ${run + 1} of ${repeat})...\n`);
      passes.push(await endToEndPass(job, topic, keyspace, workers));
    }
    const runs = passes.map((pass) => pass.recordsPerSecond);
    const middle = [...passes].sort((a, b) => a.recordsPerSecond - b.recordsPerSecond)[Math.floor((passes.length - 1) / 2)];
    const last = passes[passes.length - 1];
    results.push({
      job,
      workers,
      records: last.records,
      runs,
      medianRecordsPerSecond: median(runs),
      results: last.results,
      cpu: middle.cpu ?? { usPerRecord: {}, coresBusy: 0 },
      settleSeconds,
    });
  }
  return results;
}

// ---------------------------------------------------------------- latency

/** Column names of an `INSERT INTO ks.t ("a", "b") VALUES ...` statement. */
function insertColumns(cql: string): string[] | null {
  const match = /^INSERT INTO\s+\S+\s*\(([^)]*)\)\s*VALUES/i.exec(cql);
  return match ? match[1].split(',').map((name) => name.trim().replace(/^"|"$/g, '')) : null;
}

/**
 * The driver client of the sink, reporting the parameters of every INSERT the
 * server acknowledged, at the moment it acknowledged them.
 */
function acknowledgingClient(client: Client, onAck: (columns: string[], rows: unknown[][]) => void): Client {
  return new Proxy(client, {
    get(target, property) {
      if (property === 'execute') {
        return async (query: string, params: unknown[], options: unknown) => {
          const result = await target.execute(query, params as never, options as never);
          const columns = insertColumns(query);
          if (columns) onAck(columns, [params]);
          return result;
        };
      }
      if (property === 'batch') {
        return async (queries: Array<{ query: string; params: unknown[] }>, options: unknown) => {
          const result = await target.batch(queries, options as never);
          const columns = queries.length > 0 ? insertColumns(queries[0].query) : null;
          if (columns) onAck(columns, queries.map((query) => query.params));
          return result;
        };
      }
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}

/** A bound text value: the sink sends most values as their wire bytes (engine/sinks/cassandra-wire.ts). */
function textOf(value: unknown): string {
  return Buffer.isBuffer(value) ? value.toString('utf8') : String(value);
}

/** A bound timestamp: wire bytes (a 64-bit integer of milliseconds), a number or a Date. */
function timeOf(value: unknown): number {
  if (Buffer.isBuffer(value)) return Number(value.readBigInt64BE(0));
  if (typeof value === 'number') return value;
  if (typeof value === 'bigint') return Number(value);
  if (value instanceof Date) return value.getTime();
  return Number(value);
}

/** Records produced in the first 2 s are not measured (JIT, connection pools, the table's first writes). */
const WARM_UP_MS = 2000;

function latencyHistogram(): hdr.Histogram {
  return hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: 3, autoResize: true });
}

/**
 * Per result row (key `station|t`): when its record was produced and when the
 * engine decoded it; on the acknowledgement, the row's latency and its two
 * legs go into histograms (µs). Only the first arrival of a key counts (the
 * one dedupe keeps); a key stays, marked done, after its row was acknowledged
 * or went to the late output, so a repeat arriving later (dropped by dedupe)
 * is not waited for.
 */
class RowLatencies {
  readonly total = latencyHistogram();
  readonly kafka = latencyHistogram();
  readonly engineAndCassandra = latencyHistogram();
  waiting = 0;
  acknowledgedCount = 0;
  lastAcknowledgedAt = 0;
  private readonly rows = new Map<string, { producedAt: number; receivedAt: number } | 'done'>();
  // The producer process writes its input file before it sends: warm-up counts from the first record's timestamp.
  private firstProducedAt = Number.POSITIVE_INFINITY;

  received(key: string, producedAt: number, receivedAt: number): void {
    if (producedAt < this.firstProducedAt) this.firstProducedAt = producedAt;
    if (this.rows.has(key)) return;
    this.rows.set(key, { producedAt, receivedAt });
    this.waiting++;
  }

  acknowledged(key: string, at: number): void {
    const row = this.rows.get(key);
    if (row === undefined || row === 'done') return;
    this.done(key);
    this.acknowledgedCount++;
    this.lastAcknowledgedAt = at;
    if (row.producedAt < this.firstProducedAt + WARM_UP_MS) return;
    const us = (ms: number) => Math.max(1, Math.round(ms * 1000));
    this.total.recordValue(us(at - row.producedAt));
    this.kafka.recordValue(us(row.receivedAt - row.producedAt));
    this.engineAndCassandra.recordValue(us(at - row.receivedAt));
  }

  dropped(key: string): void {
    const row = this.rows.get(key);
    if (row !== undefined && row !== 'done') this.done(key);
  }

  /** Rows acknowledged per second, from the first record produced to the last acknowledgement. */
  deliveredRate(): number {
    const seconds = (this.lastAcknowledgedAt - this.firstProducedAt) / 1000;
    return seconds > 0 ? this.acknowledgedCount / seconds : 0;
  }

  destroy(): void {
    for (const histogram of [this.total, this.kafka, this.engineAndCassandra]) histogram.destroy();
  }

  private done(key: string): void {
    this.rows.set(key, 'done');
    this.waiting--;
  }
}

function percentiles(histogram: hdr.Histogram): Percentiles {
  return { p50Ms: histogram.getValueAtPercentile(50) / 1000, p99Ms: histogram.getValueAtPercentile(99) / 1000 };
}

/**
 * Latency at a fixed produce rate: the dedupe job runs unbounded from a new
 * topic; once it has joined its group, `records` records are produced at
 * `rate`/s; each result row's latency is (Cassandra ack time - producer
 * timestamp of the record it came from). The first arrival of a (station, t)
 * is the one dedupe keeps, so that is the timestamp used.
 */
export async function benchLatency(topic: string, keyspace: string, rate: number, records: number): Promise<LatencyResult> {
  const job = 'tides-dedupe';
  const env = cluster();
  // The throughput runs before leave Cassandra compacting for a minute or more, on the same two cores.
  const settle = await awaitCassandraSettled();
  const kafka = new Kafka({ clientId: 'tideflow-bench-latency', brokers: env.kafkaBrokers, logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: 3, replicationFactor: -1 }], waitForLeaders: true });
  await admin.disconnect();

  let joined = false;
  const spec = benchJob(job, topic, keyspace, `bench-latency-${Date.now()}`, false);
  const parts = await assemble(spec, {
    log: (line) => {
      if (line.includes('joined group')) joined = true;
      else process.stderr.write(`  ${line}\n`);
    },
  });

  const rows = new RowLatencies();
  const decoder: Decoder = parts.decoder!;
  parts.decoder = {
    overlaps: decoder.overlaps,
    decode: async (raw) => {
      const decoded = await decoder.decode(raw);
      const timestamps = raw.timestamps;
      if (timestamps && decoded.kind === 'rows') {
        const receivedAt = Date.now();
        // decoded.offsets is a subsequence of raw.offsets (dead letters removed).
        let j = 0;
        for (let i = 0; i < decoded.rows.length; i++) {
          while (j < raw.offsets.length - 1 && raw.offsets[j] !== decoded.offsets[i]) j++;
          const row: Row = decoded.rows[i];
          rows.received(`${row.station as string}|${row.t as number}`, timestamps[j], receivedAt);
        }
      }
      return decoded;
    },
    // tides-dedupe starts with dedupe: no pre-aggregation to pass through, rows only.
    expand: decoder.expand?.bind(decoder),
    describeState: decoder.describeState?.bind(decoder),
    close: () => decoder.close(),
  };

  const sinkSpec = spec.sink.kind === 'cassandra' ? spec.sink.cassandra : null;
  if (!sinkSpec) throw new Error(`${job} writes to Cassandra`);
  parts.sinks.set(
    'main',
    new CassandraSink(sinkSpec, 'main', {
      timestampFields: new Set([spec.eventTime.field]),
      createClient: (connection) =>
        acknowledgingClient(createCassandraClient(connection), (columns, params) => {
          const now = Date.now();
          const station = columns.indexOf('station');
          const t = columns.indexOf('t');
          if (station < 0 || t < 0) return;
          for (const values of params) rows.acknowledged(`${textOf(values[station])}|${timeOf(values[t])}`, now);
        }),
    }),
  );
  // Rows that went to the late output never reach the Cassandra table: not waited for.
  const lateSink = parts.sinks.get(LATE);
  if (lateSink) {
    const write = lateSink.write.bind(lateSink);
    lateSink.write = (lateRows) => {
      for (const late of lateRows) {
        const row = late.record as Row | null;
        if (row) rows.dropped(`${row.station as string}|${row.t as number}`);
      }
      return write(lateRows);
    };
  }
  const running = runJob(parts, { resetState: true });
  const joinDeadline = Date.now() + 60_000;
  while (!joined && Date.now() < joinDeadline) await new Promise((resolve) => setTimeout(resolve, 50));
  if (!joined) throw new Error('latency: the job did not join its consumer group within 60 s');

  process.stderr.write(`latency: producing ${records.toLocaleString('en-US')} records at ${Math.round(rate).toLocaleString('en-US')}/s while ${job} runs...\n`);
  const produced = await produceRecordsInChildProcess(topic, records, { rate, seed: 11 });
  // Everything produced is read: stop once acknowledgements went quiet (or a minute passed).
  const drainDeadline = Date.now() + 60_000;
  let idleSince = Date.now();
  let lastAcknowledged = -1;
  while (Date.now() < drainDeadline) {
    if (rows.acknowledgedCount !== lastAcknowledged) {
      lastAcknowledged = rows.acknowledgedCount;
      idleSince = Date.now();
    }
    if (rows.waiting === 0 || Date.now() - idleSince > 2000) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  if (rows.waiting > 0) process.stderr.write(`latency: ${rows.waiting} rows never acknowledged by Cassandra (not in the histogram)\n`);
  await parts.source.close();
  await running;
  const ms = (percentile: number) => rows.total.getValueAtPercentile(percentile) / 1000;
  const result: LatencyResult = {
    job,
    targetRate: rate,
    producedRate: produced.recordsPerSecond,
    deliveredRate: rows.deliveredRate(),
    records: produced.records,
    measured: rows.total.totalCount,
    p50Ms: ms(50),
    p90Ms: ms(90),
    p99Ms: ms(99),
    maxMs: rows.total.maxValue / 1000,
    legs: { kafka: percentiles(rows.kafka), engineAndCassandra: percentiles(rows.engineAndCassandra) },
    settle,
  };
  rows.destroy();
  return result;
}

/** Cassandra's thread pools whose work is left over from earlier writes: compactions and memtable flushes. */
const BACKGROUND_POOLS = /^(CompactionExecutor|MemtableFlushWriter|MemtablePostFlush|PerDiskMemtableFlushWriter.*)$/;

/**
 * Waits, at most `maxMs`, until Cassandra runs and queues no compaction or
 * memtable flush (its `system_views.thread_pools` virtual table says so).
 */
export async function awaitCassandraSettled(maxMs = 120_000): Promise<CassandraSettle> {
  const env = cluster();
  const client = new Client({ contactPoints: env.cassandraContactPoints, localDataCenter: env.cassandraLocalDc });
  await client.connect();
  const started = Date.now();
  try {
    for (;;) {
      const pools = await client.execute('SELECT name, active_tasks, pending_tasks FROM system_views.thread_pools');
      const busy = pools.rows.some((pool) => BACKGROUND_POOLS.test(pool['name'] as string) && Number(pool['active_tasks']) + Number(pool['pending_tasks']) > 0);
      if (!busy) return { waitedMs: Date.now() - started, settled: true };
      if (Date.now() - started >= maxMs) return { waitedMs: Date.now() - started, settled: false };
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  } finally {
    await client.shutdown();
  }
}

/** Creates nothing: the keyspace is made by the sinks; this drops it (and the run's side topics are left to retention). */
export async function dropKeyspace(keyspace: string): Promise<void> {
  const env = cluster();
  const client = new Client({ contactPoints: env.cassandraContactPoints, localDataCenter: env.cassandraLocalDc });
  await client.connect();
  try {
    await client.execute(`DROP KEYSPACE IF EXISTS ${keyspace}`);
  } finally {
    await client.shutdown();
  }
}

/** Deletes the run's topics (input, latency input and their side outputs). */
export async function deleteTopics(prefix: string): Promise<void> {
  const env = cluster();
  const kafka = new Kafka({ clientId: 'tideflow-bench-cleanup', brokers: env.kafkaBrokers, logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  try {
    const topics = (await admin.listTopics()).filter((topic) => topic.startsWith(prefix));
    if (topics.length > 0) await admin.deleteTopics({ topics });
  } finally {
    await admin.disconnect();
  }
}

function argument(name: string): string | undefined {
  const index = process.argv.indexOf(`--${name}`);
  return index >= 0 ? process.argv[index + 1] : undefined;
}

if (require.main === module) {
  const job = argument('job') ?? 'tides-30m-average';
  const topic = argument('topic');
  const keyspace = argument('keyspace');
  const workers = Number(argument('workers') ?? 1);
  if (!topic || !keyspace || !Number.isInteger(workers) || workers < 1) {
    process.stderr.write('usage: node dist/benchmarks/end-to-end.js --job NAME --topic TOPIC --keyspace KEYSPACE [--workers N]\n');
    process.exit(2);
  }
  endToEndPass(job, topic, keyspace, workers).then(
    (pass) => process.stdout.write(JSON.stringify({ job, ...pass }) + '\n'),
    (error: unknown) => {
      process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
      process.exitCode = 1;
    },
  );
}
