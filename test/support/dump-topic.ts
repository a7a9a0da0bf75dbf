/**
 * Reads a whole topic with a plain kafkajs consumer and prints every message
 * as one JSON line on stdout: what a test compares between kafkajs' own
 * record-batch decoder and tideflow's (engine/sources/kafkajs-record-batches.ts).
 * Which one reads is chosen as in the engine: installed unless
 * TIDEFLOW_KAFKAJS_RECORD_READER=kafkajs. The first line states which.
 *
 *   node dist/test/support/dump-topic.js --dump BROKER TOPIC RECORDS
 *
 * (Without --dump it does nothing: the test runner loads every file under test/.)
 */
import { Kafka, logLevel, type KafkaMessage } from 'kafkajs';
import { installRecordBatchReader } from '../../engine/patches/kafkajs-record-batches';


/** A message as JSON can hold it: buffers as hex (null stays null), everything else as kafkajs gave it. */
function plain(message: KafkaMessage & { isControlRecord?: boolean; magicByte?: number; attributes?: number }): unknown {
  const hex = (value: Buffer | null | undefined) => (value === null || value === undefined ? value : value.toString('hex'));
  const headers: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(message.headers ?? {})) headers[key] = Array.isArray(value) ? value.map((item) => hex(item as Buffer)) : hex(value as Buffer);
  return {
    offset: message.offset,
    timestamp: message.timestamp,
    key: hex(message.key),
    value: hex(message.value),
    headers,
    attributes: message.attributes,
    magicByte: message.magicByte,
    isControlRecord: message.isControlRecord,
  };
}

async function main(): Promise<void> {
  const state = installRecordBatchReader();
  const [broker, topic, expected] = process.argv.slice(3);
  const records = Number(expected);
  const kafka = new Kafka({ clientId: 'tideflow-test-dump', brokers: [broker], logLevel: logLevel.NOTHING });
  const consumer = kafka.consumer({ groupId: `dump-${topic}-${process.pid}-${Date.now()}`, maxWaitTimeInMs: 200 });
  await consumer.connect();
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  const lines: string[] = [JSON.stringify({ reader: state.active ? 'tideflow' : 'kafkajs' })];
  let seen = 0;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`read ${seen} of ${records} records in 60 s`)), 60_000);
    consumer
      .run({
        eachBatch: async ({ batch }) => {
          for (const message of batch.messages) lines.push(JSON.stringify({ partition: batch.partition, ...(plain(message) as object) }));
          seen += batch.messages.length;
          // More than there are: a reader that breaks offsets makes kafkajs fetch the same records again.
          if (seen >= records) {
            clearTimeout(timer);
            resolve();
          }
        },
      })
      .catch(reject);
  });
  await consumer.disconnect();
  process.stdout.write(lines.join('\n') + '\n');
}

if (require.main === module && process.argv[2] === '--dump') {
  main().then(
    () => process.exit(0),
    (error: unknown) => {
      process.stderr.write(`dump-topic: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exit(1);
    },
  );
}
