import * as fs from 'node:fs';
import { type Command, Option } from 'commander';
import { CompressionTypes, Partitioners, type Message } from 'kafkajs';
import type { KafkaConnectionSpec } from '../config/job';
import { loadAvroType, tideObservationSchemaPath } from '../codecs/avro-schema';
import { encodeConfluent } from '../codecs/confluent-avro';
import { SchemaRegistry } from '../codecs/registry';
import { createRowValidator } from '../codecs/validate';
import { UsageError } from '../core/errors';
import type { Row } from '../core/batch';
import { RetryPolicy } from '../core/retry';
import { formatFromPath, openFileSource } from '../sources/file-source';
import { createKafkaClient, toExternalError } from '../clients/kafka';

/**
 * `tideflow produce`: load a data file (JSONL, CSV, Avro container) into a
 * Kafka topic as Confluent-framed Avro, the schema registered under
 * `<topic>-value`. Records are keyed by station (configurable) so a
 * station's records stay in order in one partition, which is what the
 * per-partition watermarks of a job rely on.
 */

/** Options as commander hands them over (text), checked here so every message is ours. */
export interface ProduceCommandOptions {
  topic?: string;
  brokers?: string;
  registry?: string;
  schema?: string;
  rate?: string;
  partitions?: string;
  key?: string;
  station?: string;
  units?: 'm' | 'ft';
  quiet?: boolean;
}

/** Checked settings of one produce run. */
export interface ProduceOptions {
  file: string;
  topic: string;
  connection: KafkaConnectionSpec;
  registryUrl: string;
  schemaPath: string;
  /** Records per second; undefined = as fast as possible. */
  rate?: number;
  /** Partitions when the topic has to be created. */
  partitions: number;
  /** Row field used as message key; records without it get no key. */
  keyField: string;
  /** Station id for CSV files that do not name one. */
  station?: string;
  /** Water-level units of files that do not say (NOAA's API CSV and t,v,s layouts, saved JSON answers). */
  units?: 'm' | 'ft';
  /** Called about once a second. */
  onProgress?: (progress: ProduceProgress) => void;
  log?: (line: string) => void;
  signal?: AbortSignal;
}

export interface ProduceProgress {
  records: number;
  rejected: number;
  recordsPerSecond: number;
  elapsedMs: number;
}

export interface ProduceSummary {
  file: string;
  topic: string;
  /** Records acknowledged by Kafka. */
  records: number;
  /** Records of the file that are not valid input records (not sent), with the first few reasons. */
  rejected: number;
  rejectReasons: string[];
  partitions: number;
  createdTopic: boolean;
  schemaId: number;
  bytes: number;
  seconds: number;
  recordsPerSecond: number;
  /** Stopped by the signal before the end of the file. */
  stopped: boolean;
}

/** Messages per producer request when producing as fast as possible. */
const SEND_CHUNK = 5000;
const number = new Intl.NumberFormat('en-US');

/**
 * Add `produce` to the CLI.
 *
 * @example
 *   registerProduce(program);
 *   // tideflow produce data/bundled/tides.avro --topic tides.observations --partitions 6
 */
export function registerProduce(program: Command): void {
  program
    .command('produce')
    .description('load a data file (.jsonl, .csv, .avro) into a Kafka topic as Avro via the Schema Registry, keyed by station')
    .argument('<file>', 'data file: JSONL, CSV (NOAA CO-OPS layouts) or Avro container')
    .option('--topic <topic>', 'topic to write (required)')
    .option('--brokers <list>', 'bootstrap brokers (default: $KAFKA_BROKERS or localhost:9092)')
    .option('--registry <url>', 'Schema Registry URL (default: $SCHEMA_REGISTRY_URL or http://localhost:8081)')
    .option('--schema <file>', 'Avro schema of the records (default: schemas/tide_observation.avsc)')
    .option('--rate <n>', 'records per second (default: as fast as possible)')
    .option('--partitions <n>', 'partitions when the topic does not exist yet', '3')
    .option('--key <field>', 'record field used as the message key', 'station')
    .option('--station <id>', 'station id for CSV files that do not name one')
    .addOption(new Option('--units <units>', "water-level units of files that do not say: NOAA's API CSV and t,v,s layouts and saved JSON answers (what the request asked for); required for those").choices(['m', 'ft']))
    .option('--quiet', 'no progress line or summary')
    .action(async (file: string, raw: ProduceCommandOptions) => {
      const options = parseProduceOptions(file, raw);
      const progress = raw.quiet ? null : new ProduceProgressLine();
      const controller = new AbortController();
      const stop = () => {
        if (controller.signal.aborted) process.exit(130);
        controller.abort();
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
      try {
        let summary: ProduceSummary;
        try {
          summary = await produceFile({
            ...options,
            signal: controller.signal,
            onProgress: progress ? (p) => progress.update(p) : undefined,
            log: (line) => {
              progress?.clear();
              process.stderr.write(`${line}\n`);
            },
          });
        } catch (error) {
          // Stopped while waiting for the registry or Kafka: a stop, not a failure.
          if (!controller.signal.aborted) throw error;
          progress?.clear();
          process.stderr.write(`produce: stopped while waiting: ${(error as Error).message}\n`);
          return;
        }
        progress?.clear();
        if (!raw.quiet) process.stderr.write(formatProduceSummary(summary) + '\n');
      } finally {
        progress?.clear();
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
      }
    });
}

function listOf(text: string): string[] {
  return text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

/**
 * Check command-line options; every problem at once in one UsageError (exit code 2).
 *
 * @example
 *   parseProduceOptions('tides.jsonl', { topic: 't', partitions: '3', key: 'station' }, {});
 */
export function parseProduceOptions(file: string, raw: ProduceCommandOptions, env: NodeJS.ProcessEnv = process.env): ProduceOptions {
  const problems: string[] = [];
  if (!fs.existsSync(file)) problems.push(`input file not found: ${file}`);
  else {
    try {
      formatFromPath(file);
    } catch (error) {
      problems.push((error as Error).message);
    }
  }
  const topic = raw.topic?.trim() ?? '';
  if (topic === '') problems.push('--topic is required');
  else if (!/^[A-Za-z0-9._-]{1,249}$/.test(topic)) problems.push(`--topic '${topic}' is not a valid Kafka topic name (letters, digits, '.', '_', '-')`);
  const brokers = listOf(raw.brokers ?? env.KAFKA_BROKERS ?? 'localhost:9092');
  if (brokers.length === 0) problems.push('--brokers: no broker given');
  for (const broker of brokers) if (!/^[^:\s]+:\d+$/.test(broker) && !/^\[[^\]]+\]:\d+$/.test(broker)) problems.push(`--brokers: '${broker}' is not host:port`);
  const registryUrl = (raw.registry ?? env.SCHEMA_REGISTRY_URL ?? 'http://localhost:8081').replace(/\/+$/, '');
  if (!/^https?:\/\/\S+$/.test(registryUrl)) problems.push(`--registry '${registryUrl}' is not an http:// or https:// URL`);
  const schemaPath = raw.schema ?? tideObservationSchemaPath();
  if (!fs.existsSync(schemaPath)) problems.push(`schema file not found: ${schemaPath}`);
  let rate: number | undefined;
  if (raw.rate !== undefined) {
    rate = Number(raw.rate);
    if (!Number.isFinite(rate) || rate <= 0) problems.push(`--rate must be a positive number of records per second, got '${raw.rate}'`);
  }
  const partitions = Number(raw.partitions ?? '3');
  if (!Number.isInteger(partitions) || partitions < 1 || partitions > 10_000) problems.push(`--partitions must be a whole number >= 1, got '${raw.partitions}'`);
  const keyField = raw.key?.trim() || 'station';
  if (problems.length > 0) throw new UsageError(problems.join('\n'));
  return {
    file,
    topic,
    connection: { brokers, clientId: 'tideflow-produce' },
    registryUrl,
    schemaPath,
    rate,
    partitions,
    keyField,
    station: raw.station,
    units: raw.units,
  };
}

/**
 * Produce every valid record of a file to a topic; resolves when all of them
 * are acknowledged by all in-sync replicas.
 *
 * @example
 *   const summary = await produceFile({ file: 'data/bundled/tides.avro', topic: 'tides', connection: { brokers: ['localhost:9092'], clientId: 'x' },
 *     registryUrl: 'http://localhost:8081', schemaPath: 'schemas/tide_observation.avsc', partitions: 3, keyField: 'station' });
 */
export async function produceFile(options: ProduceOptions): Promise<ProduceSummary> {
  const started = Date.now();
  const log = options.log ?? (() => {});
  const type = loadAvroType(options.schemaPath);
  const schemaText = fs.readFileSync(options.schemaPath, 'utf8');
  const validate = createRowValidator(type, 't');
  const fields = (type as unknown as { fields: ReadonlyArray<{ name: string; defaultValue(): unknown }> }).fields;
  // A load is a one-off command: two minutes of outage end it instead of waiting forever.
  const retrying = new RetryPolicy({ subject: 'produce', log, backoff: { maxElapsedMs: 120_000 }, signal: options.signal });

  const registry = new SchemaRegistry({ url: options.registryUrl });
  const kafka = createKafkaClient(options.connection, { log });
  const admin = kafka.admin();
  const producer = kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    createPartitioner: Partitioners.DefaultPartitioner,
    retry: { initialRetryTime: 300, maxRetryTime: 10_000, retries: 8 },
  });
  try {
    const schemaId = await retrying.run(`register the schema under ${options.topic}-value`, () => registry.register(`${options.topic}-value`, schemaText));
    const { partitions, created } = await retrying.run(`create or describe topic ${options.topic}`, async () => {
      try {
        await admin.connect();
        return await ensureTopic(admin, options.topic, options.partitions);
      } catch (error) {
        throw toExternalError(error, `cannot create or describe topic ${options.topic}`);
      }
    });
    if (created) log(`created topic ${options.topic} with ${partitions} partitions`);
    await retrying.run('connect the producer', async () => {
      try {
        await producer.connect();
      } catch (error) {
        throw toExternalError(error, 'cannot connect the producer');
      }
    });

    let records = 0;
    let rejected = 0;
    let bytes = 0;
    const rejectReasons: string[] = [];
    const reject = (reason: string, offset: number) => {
      rejected++;
      if (rejectReasons.length < 5) rejectReasons.push(`record ${offset}: ${reason}`);
    };
    let lastProgressAt = started;
    const reportProgress = (force: boolean) => {
      const now = Date.now();
      if (!options.onProgress || (!force && now - lastProgressAt < 1000)) return;
      lastProgressAt = now;
      const elapsedMs = now - started;
      options.onProgress({ records, rejected, recordsPerSecond: records / Math.max(elapsedMs / 1000, 1e-3), elapsedMs });
    };
    // One request in flight while the next chunk is encoded.
    let inFlight: Promise<void> | null = null;
    const send = async (messages: Message[]): Promise<void> => {
      if (inFlight) await inFlight;
      inFlight = retrying
        .run(`send ${messages.length} message(s)`, async () => {
          try {
            await producer.send({ topic: options.topic, acks: -1, compression: CompressionTypes.None, messages });
          } catch (error) {
            throw toExternalError(error, `cannot write to ${options.topic}`);
          }
        })
        .then(() => {
          records += messages.length;
          reportProgress(false);
        });
    };

    const chunkSize = options.rate === undefined ? SEND_CHUNK : Math.max(1, Math.min(SEND_CHUNK, Math.floor(options.rate / 10)));
    let queued = 0;
    let messages: Message[] = [];
    const flushChunk = async () => {
      if (messages.length === 0) return;
      const chunk = messages;
      messages = [];
      await send(chunk);
      queued += chunk.length;
      if (options.rate !== undefined) {
        // Pace on records handed over so far: sleep until their scheduled time.
        const due = started + (queued / options.rate) * 1000;
        const wait = due - Date.now();
        if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      }
    };

    const batches = openFileSource(
      { path: options.file, batchSize: 4096, ...(options.station ? { station: options.station } : {}), ...(options.units ? { units: options.units } : {}) },
      { fromOffset: 0, readerType: type },
    );
    for await (const batch of batches) {
      if (options.signal?.aborted) break;
      for (const letter of batch.deadLetters ?? []) reject(letter.reason, letter.offset);
      const rows = batch.rows ?? [];
      for (let i = 0; i < rows.length; i++) {
        const row = withDefaults(rows[i], fields);
        const reason = validate(row);
        if (reason !== null) {
          reject(reason, batch.offsets[i]);
          continue;
        }
        let value: Buffer;
        try {
          value = encodeConfluent(schemaId, type, row);
        } catch (error) {
          reject(`cannot encode as Avro: ${(error as Error).message}`, batch.offsets[i]);
          continue;
        }
        const key = row[options.keyField];
        bytes += value.length;
        messages.push({ key: key === null || key === undefined ? null : String(key), value });
        if (messages.length >= chunkSize) await flushChunk();
      }
    }
    await flushChunk();
    if (inFlight) await inFlight;
    reportProgress(true);
    const seconds = (Date.now() - started) / 1000;
    return {
      file: options.file,
      topic: options.topic,
      records,
      rejected,
      rejectReasons,
      partitions,
      createdTopic: created,
      schemaId,
      bytes,
      seconds,
      recordsPerSecond: records / Math.max(seconds, 1e-3),
      stopped: options.signal?.aborted === true,
    };
  } finally {
    await producer.disconnect().catch(() => {});
    await admin.disconnect().catch(() => {});
    registry.close();
  }
}

/** Fields the file leaves out take the schema's default (as an Avro reader would fill them in). */
function withDefaults(row: Row, fields: ReadonlyArray<{ name: string; defaultValue(): unknown }>): Row {
  let copy: Row | null = null;
  for (const field of fields) {
    if (row[field.name] !== undefined) continue;
    const value = field.defaultValue();
    if (value === undefined) continue;
    copy ??= { ...row };
    copy[field.name] = value;
  }
  return copy ?? row;
}

/** Create the topic if it does not exist; resolves to its partition count. */
async function ensureTopic(admin: import('kafkajs').Admin, topic: string, partitions: number): Promise<{ partitions: number; created: boolean }> {
  const existing = await admin.listTopics();
  if (!existing.includes(topic)) {
    // replicationFactor -1: the broker's default (1 on a single-node cluster, 3 in production).
    const created = await admin.createTopics({ topics: [{ topic, numPartitions: partitions, replicationFactor: -1 }], waitForLeaders: true });
    if (created) return { partitions, created: true };
  }
  const metadata = await admin.fetchTopicMetadata({ topics: [topic] });
  return { partitions: metadata.topics[0]?.partitions.length ?? partitions, created: false };
}

/** The closing lines of `tideflow produce`. */
export function formatProduceSummary(summary: ProduceSummary): string {
  const lines = [
    `produced ${number.format(summary.records)} records to ${summary.topic} (${summary.partitions} partitions${summary.createdTopic ? ', created' : ''}, ` +
      `schema id ${summary.schemaId}) in ${summary.seconds.toFixed(2)} s (${number.format(Math.round(summary.recordsPerSecond))} records/s, ` +
      `${(summary.bytes / 1048576).toFixed(1)} MiB)` +
      (summary.stopped ? `, stopped before the end of ${summary.file}` : ''),
  ];
  if (summary.rejected > 0) {
    lines.push(`  ${number.format(summary.rejected)} records of ${summary.file} were not valid and were not sent, e.g.:`);
    for (const reason of summary.rejectReasons) lines.push(`    ${reason}`);
  }
  return lines.join('\n');
}

/** A progress line on stderr: in place on a terminal, every 5 s in a log. */
class ProduceProgressLine {
  private visible = false;
  private lastLoggedAt = 0;
  constructor(private readonly stream: NodeJS.WriteStream = process.stderr) {}

  update(progress: ProduceProgress): void {
    const line = `produce  ${number.format(progress.records)} records  ${number.format(Math.round(progress.recordsPerSecond))} rec/s` +
      (progress.rejected ? `  ${number.format(progress.rejected)} rejected` : '');
    if (this.stream.isTTY) {
      this.stream.write(`\r\x1b[2K${line}`);
      this.visible = true;
    } else if (progress.elapsedMs - this.lastLoggedAt >= 5000) {
      this.stream.write(`${line}\n`);
      this.lastLoggedAt = progress.elapsedMs;
    }
  }

  clear(): void {
    if (this.visible) this.stream.write('\r\x1b[2K');
    this.visible = false;
  }
}

