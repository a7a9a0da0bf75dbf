import { Kafka, logLevel, type LogEntry } from 'kafkajs';
import type { KafkaConnectionSpec } from '../config/job';
import { ExternalError, tlsConfigurationProblem } from '../core/errors';

/**
 * The Kafka client every part of tideflow uses (source, sink, produce): one
 * place for the connection settings, kafkajs' logging and how its errors map
 * onto ours.
 */

/** `tides.observations/3`: the partition id in positions and batches. */
export function partitionKey(topic: string, partition: number): string {
  return `${topic}/${partition}`;
}

/** Partition number of a key of this topic, or undefined for other topics/sources. */
export function parsePartitionKey(topic: string, key: string): number | undefined {
  if (!key.startsWith(`${topic}/`)) return undefined;
  const text = key.slice(topic.length + 1);
  if (!/^\d+$/.test(text)) return undefined;
  return Number(text);
}

// ---------------------------------------------------------------- kafkajs client

export interface KafkaClientOptions {
  /** kafkajs warnings and errors go here (retries, broker disconnects); silent without it. */
  log?: (line: string) => void;
}

/**
 * A kafkajs client for a connection spec: retries tuned for outages that pass
 * (brokers restarting), kafkajs' own logging routed to `log`.
 *
 * @example
 *   const kafka = createKafkaClient({ brokers: ['localhost:9092'], clientId: 'tideflow' });
 */
export function createKafkaClient(spec: KafkaConnectionSpec, options: KafkaClientOptions = {}): Kafka {
  const log = options.log;
  return new Kafka({
    clientId: spec.clientId,
    brokers: spec.brokers,
    ...(spec.ssl ? { ssl: true } : {}),
    ...(spec.sasl ? { sasl: { mechanism: spec.sasl.mechanism, username: spec.sasl.username, password: spec.sasl.password } as never } : {}),
    connectionTimeout: 3000,
    requestTimeout: 30_000,
    retry: { initialRetryTime: 300, maxRetryTime: 10_000, retries: 8 },
    logLevel: log ? logLevel.WARN : logLevel.NOTHING,
    logCreator: () => (entry: LogEntry) => {
      if (!log || entry.level > logLevel.WARN) return;
      const line = kafkaLogLine(entry.log as { message?: string; error?: string });
      if (line !== null) log(line);
    },
  });
}

/**
 * Error answers kafkajs recovers from by itself while a consumer joins its
 * group, a coordinator starts or a new topic gets its leaders. kafkajs logs
 * each one as an error before it retries or rejoins, so every restart of a job
 * printed lines like `kafka: Response SyncGroup(key: 14, version: 3) (The group
 * is rebalancing, so a rejoin is needed)`. Should one persist, kafkajs gives up
 * and the error reaches the source, which logs it, and the stall report names
 * the waiting part after 30 s.
 */
export const SELF_HEALING_KAFKA_ERRORS = [
  'REBALANCE_IN_PROGRESS',
  // kafkajs' names for COORDINATOR_LOAD_IN_PROGRESS, COORDINATOR_NOT_AVAILABLE and NOT_COORDINATOR.
  'GROUP_LOAD_IN_PROGRESS',
  'GROUP_COORDINATOR_NOT_AVAILABLE',
  'NOT_COORDINATOR_FOR_GROUP',
  'MEMBER_ID_REQUIRED',
  'UNKNOWN_MEMBER_ID',
  'LEADER_NOT_AVAILABLE',
];

/** kafkajs' texts for SELF_HEALING_KAFKA_ERRORS (from its error table; none if that moved). */
const selfHealingKafkaErrorTexts: ReadonlySet<string> = (() => {
  try {
    const { errorCodes } = require('kafkajs/src/protocol/error') as { errorCodes: Array<{ type: string; message: string }> };
    return new Set(errorCodes.filter((code) => SELF_HEALING_KAFKA_ERRORS.includes(code.type)).map((code) => code.message));
  } catch {
    return new Set();
  }
})();

/**
 * The line a kafkajs log entry (warning or error) becomes, or null for those
 * not worth a user's attention: self-healing error answers (above), and the
 * warning that we bound the idempotent producer's retries, which we do on
 * purpose so our retry helper can log, back off and be aborted on shutdown.
 *
 * @example
 *   kafkaLogLine({ message: 'Response SyncGroup(key: 14, version: 3)', error: 'The group is rebalancing, so a rejoin is needed' }); // null
 *   kafkaLogLine({ message: 'Connection error', error: 'connect ECONNREFUSED 127.0.0.1:9092' }); // 'kafka: Connection error (connect ECONNREFUSED ...)'
 */
export function kafkaLogLine(entry: { message?: string; error?: string }): string | null {
  const { message, error } = entry;
  if (message?.startsWith('Limiting retries for the idempotent producer')) return null;
  if (message?.startsWith('Response ') && error !== undefined && selfHealingKafkaErrorTexts.has(error)) return null;
  return `kafka: ${message ?? ''}${error ? ` (${error})` : ''}`;
}

/** Map a kafkajs error to ours: kafkajs says itself whether a retry can help. */
export function toExternalError(error: unknown, what: string): ExternalError {
  if (error instanceof ExternalError) return error;
  const e = error as { message?: string; retriable?: boolean; name?: string; cause?: { retriable?: boolean } } | null;
  const tls = tlsConfigurationProblem(error, 'broker');
  if (tls !== null) return new ExternalError(`kafka: ${what}: ${e?.message ?? String(error)} (${tls})`, { retriable: false, cause: error });
  const retriable = e?.retriable === true || e?.name === 'KafkaJSNumberOfRetriesExceeded' || e?.name === 'KafkaJSConnectionError' || e?.cause?.retriable === true;
  return new ExternalError(`kafka: ${what}: ${e?.message ?? String(error)}`, { retriable, cause: error });
}

// ---------------------------------------------------------------- topics

/** The partition count of `topic`, or undefined when it does not exist. */
export async function topicPartitionCount(spec: KafkaConnectionSpec, topic: string, options: KafkaClientOptions = {}): Promise<number | undefined> {
  const admin = createKafkaClient(spec, options).admin();
  await admin.connect();
  try {
    const topics = await admin.listTopics();
    if (!topics.includes(topic)) return undefined;
    const metadata = await admin.fetchTopicMetadata({ topics: [topic] });
    return metadata.topics[0]?.partitions.length;
  } catch (error) {
    throw toExternalError(error, `cannot read the metadata of topic ${topic}`);
  } finally {
    await admin.disconnect().catch(() => {});
  }
}

/** Creates `topic` with `partitions` unless it exists; resolves with its partition count, whoever created it. */
export async function ensureTopic(spec: KafkaConnectionSpec, topic: string, partitions: number, options: KafkaClientOptions = {}): Promise<number> {
  const admin = createKafkaClient(spec, options).admin();
  await admin.connect();
  try {
    // Several instances may create it at once: the losers' "already exists" is not an error.
    if (!(await admin.listTopics()).includes(topic)) {
      await admin.createTopics({ topics: [{ topic, numPartitions: partitions }], waitForLeaders: true }).catch((error: unknown) => {
        const errors = (error as { errors?: Array<{ type?: string }> }).errors ?? [error as { type?: string }];
        if (!errors.every((each) => each.type === 'TOPIC_ALREADY_EXISTS')) throw error;
      });
    }
    const metadata = await admin.fetchTopicMetadata({ topics: [topic] });
    return metadata.topics[0]?.partitions.length ?? partitions;
  } catch (error) {
    throw toExternalError(error, `cannot create topic ${topic}`);
  } finally {
    await admin.disconnect().catch(() => {});
  }
}

/** Deletes `topic` if it exists, and waits until the cluster no longer lists it. */
export async function deleteTopic(spec: KafkaConnectionSpec, topic: string, options: KafkaClientOptions = {}): Promise<void> {
  const admin = createKafkaClient(spec, options).admin();
  await admin.connect();
  try {
    if (!(await admin.listTopics()).includes(topic)) return;
    await admin.deleteTopics({ topics: [topic], timeout: 30_000 });
    for (let attempt = 0; attempt < 100 && (await admin.listTopics()).includes(topic); attempt++) await new Promise((resolve) => setTimeout(resolve, 100));
  } catch (error) {
    throw toExternalError(error, `cannot delete topic ${topic}`);
  } finally {
    await admin.disconnect().catch(() => {});
  }
}
