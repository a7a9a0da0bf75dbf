import { after, describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import * as avro from 'avsc';
import fc from 'fast-check';
import { loadAvroType, tideObservationSchemaPath } from './avro-schema';
import { ConfluentAvroDecoder, encodeConfluent } from './confluent-avro';
import { ExternalError } from '../core/errors';
import { join } from 'node:path';
import { loadJobFile } from '../jobfile';
import { createConfluentDecoder, ParallelConfluentDecoder } from './parallel-confluent-decoder';
import { preAggregationPlan } from './pre-aggregation';
import { laidOut, type PayloadLayout } from '../../test/support/fetch-layout';
import { closeSharedPools, sharedPool } from '../../test/support/pools';

const reader = loadAvroType(tideObservationSchemaPath());
// Writer version 1 is the reader schema itself; version 2 is newer: fields in another
// order, `lat` written as a float (promoted on read), and a field the reader skips.
const writerV2 = avro.Type.forSchema({
  type: 'record',
  name: 'TideObservation',
  namespace: 'noaa.coops',
  fields: [
    { name: 't', type: 'long' },
    { name: 'station', type: 'string' },
    { name: 'datum', type: 'string', default: 'MLLW' },
    { name: 'lat', type: 'float' },
    { name: 'lon', type: 'double' },
    { name: 'name', type: 'string' },
    { name: 'v', type: ['null', 'double'], default: null },
    { name: 'q', type: ['null', 'string'], default: null },
  ],
});
// Station as an int: no reader can take it.
const incompatible = avro.Type.forSchema({ type: 'record', name: 'TideObservation', namespace: 'noaa.coops', fields: [{ name: 'station', type: 'int' }] });
const schemas: Record<number, avro.Type> = { 1: reader, 2: writerV2, 3: incompatible };

async function registry(id: number): Promise<avro.Type | undefined> {
  return schemas[id]; // 404 and anything else: the registry has no such id
}

interface Spec {
  kind: 'v1' | 'v2' | 'null' | 'text' | 'empty' | 'magic' | 'header' | 'unknown' | 'incompatible' | 'truncated' | 'trailing' | 'corrupt';
  station: number;
  v: number | null;
  t: number;
}

function payloadOf(spec: Spec): Buffer | string | null {
  const row = {
    station: String(8_400_000 + spec.station),
    name: `Station ${spec.station} ünïcode`,
    lat: 41.8 + spec.station / 1000,
    lon: -71.4,
    t: spec.t,
    v: spec.v,
    s: spec.v === null ? null : 0.003,
    f: spec.station % 3 === 0 ? null : '0,0,0,0',
    q: spec.station % 2 === 0 ? 'p' : null,
  };
  const good = encodeConfluent(1, reader, row);
  switch (spec.kind) {
    case 'v1':
      return good;
    case 'v2':
      return encodeConfluent(2, writerV2, { ...row, datum: 'STND' });
    case 'null':
      return null;
    case 'text':
      return '{"station":"8454000"}';
    case 'empty':
      return Buffer.alloc(0);
    case 'magic':
      return Buffer.concat([Buffer.from([1]), good.subarray(1)]);
    case 'header':
      return good.subarray(0, 3);
    case 'unknown':
      return encodeConfluent(77, reader, row);
    case 'incompatible':
      return encodeConfluent(3, incompatible, { station: spec.station });
    case 'truncated':
      return good.subarray(0, good.length - 4);
    case 'trailing':
      return Buffer.concat([good, Buffer.from([0, 1, 2])]);
    case 'corrupt': {
      // A union branch index out of range in `v`: avsc throws.
      const copy = Buffer.from(good);
      copy[5] = 0x7f; // station length = -64: a negative string length
      return copy;
    }
  }
}

const specs = fc.array(
  fc.record({
    kind: fc.oneof(
      { weight: 12, arbitrary: fc.constantFrom<Spec['kind']>('v1', 'v2') },
      { weight: 2, arbitrary: fc.constantFrom<Spec['kind']>('null', 'text', 'empty', 'magic', 'header', 'unknown', 'incompatible', 'truncated', 'trailing', 'corrupt') },
    ),
    station: fc.integer({ min: 0, max: 40 }),
    v: fc.option(fc.double({ noNaN: false }), { nil: null }),
    t: fc.integer({ min: 1_500_000_000_000, max: 1_800_000_000_000 }),
  }),
  { minLength: 0, maxLength: 400 },
);


function normalise(decoded: { rows: unknown[]; offsets: ArrayLike<number>; deadLetters: unknown[] }) {
  return { rows: decoded.rows, offsets: Array.from(decoded.offsets), deadLetters: decoded.deadLetters };
}

after(closeSharedPools);

describe('ParallelConfluentDecoder', () => {
  it('gives exactly what the in-thread decoder gives, for any thread count, share, chunk size and batch', async () => {
    await fc.assert(
      fc.asyncProperty(
        specs,
        fc.integer({ min: 1, max: 3 }),
        fc.constantFrom(0, 0.3, 0.6),
        fc.integer({ min: 1, max: 60 }),
        fc.integer({ min: 0, max: 1_000_000 }),
        fc.constantFrom<PayloadLayout>('separate', 'one buffer', 'one buffer, out of order'),
        async (batch, threads, mainThreadShare, minChunk, firstOffset, layout) => {
          // As kafkajs hands them out (views into one fetch response, framing between them) or not.
          const payloads = laidOut(batch.map(payloadOf), layout, (i) => i % 11);
          const offsets = Float64Array.from(batch, (_, i) => firstOffset + i * 2);
          const plain = await new ConfluentAvroDecoder(reader, registry).decodeRows(payloads, offsets, 'tides/0');
          const parallel = new ParallelConfluentDecoder(reader, registry, { threads, mainThreadShare, minChunk, pool: sharedPool(threads) });
          const got = await parallel.decodeRows(payloads, offsets, 'tides/0');
          assert.deepStrictEqual(normalise(got), normalise(plain));
        },
      ),
      { numRuns: 120 },
    );
  });

  it('splits real-sized batches in chunks of >= 1,000 records and keeps their order', async () => {
    const batch: Spec[] = Array.from({ length: 5000 }, (_, i) => ({
      kind: i % 97 === 0 ? 'truncated' : i % 2 === 0 ? 'v1' : 'v2',
      station: i % 41,
      v: i % 13 === 0 ? null : Math.sin(i),
      t: 1_600_000_000_000 + i * 360_000,
    }));
    const payloads = batch.map(payloadOf);
    const offsets = Float64Array.from(batch, (_, i) => i);
    const plain = await new ConfluentAvroDecoder(reader, registry).decodeRows(payloads, offsets, 'p');
    for (const threads of [1, 2, 3]) {
      const parallel = new ParallelConfluentDecoder(reader, registry, { threads, pool: sharedPool(threads) });
      assert.deepStrictEqual(normalise(await parallel.decodeRows(payloads, offsets, 'p')), normalise(plain), `threads ${threads}`);
    }
  });

  it('waits out a registry outage: a retriable error before anything is consumed, never dead letters', async () => {
    let down = true;
    const flaky = async (id: number) => {
      if (down) throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
      return schemas[id];
    };
    const payloads = Array.from({ length: 3000 }, (_, i) => payloadOf({ kind: i === 5 ? 'unknown' : 'v1', station: i % 7, v: i, t: 1_600_000_000_000 + i }));
    const offsets = Float64Array.from(payloads, (_, i) => i);
    const parallel = new ParallelConfluentDecoder(reader, flaky, { threads: 2, pool: sharedPool(2) });
    await assert.rejects(parallel.decodeRows(payloads, offsets, 'p'), (error: unknown) => error instanceof ExternalError && error.retriable);
    down = false;
    const decoded = await parallel.decodeRows(payloads, offsets, 'p');
    assert.equal(decoded.rows.length, 2999);
    assert.deepEqual(
      decoded.deadLetters.map((letter) => [letter.offset, letter.reason]),
      [[5, 'unknown schema id 77: the schema registry has no such schema']],
    );
  });

  it('decodes in-thread when the reader schema has no column plan', () => {
    const nested = avro.Type.forSchema({ type: 'record', name: 'R', fields: [{ name: 'position', type: { type: 'array', items: 'double' } }] });
    const decoder = new ParallelConfluentDecoder(nested, registry, { threads: 2 });
    assert.match(decoder.inThreadReason ?? '', /field "position" is of type array/);
  });

  it('rows are read in-thread at any --workers; a pre-aggregated job gets N - 1 pool threads', () => {
    assert.ok(createConfluentDecoder(reader, registry, { workers: 1 }) instanceof ConfluentAvroDecoder);
    assert.ok(createConfluentDecoder(reader, registry, { workers: 2 }) instanceof ConfluentAvroDecoder);
    const average = loadJobFile(join(__dirname, '..', '..', '..', 'jobs', 'tides-30m-average.yaml'));
    // The job's window without the dedupe before it: a job that starts with a window.
    const job = { ...average, steps: average.steps.filter((step) => step.kind === 'window') };
    const plan = preAggregationPlan(job, reader, null, Date.now());
    assert.ok(plan);
    const one = createConfluentDecoder(reader, registry, { workers: 1, plan });
    assert.ok(one instanceof ParallelConfluentDecoder && one.threads === 0);
    const three = createConfluentDecoder(reader, registry, { workers: 3, plan });
    assert.ok(three instanceof ParallelConfluentDecoder && three.threads === 2);
  });
});
