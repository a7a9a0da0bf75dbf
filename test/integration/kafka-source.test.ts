// Kafka source + Schema Registry against the real servers (scripts/cluster/up.sh):
// Kafka 3.9 (KRaft) and Apicurio Registry through its Confluent-compatible API.
//
//   set -a; . .cluster/env; set +a; node --test dist/test/integration/kafka-source.test.js
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { test, type TestContext } from 'node:test';
import { SchemaRegistryClient } from '@confluentinc/schemaregistry';
import { Kafka, logLevel, Partitioners } from 'kafkajs';
import { loadAvroType, parseAvroType, tideObservationSchemaPath } from '../../engine/codecs/avro-schema';
import { encodeConfluent } from '../../engine/codecs/confluent-avro';
import { SchemaRegistry } from '../../engine/codecs/registry';
import { produceFile } from '../../engine/cli/produce';
import type { KafkaSourceSpec } from '../../engine/config/job';
import { DecodeError, ExternalError } from '../../engine/core/errors';
import type { RawBatch, Row } from '../../engine/core/batch';
import type { DeadLetter } from '../../engine/core/operator';
import { KafkaSource } from '../../engine/sources/kafka-source';
import { createKafkaAvroDecoder } from '../../engine/codecs/kafka-avro-decoder';
import type { Positions } from '../../engine/core/source';
import { recordBatchReaderState } from '../../engine/patches/kafkajs-record-batches';
import { clusterEnv, requireCluster } from '../support/cluster';
import { rowsOf } from '../../engine/codecs/decoder';
import { installDependencyPatches } from '../../engine/patches';

// As the runtime does before a job starts.
installDependencyPatches();

const env = clusterEnv();
const run = `${Date.now()}-${process.pid}`;
const schemaPath = tideObservationSchemaPath();
const readerType = loadAvroType(schemaPath);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tideflow-kafka-'));
const STATIONS = ['8454000', '9414290', '8443970', '8729108', '9410230', '8761724'];
const T0 = Date.UTC(2024, 0, 1);

function observations(count: number): Row[] {
  const rows: Row[] = [];
  for (let i = 0; i < count; i++) {
    const station = STATIONS[i % STATIONS.length];
    rows.push({
      station,
      name: `Station ${station}`,
      lat: 40 + (i % STATIONS.length),
      lon: -70 - (i % STATIONS.length),
      t: T0 + Math.floor(i / STATIONS.length) * 360_000,
      v: i % 17 === 0 ? null : Math.round(Math.sin(i / 50) * 1000) / 1000,
      s: i % 5 === 0 ? null : 0.01,
      f: '0,0,0,0',
      q: i % 2 === 0 ? 'p' : 'v',
    });
  }
  return rows;
}

function writeJsonl(name: string, rows: Row[]): string {
  const file = path.join(tmp, name);
  fs.writeFileSync(file, rows.map((row) => JSON.stringify(row)).join('\n') + '\n');
  return file;
}

function sourceSpec(topic: string, overrides: Partial<KafkaSourceSpec> = {}): KafkaSourceSpec {
  return {
    brokers: env.kafkaBrokers,
    clientId: 'tideflow-test',
    topic,
    group: `tideflow-test-${topic}`,
    startFrom: 'earliest',
    stopAtEnd: true,
    format: { kind: 'avro-registry', registryUrl: env.registryUrl, readerSchema: schemaPath },
    ...overrides,
  };
}

async function produceRows(topic: string, rows: Row[], schema = schemaPath, partitions = 3) {
  const file = writeJsonl(`${topic}.jsonl`, rows);
  return produceFile({
    file,
    topic,
    connection: { brokers: env.kafkaBrokers, clientId: 'tideflow-test' },
    registryUrl: env.registryUrl,
    schemaPath: schema,
    partitions,
    keyField: 'station',
  });
}

/** Read a bounded run to its end: raw batches plus decoded rows/dead letters. */
async function readAll(spec: KafkaSourceSpec, from: Positions = {}) {
  const source = new KafkaSource(spec);
  const decoder = createKafkaAvroDecoder(spec.format, readerType);
  const batches: RawBatch[] = [];
  const rows: Array<{ partition: string; offset: number; row: Row }> = [];
  const deadLetters: DeadLetter[] = [];
  const started = Date.now();
  try {
    for await (const batch of source.batches(from)) {
      assert.ok(batch.offsets.length > 0, 'no empty batches: partitions are not announced (a task per partition keeps its own watermark)');
      batches.push(batch);
      const decoded = rowsOf(await decoder.decode(batch));
      decoded.rows.forEach((row, i) => rows.push({ partition: batch.source.partition, offset: decoded.offsets[i], row }));
      deadLetters.push(...decoded.deadLetters);
    }
    return { batches, rows, deadLetters, lag: source.lag(), seconds: (Date.now() - started) / 1000, source };
  } finally {
    await source.close();
    await decoder.close?.();
  }
}

const byStationAndTime = (a: Row, b: Row) => String(a.station).localeCompare(String(b.station)) || Number(a.t) - Number(b.t);

function checkContiguous(batches: RawBatch[]): Map<string, number> {
  const next = new Map<string, number>();
  for (const batch of batches) {
    const { partition, fromOffset, toOffset } = batch.source;
    if (next.has(partition)) assert.equal(fromOffset, next.get(partition), `${partition}: batches are contiguous`);
    assert.ok(batch.offsets.length <= 5000, 'chunks of at most 5,000 records');
    assert.equal(batch.payloads!.length, batch.offsets.length);
    assert.equal(toOffset, batch.offsets[batch.offsets.length - 1] + 1);
    for (let i = 1; i < batch.offsets.length; i++) assert.equal(batch.offsets[i], batch.offsets[i - 1] + 1);
    next.set(partition, toOffset);
  }
  return next;
}

async function cluster(t: TestContext): Promise<boolean> {
  return requireCluster(t);
}

test('produce N Avro records, read them back with KafkaSource(stopAtEnd): exact offsets and rows', async (t) => {
  if (!(await cluster(t))) return;
  const topic = `tideflow-test-source-${run}`;
  const input = observations(12_000);
  const summary = await produceRows(topic, input);
  assert.equal(summary.records, input.length);
  assert.equal(summary.rejected, 0);
  assert.equal(summary.partitions, 3);

  const result = await readAll(sourceSpec(topic));
  const ends = checkContiguous(result.batches);
  let total = 0;
  for (const [partition, end] of ends) {
    const first = result.batches.find((b) => b.source.partition === partition)!;
    assert.equal(first.source.fromOffset, 0, `${partition} starts at 0`);
    total += end;
  }
  assert.equal(total, input.length, 'end offsets add up to every record');
  assert.equal(result.deadLetters.length, 0);
  assert.deepEqual(result.rows.map((r) => r.row).sort(byStationAndTime), [...input].sort(byStationAndTime), 'exact decoded rows');
  // Keyed by station: one partition per station, in production order.
  const partitionOf = new Map<string, string>();
  const lastT = new Map<string, number>();
  for (const { partition, row } of result.rows) {
    const station = String(row.station);
    if (partitionOf.has(station)) assert.equal(partitionOf.get(station), partition, `station ${station} stays in one partition`);
    partitionOf.set(station, partition);
    assert.ok(Number(row.t) > (lastT.get(station) ?? -1), `station ${station} in order`);
    lastT.set(station, Number(row.t));
  }
  assert.deepEqual(Object.values(result.lag), [0, 0, 0].slice(0, Object.keys(result.lag).length), 'no lag at the end');
  t.diagnostic(`produced ${summary.records} in ${summary.seconds.toFixed(2)} s (${Math.round(summary.recordsPerSecond)} rec/s); ` +
    `read+decoded in ${result.seconds.toFixed(2)} s (${Math.round(input.length / result.seconds)} rec/s)`);

  // Resume from positions half way: exactly the tail, nothing before it.
  const from: Positions = {};
  for (const [partition, end] of ends) from[partition] = Math.floor(end / 2);
  const tail = await readAll(sourceSpec(topic, { group: `${topic}-resume` }), from);
  const tailEnds = checkContiguous(tail.batches);
  for (const [partition, end] of ends) {
    const first = tail.batches.find((b) => b.source.partition === partition);
    assert.equal(first?.source.fromOffset, from[partition], `${partition} resumes at its position`);
    assert.equal(tailEnds.get(partition), end);
  }
  const expectedTail = result.rows.filter((r) => r.offset >= from[r.partition]).map((r) => r.row);
  assert.deepEqual(tail.rows.map((r) => r.row).sort(byStationAndTime), expectedTail.sort(byStationAndTime));

  // Resume at the end: nothing to read, the bounded run ends at once.
  const nothing = await readAll(sourceSpec(topic, { group: `${topic}-end` }), Object.fromEntries(ends));
  assert.equal(nothing.batches.length, 0);
  // All of it came through tideflow's record-batch reader in kafkajs, not kafkajs' own decoder.
  assert.deepEqual(recordBatchReaderState(), { active: true, reason: 'installed' });
});

test('commit() stores consumer-group offsets (lag monitoring); SASL/PLAIN listener works', async (t) => {
  if (!(await cluster(t))) return;
  const topic = `tideflow-test-commit-${run}`;
  await produceRows(topic, observations(600));
  const spec = sourceSpec(topic, {
    brokers: env.kafkaSaslBrokers,
    sasl: { mechanism: 'plain', username: env.kafkaSaslUsername, password: env.kafkaSaslPassword },
  });
  const source = new KafkaSource(spec);
  const positions: Positions = {};
  let count = 0;
  for await (const batch of source.batches({})) {
    positions[batch.source.partition] = batch.source.toOffset;
    count += batch.offsets.length;
  }
  assert.equal(count, 600);
  await source.commit(positions);
  await source.close();
  const kafka = new Kafka({ clientId: 'tideflow-test', brokers: env.kafkaBrokers, logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  try {
    const [committed] = await admin.fetchOffsets({ groupId: spec.group, topics: [topic] });
    const stored = Object.fromEntries(committed.partitions.map((p) => [`${topic}/${p.partition}`, Number(p.offset)]));
    assert.deepEqual(stored, positions);
  } finally {
    await admin.disconnect();
  }
});

// The Kafka source, sink and `tideflow produce` share createKafkaClient: reading over SCRAM covers the mechanism names of the job files.
for (const mechanism of ['scram-sha-256', 'scram-sha-512'] as const) {
  test(`the source reads over SASL/${mechanism.toUpperCase()}`, async (t) => {
    if (!(await cluster(t))) return;
    const topic = `tideflow-test-${mechanism}-${run}`;
    const rows = observations(120);
    await produceRows(topic, rows);
    const result = await readAll(
      sourceSpec(topic, { brokers: env.kafkaSaslBrokers, sasl: { mechanism, username: env.kafkaSaslUsername, password: env.kafkaSaslPassword } }),
    );
    assert.equal(result.deadLetters.length, 0);
    assert.deepEqual(result.rows.map((r) => r.row).sort(byStationAndTime), [...rows].sort(byStationAndTime));
  });
}

test('schema evolution: v1 (no q) and v2 (extra field) records in one topic both decode to the reader schema', async (t) => {
  if (!(await cluster(t))) return;
  const topic = `tideflow-test-evolution-${run}`;
  const schema = JSON.parse(fs.readFileSync(schemaPath, 'utf8'));
  const v1 = { ...schema, fields: schema.fields.filter((f: { name: string }) => f.name !== 'q') };
  const v2 = { ...schema, fields: [...schema.fields, { name: 'sensor', type: ['null', 'string'], default: null }] };
  const v1Path = path.join(tmp, 'v1.avsc');
  const v2Path = path.join(tmp, 'v2.avsc');
  fs.writeFileSync(v1Path, JSON.stringify(v1));
  fs.writeFileSync(v2Path, JSON.stringify(v2));
  const rows = observations(60);
  const oldRows = rows.slice(0, 30).map(({ q: _q, ...rest }) => rest);
  const newRows = rows.slice(30).map((row) => ({ ...row, sensor: 'acoustic' }));
  const first = await produceRows(topic, oldRows, v1Path);
  const second = await produceRows(`${topic}`, newRows, v2Path);
  assert.notEqual(first.schemaId, second.schemaId, 'two writer schema ids');
  const result = await readAll(sourceSpec(topic));
  assert.equal(result.deadLetters.length, 0);
  const expected = [...oldRows.map((row) => ({ ...row, q: null })), ...rows.slice(30)];
  assert.deepEqual(result.rows.map((r) => r.row).sort(byStationAndTime), expected.sort(byStationAndTime));
  for (const { row } of result.rows) assert.equal('sensor' in row, false, 'fields the reader does not know are dropped');
});

test('dead letters: bad bytes get exact reasons and their original partition/offset; good records decode', async (t) => {
  if (!(await cluster(t))) return;
  const topic = `tideflow-test-dead-${run}`;
  const registry = new SchemaRegistry({ url: env.registryUrl });
  const id = await registry.register(`${topic}-value`, fs.readFileSync(schemaPath, 'utf8'));
  registry.close();
  const [good1, good2] = observations(2);
  const goodPayload = encodeConfluent(id, readerType, good1);
  const unknownId = 2_000_000_000 - (Date.now() % 1_000_000);
  const payloads: Array<{ value: Buffer | null; expect: RegExp | null }> = [
    { value: goodPayload, expect: null },
    { value: Buffer.concat([Buffer.from([1]), goodPayload.subarray(1)]), expect: /^bad magic byte 0x01: expected 0x00/ },
    { value: encodeConfluent(unknownId, readerType, good1), expect: new RegExp(`^unknown schema id ${unknownId}: the schema registry has no such schema`) },
    { value: goodPayload.subarray(0, 12), expect: /^truncated payload: the Avro record \(writer schema \d+\) ends early; the payload has 12 bytes/ },
    { value: goodPayload.subarray(0, 3), expect: /^truncated payload: 3 bytes, shorter than the 5-byte Confluent header/ },
    { value: Buffer.from('{"error": {"message": "No data was found..."}}'), expect: /^bad magic byte 0x7b/ },
    { value: Buffer.from('<!DOCTYPE html><html><body>502 Bad Gateway</body></html>'), expect: /^bad magic byte 0x3c/ },
    { value: null, expect: /^empty payload: the record has no value/ },
    { value: Buffer.alloc(0), expect: /^empty payload: 0 bytes/ },
    { value: encodeConfluent(id, readerType, good2), expect: null },
  ];
  const kafka = new Kafka({ clientId: 'tideflow-test', brokers: env.kafkaBrokers, logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: 2 }], waitForLeaders: true });
  await admin.disconnect();
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  await producer.send({ topic, acks: -1, messages: payloads.map((p) => ({ partition: 1, value: p.value })) });
  await producer.disconnect();

  const result = await readAll(sourceSpec(topic));
  assert.deepEqual(result.rows.map((r) => [r.partition, r.offset, r.row]), [
    [`${topic}/1`, 0, good1],
    [`${topic}/1`, payloads.length - 1, good2],
  ]);
  const expectedDead = payloads.map((p, offset) => ({ ...p, offset })).filter((p) => p.expect !== null);
  assert.equal(result.deadLetters.length, expectedDead.length);
  for (const [i, letter] of result.deadLetters.entries()) {
    assert.equal(letter.partition, `${topic}/1`);
    assert.equal(letter.offset, expectedDead[i].offset);
    assert.equal(letter.stage, 'decode');
    assert.match(letter.reason, expectedDead[i].expect!);
    const original = expectedDead[i].value;
    if (original === null) assert.equal(letter.payload, null);
    else assert.ok(Buffer.isBuffer(letter.payload) && letter.payload.equals(original), 'the original bytes are kept');
  }
});

test('registry: @confluentinc/schemaregistry registers and fetches by id through Apicurio ccompat', async (t) => {
  if (!(await cluster(t))) return;
  const subject = `tideflow-test-registry-${run}-value`;
  const text = fs.readFileSync(schemaPath, 'utf8');
  const client = new SchemaRegistryClient({ baseURLs: [env.registryUrl] });
  const id = await client.register(subject, { schemaType: 'AVRO', schema: text });
  const fetched = await client.getBySubjectAndId('', id);
  assert.ok(parseAvroType(fetched.schema).equals(readerType), 'same schema back by id');
  const latest = await client.getLatestSchemaMetadata(subject);
  assert.equal(latest.id, id);
  client.close();

  const registry = new SchemaRegistry({ url: env.registryUrl });
  assert.equal(await registry.register(subject, text), id, 'registering again gives the same id');
  const fresh = new SchemaRegistry({ url: env.registryUrl });
  const type = await fresh.getWriterType(id);
  assert.ok(type.equals(readerType));
  assert.equal(await fresh.getWriterType(id), type, 'parsed once, then cached');
  await assert.rejects(fresh.getWriterType(1_999_999_999), (error: unknown) => error instanceof DecodeError && /unknown schema id 1999999999/.test(error.message));
  registry.close();
  fresh.close();

  // Apicurio without its /apis/ccompat/v7 prefix: a config mistake, not dead letters.
  const wrong = new SchemaRegistry({ url: env.registryUrl.replace(/\/apis\/ccompat\/v7$/, '') });
  await assert.rejects(wrong.getWriterType(id), (error: unknown) => error instanceof ExternalError && !error.retriable && /is the URL right/.test(error.message));
  wrong.close();
  // Nothing listening: an outage.
  const down = new SchemaRegistry({ url: 'http://127.0.0.1:9', timeoutMs: 2000 });
  await assert.rejects(down.getWriterType(id), (error: unknown) => error instanceof ExternalError && error.retriable);
  down.close();
});

test('registry outage: 5xx and timeouts are retriable, cached schemas keep decoding, the decoder waits instead of dead-lettering', async (t) => {
  if (!(await cluster(t))) return;
  const topic = `tideflow-test-outage-${run}`;
  const subject = `${topic}-value`;
  const direct = new SchemaRegistry({ url: env.registryUrl });
  const id = await direct.register(subject, fs.readFileSync(schemaPath, 'utf8'));
  direct.close();
  // A proxy in front of the real registry that we can "take down".
  let mode: 'up' | 'error' | 'hang' = 'up';
  const upstream = new URL(env.registryUrl);
  const proxy = http.createServer((req, res) => {
    if (mode === 'error') {
      res.writeHead(503, { 'content-type': 'text/html' }).end('<html>503 Service Unavailable</html>');
      return;
    }
    if (mode === 'hang') return; // never answers: the client's timeout must fire
    const forward = http.request(
      { host: upstream.hostname, port: upstream.port, path: `${upstream.pathname.replace(/\/$/, '')}${req.url}`, method: req.method, headers: { ...req.headers, host: upstream.host } },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    req.pipe(forward);
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
  try {
    const registry = new SchemaRegistry({ url, timeoutMs: 500 });
    mode = 'error';
    await assert.rejects(registry.getWriterType(id), (error: unknown) => error instanceof ExternalError && error.retriable && /HTTP 503/.test(error.message));
    mode = 'hang';
    await assert.rejects(registry.getWriterType(id), (error: unknown) => error instanceof ExternalError && error.retriable);

    // The decoder retries until the registry is back; no dead letters meanwhile.
    mode = 'error';
    const retries: string[] = [];
    const decoder = createKafkaAvroDecoder(sourceSpec(topic).format, readerType, { registry, log: (line) => retries.push(line) });
    const rows = observations(3);
    const batch: RawBatch = {
      payloads: rows.map((row) => encodeConfluent(id, readerType, row)),
      offsets: Float64Array.from([0, 1, 2]),
      source: { partition: `${topic}/0`, fromOffset: 0, toOffset: 3 },
    };
    setTimeout(() => (mode = 'up'), 700);
    const decoded = rowsOf(await decoder.decode(batch));
    assert.ok(retries.length >= 1, 'the outage was retried');
    assert.deepEqual(decoded.rows, rows);
    assert.equal(decoded.deadLetters.length, 0);

    // Known schemas need no registry at all.
    mode = 'error';
    const again = rowsOf(await decoder.decode(batch));
    assert.deepEqual(again.rows, rows);
    registry.close();
  } finally {
    proxy.closeAllConnections();
    await new Promise((resolve) => proxy.close(resolve));
  }
});

test('backpressure and graceful stop: the source waits for the runtime, and close() is fast', async (t) => {
  if (!(await cluster(t))) return;
  const topic = `tideflow-test-stop-${run}`;
  await produceRows(topic, observations(30_000), schemaPath, 1);
  const source = new KafkaSource(sourceSpec(topic, { stopAtEnd: false }));
  const iterator = source.batches({})[Symbol.asyncIterator]();
  const first = await iterator.next();
  assert.equal(first.done, false);
  assert.equal(first.value!.offsets.length, 5000, 'big fetches are split into chunks of 5,000');
  // The runtime is "busy" for a while: nothing else is fetched or handed over meanwhile.
  await new Promise((resolve) => setTimeout(resolve, 1500));
  const lagWhileBusy = source.lag();
  assert.equal(lagWhileBusy[`${topic}/0`], 25_000, 'lag counts from the last position handed over');
  const second = await iterator.next();
  assert.equal(second.value!.source.fromOffset, 5000);
  const stopping = Date.now();
  await iterator.return!();
  await source.close();
  const stopMs = Date.now() - stopping;
  assert.ok(stopMs < 10_000, `close took ${stopMs} ms`);
  t.diagnostic(`graceful close in ${stopMs} ms`);
});

test('alignment: a held partition is not fetched until released, and then every record arrives exactly once', async (t) => {
  if (!(await cluster(t))) return;
  const topic = `tideflow-test-hold-${run}`;
  // Enough for several fetches per partition (kafkajs fetches up to 1 MB of a partition at a time).
  const rows = observations(150_000);
  await produceRows(topic, rows);
  const source = new KafkaSource(sourceSpec(topic, { maxBatchRecords: 2000 }));
  const held = `${topic}/0`;
  const seen = new Map<string, number[]>();
  let heldFrom = -1;
  let releasedAt = -1;
  let whileHeld = 0;
  let batches = 0;
  try {
    for await (const batch of source.batches({})) {
      if (batch.offsets.length === 0) continue;
      batches++;
      const { partition } = batch.source;
      if (heldFrom >= 0 && releasedAt < 0 && partition === held) whileHeld += batch.offsets.length;
      const offsets = seen.get(partition) ?? [];
      offsets.push(...batch.offsets);
      seen.set(partition, offsets);
      // Hold partition 0 from the first batch on, until the others have nothing left to read.
      const others = Object.entries(source.remaining()).filter(([key]) => key !== held);
      const othersDone = others.length === 2 && others.every(([, left]) => left === 0);
      if (releasedAt < 0 && !othersDone) {
        if (heldFrom < 0) heldFrom = batches;
        source.hold(new Set([held]));
      } else if (releasedAt < 0) {
        releasedAt = batches;
        source.hold(new Set());
      }
    }
  } finally {
    await source.close();
  }
  const heldTotal = seen.get(held)?.length ?? 0;
  assert.ok(releasedAt > 0, 'released once the other partitions were read');
  assert.equal(source.holds, 1);
  // Only what was already fetched when the hold began (one fetch: at most 1 MB, ~16k of these records) comes through.
  assert.ok(whileHeld <= 20_000, `${whileHeld} records of the held partition arrived while it was held`);
  assert.ok(heldTotal - whileHeld > 20_000, 'most of the held partition came after the release');
  const total = [...seen.values()].reduce((sum, offsets) => sum + offsets.length, 0);
  assert.equal(total, rows.length, 'every record once');
  for (const [partition, offsets] of seen) {
    offsets.forEach((offset, i) => assert.equal(offset, i, `${partition}: offsets contiguous from 0, none twice`));
  }
  t.diagnostic(`${held}: ${whileHeld} of ${heldTotal} records arrived while held (already fetched); ${batches} batches in all`);
});

test('alignment never stalls a stream: partitions held while nothing else arrives are released after 5 s', async (t) => {
  if (!(await cluster(t))) return;
  const topic = `tideflow-test-hold-release-${run}`;
  const rows = observations(60_000);
  await produceRows(topic, rows);
  const source = new KafkaSource(sourceSpec(topic, { maxBatchRecords: 2000 }));
  let records = 0;
  let heldAt = 0;
  let gapMs = 0;
  let last = Date.now();
  try {
    for await (const batch of source.batches({})) {
      if (batch.offsets.length === 0) continue;
      gapMs = Math.max(gapMs, Date.now() - last);
      last = Date.now();
      records += batch.offsets.length;
      // A runtime that holds every partition once and never again (what a bug would look like).
      if (heldAt === 0) {
        heldAt = Date.now();
        source.hold(new Set([0, 1, 2].map((p) => `${topic}/${p}`)));
      }
    }
  } finally {
    await source.close();
  }
  assert.equal(records, rows.length, 'every record arrives');
  assert.ok(gapMs >= 4000, `the hold was in force for a while (longest gap ${gapMs} ms)`);
  t.diagnostic(`longest gap between batches ${gapMs} ms`);
});

test('rebalance: a second member joins and leaves; every record is delivered exactly once', async (t) => {
  if (!(await cluster(t))) return;
  const topic = `tideflow-test-rebalance-${run}`;
  const input = observations(20_000);
  await produceRows(topic, input, schemaPath, 3);
  const spec = sourceSpec(topic, { stopAtEnd: true });
  const source = new KafkaSource(spec);
  const seen = new Map<string, number[]>();
  let batches = 0;
  let intruder: import('kafkajs').Consumer | null = null;
  for await (const batch of source.batches({})) {
    if (batch.offsets.length === 0) continue;
    const offsets = seen.get(batch.source.partition) ?? [];
    offsets.push(...batch.offsets);
    seen.set(batch.source.partition, offsets);
    batches++;
    if (batches === 1) {
      // Another member of the group joins (forcing a rebalance) and leaves again.
      const kafka = new Kafka({ clientId: 'tideflow-intruder', brokers: env.kafkaBrokers, logLevel: logLevel.NOTHING });
      intruder = kafka.consumer({ groupId: spec.group, maxWaitTimeInMs: 100 });
      await intruder.connect();
      await intruder.subscribe({ topics: [topic] });
      // It never processes anything (pauses at once), so any record it would have read must come back to us.
      await intruder.run({ eachBatchAutoResolve: false, autoCommit: false, eachBatch: async ({ pause }) => void pause() });
      await new Promise((resolve) => setTimeout(resolve, 4000));
      await intruder.disconnect();
    }
  }
  await source.close();
  let total = 0;
  for (const [partition, offsets] of seen) {
    offsets.forEach((offset, i) => assert.equal(offset, i, `${partition}: no gap, no repeat`));
    total += offsets.length;
  }
  assert.equal(total, input.length);
});
