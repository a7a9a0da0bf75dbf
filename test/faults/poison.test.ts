/**
 * Poison input: bad records of 17 kinds mixed into good ones on a real topic.
 * Each bad record must come out on the job's dead-letter TOPIC exactly once,
 * with its original bytes (decode failures) or its decoded row (validation
 * failures), the exact reason, the stage, and its original topic/partition
 * and offset in the `tideflow.*` headers. The good records must give exactly
 * the plain computation, nothing may crash, and the books must balance.
 *
 * "Wrong key type" has two readings, both covered:
 *   - the Kafka message key is not a station id string (binary bytes, a
 *     number): the engine never reads message keys (the station comes from
 *     the value), so such a record is GOOD and must be processed normally;
 *   - the record's own key field `station` is an int (a writer schema with
 *     `station: int`): Avro cannot resolve int to string, so it is a dead letter.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import * as avro from 'avsc';
import { encodeConfluent } from '../../engine/codecs/confluent-avro';
import { SchemaRegistry } from '../../engine/codecs/registry';
import { HEADER_PAYLOAD_ENCODING, HEADER_REASON, HEADER_SOURCE_OFFSET, HEADER_SOURCE_PARTITION, HEADER_STAGE } from '../../engine/sinks/kafka-sink';
import { requireCluster } from '../support/cluster';
import type { Observation } from '../support/plain';
import {
  compareWithPlain,
  describeComparison,
  faultsSize,
  JOBS,
  observationSlice,
  openFaultRun,
  RESULT_TABLE,
  ROOT,
  runCli,
  unaccountedOf,
  type FaultRun,
} from './harness';
import { recordOutcome } from './report';

const PARTITIONS = 3;

/** One bad record: how to make it and what the engine must say about it. */
interface PoisonKind {
  kind: string;
  value: (ids: SchemaIds) => Buffer | null;
  stage: 'decode' | 'validate';
  reason: (ids: SchemaIds) => string;
}

interface SchemaIds {
  observation: number;
  other: number;
  withoutName: number;
  intStation: number;
}

const observationSchema = JSON.parse(readFileSync(join(ROOT, 'schemas', 'tide_observation.avsc'), 'utf8')) as { fields: Array<{ name: string; type: unknown }> };
const observationType = avro.Type.forSchema(observationSchema as avro.Schema);
/** A different record altogether (what a producer for another topic writes). */
const otherSchema = {
  type: 'record',
  name: 'StationStatus',
  namespace: 'noaa.coops',
  fields: [
    { name: 'id', type: 'int' },
    { name: 'status', type: 'string' },
  ],
};
/** The observation without its required `name` (no default): a record missing a required field. */
const withoutNameSchema = { ...observationSchema, fields: observationSchema.fields.filter((field) => field.name !== 'name') };
/** The observation with `station` as an int: the record's key field has the wrong type. */
const intStationSchema = { ...observationSchema, fields: observationSchema.fields.map((field) => (field.name === 'station' ? { ...field, type: 'int' } : field)) };

const SAMPLE: Observation = { station: '8410140', name: 'EASTPORT', lat: 44.9046, lon: -66.9829, t: 1_546_300_800_000, v: 5.8, s: 0.01, f: '0,0,0,0', q: 'v' };
const framed = (id: number, row: Record<string, unknown>, type: avro.Type = observationType) => encodeConfluent(id, type, row);
const NOT_FRAMED = (byte: number) => `bad magic byte 0x${byte.toString(16).padStart(2, '0')}: expected 0x00 (not Confluent-framed Avro)`;
const UNKNOWN_ID = 2_147_480_000;
const LONG_NAME = 'E'.repeat(100_000);

const KINDS: PoisonKind[] = [
  { kind: 'wrong magic byte', value: () => Buffer.from([0x07, 0, 0, 0, 1, 2, 3]), stage: 'decode', reason: () => NOT_FRAMED(0x07) },
  {
    kind: 'JSON API error body',
    value: () => Buffer.from('{"error": {"message": "No data was found. This product may not be offered at this station at the requested time."}}'),
    stage: 'decode',
    reason: () => NOT_FRAMED(0x7b),
  },
  { kind: 'HTML error page', value: () => Buffer.from('<html><body><h1>503 Service Unavailable</h1></body></html>'), stage: 'decode', reason: () => NOT_FRAMED(0x3c) },
  {
    kind: 'unknown schema id',
    value: () => framed(UNKNOWN_ID, SAMPLE),
    stage: 'decode',
    reason: () => `unknown schema id ${UNKNOWN_ID}: the schema registry has no such schema`,
  },
  {
    kind: 'truncated Avro',
    value: (ids) => framed(ids.observation, SAMPLE).subarray(0, 20),
    stage: 'decode',
    reason: (ids) => `truncated payload: the Avro record (writer schema ${ids.observation}) ends early; the payload has 20 bytes`,
  },
  { kind: 'frame shorter than its header', value: () => Buffer.from([0, 0, 0]), stage: 'decode', reason: () => 'truncated payload: 3 bytes, shorter than the 5-byte Confluent header' },
  {
    kind: 'trailing bytes after the record',
    value: (ids) => Buffer.concat([framed(ids.observation, SAMPLE), Buffer.from([1, 2, 3])]),
    stage: 'decode',
    reason: (ids) => `trailing bytes: 3 bytes after the Avro record (writer schema ${ids.observation})`,
  },
  {
    kind: 'Avro of another schema',
    value: (ids) => framed(ids.other, { id: 7, status: 'ok' }, avro.Type.forSchema(otherSchema as avro.Schema)),
    stage: 'decode',
    reason: (ids) => `writer schema ${ids.other} is incompatible with the reader schema: no alias found for noaa.coops.StationStatus`,
  },
  {
    kind: 'missing required field (name)',
    value: (ids) => {
      const { name: _name, ...row } = SAMPLE;
      return framed(ids.withoutName, row, avro.Type.forSchema(withoutNameSchema as avro.Schema));
    },
    stage: 'decode',
    reason: (ids) => `writer schema ${ids.withoutName} is incompatible with the reader schema: no matching field for default-less noaa.coops.TideObservation.name`,
  },
  {
    kind: 'wrong key type (station is an int)',
    value: (ids) => framed(ids.intStation, { ...SAMPLE, station: 8410140 }, avro.Type.forSchema(intStationSchema as avro.Schema)),
    stage: 'decode',
    // avsc's message does not name the field; the writer schema id leads to it.
    reason: (ids) => `writer schema ${ids.intStation} is incompatible with the reader schema: cannot read "int" as "string"`,
  },
  { kind: 'empty value (tombstone)', value: () => null, stage: 'decode', reason: () => 'empty payload: the record has no value (a tombstone?)' },
  { kind: 'empty value (0 bytes)', value: () => Buffer.alloc(0), stage: 'decode', reason: () => 'empty payload: 0 bytes' },
  { kind: 'NaN level', value: (ids) => framed(ids.observation, { ...SAMPLE, v: Number.NaN }), stage: 'validate', reason: () => 'field "v" is not a finite number: NaN' },
  {
    kind: 'Infinity level',
    value: (ids) => framed(ids.observation, { ...SAMPLE, v: Number.POSITIVE_INFINITY }),
    stage: 'validate',
    reason: () => 'field "v" is not a finite number: Infinity',
  },
  {
    kind: '-Infinity sigma',
    value: (ids) => framed(ids.observation, { ...SAMPLE, s: Number.NEGATIVE_INFINITY }),
    stage: 'validate',
    reason: () => 'field "s" is not a finite number: -Infinity',
  },
  {
    kind: 'timestamp decades away (seconds, not ms)',
    value: (ids) => framed(ids.observation, { ...SAMPLE, t: 1_546_300_800 }),
    stage: 'validate',
    reason: () => 'timestamp decades away: "t" = 1546300800 (1970-01-18T21:31:40.800Z), more than 50 years from now; is it in seconds or microseconds?',
  },
  {
    kind: 'oversized value (100 kB name)',
    value: (ids) => framed(ids.observation, { ...SAMPLE, name: LONG_NAME }),
    stage: 'validate',
    reason: () => 'field "name" is too long (100000 characters, at most 1024)',
  },
];

/** Keys a producer might send that are not station ids; the engine must not care. */
const ODD_KEYS: Array<{ what: string; key: Buffer | string | null }> = [
  { what: 'binary (non-UTF-8) key', key: Buffer.from([0xff, 0xfe, 0x00, 0x81]) },
  { what: 'number as key', key: '8410140.0' },
  { what: 'no key', key: null },
];

interface Sent {
  partition: number;
  offset: number;
  value: Buffer | null;
  poison?: PoisonKind;
}

test('poison input: every bad record on the dead-letter topic with its exact reason and origin; good records exact', { timeout: 600_000 }, async (t) => {
  if (!(await requireCluster(t))) return;
  const run = await openFaultRun('poison', t);
  try {
    const good = await observationSlice(faultsSize() === 'full' ? 2 : 16);
    const registry = new SchemaRegistry({ url: run.cluster.registryUrl });
    const ids: SchemaIds = {
      observation: await registry.register(`${run.topic}-value`, observationSchema),
      other: await registry.register(`${run.topic}-other-value`, otherSchema),
      withoutName: await registry.register(`${run.topic}-noname-value`, withoutNameSchema),
      intStation: await registry.register(`${run.topic}-intstation-value`, intStationSchema),
    };
    registry.close();
    const sent = await producePoisoned(run, good, ids);
    const poison = sent.filter((message) => message.poison);
    t.diagnostic(`${good.length} good records (${ODD_KEYS.length} of them with odd message keys) and ${poison.length} bad ones on ${run.topic}`);

    for (const job of JOBS) {
      const jobFile = run.jobFile(job);
      const exit = await runCli(['run', jobFile, '--until-end', '--checkpoint-interval', '1s'], run.env());
      const comparison = compareWithPlain(job, good, await run.table(RESULT_TABLE[job]));
      const counters = (await run.lastCheckpoint(job))?.counters;
      const letters = await run.readTopic(run.deadLetterTopic(job));
      const problems: string[] = [];
      const byOrigin = new Map(letters.map((letter) => [`${letter.headers[HEADER_SOURCE_PARTITION]}@${letter.headers[HEADER_SOURCE_OFFSET]}`, letter]));
      if (byOrigin.size !== letters.length) problems.push(`${letters.length - byOrigin.size} dead letters appear more than once`);
      let caught = 0;
      for (const message of poison) {
        const kind = message.poison!;
        const letter = byOrigin.get(`${run.topic}/${message.partition}@${message.offset}`);
        if (!letter) {
          problems.push(`${kind.kind}: no dead letter for ${run.topic}/${message.partition}@${message.offset}`);
          continue;
        }
        const expected = kind.reason(ids);
        const reason = letter.headers[HEADER_REASON];
        const reasonOk = reason === expected;
        if (!reasonOk) problems.push(`${kind.kind}: reason ${JSON.stringify(reason)}, expected ${JSON.stringify(expected)}`);
        if (letter.headers[HEADER_STAGE] !== kind.stage) problems.push(`${kind.kind}: stage ${letter.headers[HEADER_STAGE]}, expected ${kind.stage}`);
        // Every dead letter keeps the original bytes (decode and validation failures alike), so the record can
        // be inspected or replayed as it was; for a window job that read it without its unused strings, too.
        const same = message.value === null || message.value.length === 0 ? letter.value === null || letter.value.length === 0 : letter.value?.equals(message.value) === true;
        if (!same) problems.push(`${kind.kind}: dead-letter value is not the original bytes (encoding ${letter.headers[HEADER_PAYLOAD_ENCODING]})`);
        if (reasonOk) caught++;
      }
      const extra = letters.length - poison.length;
      if (extra > 0) problems.push(`${extra} good records went to dead letters: ${letters.filter((l) => !poison.some((p) => `${run.topic}/${p.partition}@${p.offset}` === `${l.headers[HEADER_SOURCE_PARTITION]}@${l.headers[HEADER_SOURCE_OFFSET]}`)).slice(0, 3).map((l) => l.headers[HEADER_REASON]).join(' | ')}`);
      const unaccounted = counters ? unaccountedOf(job, counters) : Number.NaN;
      recordOutcome({
        scenario: 'poison input',
        job,
        faultsInjected: poison.length,
        faults: KINDS.map((kind) => kind.kind).concat(ODD_KEYS.map((odd) => `good record with ${odd.what} (processed)`)),
        recordsIn: counters?.recordsIn ?? 0,
        resultsExact: comparison.exact,
        lost: comparison.lost,
        duplicated: comparison.duplicated,
        unaccounted,
        notes:
          `${caught}/${poison.length} bad records on the dead-letter topic with the exact reason, stage and source partition/offset; ` +
          `exit code ${exit.code}.` +
          (problems.length > 0 ? ` Problems: ${problems.join('; ')}` : ''),
      });
      t.diagnostic(`${job}: ${caught}/${poison.length} caught exactly; ${describeComparison(comparison)}`);
      assert.equal(exit.code, 0, `${job} must not crash on poison: ${exit.stderr}`);
      assert.deepEqual(problems, [], `${job}: dead letters`);
      assert.ok(comparison.exact, `${job}: ${describeComparison(comparison)}`);
      assert.ok(counters);
      assert.equal(counters.recordsIn, good.length + poison.length);
      assert.equal(counters.deadLetters, poison.length);
      assert.equal(unaccounted, 0, `accounting: ${JSON.stringify(counters)}`);
    }
  } finally {
    await run.close();
  }
});

/**
 * Good records (Confluent Avro, keyed by station, one partition per station
 * so each partition stays in time order) with every bad kind spread over the
 * topic, and a few good records whose message key is odd. Returns every
 * message with the partition and offset it landed at.
 */
async function producePoisoned(run: FaultRun, good: Observation[], ids: SchemaIds): Promise<Sent[]> {
  const admin = run.kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic: run.topic, numPartitions: PARTITIONS }], waitForLeaders: true });
  await admin.disconnect();
  const stations = [...new Set(good.map((row) => row.station))].sort();
  const partitionOf = (station: string) => stations.indexOf(station) % PARTITIONS;
  const messages: Array<Sent & { key: Buffer | string | null }> = [];
  const gap = Math.floor(good.length / (KINDS.length + 1));
  const oddEvery = Math.floor(good.length / (ODD_KEYS.length + 1));
  good.forEach((row, i) => {
    const odd = i > 0 && i % oddEvery === 0 ? ODD_KEYS[i / oddEvery - 1] : undefined;
    messages.push({ partition: partitionOf(row.station), offset: -1, key: odd ? odd.key : row.station, value: framed(ids.observation, row as unknown as Record<string, unknown>) });
    if (i > 0 && i % gap === 0 && i / gap <= KINDS.length) {
      const kind = KINDS[i / gap - 1];
      messages.push({ partition: (i / gap) % PARTITIONS, offset: -1, key: SAMPLE.station, value: kind.value(ids), poison: kind });
    }
  });
  const producer = run.kafka.producer();
  await producer.connect();
  try {
    // Small sends: offsets follow from each partition's base offset, in order.
    for (let start = 0; start < messages.length; start += 500) {
      const chunk = messages.slice(start, start + 500);
      const result = await producer.send({ topic: run.topic, acks: -1, messages: chunk.map((m) => ({ partition: m.partition, key: m.key, value: m.value })) });
      const next = new Map(result.map((r) => [r.partition, Number(r.baseOffset)]));
      for (const message of chunk) {
        const offset = next.get(message.partition)!;
        message.offset = offset;
        next.set(message.partition, offset + 1);
      }
    }
  } finally {
    await producer.disconnect();
  }
  return messages;
}
