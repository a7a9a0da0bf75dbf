import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import fc from 'fast-check';
import { loadAvroType, tideObservationSchemaPath } from './avro-schema';
import { encodeConfluent } from './confluent-avro';
import { createRowValidator } from './validate';
import { loadJobFile } from '../jobfile';
import type { JobSpec, WindowStepSpec } from '../config/job';
import type { Positions, Source } from '../core/source';
import type { RawBatch, Row } from '../core/batch';
import { createConfluentDecoder, ParallelConfluentDecoder } from './parallel-confluent-decoder';
import { preAggregationPlan } from './pre-aggregation';
import { decodeProjection } from './projection';
import { runJob, type JobParts } from '../runtime/run-job';
import type { Decoder } from './decoder';
import { memoryParts } from '../../test/support/memory';
import { laidOut, type PayloadLayout } from '../../test/support/fetch-layout';
import { closeSharedPools, sharedPool } from '../../test/support/pools';

const ROOT = join(__dirname, '..', '..', '..');
const MINUTE = 60_000;
const T0 = Date.UTC(2024, 0, 1);
const reader = loadAvroType(tideObservationSchemaPath());
/** Schema 1 is the reader's; the registry knows no other. */
const registry = async (id: number) => (id === 1 ? reader : undefined);
const NOW = Date.now();

const base30m = loadJobFile(join(ROOT, 'jobs', 'tides-30m-average.yaml'));
const baseLunar = loadJobFile(join(ROOT, 'jobs', 'tides-lunar-day.yaml'));
const window30m = base30m.steps.find((step) => step.kind === 'window') as WindowStepSpec;

/** Job variants: every window kind the pre-aggregation takes, both emit modes, lateness. */
function variant(base: JobSpec, steps: JobSpec['steps']): JobSpec {
  // A tighter bound than the job files' 30 minutes: the records below then include late ones.
  return { ...base, steps, eventTime: { ...base.eventTime, maxOutOfOrderMs: 12 * MINUTE }, checkpoint: { kind: 'none' } };
}
const JOBS: Array<[string, JobSpec]> = [
  ['30m-average without dedupe', variant(base30m, [window30m])],
  ['lunar-day without dedupe', variant(baseLunar, baseLunar.steps.filter((step) => step.kind === 'window'))],
  [
    'hopping 30m/10m, update mode, 5 min allowed lateness',
    variant(base30m, [{ ...window30m, window: { kind: 'hopping', sizeMs: 30 * MINUTE, slideMs: 10 * MINUTE, anchorMs: 0 }, emit: 'update', allowedLatenessMs: 5 * MINUTE }]),
  ],
];

interface Spec {
  station: number;
  step: number;
  /** Arrival delay in minutes: up to an hour, so some records are late. */
  delay: number;
  v: number | null;
  /**
   * A record only the row path can word: NaN level, truncated bytes, a name over the length limit, a time in seconds,
   * not Confluent-framed (bad magic byte, a tombstone, text), or a schema id the registry does not have.
   */
  poison: 'none' | 'nan' | 'truncated' | 'long-name' | 'seconds' | 'magic' | 'tombstone' | 'text' | 'unknown-id';
}

const specs = fc.array(
  fc.record({
    station: fc.integer({ min: 0, max: 4 }),
    step: fc.integer({ min: 0, max: 400 }),
    delay: fc.oneof({ weight: 8, arbitrary: fc.constant(0) }, { weight: 2, arbitrary: fc.integer({ min: 0, max: 60 }) }),
    // Gauge readings: millimetre resolution, as NOAA reports them.
    v: fc.option(fc.integer({ min: -3000, max: 6000 }).map((mm) => mm / 1000), { nil: null, freq: 10 }),
    poison: fc.oneof({ weight: 400, arbitrary: fc.constant<Spec['poison']>('none') }, { weight: 1, arbitrary: fc.constantFrom<Spec['poison']>('nan', 'truncated', 'long-name', 'seconds', 'magic', 'tombstone', 'text', 'unknown-id') }),
  }),
  { minLength: 0, maxLength: 600, size: 'large' },
);

function payloadsOf(items: Spec[]): Array<Buffer | string | null> {
  return items
    .map((item) => ({ item, arrival: item.step * 6 + item.delay }))
    .sort((a, b) => a.arrival - b.arrival)
    .map(({ item }) => {
      const row = {
        station: String(8_454_000 + item.station),
        name: item.poison === 'long-name' ? 'N'.repeat(1100) : `Station ${item.station}`,
        lat: 41.8,
        lon: -71.4,
        t: item.poison === 'seconds' ? (T0 + item.step * 6 * MINUTE) / 1000 : T0 + item.step * 6 * MINUTE,
        v: item.poison === 'nan' ? Number.NaN : item.v,
        s: null,
        f: item.station % 2 === 0 ? '0,0,0,0' : null,
        q: 'p',
      };
      const payload = encodeConfluent(item.poison === 'unknown-id' ? 77 : 1, reader, row);
      switch (item.poison) {
        case 'truncated':
          return payload.subarray(0, payload.length - 3);
        case 'magic':
          return Buffer.concat([Buffer.from([2]), payload.subarray(1)]);
        case 'tombstone':
          return null;
        case 'text':
          return JSON.stringify(row);
        default:
          return payload;
      }
    });
}

/** Payloads in batches of the given sizes (cycled). */
class PayloadSource implements Source {
  readonly description = 'payloads';
  constructor(
    private readonly payloads: Array<Buffer | string | null>,
    private readonly sizes: number[],
  ) {}
  async *batches(_from: Positions): AsyncIterable<RawBatch> {
    for (let offset = 0, k = 0; offset < this.payloads.length; k++) {
      const payloads = this.payloads.slice(offset, offset + this.sizes[k % this.sizes.length]);
      yield { payloads, offsets: Float64Array.from(payloads, (_, i) => offset + i), source: { partition: 'tides/0', fromOffset: offset, toOffset: offset + payloads.length } };
      offset += payloads.length;
    }
  }
  async close(): Promise<void> {}
}



interface Threads {
  threads: number;
  aggregateShare: number;
  minChunk: number;
}

/**
 * Run `job` over the payloads: null = the row path (no plan, the reference);
 * threads 0 = pre-aggregated on the calling thread alone (`--workers 1`);
 * more = pre-aggregated on a pool and the calling thread.
 */
async function run(job: JobSpec, payloads: Array<Buffer | string | null>, sizes: number[], threads: Threads | null) {
  const projection = decodeProjection(job, reader);
  const validator = createRowValidator(reader, job.eventTime.field, { mayBeAbsent: projection?.skipped, now: NOW });
  let decoder: Decoder;
  let aggregatedBatches = 0;
  if (threads === null) {
    decoder = createConfluentDecoder(reader, registry, { workers: 1, projection });
  } else {
    const plan = preAggregationPlan(job, reader, projection, NOW);
    assert.ok(plan, 'the job can be pre-aggregated');
    const parallel =
      threads.threads === 0
        ? new ParallelConfluentDecoder(reader, registry, { ...threads, plan, projection })
        : new ParallelConfluentDecoder(reader, registry, { ...threads, plan, pool: sharedPool(threads.threads) });
    decoder = {
      overlaps: parallel.overlaps,
      decode: async (raw) => {
        const decoded = await parallel.decode(raw);
        if (decoded.kind === 'aggregated') aggregatedBatches++;
        return decoded;
      },
      expand: (row) => parallel.expand(row),
      close: () => parallel.close(),
    };
  }
  const { parts: memory, main, late, deadLetters } = memoryParts(job, [], sizes);
  const parts: JobParts = { ...memory, source: new PayloadSource(payloads, sizes), decoder, validator };
  const result = await runJob(parts);
  return { results: { main: main.rows, late: late.rows, deadLetters: deadLetters.rows, counters: result.counters, watermark: result.watermark }, aggregatedBatches };
}

after(closeSharedPools);

describe('pre-aggregation (calling thread and worker threads)', () => {
  for (const [name, job] of JOBS) {
    it(`${name}: exactly the results of the row path (rows, late, dead letters, counters) for any threads, share, chunk and batch split`, async () => {
      let aggregated = 0;
      await fc.assert(
        fc.asyncProperty(
          specs,
          fc.array(fc.integer({ min: 1, max: 300 }), { minLength: 1, maxLength: 5 }),
          fc.record({ threads: fc.integer({ min: 0, max: 2 }), aggregateShare: fc.constantFrom(0, 0.3, 0.6), minChunk: fc.integer({ min: 1, max: 50 }) }),
          fc.constantFrom<PayloadLayout>('separate', 'one buffer', 'one buffer, out of order'),
          async (items, sizes, threads, layout) => {
            // As kafkajs hands them out (views into one fetch response, framing between them) or not.
            const payloads = laidOut(payloadsOf(items), layout, (i) => (i * 7) % 13);
            const expected = await run(job, payloads, sizes, null);
            const got = await run(job, payloads, sizes, threads);
            assert.deepStrictEqual(got.results, expected.results);
            aggregated += got.aggregatedBatches;
          },
        ),
        { numRuns: 60 },
      );
      // The property must exercise the pre-aggregated path, not only the fallbacks.
      assert.ok(aggregated > 20, `only ${aggregated} batches were pre-aggregated`);
    });
  }

  it('is not planned for jobs it cannot take: sessions, first/last, a step before the window', () => {
    const now = Date.now();
    const session = variant(base30m, [{ ...window30m, window: { kind: 'session', gapMs: 30 * MINUTE } }]);
    const first = variant(base30m, [{ ...window30m, aggregates: [{ name: 'opening', fn: 'first', field: 'v' }] }]);
    assert.equal(preAggregationPlan(session, reader, null, now), null);
    assert.equal(preAggregationPlan(first, reader, null, now), null);
    assert.equal(preAggregationPlan(baseLunar, reader, null, now), null, 'dedupe comes first');
    assert.equal(preAggregationPlan(base30m, reader, null, now), null, 'dedupe comes first');
    const windowFirst = variant(base30m, [window30m]);
    assert.ok(preAggregationPlan(windowFirst, reader, decodeProjection(windowFirst, reader), now));
  });
});
