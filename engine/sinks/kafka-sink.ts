import { readFileSync } from 'node:fs';
import { CompressionTypes, Partitioners, type IHeaders, type Message, type Producer } from 'kafkajs';
import type * as avro from 'avsc';
import type { KafkaSinkSpec } from '../config/job';
import { loadAvroType, parseAvroType } from '../codecs/avro-schema';
import { encodeConfluent } from '../codecs/confluent-avro';
import { encodeEnvelope, ENVELOPE, isEnvelopeRow, type EnvelopeRow } from '../codecs/repartition-envelope';
import { SchemaRegistry } from '../codecs/registry';
import { ExternalError } from '../core/errors';
import type { Row } from '../core/batch';
import { RetryPolicy, type Backoff } from '../core/retry';
import { createKafkaClient, toExternalError } from '../clients/kafka';
import { toJsonLine } from './format';
import { DEAD_LETTERS, LATE, type Sink, type SinkOptions } from '../core/sink';
import type { ComponentContext, JsonSchema } from '../config/component';
import { avroRegistrySchema, kafkaConnectionProperties, normalizeAvroRegistry, normalizeKafkaConnection } from '../config/kafka-connection';
import type { AvroRegistryConfig, KafkaConnectionConfig } from '../config/kafka-connection';

/**
 * Writes rows to a Kafka topic with an idempotent producer (acks = all, one
 * request in flight, so retries neither reorder nor duplicate within a
 * producer session).
 *
 * Value formats:
 * - `avro-registry`: Confluent-framed Avro; the schema is the configured
 *   `readerSchema` file, or (when that is empty) one derived from the first
 *   rows' shape; registered under `<topic>-value`.
 * - `json`: one JSON object per message, timestamps as ISO-8601 like the
 *   JSONL sink.
 * Dead-letter rows (the runtime's `reason, stage, partition, offset, payload,
 * payload_encoding`) are written as the ORIGINAL payload bytes, with the
 * error context in headers (`tideflow.reason`, `tideflow.stage`,
 * `tideflow.source.partition`, `tideflow.source.offset`,
 * `tideflow.payload.encoding`), so the record can be inspected or replayed
 * as it was.
 *
 * Message keys: `station` when the row has one (a station's rows stay in
 * order in one partition); for dead letters the source partition.
 *
 * A repartition step's internal topic (`spec.repartition`, the first stage
 * of such a job: jobfile/stages.ts) gets JSON envelopes keyed by the step's
 * fields, and marks on every partition; its sends go out one at a time, so
 * each origin's envelopes keep their order in every partition.
 *
 * `write` starts sends and returns; `flush` resolves when every send so far
 * was acknowledged by all in-sync replicas. Retriable failures are retried
 * with the engine's retry helper until they pass. A chunk re-sent after
 * kafkajs gave up may land twice (the broker may have written it before the
 * connection broke): the topic gets results at least once, which consumers
 * of keyed results (upserts by key and window) absorb.
 */

/** Messages per producer request. */
const SEND_CHUNK = 2000;
/**
 * How long small writes wait to share a produce request (Kafka's linger.ms, whose default is 5 ms
 * since Kafka 4.0): a source delivering in event-time order across keys hands over batches of a
 * row or two, and one request each cost more than the rows.
 */
const LINGER_MS = 5;
/** Unacknowledged messages before `write` waits (backpressure). */
const MAX_PENDING_MESSAGES = 50_000;

export const HEADER_REASON = 'tideflow.reason';
export const HEADER_STAGE = 'tideflow.stage';
export const HEADER_SOURCE_PARTITION = 'tideflow.source.partition';
export const HEADER_SOURCE_OFFSET = 'tideflow.source.offset';
export const HEADER_PAYLOAD_ENCODING = 'tideflow.payload.encoding';

export interface KafkaSinkExtraOptions {
  log?: (line: string) => void;
  /** Share a registry client (tests). */
  registry?: SchemaRegistry;
  retry?: Partial<Backoff>;
}

/** The partition of a message for every partition of a repartition topic. */
const BROADCAST = -1;

/** An envelope of a repartition step's first stage: a row keyed by the step's fields, or a mark for every partition. */
function envelopeMessage(row: EnvelopeRow, by: readonly string[]): Message {
  const value = encodeEnvelope(row);
  if (row[ENVELOPE] === 'mark') return { value, partition: BROADCAST };
  // The key's values as JSON: the same key, the same partition, on every instance.
  return { key: JSON.stringify(by.map((field) => toKeyValue(row.row[field]))), value };
}

function toKeyValue(value: unknown): unknown {
  return value instanceof Date ? value.getTime() : (value ?? null);
}

function broadcast(message: Message, partitions: number): Message[] {
  return Array.from({ length: partitions }, (_, partition) => ({ value: message.value, partition }));
}

/** Whether a row is a dead letter as the runtime builds them (deadLetterRow in run-job.ts). */
export function isDeadLetterRow(row: Row): boolean {
  return typeof row.reason === 'string' && typeof row.stage === 'string' && 'payload_encoding' in row && 'payload' in row;
}

/**
 * A dead-letter row as a Kafka message: the original bytes as the value
 * (base64/utf8 payloads), the decoded row as JSON otherwise; context in headers.
 */
export function deadLetterMessage(row: Row): Message {
  const encoding = String(row.payload_encoding);
  const payload = row.payload;
  let value: Buffer | null;
  if (payload === null || payload === undefined) value = null;
  else if (encoding === 'base64') value = Buffer.from(String(payload), 'base64');
  else value = Buffer.from(String(payload), 'utf8');
  const headers: IHeaders = {
    [HEADER_REASON]: String(row.reason),
    [HEADER_STAGE]: String(row.stage),
    [HEADER_PAYLOAD_ENCODING]: encoding,
  };
  if (row.partition !== undefined && row.partition !== null) headers[HEADER_SOURCE_PARTITION] = String(row.partition);
  if (row.offset !== undefined && row.offset !== null) headers[HEADER_SOURCE_OFFSET] = String(row.offset);
  return { key: row.partition === undefined || row.partition === null ? null : String(row.partition), value, headers };
}

/**
 * An Avro record schema for rows shaped like `rows`: numbers are doubles
 * (longs with `timestamp-millis` for timestamp fields and Dates), every field
 * nullable, so later rows with gaps still encode.
 */
export function deriveAvroSchema(rows: readonly Row[], name: string, timestampFields: ReadonlySet<string>): avro.Schema {
  const types = new Map<string, string | object>();
  for (const row of rows) {
    for (const [field, value] of Object.entries(row)) {
      if (types.has(field) && types.get(field) !== 'string') continue;
      if (value === null || value === undefined) {
        if (!types.has(field)) types.set(field, 'string');
        continue;
      }
      if (value instanceof Date || (typeof value === 'number' && timestampFields.has(field))) types.set(field, { type: 'long', logicalType: 'timestamp-millis' });
      else if (typeof value === 'number') types.set(field, 'double');
      else if (typeof value === 'boolean') types.set(field, 'boolean');
      else types.set(field, 'string');
    }
  }
  const safeName = name.replace(/[^A-Za-z0-9_]/g, '_').replace(/^([^A-Za-z_])/, '_$1');
  return {
    type: 'record',
    name: safeName,
    namespace: 'tideflow.results',
    fields: [...types].map(([field, type]) => ({ name: field, type: ['null', type], default: null })),
  } as avro.Schema;
}

/** A row in the shape an Avro type accepts: Dates to epoch ms, absent fields to their default. */
function toAvroValue(row: Row, fields: ReadonlyArray<{ name: string; defaultValue(): unknown }>): Row {
  const out: Row = {};
  for (const field of fields) {
    let value = row[field.name];
    if (value === undefined) value = field.defaultValue();
    else if (value instanceof Date) value = value.getTime();
    else if (typeof value === 'object' && value !== null && !Buffer.isBuffer(value) && !Array.isArray(value)) value = JSON.stringify(value);
    out[field.name] = value;
  }
  return out;
}

export class KafkaSink implements Sink {
  readonly description: string;
  private readonly log: (line: string) => void;
  private producer: Producer | null = null;
  private registry: SchemaRegistry | null = null;
  private readonly ownsRegistry: boolean;
  private avroType: avro.Type | null = null;
  private avroFields: ReadonlyArray<{ name: string; defaultValue(): unknown }> = [];
  private schemaId = -1;
  private readonly pending = new Set<Promise<void>>();
  /** The send started last (a repartition topic's sends go one after another). */
  private lastSend: Promise<void> = Promise.resolve();
  private pendingMessages = 0;
  /** Messages of small writes waiting (at most LINGER_MS) to go out together. */
  private lingering: Message[] = [];
  private lingerTimer: NodeJS.Timeout | null = null;
  private failure: { error: unknown } | null = null;
  private readonly stopping = new AbortController();
  private sent = 0;
  private readonly retrying: RetryPolicy;
  /** Late rows and dead letters do not fit a results schema: they go as JSON / original bytes. */
  private readonly avroRows: boolean;

  constructor(
    private readonly spec: KafkaSinkSpec,
    private readonly name: string,
    private readonly options: SinkOptions,
    extra: KafkaSinkExtraOptions = {},
  ) {
    this.description = `kafka topic ${spec.topic} (${spec.format.kind === 'json' ? 'JSON' : 'Avro via registry'})`;
    this.log = extra.log ?? (() => {});
    this.ownsRegistry = extra.registry === undefined;
    this.registry = extra.registry ?? null;
    this.retrying = new RetryPolicy({ subject: this.description, log: this.log, backoff: extra.retry, signal: this.stopping.signal });
    this.avroRows = spec.format.kind === 'avro-registry' && name !== LATE && name !== DEAD_LETTERS;
  }

  /** Messages acknowledged so far. */
  get messagesSent(): number {
    return this.sent;
  }

  async open(): Promise<void> {
    const kafka = createKafkaClient(this.spec, { log: this.log });
    this.producer = kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      createPartitioner: Partitioners.DefaultPartitioner,
      retry: { initialRetryTime: 300, maxRetryTime: 10_000, retries: 8 },
    });
    const producer = this.producer;
    await this.retrying.run('connect the producer', async () => {
      try {
        await producer.connect();
      } catch (error) {
        throw toExternalError(error, `cannot connect a producer for ${this.spec.topic}`);
      }
    });
    const format = this.spec.format;
    if (format.kind === 'avro-registry' && this.avroRows) {
      this.registry ??= new SchemaRegistry({ url: format.registryUrl, basicAuth: format.basicAuth });
      if (format.readerSchema !== '') await this.useSchema(loadAvroType(format.readerSchema), JSON.parse(readFileSync(format.readerSchema, 'utf8')));
    }
  }

  async write(rows: Row[]): Promise<void> {
    this.throwIfFailed();
    if (rows.length === 0) return;
    const messages: Message[] = new Array(rows.length);
    const avroNeeded = this.avroRows;
    const repartition = this.spec.repartition;
    for (let i = 0; i < rows.length; i++) {
      const row = rows[i];
      if (repartition !== undefined && isEnvelopeRow(row)) {
        messages[i] = envelopeMessage(row, repartition.by);
        continue;
      }
      if (isDeadLetterRow(row)) {
        messages[i] = deadLetterMessage(row);
        continue;
      }
      if (avroNeeded && this.avroType === null) {
        // No schema file: derive one from this batch's shape.
        const schema = deriveAvroSchema(rows.filter((r) => !isDeadLetterRow(r)), `${this.name}_row`, this.options.timestampFields);
        await this.useSchema(parseAvroType(schema), schema);
      }
      const key = typeof row.station === 'string' ? row.station : null;
      if (avroNeeded) {
        messages[i] = { key, value: encodeConfluent(this.schemaId, this.avroType!, toAvroValue(row, this.avroFields)) };
      } else {
        messages[i] = { key, value: toJsonLine(row, this.options.timestampFields) };
      }
    }
    // Messages stay in write order: what lingers goes out before anything written after it.
    // A repartition topic's marks go to every partition (an origin's watermark is for all its keys).
    if (repartition !== undefined) for (const message of messages) this.lingering.push(...(message.partition === BROADCAST ? broadcast(message, repartition.partitions) : [message]));
    else this.lingering.push(...messages);
    if (this.lingering.length >= SEND_CHUNK) this.sendLingering();
    else
      this.lingerTimer ??= setTimeout(() => {
        try {
          this.sendLingering();
        } catch (error) {
          // Closed meanwhile: the next write or flush reports it.
          this.failure ??= { error };
        }
      }, LINGER_MS);
    // Backpressure: keep at most MAX_PENDING_MESSAGES unacknowledged.
    while (this.pendingMessages > MAX_PENDING_MESSAGES && this.pending.size > 0) await Promise.race(this.pending);
    this.throwIfFailed();
  }

  async flush(): Promise<void> {
    this.sendLingering();
    while (this.pending.size > 0) await Promise.all([...this.pending]);
    this.throwIfFailed();
  }

  async close(): Promise<void> {
    try {
      if (this.producer) await this.flush();
    } finally {
      if (this.lingerTimer !== null) clearTimeout(this.lingerTimer);
      this.lingerTimer = null;
      this.stopping.abort();
      const producer = this.producer;
      this.producer = null;
      await producer?.disconnect().catch(() => {});
      if (this.ownsRegistry) this.registry?.close();
    }
  }

  /** A send that failed for good fails the next write/flush, so the runtime never checkpoints past it. */
  private throwIfFailed(): void {
    if (this.failure) throw this.failure.error;
  }

  private async useSchema(type: avro.Type, schema: unknown): Promise<void> {
    const registry = this.registry!;
    const subject = `${this.spec.topic}-value`;
    this.schemaId = await this.retrying.run(`register the schema under ${subject}`, () => registry.register(subject, schema as object));
    this.avroType = type;
    this.avroFields = (type as unknown as { fields: ReadonlyArray<{ name: string; defaultValue(): unknown }> }).fields;
  }

  /** Send one chunk (retrying while the failure may pass); failures surface at the next write/flush. */
  private sendLingering(): void {
    if (this.lingerTimer !== null) clearTimeout(this.lingerTimer);
    this.lingerTimer = null;
    const messages = this.lingering;
    this.lingering = [];
    for (let start = 0; start < messages.length; start += SEND_CHUNK) this.startSend(messages.slice(start, start + SEND_CHUNK));
  }

  private startSend(messages: Message[]): void {
    const producer = this.producer;
    if (!producer) throw new ExternalError(`${this.description}: write after close`, { retriable: false });
    this.pendingMessages += messages.length;
    // kafkajs may reorder concurrent send() calls (each looks up metadata before it queues its request).
    // A repartition topic must keep each origin's envelopes in order: one send at a time there.
    const after = this.spec.repartition !== undefined ? this.lastSend : Promise.resolve();
    const send = after
      .then(() => this.retrying.run(`send ${messages.length} message(s)`, async () => {
        try {
          await producer.send({ topic: this.spec.topic, acks: -1, compression: CompressionTypes.None, messages });
        } catch (error) {
          throw toExternalError(error, `cannot write to ${this.spec.topic}`);
        }
      }))
      .then(() => {
        this.sent += messages.length;
      })
      .catch((error: unknown) => {
        this.failure ??= { error };
      })
      .finally(() => {
        this.pendingMessages -= messages.length;
        this.pending.delete(send);
      });
    this.pending.add(send);
    this.lastSend = send;
  }
}

// ---------------------------------------------------------------- job-file configuration

/**
 * Kafka sink: produces rows to a topic as JSON, or as Confluent-framed Avro
 * with the schema registered in a Schema Registry.
 *
 * @example
 * late:
 *   kafka:
 *     brokers: ${KAFKA_BROKERS:-localhost:9092}
 *     topic: tides.late
 *     format: { json: {} }
 */

export interface KafkaSinkConfig extends KafkaConnectionConfig {
  topic: string;
  format?: { avro: AvroRegistryConfig } | { json: Record<string, never> };
}

export const schema: JsonSchema = {
  title: 'kafka sink',
  description: 'Produces rows to a Kafka topic.',
  examples: [
    { brokers: '${KAFKA_BROKERS:-localhost:9092}', topic: 'tides.alerts' },
    {
      brokers: '${KAFKA_BROKERS:-localhost:9092}',
      topic: 'tides.lunar-day',
      format: { avro: { registry: '${SCHEMA_REGISTRY_URL:-http://localhost:8081}', readerSchema: '../schemas/lunar_day.avsc' } },
    },
  ],
  type: 'object',
  required: ['brokers', 'topic'],
  additionalProperties: false,
  properties: {
    ...kafkaConnectionProperties,
    topic: { description: 'Topic to write.', type: 'string', minLength: 1, examples: ['tides.alerts'] },
    format: {
      title: 'kafka sink format',
      description: 'How rows are encoded (default json).',
      type: 'object',
      selector: 'format',
      exactlyOneOf: ['avro', 'json'],
      additionalProperties: false,
      properties: {
        avro: { ...avroRegistrySchema, description: 'Confluent-framed Avro written with `readerSchema`, registered in the registry.' },
        json: { title: 'json format', description: 'One JSON document per message.', type: 'object', additionalProperties: false, properties: {} },
      },
      default: { json: {} },
    },
  },
};

/** Schema-validated YAML to the JobSpec form: defaults filled in, durations and timestamps in milliseconds. */
export function normalize(raw: KafkaSinkConfig, _context: ComponentContext): KafkaSinkSpec {
  const format = raw.format !== undefined && 'avro' in raw.format ? normalizeAvroRegistry(raw.format.avro) : { kind: 'json' as const };
  return { ...normalizeKafkaConnection(raw), topic: raw.topic, format };
}
