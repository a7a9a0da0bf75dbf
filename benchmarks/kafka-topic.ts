/**
 * Shared by the scenarios that need real servers: is the cluster reachable,
 * and a fresh topic of generated tide records (Confluent Avro via the
 * registry, produced with the `tideflow produce` code path).
 */
import { createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { fork } from 'node:child_process';
import { produceFile, type ProduceSummary } from '../engine/cli/produce';
import { tideObservationSchemaPath } from '../engine/codecs/avro-schema';
import { generateRows } from '../engine/sources/generator-source';
import { clusterEnv, probeCluster, type ClusterEnv } from '../test/support/cluster';

export const ROOT = join(__dirname, '..', '..');

/** Why the server scenarios cannot run (empty when Kafka, registry and Cassandra all answer). */
export async function clusterUnreachable(): Promise<string[]> {
  return probeCluster(['kafka', 'registry', 'cassandra']);
}

export function cluster(): ClusterEnv {
  return clusterEnv();
}

/**
 * Generated observations as JSONL: `stations` gauges every 6 minutes with
 * 2% repeats (a poller re-sending), up to 5 minutes of disorder and 1% null
 * readings, the same mix as the engine-only scenario.
 */
export async function writeRecords(path: string, records: number, stations = 200, seed = 7): Promise<void> {
  const ids = Array.from({ length: stations }, (_, i) => String(8_400_000 + i));
  const rows = generateRows({
    stations: ids,
    startMs: Date.UTC(2024, 0, 1),
    count: Math.ceil(records / stations / 1.02) + 1,
    intervalMs: 6 * 60_000,
    duplicateRate: 0.02,
    disorderMs: 5 * 60_000,
    lateRate: 0,
    nullRate: 0.01,
    seed,
    batchSize: 4096,
  });
  const out = createWriteStream(path);
  let written = 0;
  let chunk = '';
  for (const row of rows) {
    chunk += JSON.stringify(row) + '\n';
    if (++written % 10_000 === 0) {
      if (!out.write(chunk)) await once(out, 'drain');
      chunk = '';
    }
    if (written === records) break;
  }
  out.end(chunk);
  await once(out, 'finish');
}

/**
 * Produce `records` generated records into `topic` (created with `partitions`),
 * at `rate` records/s or as fast as possible.
 */
export async function produceRecords(topic: string, records: number, options: { partitions?: number; rate?: number; seed?: number } = {}): Promise<ProduceSummary> {
  const env = cluster();
  const dir = mkdtempSync(join(tmpdir(), 'tideflow-bench-'));
  const file = join(dir, 'records.jsonl');
  try {
    await writeRecords(file, records, 200, options.seed);
    return await produceFile({
      file,
      topic,
      connection: { brokers: env.kafkaBrokers, clientId: 'tideflow-bench' },
      registryUrl: env.registryUrl,
      schemaPath: tideObservationSchemaPath(),
      partitions: options.partitions ?? 3,
      keyField: 'station',
      rate: options.rate,
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * `produceRecords` in a child process: the latency scenario's producer stands
 * for another application, so its CPU (JSON parsing, Avro encoding, kafkajs
 * produce requests) must not run on the engine's event loop. Message
 * timestamps are the producer's wall clock, the same clock the engine reads.
 */
export async function produceRecordsInChildProcess(
  topic: string,
  records: number,
  options: { partitions?: number; rate?: number; seed?: number } = {},
): Promise<ProduceSummary> {
  return resultOfChildProcess<ProduceSummary>(__filename, ['--produce', JSON.stringify({ topic, records, options })], `the producer process for ${topic}`);
}

if (require.main === module && process.argv[2] === '--produce') {
  const { topic, records, options } = JSON.parse(process.argv[3]) as { topic: string; records: number; options: { partitions?: number; rate?: number; seed?: number } };
  answerParent('producer', produceRecords(topic, records, options));
}

/**
 * Run `file` with `args` in a child process of its own and resolve with the
 * one result it sends back (the child calls `answerParent`).
 */
export async function resultOfChildProcess<T>(file: string, args: string[], what: string, env: NodeJS.ProcessEnv = process.env): Promise<T> {
  const child = fork(file, args, { env, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  let result: T | null = null;
  child.on('message', (message) => {
    result = message as T;
  });
  const [code] = (await once(child, 'exit')) as [number | null];
  if (code !== 0 || result === null) throw new Error(`${what} exited with code ${code} before reporting`);
  return result;
}

/** In a child started by `resultOfChildProcess`: send what `work` gives and exit; on failure, say why on stderr and exit 1. */
export function answerParent<T>(what: string, work: Promise<T>): void {
  work.then(
    (result) => process.send!(result, () => process.exit(0)),
    (error: unknown) => {
      process.stderr.write(`${what}: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exit(1);
    },
  );
}

/** Median of a non-empty list. */
export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}
