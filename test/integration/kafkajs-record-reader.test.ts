/**
 * Against the real broker: a consumer reading through tideflow's record-batch
 * reader (engine/sources/kafkajs-record-batches.ts) gets exactly the messages
 * kafkajs' own decoder gives, for plain, keyed, header-carrying, gzip-
 * compressed and transactional batches (with their commit markers); then for
 * aborted transactions, two transactions interleaved in the log (one
 * committed, one aborted) and batches the broker recompressed itself
 * (compression.type=gzip on the topic), where only committed and plain records
 * may come out. Runs against whichever Kafka the cluster runs (4.x by default).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { CompressionTypes, Kafka, logLevel } from 'kafkajs';
import { clusterEnv, requireCluster } from '../support/cluster';

const env = clusterEnv();
const DUMP = join(__dirname, '..', 'support', 'dump-topic.js');

function dump(topic: string, records: number, reader: 'kafkajs' | 'tideflow'): string[] {
  const childEnv = { ...process.env };
  if (reader === 'kafkajs') childEnv.TIDEFLOW_KAFKAJS_RECORD_READER = 'kafkajs';
  else delete childEnv.TIDEFLOW_KAFKAJS_RECORD_READER;
  const result = spawnSync(process.execPath, [DUMP, '--dump', env.kafkaBrokers[0], topic, String(records)], { env: childEnv, encoding: 'utf8', timeout: 90_000, maxBuffer: 64 * 1024 * 1024 });
  assert.equal(result.status, 0, result.stderr);
  const [first, ...lines] = result.stdout.trim().split('\n');
  assert.deepEqual(JSON.parse(first), { reader }, `the ${reader} reader read the topic`);
  // Partitions arrive in no fixed order: compare as sets of (partition, offset, ...) lines.
  return lines.sort();
}

test('real fetch responses: tideflow\'s record-batch reader hands out exactly what kafkajs\' decoder does', async (t) => {
  if (!(await requireCluster(t, ['kafka']))) return;
  const topic = `tideflow-test-record-reader-${Date.now()}`;
  const kafka = new Kafka({ clientId: 'tideflow-test-record-reader', brokers: env.kafkaBrokers, logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: 2, replicationFactor: 1 }], waitForLeaders: true });
  await admin.disconnect();

  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, transactionalId: `${topic}-tx` });
  await producer.connect();
  let records = 0;
  const send = async (messages: Array<{ key?: string | null; value: string | null; headers?: Record<string, string | string[]>; timestamp?: string }>, compression = CompressionTypes.None) => {
    await producer.send({ topic, messages, compression, acks: -1 });
    records += messages.length;
  };
  const many = (count: number, from: number) => Array.from({ length: count }, (_, i) => ({ key: `station-${(from + i) % 7}`, value: `reading ${from + i}` }));
  await send(many(500, 0));
  await send([{ key: null, value: null }, { key: 'k', value: '' }, { value: 'no key' }]);
  await send([{ key: 'h', value: 'headers', headers: { trace: 'abc', repeated: ['1', '2'] } }, { key: 'h2', value: 'after headers' }]);
  await send([{ key: 'old', value: 'given timestamp', timestamp: '1000' }, { key: 'new', value: 'now' }]);
  await send(many(300, 500), CompressionTypes.GZIP);
  const transaction = await producer.transaction();
  await transaction.send({ topic, messages: many(50, 800) });
  await transaction.commit();
  records += 50;
  await producer.disconnect();

  // Control records (the transaction's commit markers) are not handed out by kafkajs' consumer: only data records count.
  const theirs = dump(topic, records, 'kafkajs');
  const ours = dump(topic, records, 'tideflow');
  assert.equal(theirs.length, records);
  assert.equal(ours.length, theirs.length);
  // Line by line: a diff of two arrays of thousands of lines would take the assertion minutes to print.
  for (let i = 0; i < theirs.length; i++) assert.equal(ours[i], theirs[i], `message ${i} of ${theirs.length}`);
  assert.ok(theirs.some((line) => line.includes('"trace"')), 'a message with headers was read');
});

test('real fetch responses: aborted and interleaved transactions, batches the broker recompressed', async (t) => {
  if (!(await requireCluster(t, ['kafka']))) return;
  const topic = `tideflow-test-record-reader-tx-${Date.now()}`;
  const kafka = new Kafka({ clientId: 'tideflow-test-record-reader-tx', brokers: env.kafkaBrokers, logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  // compression.type=gzip: the broker itself rewrites every uncompressed batch it is sent as gzip.
  await admin.createTopics({
    topics: [{ topic, numPartitions: 2, replicationFactor: 1, configEntries: [{ name: 'compression.type', value: 'gzip' }] }],
    waitForLeaders: true,
  });
  await admin.disconnect();

  const plainProducer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  const committer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, transactionalId: `${topic}-commit` });
  const aborter = kafka.producer({ idempotent: true, maxInFlightRequests: 1, transactionalId: `${topic}-abort` });
  await Promise.all([plainProducer.connect(), committer.connect(), aborter.connect()]);
  const kept: string[] = [];
  const batch = (prefix: string, count: number) =>
    Array.from({ length: count }, (_, i) => ({ partition: i % 2, key: `station-${i % 5}`, value: `${prefix} ${i}` }));
  const keep = (messages: Array<{ value: string }>) => kept.push(...messages.map((m) => m.value));

  const before = batch('plain before', 200);
  await plainProducer.send({ topic, messages: before, acks: -1 });
  keep(before);
  const abortedAlone = await aborter.transaction();
  await abortedAlone.send({ topic, messages: batch('aborted alone', 30) });
  await abortedAlone.abort();
  // Two transactions open at once: their batches and markers interleave in both partitions.
  const committed = await committer.transaction();
  const aborted = await aborter.transaction();
  for (let round = 0; round < 3; round++) {
    const ok = batch(`committed round ${round}`, 20);
    await committed.send({ topic, messages: ok });
    keep(ok);
    await aborted.send({ topic, messages: batch(`aborted round ${round}`, 20) });
  }
  await committed.commit();
  await aborted.abort();
  const after = batch('plain after', 100);
  await plainProducer.send({ topic, messages: after, acks: -1 });
  keep(after);
  await Promise.all([plainProducer.disconnect(), committer.disconnect(), aborter.disconnect()]);

  // A read_committed consumer (kafkajs' default) drops the aborted records and every commit/abort marker.
  const theirs = dump(topic, kept.length, 'kafkajs');
  const ours = dump(topic, kept.length, 'tideflow');
  const values = (lines: string[]) => lines.map((line) => Buffer.from((JSON.parse(line) as { value: string }).value, 'hex').toString()).sort();
  assert.deepEqual(values(theirs), kept.slice().sort(), 'kafkajs hands out exactly the committed and plain records');
  assert.equal(ours.length, theirs.length);
  for (let i = 0; i < theirs.length; i++) assert.equal(ours[i], theirs[i], `message ${i} of ${theirs.length}`);
});
