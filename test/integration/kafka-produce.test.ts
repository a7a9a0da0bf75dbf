// `tideflow produce` against the real servers: files of every format into a
// topic as Confluent Avro, keyed by station; argument checking.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { Command } from 'commander';
import { formatProduceSummary, parseProduceOptions, produceFile, registerProduce } from '../../engine/cli/produce';
import { loadAvroType, tideObservationSchemaPath } from '../../engine/codecs/avro-schema';
import { UsageError } from '../../engine/core/errors';
import type { Row } from '../../engine/core/batch';
import { KafkaSource } from '../../engine/sources/kafka-source';
import { createKafkaAvroDecoder } from '../../engine/codecs/kafka-avro-decoder';
import { clusterEnv, requireCluster } from '../support/cluster';
import { rowsOf } from '../../engine/codecs/decoder';

const env = clusterEnv();
const run = `${Date.now()}-${process.pid}`;
const root = path.resolve(__dirname, '..', '..', '..');
// A NOAA CO-OPS CSV export kept in the repository (a clone has nothing beside it).
const csvFile = path.join(root, 'engine', 'codecs', 'fixtures', '8729108_2018-10_excerpt.csv');
const avroFile = path.join(root, 'data', 'bundled', 'tides.avro');
const schemaPath = tideObservationSchemaPath();

async function readTopic(topic: string): Promise<{ rows: Row[]; keys: string[]; partitions: Set<string> }> {
  const format = { kind: 'avro-registry' as const, registryUrl: env.registryUrl, readerSchema: schemaPath };
  const source = new KafkaSource({ brokers: env.kafkaBrokers, clientId: 'tideflow-test', topic, group: `tideflow-test-${topic}`, startFrom: 'earliest', stopAtEnd: true, format });
  const decoder = createKafkaAvroDecoder(format, loadAvroType(schemaPath));
  const rows: Row[] = [];
  const keys: string[] = [];
  const partitions = new Set<string>();
  for await (const batch of source.batches({})) {
    const decoded = rowsOf(await decoder.decode(batch));
    assert.equal(decoded.deadLetters.length, 0);
    rows.push(...decoded.rows);
    for (const key of batch.keys!) keys.push(key?.toString() ?? '');
    partitions.add(batch.source.partition);
  }
  await source.close();
  await decoder.close?.();
  return { rows, keys, partitions };
}

test('produce: bad arguments are one UsageError listing every problem', () => {
  const error = (() => {
    try {
      parseProduceOptions('no/such/file.jsonl', { topic: 'bad topic!', rate: '-3', partitions: '0', brokers: 'nohostport', registry: 'ftp://x' }, {});
    } catch (e) {
      return e;
    }
    return null;
  })();
  assert.ok(error instanceof UsageError);
  const message = (error as Error).message;
  for (const expected of ['input file not found', "--topic 'bad topic!'", '--rate', '--partitions', "'nohostport' is not host:port", "--registry 'ftp://x'"]) {
    assert.ok(message.includes(expected), `mentions ${expected}: ${message}`);
  }
  assert.throws(() => parseProduceOptions(csvFile, {}, {}), /--topic is required/);
  const parsed = parseProduceOptions(csvFile, { topic: 't', partitions: '3' }, { KAFKA_BROKERS: 'a:1,b:2', SCHEMA_REGISTRY_URL: 'http://r:8081/' });
  assert.deepEqual(parsed.connection.brokers, ['a:1', 'b:2']);
  assert.equal(parsed.registryUrl, 'http://r:8081');
  assert.equal(parsed.keyField, 'station');
});

test('produce: a NOAA CSV (station from --station) and the bundled Avro file land keyed by station', async (t) => {
  if (!(await requireCluster(t))) return;
  const csvTopic = `tideflow-test-produce-csv-${run}`;
  const program = new Command().exitOverride();
  registerProduce(program);
  // Through commander, as `tideflow produce` runs it.
  await program.parseAsync(
    // The excerpt is an API CSV in feet (its header does not say so: --units is required).
    ['produce', csvFile, '--topic', csvTopic, '--station', '8729108', '--units', 'ft', '--partitions', '2', '--brokers', env.kafkaBrokers.join(','), '--registry', env.registryUrl, '--quiet'],
    { from: 'user' },
  );
  const csv = await readTopic(csvTopic);
  const lines = fs.readFileSync(csvFile, 'utf8').trim().split('\n').length - 1;
  assert.equal(csv.rows.length, lines);
  assert.ok(csv.rows.every((row) => row.station === '8729108'));
  assert.equal(csv.rows.find((row) => row.t === Date.UTC(2018, 9, 9))?.v, 0.7379208, '2.421 ft');
  assert.ok(csv.keys.every((key) => key === '8729108'));
  assert.equal(csv.partitions.size, 1, 'one station, one partition');

  const avroTopic = `tideflow-test-produce-avro-${run}`;
  const summary = await produceFile({
    file: avroFile,
    topic: avroTopic,
    connection: { brokers: env.kafkaBrokers, clientId: 'tideflow-test' },
    registryUrl: env.registryUrl,
    schemaPath,
    partitions: 4,
    keyField: 'station',
  });
  t.diagnostic(formatProduceSummary(summary));
  assert.equal(summary.partitions, 4);
  assert.equal(summary.createdTopic, true);
  const avro = await readTopic(avroTopic);
  assert.equal(avro.rows.length, summary.records);
  const stationPartition = new Map<string, number>();
  avro.rows.forEach((row, i) => stationPartition.set(String(row.station), i));
  assert.ok(stationPartition.size >= 1);
});

test('produce: --rate paces the records', async (t) => {
  if (!(await requireCluster(t))) return;
  const topic = `tideflow-test-produce-rate-${run}`;
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'tideflow-rate-')), 'rate.jsonl');
  const lines = Array.from({ length: 600 }, (_, i) =>
    JSON.stringify({ station: 'S', name: 'n', lat: 0, lon: 0, t: new Date(Date.UTC(2024, 0, 1) + i * 60_000).toISOString(), v: 1 }),
  );
  lines.push('{"station": "S", "t": "not a time"}', '{"station": 7}');
  fs.writeFileSync(file, lines.join('\n') + '\n');
  const summary = await produceFile({
    file,
    topic,
    connection: { brokers: env.kafkaBrokers, clientId: 'tideflow-test' },
    registryUrl: env.registryUrl,
    schemaPath,
    partitions: 1,
    keyField: 'station',
    rate: 1000,
  });
  assert.equal(summary.records, 600);
  assert.equal(summary.rejected, 2, 'invalid records are counted, not sent');
  assert.ok(summary.seconds >= 0.5, `600 records at 1000/s took ${summary.seconds} s`);
  assert.match(formatProduceSummary(summary), /2 records of .* were not valid/);
});
