/**
 * What every fault scenario needs against the real servers: a CI- or
 * full-sized input produced into a fresh topic, copies of the reference job
 * files pointed at that topic, the real CLI as a child process (to kill it),
 * the Cassandra result tables read back, and a comparison with the plain
 * computation of test/support/plain.ts that counts lost and duplicated
 * records instead of stopping at the first difference.
 *
 *   const run = await openFaultRun('crash');          // unique topic / keyspace / groups
 *   await run.produce(input);
 *   const jobFile = run.jobFile('tides-lunar-day');
 *   const cli = startCli(['run', jobFile, '--until-end'], run.env({ FAULTS_GROUP: 'g1' }));
 *   await cli.exited;
 *   const comparison = compareWithPlain('tides-lunar-day', input, await run.table('lunar_day'));
 *   await run.close();                                  // drops the keyspace and topics
 */
import assert from 'node:assert/strict';
import { createCassandraClient } from '../../engine/clients/cassandra';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client, types } from 'cassandra-driver';
import { Kafka, logLevel, Partitioners, type Admin, type IHeaders, type Message } from 'kafkajs';
import { produceFile } from '../../engine/cli/produce';
import { emptyCounters, unaccounted, type RunCounters } from '../../engine/core/operator';
import { CassandraCheckpointStore } from '../../engine/state/cassandra-checkpoint-store';
import { clusterEnv, type ClusterEnv } from '../support/cluster';
import { byStationThenStart, expectedAverages, expectedLunarDays, iso, plainDedupe, readBundled, type Observation } from '../support/plain';
import { ROOT, temporaryDirectory } from '../support/run-local';

export { ROOT };
export const CLI = join(ROOT, 'bin', 'tideflow.js');

/** `ci` (default; what `npm test` runs) or `full` (`npm run faults`). */
export type FaultsSize = 'ci' | 'full';

export function faultsSize(): FaultsSize {
  return process.env.FAULTS_SIZE === 'full' ? 'full' : 'ci';
}

export const JOBS = ['tides-dedupe', 'tides-30m-average', 'tides-lunar-day'] as const;
export type JobName = (typeof JOBS)[number];

/** The Cassandra result table of each reference job (its sink in jobs/<job>.yaml). */
export const RESULT_TABLE: Record<JobName, string> = {
  'tides-dedupe': 'observations',
  'tides-30m-average': 'avg_30m',
  'tides-lunar-day': 'lunar_day',
};

export const HAS_WINDOW: Record<JobName, boolean> = {
  'tides-dedupe': false,
  'tides-30m-average': true,
  'tides-lunar-day': true,
};

// ---------------------------------------------------------------- input

/**
 * A slice of the bundled observations: every `every`-th block of `block`
 * consecutive records (the bundled order is by time, then station, so a block
 * is a stretch of time with every station then reporting at full density and
 * windows get several records), with every 20th record sent twice in a row as
 * a "latest" poller does. `every` 1 is the whole file.
 */
export async function observationSlice(every: number, block = 400): Promise<Observation[]> {
  const all = await readBundled();
  const out: Observation[] = [];
  let k = 0;
  for (let i = 0; i < all.length; i++) {
    if (Math.floor(i / block) % every !== 0) continue;
    out.push(all[i]);
    if (k++ % 20 === 0) out.push(all[i]);
  }
  return out;
}

/** A small seeded PRNG so a failing fault schedule can be reproduced from the printed seed. */
export function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let x = Math.imul(state ^ (state >>> 15), 1 | state);
    x ^= x + Math.imul(x ^ (x >>> 7), 61 | x);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

export function seedFromEnvironment(): number {
  return Number(process.env.TIDEFLOW_TEST_SEED ?? Date.now() % 1_000_000);
}

// ---------------------------------------------------------------- one run's servers

export interface FaultRun {
  readonly id: string;
  readonly cluster: ClusterEnv;
  readonly topic: string;
  readonly keyspace: string;
  readonly dir: string;
  readonly cassandra: Client;
  readonly kafka: Kafka;
  /** Environment for the CLI: the cluster's addresses, this run's keyspace, plus `extra`. */
  env(extra?: Record<string, string>): NodeJS.ProcessEnv;
  /** Produce observations (Confluent Avro via the registry) into this run's topic, keyed by station (or by `keyField`). */
  produce(rows: Observation[], partitions?: number, keyField?: string): Promise<void>;
  /** A topic a job of this run creates (a repartition topic): deleted with the run's own. */
  ownTopic(topic: string): void;
  /** Send raw messages (poison) to this run's topic. */
  sendRaw(messages: Message[]): Promise<void>;
  /** A copy of a reference job file reading this run's topic, with its side outputs on this run's topics. */
  jobFile(name: JobName, edit?: (text: string) => string, fileName?: string): string;
  /** A result table of this run's keyspace as JSON-like rows (timestamps ISO, bigint as number). */
  table(table: string): Promise<Array<Record<string, unknown>>>;
  /**
   * Creates the keyspace and the checkpoint table before jobs start side by side, so the
   * scenarios measure their fault, not table creation (jobs racing to create it work too:
   * test/integration/cassandra-checkpoint.test.ts).
   */
  prepareKeyspace(): Promise<void>;
  /** A job's last checkpoint: its epoch and counters (restored counters + the rest = the whole input). */
  lastCheckpoint(job: string): Promise<{ epoch: number; counters: RunCounters; positions: Record<string, number> } | null>;
  /** Every message of a topic of this run (reads to the end offsets seen now). */
  readTopic(topic: string): Promise<Array<{ partition: number; offset: string; key: Buffer | null; value: Buffer | null; headers: Record<string, string> }>>;
  /** Messages in this run's topic (end offsets summed). */
  topicSize(): Promise<number>;
  /** A consumer group's committed offsets on this run's topic, as checkpoint positions (`topic/partition` -> offset). */
  committedOffsets(group: string): Promise<Record<string, number>>;
  deadLetterTopic(job: JobName): string;
  lateTopic(job: JobName): string;
  /** Drop the keyspace and delete the topics of this run. */
  close(): Promise<void>;
}

/**
 * Unique topic, keyspace and temp dir for one scenario run, so runs never see
 * each other's data (the servers are shared with other engineers and CI).
 */
export async function openFaultRun(scenario: string, test?: { readonly signal: AbortSignal }): Promise<FaultRun> {
  const id = `${Date.now()}${Math.floor(Math.random() * 1000)}`;
  const cluster = clusterEnv();
  const topic = `tides-faults-${scenario}-${id}`;
  const keyspace = `tides_faults_${scenario.replace(/[^a-z0-9]/g, '_')}_${id}`;
  const dir = temporaryDirectory(`tideflow-faults-${scenario}-`);
  // The engine's client factory: its short reconnection backoff finds Cassandra again soon after an outage test restarts it.
  const cassandra = createCassandraClient({ contactPoints: cluster.cassandraContactPoints, localDataCenter: cluster.cassandraLocalDc });
  await cassandra.connect();
  const kafka = new Kafka({ brokers: cluster.kafkaBrokers, clientId: `tideflow-faults-${scenario}`, logLevel: logLevel.NOTHING });
  const topics = new Set<string>([topic]);
  const deadLetterTopic = (job: JobName) => `${topic}.${job}.dead-letters`;
  const lateTopic = (job: JobName) => `${topic}.${job}.late`;

  let closed = false;
  // The test's signal aborts when it ends. Ended without closing this run, it was abandoned where it waited (a
  // timeout: its `finally` never ran): say where, and stop its processes.
  test?.signal.addEventListener('abort', () => closed || reportAbandoned(scenario), { once: true });
  const run: FaultRun = {
    id,
    cluster,
    topic,
    keyspace,
    dir,
    cassandra,
    kafka,
    env: (extra = {}) => ({
      ...process.env,
      KAFKA_BROKERS: cluster.kafkaBrokers.join(','),
      SCHEMA_REGISTRY_URL: cluster.registryUrl,
      CASSANDRA_CONTACT_POINTS: cluster.cassandraContactPoints.join(','),
      CASSANDRA_LOCAL_DC: cluster.cassandraLocalDc,
      CASSANDRA_KEYSPACE: keyspace,
      // A stuck engine says where it is stuck well before a scenario's waits time out.
      TIDEFLOW_STALL_REPORT_MS: '10000',
      ...extra,
    }),
    ownTopic: (name) => {
      topics.add(name);
    },
    produce: async (rows, partitions = 3, keyField = 'station') => {
      const file = join(dir, `input-${Date.now()}.jsonl`);
      writeFileSync(file, rows.map((row) => JSON.stringify(row)).join('\n') + '\n');
      const summary = await produceFile({
        file,
        topic,
        connection: { brokers: cluster.kafkaBrokers, clientId: 'tideflow-faults' },
        registryUrl: cluster.registryUrl,
        schemaPath: join(ROOT, 'schemas', 'tide_observation.avsc'),
        partitions,
        keyField,
      });
      if (summary.records !== rows.length) throw new Error(`produced ${summary.records} of ${rows.length} records: ${summary.rejectReasons.join('; ')}`);
    },
    sendRaw: async (messages) => {
      const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
      await producer.connect();
      try {
        await producer.send({ topic, acks: -1, messages });
      } finally {
        await producer.disconnect();
      }
    },
    jobFile: (name, edit = (text) => text, fileName = `${name}.yaml`) => {
      let text = readFileSync(join(ROOT, 'jobs', `${name}.yaml`), 'utf8');
      // The copy lives elsewhere: its reader schema, relative to the job file's directory, made absolute.
      text = text.replace(/^( +readerSchema: )\.\.\/schemas\//m, `$1${join(ROOT, 'schemas')}/`);
      // The source topic (indented under source.kafka), then each side output's topic.
      text = text.replace(/^( {4}topic: )tides\.observations$/m, `$1${topic}\n    group: \${FAULTS_GROUP:-tideflow-faults-${id}}`);
      text = text.replace(/^( {4}topic: )tides\.observations\.dead-letters$/m, `$1${deadLetterTopic(name)}`);
      text = text.replace(/^( {4}topic: )tides\.observations\.late$/m, `$1${lateTopic(name)}`);
      if (text.includes('tides.observations')) throw new Error(`job file ${name}: a topic was not replaced`);
      topics.add(deadLetterTopic(name));
      topics.add(lateTopic(name));
      mkdirSync(dir, { recursive: true });
      const path = join(dir, fileName);
      writeFileSync(path, edit(text));
      return path;
    },
    table: (table) => selectAll(cassandra, keyspace, table),
    prepareKeyspace: async () => {
      await run.lastCheckpoint('tideflow-faults-prepare');
    },
    lastCheckpoint: async (job: string) => {
      const store = new CassandraCheckpointStore({
        contactPoints: cluster.cassandraContactPoints,
        localDataCenter: cluster.cassandraLocalDc,
        keyspace,
        table: 'tideflow_checkpoints',
      });
      try {
        // A Kafka job's checkpoints are its tasks', one per partition (<job>/<partition>): taken together.
        const keys = await store.list(`${job}/`);
        const saved = (await Promise.all((keys.length > 0 ? keys : [job]).map((key) => store.load(key)))).filter((checkpoint) => checkpoint !== null);
        if (saved.length === 0) return null;
        const counters = emptyCounters();
        for (const checkpoint of saved) {
          for (const [name, value] of Object.entries(checkpoint.counters)) (counters as unknown as Record<string, number>)[name] = ((counters as unknown as Record<string, number>)[name] ?? 0) + value;
        }
        return {
          epoch: Math.max(...saved.map((checkpoint) => checkpoint.epoch)),
          counters,
          positions: Object.assign({}, ...saved.map((checkpoint) => checkpoint.positions)) as Record<string, number>,
        };
      } finally {
        await store.close();
      }
    },
    readTopic: (name) => readTopic(kafka, name),
    topicSize: async () => {
      const admin = kafka.admin();
      await admin.connect();
      try {
        const offsets = await admin.fetchTopicOffsets(topic);
        return offsets.reduce((sum, o) => sum + Number(o.high), 0);
      } finally {
        await admin.disconnect();
      }
    },
    committedOffsets: async (group) => {
      const admin = kafka.admin();
      await admin.connect();
      try {
        const [entry] = await admin.fetchOffsets({ groupId: group, topics: [topic] });
        const out: Record<string, number> = {};
        for (const p of entry?.partitions ?? []) if (Number(p.offset) >= 0) out[`${topic}/${p.partition}`] = Number(p.offset);
        return out;
      } finally {
        await admin.disconnect();
      }
    },
    deadLetterTopic,
    lateTopic,
    close: async () => {
      closed = true;
      await cassandra.execute(`DROP KEYSPACE IF EXISTS ${keyspace}`).catch(() => {});
      await cassandra.shutdown().catch(() => {});
      const admin = kafka.admin();
      try {
        await admin.connect();
        const existing = new Set(await admin.listTopics());
        const doomed = [...topics].filter((name) => existing.has(name));
        if (doomed.length > 0) await admin.deleteTopics({ topics: doomed, timeout: 10_000 });
      } catch {
        // Leftover test topics are harmless; never fail a scenario over cleanup.
      } finally {
        await admin.disconnect().catch(() => {});
      }
    },
  };
  return run;
}

/** Every row of a table, as JSON-like rows (timestamps ISO, bigint as number), the way `FaultRun.table` reads them. */
export async function selectAll(client: Client, keyspace: string, table: string): Promise<Array<Record<string, unknown>>> {
  const rows: Array<Record<string, unknown>> = [];
  const stream = client.stream(`SELECT * FROM ${keyspace}.${table}`, [], { prepare: true, fetchSize: 5000 }) as unknown as AsyncIterable<types.Row>;
  for await (const row of stream) {
    const plain: Record<string, unknown> = {};
    for (const key of row.keys()) {
      const value = row.get(key);
      plain[key] =
        value instanceof Date
          ? value.toISOString()
          : typeof value === 'bigint'
            ? Number(value)
            : value !== null && typeof value === 'object' && 'toNumber' in value
            ? (value as { toNumber(): number }).toNumber()
            : value;
    }
    rows.push(plain);
  }
  return rows;
}

async function readTopic(kafka: Kafka, topic: string) {
  const admin: Admin = kafka.admin();
  await admin.connect();
  let ends: Map<number, number>;
  try {
    const offsets = await admin.fetchTopicOffsets(topic);
    ends = new Map(offsets.map((o) => [o.partition, Number(o.high)]));
  } finally {
    await admin.disconnect();
  }
  const out: Array<{ partition: number; offset: string; key: Buffer | null; value: Buffer | null; headers: Record<string, string> }> = [];
  const total = [...ends.values()].reduce((sum, n) => sum + n, 0);
  if (total === 0) return out;
  const consumer = kafka.consumer({ groupId: `tideflow-faults-reader-${Date.now()}-${Math.random()}`, maxWaitTimeInMs: 200 });
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`reading ${topic}: got ${out.length} of ${total} messages in 60 s`)), 60_000);
      consumer
        .run({
          eachMessage: async ({ partition, message }) => {
            if (Number(message.offset) >= (ends.get(partition) ?? 0)) return;
            out.push({ partition, offset: message.offset, key: message.key ?? null, value: message.value ?? null, headers: textHeaders(message.headers) });
            if (out.length >= total) {
              clearTimeout(timer);
              resolve();
            }
          },
        })
        .catch(reject);
    });
  } finally {
    await consumer.disconnect();
  }
  return out;
}

function textHeaders(headers: IHeaders | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers ?? {})) {
    if (value === undefined) continue;
    out[name] = Array.isArray(value) ? value.map(String).join(',') : String(value);
  }
  return out;
}

// ---------------------------------------------------------------- the CLI as a child process

/** CLI processes still running, for the report of a test that timed out. */
const running = new Set<{ args: string[]; child: ChildProcess; startedAt: number; stderr: () => string }>();

/** Written when a scenario's test timed out or was cancelled: every CLI still running, with the end of its log; then they are killed. */
function reportAbandoned(scenario: string): void {
  const lines = [`[faults] ${scenario}: the test was abandoned (timed out or cancelled); ${running.size} CLI process(es) still running`];
  for (const cli of running) {
    const tail = cli.stderr().trimEnd().split('\n').slice(-40).join('\n  ');
    lines.push(`- tideflow ${cli.args.join(' ')} (pid ${cli.child.pid}, for ${Math.round((Date.now() - cli.startedAt) / 1000)} s); the end of its stderr:\n  ${tail}`);
    cli.child.kill('SIGKILL');
  }
  process.stderr.write(lines.join('\n') + '\n');
}

export interface CliExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  durationMs: number;
  /** Stopped by the harness for running past its `timeoutMs`. */
  timedOut: boolean;
}

export interface CliOptions {
  /**
   * A run that should end on its own but has not by then is stopped (SIGTERM, then SIGKILL), so a
   * hang fails its test with the run's own log instead of the test's timeout, which prints nothing.
   */
  timeoutMs?: number;
}

/** For a bounded run of a CI-sized test, which takes seconds: far past that, it hangs. */
export const BOUNDED_RUN: CliOptions = { timeoutMs: 180_000 };

/** What a graceful stop may take before the harness kills a timed-out run. */
const CLI_STOP_GRACE_MS = 20_000;

export interface CliProcess {
  readonly child: ChildProcess;
  readonly startedAt: number;
  readonly exited: Promise<CliExit>;
  /** Resolves with the time (Date.now) a stderr line matching `pattern` appeared; null if the process exited first. */
  waitForStderr(pattern: RegExp): Promise<number | null>;
  /** Everything it wrote to stderr so far (for a failure message when it dies early). */
  stderrSoFar(): string;
  /** Its stderr lines so far, each with the time (Date.now) it arrived. */
  readonly lines: Array<{ at: number; line: string }>;
  kill(signal: NodeJS.Signals): void;
}

/** Runs `tideflow <args>` from the repository root (reader schema paths in job files are relative to it). */
export function startCli(args: string[], env: NodeJS.ProcessEnv, options: CliOptions = {}): CliProcess {
  const startedAt = Date.now();
  const child = spawn(process.execPath, [CLI, ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let timedOut = false;
  const timers: NodeJS.Timeout[] = [];
  if (options.timeoutMs !== undefined) {
    timers.push(
      setTimeout(() => {
        timedOut = true;
        stderr += `[test harness] still running after ${options.timeoutMs} ms: stopped (SIGTERM)\n`;
        child.kill('SIGTERM');
        timers.push(setTimeout(() => child.kill('SIGKILL'), CLI_STOP_GRACE_MS).unref());
      }, options.timeoutMs).unref(),
    );
  }
  let partial = '';
  const lines: Array<{ at: number; line: string }> = [];
  const watchers: Array<{ pattern: RegExp; resolve: (at: number | null) => void }> = [];
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
    const parts = (partial + chunk).split('\n');
    partial = parts.pop() ?? '';
    for (const line of parts) lines.push({ at: Date.now(), line });
    for (let i = watchers.length - 1; i >= 0; i--) {
      if (watchers[i].pattern.test(stderr)) {
        watchers[i].resolve(Date.now());
        watchers.splice(i, 1);
      }
    }
  });
  const entry = { args, child, startedAt, stderr: () => stderr };
  running.add(entry);
  const exited = new Promise<CliExit>((resolve) => {
    child.on('close', (code, signal) => {
      running.delete(entry);
      for (const timer of timers) clearTimeout(timer);
      for (const watcher of watchers.splice(0)) watcher.resolve(null);
      resolve({ code, signal, stdout, stderr, durationMs: Date.now() - startedAt, timedOut });
    });
  });
  return {
    child,
    startedAt,
    exited,
    lines,
    stderrSoFar: () => stderr,
    waitForStderr: (pattern) => {
      if (pattern.test(stderr)) return Promise.resolve(Date.now());
      if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(null);
      return new Promise((resolve) => watchers.push({ pattern, resolve }));
    },
    kill: (signal) => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    },
  };
}

/** The logs of runs side by side, each under its own heading, for a failure message. */
export function logsOf(exits: CliExit[]): string {
  return exits.map((exit, i) => `--- run ${i + 1}: exit ${exit.code ?? exit.signal}${exit.timedOut ? ' (timed out)' : ''}\n${exit.stderr}`).join('\n');
}

/** Runs the CLI to its end. */
export function runCli(args: string[], env: NodeJS.ProcessEnv, options: CliOptions = {}): Promise<CliExit> {
  return startCli(args, env, options).exited;
}

// ---------------------------------------------------------------- comparison with the plain computation

export interface Comparison {
  /** Row for row and value for value (floats within 1e-9, far below the data's 1 mm resolution). */
  exact: boolean;
  expectedRows: number;
  actualRows: number;
  /** Input records missing from the results (missing rows; for windows, counts too low). */
  lost: number;
  /** Input records counted more than once (extra rows; for windows, counts too high). */
  duplicated: number;
  /** Rows with the right key whose other values differ. */
  differing: number;
  /** The first few differences, for the failure message. */
  examples: string[];
}

const FLOAT_FIELDS: Record<JobName, string[]> = {
  'tides-dedupe': [],
  'tides-30m-average': ['avg'],
  'tides-lunar-day': ['mean', 'range'],
};

/** The rows a reference job must leave in its Cassandra table for this input. */
export function expectedRows(job: JobName, input: Observation[]): Array<Record<string, unknown>> {
  switch (job) {
    case 'tides-dedupe':
      return plainDedupe(input).map((row) => ({ ...row, t: iso(row.t) }));
    case 'tides-30m-average':
      return expectedAverages(input);
    case 'tides-lunar-day':
      return expectedLunarDays(input);
  }
}

/** Compares a result table with the plain computation, key by key. */
export function compareWithPlain(job: JobName, input: Observation[], actual: Array<Record<string, unknown>>): Comparison {
  const expected = expectedRows(job, input);
  const keyOf = (row: Record<string, unknown>) => `${String(row.station)}|${String(job === 'tides-dedupe' ? row.t : row.window_start)}`;
  const weight = (row: Record<string, unknown>) => (job === 'tides-dedupe' ? 1 : Number(row.count));
  const actualByKey = new Map<string, Record<string, unknown>>();
  for (const row of actual) actualByKey.set(keyOf(row), row);
  const comparison: Comparison = { exact: true, expectedRows: expected.length, actualRows: actual.length, lost: 0, duplicated: 0, differing: 0, examples: [] };
  const note = (text: string) => {
    comparison.exact = false;
    if (comparison.examples.length < 5) comparison.examples.push(text);
  };
  const seen = new Set<string>();
  for (const want of expected) {
    const key = keyOf(want);
    seen.add(key);
    const got = actualByKey.get(key);
    if (!got) {
      comparison.lost += weight(want);
      note(`missing row ${key}`);
      continue;
    }
    const difference = weight(got) - weight(want);
    if (difference > 0) comparison.duplicated += difference;
    if (difference < 0) comparison.lost -= difference;
    const problems: string[] = [];
    for (const [field, value] of Object.entries(want)) {
      const other = got[field];
      if (FLOAT_FIELDS[job].includes(field)) {
        if (typeof other !== 'number' || Math.abs(other - (value as number)) > 1e-9) problems.push(`${field} ${String(other)} != ${String(value)}`);
      } else if (other !== value) problems.push(`${field} ${String(other)} != ${String(value)}`);
    }
    if (Object.keys(got).length !== Object.keys(want).length) problems.push(`columns ${Object.keys(got).sort().join(',')} != ${Object.keys(want).sort().join(',')}`);
    if (problems.length > 0) {
      comparison.differing++;
      note(`row ${key}: ${problems.join('; ')}`);
    }
  }
  for (const [key, row] of actualByKey) {
    if (seen.has(key)) continue;
    comparison.duplicated += weight(row);
    note(`unexpected row ${key}`);
  }
  if (actual.length !== actualByKey.size) note(`${actual.length - actualByKey.size} rows share a key`);
  return comparison;
}

export function describeComparison(comparison: Comparison): string {
  return (
    `${comparison.actualRows}/${comparison.expectedRows} rows, ${comparison.lost} lost, ${comparison.duplicated} duplicated, ${comparison.differing} differing` +
    (comparison.examples.length > 0 ? `: ${comparison.examples.join(' | ')}` : '')
  );
}

/**
 * How a scenario without bad input ends: results equal the plain computation,
 * the last checkpoint counted every input record once, nothing went to dead
 * letters or late, and the books balance.
 */
export function assertExactRun(job: JobName, comparison: Comparison, counters: RunCounters | undefined, recordsIn: number): void {
  assert.ok(comparison.exact, `${job}: ${describeComparison(comparison)}`);
  assert.ok(counters, `${job} left a checkpoint`);
  assert.equal(counters.recordsIn, recordsIn, `${job}: every record read exactly once`);
  assert.equal(counters.deadLetters, 0, `${job}: dead letters`);
  assert.equal(counters.late, 0, `${job}: late records`);
  assert.equal(unaccountedOf(job, counters), 0, `${job}: accounting ${JSON.stringify(counters)}`);
}

/** `unaccounted()` of a job's counters: 0 when every input record is in exactly one bucket. */
export function unaccountedOf(job: JobName, counters: RunCounters): number {
  return unaccounted(counters, HAS_WINDOW[job]);
}

export { byStationThenStart, type Observation };
