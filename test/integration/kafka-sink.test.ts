// KafkaSink against the real servers: Avro via the registry, JSON, and dead
// letters carried as their original bytes with the error context in headers.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Kafka, logLevel, type IHeaders } from 'kafkajs';
import { loadAvroType, tideObservationSchemaPath } from '../../engine/codecs/avro-schema';
import { encodeConfluent } from '../../engine/codecs/confluent-avro';
import { SchemaRegistry } from '../../engine/codecs/registry';
import type { KafkaSinkSpec } from '../../engine/config/job';
import type { Row } from '../../engine/core/batch';
import { KafkaSink } from '../../engine/sinks/kafka-sink';
import { KafkaSource } from '../../engine/sources/kafka-source';
import { createKafkaAvroDecoder } from '../../engine/codecs/kafka-avro-decoder';
import { clusterEnv, requireCluster } from '../support/cluster';
import { rowsOf } from '../../engine/codecs/decoder';

const env = clusterEnv();
const run = `${Date.now()}-${process.pid}`;
const schemaPath = tideObservationSchemaPath();
const readerType = loadAvroType(schemaPath);
const options = { timestampFields: new Set(['t']) };

function sinkSpec(topic: string, format: KafkaSinkSpec['format']): KafkaSinkSpec {
  return { brokers: env.kafkaBrokers, clientId: 'tideflow-test', topic, format };
}

/** Every message of a topic (raw), read from the start until `count` arrived. */
async function readRaw(topic: string, count: number): Promise<Array<{ key: string | null; value: Buffer | null; headers: IHeaders; partition: number }>> {
  const kafka = new Kafka({ clientId: 'tideflow-test', brokers: env.kafkaBrokers, logLevel: logLevel.NOTHING });
  const consumer = kafka.consumer({ groupId: `tideflow-test-raw-${topic}`, maxWaitTimeInMs: 200 });
  const messages: Array<{ key: string | null; value: Buffer | null; headers: IHeaders; partition: number }> = [];
  await consumer.connect();
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`only ${messages.length} of ${count} messages arrived`)), 30_000);
    void consumer.run({
      eachMessage: async ({ message, partition }) => {
        messages.push({ key: message.key?.toString() ?? null, value: message.value, headers: message.headers ?? {}, partition });
        if (messages.length >= count) {
          clearTimeout(timer);
          resolve();
        }
      },
    });
  });
  await consumer.disconnect();
  return messages;
}

const rows: Row[] = Array.from({ length: 2500 }, (_, i) => ({
  station: i % 2 === 0 ? '8454000' : '9414290',
  name: 'Station',
  lat: 41.8,
  lon: -71.4,
  t: Date.UTC(2024, 0, 1) + i * 60_000,
  v: i % 9 === 0 ? null : i / 1000,
  s: null,
  f: null,
  q: 'p',
}));

test('KafkaSink (Avro via registry) round-trip through KafkaSource', async (t) => {
  if (!(await requireCluster(t))) return;
  const topic = `tideflow-test-sink-avro-${run}`;
  const format = { kind: 'avro-registry' as const, registryUrl: env.registryUrl, readerSchema: schemaPath };
  const sink = new KafkaSink(sinkSpec(topic, format), 'main', options);
  await sink.open();
  await sink.write(rows.slice(0, 1000));
  await sink.write(rows.slice(1000));
  await sink.flush();
  assert.equal(sink.messagesSent, rows.length, 'flush resolves once every send was acknowledged');
  await sink.close();

  const source = new KafkaSource({
    brokers: env.kafkaBrokers,
    clientId: 'tideflow-test',
    topic,
    group: `tideflow-test-${topic}`,
    startFrom: 'earliest',
    stopAtEnd: true,
    format,
  });
  const decoder = createKafkaAvroDecoder(format, readerType);
  const back: Row[] = [];
  for await (const batch of source.batches({})) {
    const decoded = rowsOf(await decoder.decode(batch));
    assert.equal(decoded.deadLetters.length, 0);
    back.push(...decoded.rows);
    for (const key of batch.keys!) assert.ok(key === null || ['8454000', '9414290'].includes(key.toString()), 'keyed by station');
  }
  await source.close();
  await decoder.close?.();
  const order = (a: Row, b: Row) => Number(a.t) - Number(b.t);
  assert.deepEqual(back.sort(order), [...rows].sort(order));
});

test('KafkaSink: dead letters keep their original bytes, context in headers; JSON rows and late rows as JSON', async (t) => {
  if (!(await requireCluster(t))) return;
  const topic = `tideflow-test-sink-dead-${run}`;
  const avroBytes = encodeConfluent(3, readerType, rows[0]);
  const deadLetters: Row[] = [
    // As run-job.ts' deadLetterRow builds them.
    { reason: 'bad magic byte 0x7b: expected 0x00', stage: 'decode', partition: 'tides/2', offset: 41, payload: '{"error":{}}', payload_encoding: 'utf8' },
    { reason: 'unknown schema id 3', stage: 'decode', partition: 'tides/0', offset: 7, payload: avroBytes.toString('base64'), payload_encoding: 'base64' },
    { reason: 'empty payload: the record has no value (a tombstone?)', stage: 'decode', partition: 'tides/1', offset: 9, payload: null, payload_encoding: 'utf8' },
    { reason: 'field "v" is not a finite number: NaN', stage: 'validate', partition: 'tides/1', offset: 10, payload: '{"station":"x","v":null}', payload_encoding: 'json' },
  ];
  const sink = new KafkaSink(sinkSpec(topic, { kind: 'avro-registry', registryUrl: env.registryUrl, readerSchema: schemaPath }), 'dead-letters', options);
  await sink.open();
  await sink.write(deadLetters);
  await sink.close();
  const messages = await readRaw(topic, deadLetters.length);
  const byOffset = new Map(messages.map((m) => [String(m.headers['tideflow.source.offset']), m]));
  const utf8 = byOffset.get('41')!;
  assert.equal(utf8.value!.toString(), '{"error":{}}');
  assert.equal(String(utf8.headers['tideflow.reason']), 'bad magic byte 0x7b: expected 0x00');
  assert.equal(String(utf8.headers['tideflow.stage']), 'decode');
  assert.equal(String(utf8.headers['tideflow.source.partition']), 'tides/2');
  assert.equal(utf8.key, 'tides/2');
  assert.ok(byOffset.get('7')!.value!.equals(avroBytes), 'the original Avro bytes, not base64 text');
  assert.equal(byOffset.get('9')!.value, null);
  assert.equal(String(byOffset.get('10')!.headers['tideflow.stage']), 'validate');
  assert.deepEqual(JSON.parse(byOffset.get('10')!.value!.toString()), { station: 'x', v: null });

  const jsonTopic = `tideflow-test-sink-json-${run}`;
  const json = new KafkaSink(sinkSpec(jsonTopic, { kind: 'json' }), 'main', options);
  await json.open();
  await json.write([{ station: '8454000', t: Date.UTC(2024, 0, 1), avg: 1.25, when: new Date(Date.UTC(2024, 0, 2)) }]);
  await json.close();
  const [message] = await readRaw(jsonTopic, 1);
  assert.deepEqual(JSON.parse(message.value!.toString()), { station: '8454000', t: '2024-01-01T00:00:00.000Z', avg: 1.25, when: '2024-01-02T00:00:00.000Z' });
  assert.equal(message.key, '8454000');

  const lateTopic = `tideflow-test-sink-late-${run}`;
  const late = new KafkaSink(sinkSpec(lateTopic, { kind: 'avro-registry', registryUrl: env.registryUrl, readerSchema: schemaPath }), 'late', options);
  await late.open();
  await late.write([{ reason: 'window closed', operator: 'avg', window_start: new Date(0), window_end: new Date(1800_000), watermark: new Date(3600_000), record: rows[1] }]);
  await late.close();
  const [lateMessage] = await readRaw(lateTopic, 1);
  const lateRow = JSON.parse(lateMessage.value!.toString());
  assert.equal(lateRow.reason, 'window closed');
  assert.equal(lateRow.window_end, '1970-01-01T00:30:00.000Z');
  assert.equal(lateRow.record.station, '9414290');
});

test('KafkaSink: without a schema file the Avro schema is derived from the rows', async (t) => {
  if (!(await requireCluster(t))) return;
  const topic = `tideflow-test-sink-derived-${run}`;
  const format = { kind: 'avro-registry' as const, registryUrl: env.registryUrl, readerSchema: '' };
  const sink = new KafkaSink(sinkSpec(topic, format), 'main', { timestampFields: new Set(['window_start']) });
  await sink.open();
  const results = [
    { station: '8454000', window_start: Date.UTC(2024, 0, 1), avg: 1.5, count: 3 },
    { station: '9414290', window_start: Date.UTC(2024, 0, 1), avg: null, count: 0 },
  ];
  await sink.write(results);
  await sink.close();
  const messages = await readRaw(topic, 2);
  const registry = new SchemaRegistry({ url: env.registryUrl });
  const decoded = [];
  for (const message of messages) {
    const id = message.value!.readInt32BE(1);
    const type = await registry.getWriterType(id);
    decoded.push({ ...(type.fromBuffer(message.value!.subarray(5)) as Row) });
  }
  registry.close();
  decoded.sort((a, b) => String(a.station).localeCompare(String(b.station)));
  assert.deepEqual(decoded, results);
});
