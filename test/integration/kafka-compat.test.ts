/**
 * The short compatibility pass CI runs on each supported Kafka line (4.x with
 * the whole suite, 3.9 on a cluster of its own; docs/compatibility.md): the
 * real CLI produces Confluent Avro through the registry, runs the lunar-day
 * job as a consumer group into JSONL (killed after a checkpoint and
 * restarted), and runs it again over SASL (SCRAM-SHA-512) into Kafka topics
 * (the idempotent producer of the Kafka sink). Needs Kafka and the registry
 * only.
 *
 *   set -a; . .cluster-kafka39/env; set +a
 *   node scripts/run-tests.js dist/test/integration/kafka-compat.test.js
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { Kafka, logLevel } from 'kafkajs';
import { parse, stringify } from 'yaml';
import { clusterEnv, requireCluster } from '../support/cluster';
import { assertRowsEqual, byStationThenStart, expectedLunarDays, readBundled, type Observation } from '../support/plain';
import { job, readJsonl, ROOT, temporaryDirectory } from '../support/run-local';

const CLI = join(ROOT, 'bin', 'tideflow.js');
const RUN = Date.now();
const TOPIC = `tideflow-compat-${RUN}`;
// Four of the bundled stations (11,545 readings): enough for several batches and checkpoints, quick to produce.
const STATIONS = new Set(['8410140', '8443970', '8729108', '9454460']);

function cli(args: string[], env: Record<string, string> = {}) {
  const started = Date.now();
  const result = spawnSync(process.execPath, [CLI, ...args], {
    cwd: ROOT,
    env: { ...process.env, TIDEFLOW_TEST_CRASH: '', ...env },
    encoding: 'utf8',
    timeout: 180_000,
  });
  return { ...result, output: `${result.stdout}${result.stderr}`, ms: Date.now() - started };
}

type KafkaBlock = { kafka: Record<string, unknown> };
type LunarDayYaml = { source: KafkaBlock; sink: Record<string, unknown>; deadLetters: KafkaBlock; late: KafkaBlock };

/**
 * jobs/tides-lunar-day.yaml on this test's topics and group, over PLAINTEXT or
 * SASL; with `resultsTopic`, its rows go to that topic (JSON) instead of Cassandra.
 */
function lunarDayJob(dir: string, name: string, connection: { brokers: string[]; sasl?: Record<string, string> }, resultsTopic?: string): string {
  const spec = parse(readFileSync(job('tides-lunar-day'), 'utf8')) as LunarDayYaml;
  const kafka = (topic: string) => ({ brokers: connection.brokers.join(','), ...(connection.sasl ? { sasl: connection.sasl } : {}), topic });
  spec.source.kafka = {
    ...spec.source.kafka,
    ...kafka(TOPIC),
    group: `tideflow-compat-${name}-${RUN}`,
    format: { avro: { registry: clusterEnv().registryUrl, readerSchema: join(ROOT, 'schemas', 'tide_observation.avsc') } },
  };
  spec.deadLetters.kafka = { ...spec.deadLetters.kafka, ...kafka(`${TOPIC}.dead-letters`) };
  spec.late.kafka = { ...spec.late.kafka, ...kafka(`${TOPIC}.late`) };
  if (resultsTopic !== undefined) spec.sink = { kafka: kafka(resultsTopic) };
  const file = join(dir, `${name}.yaml`);
  writeFileSync(file, stringify(spec));
  return file;
}

function lunarDayRows(output: string): Array<Record<string, unknown>> {
  return readJsonl(output).sort(byStationThenStart);
}

/** Every message of a topic (values as text, headers as text), read from the beginning. */
async function readTopic(kafka: Kafka, topic: string, count: number): Promise<Array<{ value: string; headers: Record<string, string> }>> {
  const consumer = kafka.consumer({ groupId: `tideflow-compat-read-${topic}`, maxWaitTimeInMs: 200 });
  const messages: Array<{ value: string; headers: Record<string, string> }> = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`read ${messages.length} of ${count} messages of ${topic} in 60 s`)), 60_000);
      consumer
        .run({
          eachMessage: async ({ message }) => {
            const headers: Record<string, string> = {};
            for (const [key, value] of Object.entries(message.headers ?? {})) headers[key] = String(value);
            messages.push({ value: message.value?.toString() ?? '', headers });
            if (messages.length >= count) {
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
  return messages;
}

test('kafka compatibility: produce, a consumer group with checkpoint and restart, SASL', { timeout: 600_000 }, async (t) => {
  if (!(await requireCluster(t, ['kafka', 'registry']))) return;
  const env = clusterEnv();
  const dir = temporaryDirectory('tideflow-compat-');
  const kafka = new Kafka({ clientId: 'tideflow-compat', brokers: env.kafkaBrokers, logLevel: logLevel.NOTHING });

  // Every 20th reading twice, as a poller does: the job's dedupe step drops them again.
  const input: Observation[] = [];
  (await readBundled())
    .filter((row) => STATIONS.has(row.station))
    .forEach((row, i) => {
      input.push(row);
      if (i % 20 === 0) input.push(row);
    });
  const expected = expectedLunarDays(input);
  const records = input.length + 1;

  await t.test('the CLI produces Confluent Avro through the registry', async () => {
    const file = join(dir, 'input.jsonl');
    writeFileSync(file, input.map((row) => JSON.stringify({ ...row, t: new Date(row.t).toISOString() })).join('\n') + '\n');
    const produced = cli(['produce', file, '--topic', TOPIC, '--brokers', env.kafkaBrokers.join(','), '--registry', env.registryUrl, '--quiet']);
    assert.equal(produced.status, 0, produced.output);
    t.diagnostic(`produce ${produced.ms} ms`);
    const subjects = (await fetch(`${env.registryUrl}/subjects`).then((res) => res.json())) as string[];
    assert.ok(subjects.includes(`${TOPIC}-value`), `subject ${TOPIC}-value registered`);
    // One payload that is not Confluent Avro: the job must put it on its dead-letter topic (a Kafka sink).
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({ topic: TOPIC, messages: [{ key: '8410140', value: '<html>503 Service Unavailable</html>' }] });
    await producer.disconnect();
    const admin = kafka.admin();
    await admin.connect();
    const offsets = await admin.fetchTopicOffsets(TOPIC);
    await admin.disconnect();
    assert.equal(offsets.reduce((sum, p) => sum + Number(p.high), 0), records);
  });

  await t.test('the lunar-day job as a consumer group: killed after its third checkpoint, restarted, every row once', async () => {
    const jobFile = lunarDayJob(dir, 'plaintext', { brokers: env.kafkaBrokers });
    const output = join(dir, 'plaintext.jsonl');
    const args = ['run', jobFile, '--until-end', '--output', output, '--checkpoint-dir', join(dir, 'cp-plaintext'), '--batch-size', '1000', '--checkpoint-interval', '0ms'];
    const crashed = cli(args, { TIDEFLOW_TEST_CRASH: 'after-checkpoint-save:3' });
    assert.equal(crashed.signal, 'SIGKILL', `expected a crash after the third checkpoint; output: ${crashed.output}`);
    const resumed = cli(args);
    assert.equal(resumed.status, 0, resumed.output);
    t.diagnostic(`plaintext: crashed run ${crashed.ms} ms, resumed run ${resumed.ms} ms`);
    assert.match(resumed.output, new RegExp(`resumed from checkpoint epoch \\d+ \\(${records.toLocaleString('en-US')} records since the job's first run`));
    assert.match(resumed.output, /\b1 dead letters\b/);
    assertRowsEqual(lunarDayRows(output), expected, ['mean', 'range']);
    // With --output, dead letters go to a file beside it.
    assert.equal(readJsonl(join(dir, 'plaintext.dead-letters.jsonl')).length, 1);

    // The group's committed offsets are the end of every partition.
    const admin = kafka.admin();
    await admin.connect();
    try {
      const ends = new Map((await admin.fetchTopicOffsets(TOPIC)).map((p) => [p.partition, p.high]));
      const [committed] = await admin.fetchOffsets({ groupId: `tideflow-compat-plaintext-${RUN}`, topics: [TOPIC] });
      assert.deepEqual(new Map(committed.partitions.map((p) => [p.partition, p.offset])), ends);
    } finally {
      await admin.disconnect();
    }
  });

  await t.test('the same job over SASL_PLAINTEXT with SCRAM-SHA-512, results and dead letters into Kafka', async () => {
    const sasl = { mechanism: 'scram-sha-512', username: env.kafkaSaslUsername, password: env.kafkaSaslPassword };
    const results = `${TOPIC}.lunar-day`;
    const jobFile = lunarDayJob(dir, 'sasl', { brokers: env.kafkaSaslBrokers, sasl }, results);
    const run = cli(['run', jobFile, '--until-end', '--checkpoint-dir', join(dir, 'cp-sasl'), '--quiet']);
    assert.equal(run.status, 0, run.output);
    t.diagnostic(`SASL run ${run.ms} ms`);
    const saslKafka = new Kafka({ clientId: 'tideflow-compat-sasl', brokers: env.kafkaSaslBrokers, sasl: { mechanism: 'scram-sha-512', username: sasl.username, password: sasl.password }, logLevel: logLevel.NOTHING });
    const rows = (await readTopic(saslKafka, results, expected.length)).map((m) => JSON.parse(m.value) as Record<string, unknown>);
    assertRowsEqual(rows.sort(byStationThenStart), expected, ['mean', 'range']);
    const [deadLetter] = await readTopic(saslKafka, `${TOPIC}.dead-letters`, 1);
    assert.equal(deadLetter.value, '<html>503 Service Unavailable</html>', 'the original payload, as it was');
    assert.ok(deadLetter.headers['tideflow.reason'], 'with the reason in a header');

    const wrong = lunarDayJob(dir, 'sasl-wrong', { brokers: env.kafkaSaslBrokers, sasl: { ...sasl, password: 'not-the-password' } });
    const refused = cli(['run', wrong, '--until-end', '--output', join(dir, 'refused.jsonl'), '--checkpoint-dir', join(dir, 'cp-refused'), '--quiet']);
    assert.notEqual(refused.status, 0, 'a wrong password is refused');
    t.diagnostic(`refused run ${refused.ms} ms`);
    assert.match(refused.output, /SASL|[Aa]uthentication/);
  });
});
