/**
 * A live stream for the part-B fault scenarios: records go into the topic a
 * chunk at a time while the engine runs (so a server is stopped mid-stream,
 * with more data arriving), and the producer can be paused (Kafka down),
 * rushed (catch up after the outage) and awaited.
 *
 *   await createTopic(run.kafka, run.topic, 3);
 *   const messages = await encodeObservations(run.cluster.registryUrl, run.topic, input);
 *   const trickle = startTrickle(run.kafka, run.topic, messages, { chunk: 200, intervalMs: 200 });
 *   trickle.pause(); ... trickle.resume();
 *   trickle.rush(600);          // all but the last 600 at once, the rest at the old pace
 *   await trickle.done;
 *
 * Only the test's own producer is paused while Kafka is down: a record the
 * test produced twice (a retry after an unknown outcome) would make the
 * input differ from the plain computation's, which would be the test's
 * fault, not the engine's.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Partitioners, type Kafka, type Message, type Producer } from 'kafkajs';
import { loadAvroType } from '../../engine/codecs/avro-schema';
import { encodeConfluent } from '../../engine/codecs/confluent-avro';
import { SchemaRegistry } from '../../engine/codecs/registry';
import type { Row } from '../../engine/core/batch';
import { ROOT, type Observation } from './harness';
import { sleep } from './support-servers';

export const OBSERVATION_SCHEMA = join(ROOT, 'schemas', 'tide_observation.avsc');

export async function createTopic(kafka: Kafka, topic: string, partitions: number): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    await admin.createTopics({ topics: [{ topic, numPartitions: partitions, replicationFactor: 1 }], waitForLeaders: true });
  } finally {
    await admin.disconnect().catch(() => {});
  }
}

/**
 * Confluent-framed Avro messages keyed by station, with the writer schema
 * registered under `<topic>-value` (a second schema there becomes version 2
 * with a new id). `extra` adds fields the schema file does not have.
 */
export async function encodeObservations(
  registryUrl: string,
  topic: string,
  rows: Observation[],
  schemaText = readFileSync(OBSERVATION_SCHEMA, 'utf8'),
  extra: (row: Observation, index: number) => Row = () => ({}),
): Promise<{ schemaId: number; messages: Message[] }> {
  const registry = new SchemaRegistry({ url: registryUrl });
  try {
    const schemaId = await registry.register(`${topic}-value`, schemaText);
    const type = loadAvroType(schemaFile(schemaText));
    const messages = rows.map((row, index) => ({ key: row.station, value: encodeConfluent(schemaId, type, { ...row, ...extra(row, index) }) }));
    return { schemaId, messages };
  } finally {
    registry.close();
  }
}

/** loadAvroType reads a file; a schema given as text gets one in the temp dir. */
function schemaFile(text: string): string {
  if (text === readFileSync(OBSERVATION_SCHEMA, 'utf8')) return OBSERVATION_SCHEMA;
  const path = join(mkdtempSync(join(tmpdir(), 'tideflow-schema-')), 'schema.avsc');
  writeFileSync(path, text);
  return path;
}

export interface Trickle {
  /** Messages acknowledged by Kafka so far. */
  readonly produced: number;
  readonly total: number;
  /** Stop sending after the chunk in flight; resolves once it is acknowledged. */
  pause(): Promise<void>;
  resume(): void;
  /** Send everything but the last `keep` messages as fast as Kafka takes them, then go on at the old pace. */
  rush(keep: number): void;
  /** Resolves when every message was acknowledged (rejects if a send failed). */
  readonly done: Promise<void>;
  /** Resolves once `produced >= count`. */
  reach(count: number): Promise<void>;
}

/** Produces `messages` in order, `chunk` per `intervalMs`, with one idempotent producer (acks all). */
export function startTrickle(kafka: Kafka, topic: string, messages: Message[], options: { chunk: number; intervalMs: number }): Trickle {
  const producer: Producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner });
  let produced = 0;
  let paused = false;
  let rushUntil = 0;
  let wake: (() => void) | null = null;
  let pausedAck: (() => void) | null = null;
  const waiters: Array<{ count: number; resolve: () => void }> = [];
  const loop = async () => {
    await producer.connect();
    try {
      while (produced < messages.length) {
        if (paused) {
          pausedAck?.();
          pausedAck = null;
          await new Promise<void>((resolve) => (wake = resolve));
          continue;
        }
        const rushing = produced < rushUntil;
        const size = rushing ? Math.min(5000, rushUntil - produced) : options.chunk;
        const batch = messages.slice(produced, produced + size);
        await producer.send({ topic, acks: -1, messages: batch });
        produced += batch.length;
        for (let i = waiters.length - 1; i >= 0; i--) {
          if (produced >= waiters[i].count) {
            waiters[i].resolve();
            waiters.splice(i, 1);
          }
        }
        if (!rushing) await sleep(options.intervalMs);
      }
      pausedAck?.();
    } finally {
      await producer.disconnect().catch(() => {});
    }
  };
  const done = loop();
  done.catch(() => {});
  return {
    get produced() {
      return produced;
    },
    total: messages.length,
    pause: () => {
      paused = true;
      if (produced >= messages.length) return Promise.resolve();
      return new Promise<void>((resolve) => (pausedAck = resolve));
    },
    resume: () => {
      paused = false;
      const resolve = wake;
      wake = null;
      resolve?.();
    },
    rush: (keep) => {
      rushUntil = Math.max(rushUntil, messages.length - keep);
    },
    done,
    reach: (count) => {
      if (produced >= count) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        waiters.push({ count, resolve });
        done.catch(reject);
      });
    },
  };
}
