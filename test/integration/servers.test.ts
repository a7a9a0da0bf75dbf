// Smoke test of the real servers (scripts/cluster/up.sh): Kafka over
// PLAINTEXT, SASL (PLAIN, SCRAM-SHA-256/512) and SASL over TLS, the Confluent-compatible Schema Registry API,
// and Cassandra. Skipped locally when the servers are down; fails in CI.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Kafka, logLevel, Partitioners, type KafkaConfig, type SASLOptions } from 'kafkajs';
import { SchemaRegistryClient } from '@confluentinc/schemaregistry';
import { Client as CassandraClient, types as cassandraTypes } from 'cassandra-driver';
import * as avro from 'avsc';
import { clusterEnv, requireCluster } from '../support/cluster';

const env = clusterEnv();
const RUN = randomUUID().slice(0, 8);

function kafka(overrides: Partial<KafkaConfig> = {}): Kafka {
  return new Kafka({
    clientId: `tideflow-smoke-${RUN}`,
    brokers: env.kafkaBrokers,
    logLevel: logLevel.NOTHING,
    connectionTimeout: 5000,
    retry: { retries: 5, initialRetryTime: 200 },
    ...overrides,
  });
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: timed out after ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

test('kafka: create a topic, produce and consume one message', { timeout: 90_000 }, async (t) => {
  if (!(await requireCluster(t))) return;
  const client = kafka();
  const topic = `tideflow-smoke-${RUN}`;
  const admin = client.admin();
  const producer = client.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  const consumer = client.consumer({ groupId: `tideflow-smoke-${RUN}` });
  try {
    await admin.connect();
    const created = await admin.createTopics({
      topics: [{ topic, numPartitions: 1, replicationFactor: 1 }],
      waitForLeaders: true,
    });
    assert.equal(created, true);
    assert.ok((await admin.listTopics()).includes(topic));

    await producer.connect();
    const sent = await producer.send({
      topic,
      messages: [{ key: 'station-42', value: 'tide=1.25', headers: { source: 'smoke' } }],
    });
    assert.equal(sent.length, 1);
    assert.equal(sent[0].errorCode, 0);
    assert.equal(sent[0].baseOffset, '0');

    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    const received = new Promise<{ key: string; value: string; header: string; offset: string; partition: number }>(
      (resolve) => {
        void consumer.run({
          eachMessage: async ({ message, partition }) => {
            resolve({
              key: message.key?.toString() ?? '',
              value: message.value?.toString() ?? '',
              header: message.headers?.source?.toString() ?? '',
              offset: message.offset,
              partition,
            });
          },
        });
      },
    );
    const got = await withTimeout(received, 60_000, 'consuming the message');
    assert.deepEqual(got, { key: 'station-42', value: 'tide=1.25', header: 'smoke', offset: '0', partition: 0 });

    const offsets = await admin.fetchTopicOffsets(topic);
    assert.deepEqual(
      offsets.map((o) => ({ partition: o.partition, low: o.low, high: o.high })),
      [{ partition: 0, low: '0', high: '1' }],
    );
  } finally {
    await consumer.disconnect().catch(() => undefined);
    await producer.disconnect().catch(() => undefined);
    await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
    await admin.disconnect().catch(() => undefined);
  }
});

// Every mechanism the job files accept (engine/config/kafka-connection.ts), on the same listener and user.
const SASL_MECHANISMS = ['plain', 'scram-sha-256', 'scram-sha-512'] as const;

for (const mechanism of SASL_MECHANISMS) {
test(`kafka: SASL ${mechanism} listener accepts the right password and rejects a wrong one`, { timeout: 60_000 }, async (t) => {
  if (!(await requireCluster(t))) return;
  const topic = `tideflow-smoke-sasl-${mechanism}-${RUN}`;
  const sasl = kafka({
    brokers: env.kafkaSaslBrokers,
    sasl: { mechanism, username: env.kafkaSaslUsername, password: env.kafkaSaslPassword } as SASLOptions,
  });
  const admin = sasl.admin();
  const producer = sasl.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  try {
    await admin.connect();
    assert.equal(await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true }), true);
    await producer.connect();
    const sent = await producer.send({ topic, messages: [{ key: 'k', value: 'over-sasl' }] });
    assert.equal(sent[0].errorCode, 0);
    assert.equal(sent[0].baseOffset, '0');
    // The same broker serves PLAINTEXT: the message is visible there too.
    const plainAdmin = kafka().admin();
    await plainAdmin.connect();
    try {
      const offsets = await plainAdmin.fetchTopicOffsets(topic);
      assert.deepEqual(offsets.map((o) => o.high), ['1']);
    } finally {
      await plainAdmin.disconnect();
    }
  } finally {
    await producer.disconnect().catch(() => undefined);
    await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
    await admin.disconnect().catch(() => undefined);
  }

  const wrong = kafka({
    brokers: env.kafkaSaslBrokers,
    retry: { retries: 0 },
    sasl: { mechanism, username: env.kafkaSaslUsername, password: 'not-the-password' } as SASLOptions,
  });
  const badProducer = wrong.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await assert.rejects(
    () => badProducer.connect(),
    (err: Error) => {
      assert.equal(err.name, 'KafkaJSSASLAuthenticationError');
      // PLAIN: "Invalid username or password"; SCRAM: "Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512".
      assert.match(err.message, mechanism === 'plain' ? /Invalid username or password/ : new RegExp(`invalid credentials with SASL mechanism ${mechanism.toUpperCase()}`));
      return true;
    },
  );
  await badProducer.disconnect().catch(() => undefined);
});
}

test('kafka: SASL_SSL listener: TLS with the cluster CA and SCRAM-SHA-512; a client that does not trust the CA is refused', { timeout: 60_000 }, async (t) => {
  if (!(await requireCluster(t))) return;
  const topic = `tideflow-smoke-tls-${RUN}`;
  const sasl = { mechanism: 'scram-sha-512', username: env.kafkaSaslUsername, password: env.kafkaSaslPassword } as SASLOptions;
  const tls = kafka({ brokers: env.kafkaTlsBrokers, ssl: { ca: [readFileSync(env.tlsCa, 'utf8')] }, sasl });
  const admin = tls.admin();
  const producer = tls.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  try {
    await admin.connect();
    assert.equal(await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true }), true);
    await producer.connect();
    const sent = await producer.send({ topic, messages: [{ key: 'k', value: 'over-tls' }] });
    assert.equal(sent[0].errorCode, 0);
    assert.equal(sent[0].baseOffset, '0');
  } finally {
    await producer.disconnect().catch(() => undefined);
    await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
    await admin.disconnect().catch(() => undefined);
  }

  // Node's default trust store does not know the self-signed certificate.
  const untrusting = kafka({ brokers: env.kafkaTlsBrokers, ssl: true, sasl, retry: { retries: 0 } });
  const refused = untrusting.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await assert.rejects(
    () => refused.connect(),
    (err: Error) => {
      assert.match(err.message, /self[- ]signed certificate/);
      return true;
    },
  );
  await refused.disconnect().catch(() => undefined);
});

test('schema registry: register an Avro schema and fetch it back by id', { timeout: 60_000 }, async (t) => {
  if (!(await requireCluster(t))) return;
  const subject = `tideflow-smoke-${RUN}-value`;
  const v1 = {
    type: 'record',
    name: 'TideReading',
    namespace: 'dev.tideflow.smoke',
    fields: [
      { name: 'station', type: 'string' },
      { name: 'heightM', type: 'double' },
    ],
  };
  const registrar = new SchemaRegistryClient({ baseURLs: [env.registryUrl] });
  const id = await registrar.register(subject, { schemaType: 'AVRO', schema: JSON.stringify(v1) });
  assert.equal(typeof id, 'number');
  assert.ok(Number.isInteger(id) && id > 0, `schema id ${id}`);
  // Registering the same schema again is idempotent (a fresh client: no cache).
  const again = new SchemaRegistryClient({ baseURLs: [env.registryUrl] });
  assert.equal(await again.register(subject, { schemaType: 'AVRO', schema: JSON.stringify(v1) }), id);

  // A fresh client has nothing cached, so this really asks GET /schemas/ids/{id}.
  const reader = new SchemaRegistryClient({ baseURLs: [env.registryUrl] });
  const fetched = await reader.getBySubjectAndId(subject, id);
  assert.deepEqual(JSON.parse(fetched.schema), v1);
  assert.ok(fetched.schemaType === undefined || fetched.schemaType === 'AVRO', `schemaType ${fetched.schemaType}`);

  const latest = await reader.getLatestSchemaMetadata(subject);
  assert.equal(latest.id, id);
  assert.equal(latest.version, 1);
  assert.equal(latest.subject, subject);
  assert.deepEqual(await reader.getAllVersions(subject), [1]);
  assert.ok((await reader.getAllSubjects()).includes(subject));

  // The fetched schema is usable: an avsc round trip.
  const type = avro.Type.forSchema(JSON.parse(fetched.schema) as avro.Schema);
  const record = { station: 'brest', heightM: 4.5 };
  // avsc decodes records into instances of a generated class: compare fields.
  assert.deepEqual({ ...type.fromBuffer(type.toBuffer(record)) }, record);

  // Global compatibility is BACKWARD: a new required field is refused, one
  // with a default is accepted as version 2.
  const v2bad = { ...v1, fields: [...v1.fields, { name: 'quality', type: 'int' }] };
  await assert.rejects(() => registrar.register(subject, { schemaType: 'AVRO', schema: JSON.stringify(v2bad) }));
  const v2 = { ...v1, fields: [...v1.fields, { name: 'quality', type: 'int', default: 0 }] };
  const id2 = await registrar.register(subject, { schemaType: 'AVRO', schema: JSON.stringify(v2) });
  assert.notEqual(id2, id);
  assert.deepEqual(JSON.parse((await reader.getBySubjectAndId(subject, id2)).schema), v2);
  assert.deepEqual(await reader.getAllVersions(subject), [1, 2]);
});

test('cassandra: create a keyspace and table, insert and select a row', { timeout: 90_000 }, async (t) => {
  if (!(await requireCluster(t))) return;
  const client = new CassandraClient({
    contactPoints: env.cassandraContactPoints,
    localDataCenter: env.cassandraLocalDc,
    socketOptions: { connectTimeout: 5000, readTimeout: 30_000 },
  });
  try {
    await client.connect();
    await client.execute(
      "CREATE KEYSPACE IF NOT EXISTS tideflow_smoke WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}",
    );
    await client.execute(
      'CREATE TABLE IF NOT EXISTS tideflow_smoke.readings (station text, ts timestamp, height_m double, run text, PRIMARY KEY (station, ts))',
    );
    const station = `smoke-${RUN}`;
    const ts = new Date('2024-03-10T06:30:00.000Z');
    await client.execute(
      'INSERT INTO tideflow_smoke.readings (station, ts, height_m, run) VALUES (?, ?, ?, ?)',
      [station, ts, 3.75, RUN],
      { prepare: true, consistency: cassandraTypes.consistencies.localQuorum },
    );
    const rs = await client.execute(
      'SELECT station, ts, height_m, run FROM tideflow_smoke.readings WHERE station = ?',
      [station],
      { prepare: true, consistency: cassandraTypes.consistencies.localQuorum },
    );
    assert.equal(rs.rowLength, 1);
    const row = rs.first();
    assert.equal(row.get('station'), station);
    assert.equal((row.get('ts') as Date).toISOString(), '2024-03-10T06:30:00.000Z');
    assert.equal(row.get('height_m'), 3.75);
    assert.equal(row.get('run'), RUN);

    const local = await client.execute('SELECT data_center, release_version FROM system.local');
    assert.equal(local.first().get('data_center'), env.cassandraLocalDc);
    assert.match(String(local.first().get('release_version')), /^5\.0\./);
  } finally {
    await client.shutdown();
  }
});
