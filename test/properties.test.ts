/**
 * Whole-pipeline invariants (fast-check): the three reference jobs give the
 * same results for any batch split, any arrival order within maxOutOfOrder,
 * and any restart point.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { loadJobFile } from '../engine/jobfile';
import type { JobSpec } from '../engine/config/job';
import type { Row } from '../engine/core/batch';
import { runJob } from '../engine/runtime/run-job';
import { memoryParts, MemoryCheckpointStore } from './support/memory';
import { job } from './support/run-local';

const MINUTE = 60_000;
const JOBS = ['tides-dedupe', 'tides-30m-average', 'tides-lunar-day'].map((name) => {
  const spec = loadJobFile(job(name));
  return { name, spec: { ...spec, checkpoint: { kind: 'file', dir: 'unused', intervalMs: 0 } } as JobSpec };
});
const FLOAT_FIELDS = new Set(['avg', 'mean', 'range']);

/**
 * Observations of 3 stations every 6 minutes over ~3 days, with repeats and null
 * readings. The reading is a function of (station, time), so a repeat is an
 * exact copy, as a poller re-sending "latest" produces.
 */
const STATIONS = ['8454000', '9414290', '8761724'];
const observations = fc
  .array(fc.record({ station: fc.integer({ min: 0, max: 2 }), step: fc.integer({ min: 0, max: 720 }) }), { minLength: 1, maxLength: 300 })
  .map((items) =>
    items
      .map(({ station, step }) => ({
        station: STATIONS[station],
        name: `station ${STATIONS[station]}`,
        lat: 40,
        lon: -70,
        t: 1_546_300_800_000 + step * 6 * MINUTE,
        v: (step * 7 + station) % 13 === 0 ? null : Math.round(Math.sin(step / 10 + station) * 1000) / 1000,
        s: null,
        f: null,
        q: null,
      }))
      // In event-time order first; the tests below then disorder them.
      .sort((a, b) => a.t - b.t),
  );

async function run(spec: JobSpec, rows: Row[], sizes: number[]): Promise<Row[]> {
  const { parts, main } = memoryParts(spec, rows, sizes);
  await runJob(parts);
  return canonical(main.rows);
}

/** Rows as comparable JSON, sorted; float aggregates rounded far below data resolution (sums depend on order). */
function canonical(rows: Row[]): Row[] {
  return rows
    .map((row) => {
      const copy: Row = {};
      for (const [key, value] of Object.entries(row)) {
        copy[key] = value instanceof Date ? value.toISOString() : FLOAT_FIELDS.has(key) && typeof value === 'number' ? Number(value.toFixed(9)) : value;
      }
      return copy;
    })
    .sort((a, b) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : 1));
}

function sizesFrom(cuts: number[], total: number): number[] {
  return cuts.length === 0 ? [total || 1] : cuts;
}

for (const { name, spec } of JOBS) {
  test(`property: ${name} gives the same results for any batch split`, async () => {
    await fc.assert(
      fc.asyncProperty(observations, fc.array(fc.integer({ min: 1, max: 40 }), { maxLength: 8 }), async (rows, cuts) => {
        assert.deepEqual(await run(spec, rows, sizesFrom(cuts, rows.length)), await run(spec, rows, [rows.length]));
      }),
      { numRuns: 40 },
    );
  });

  test(`property: ${name} gives the same results for any arrival order within maxOutOfOrder`, async () => {
    const bound = spec.eventTime.maxOutOfOrderMs;
    await fc.assert(
      fc.asyncProperty(observations, fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 1 }), async (rows, jitters) => {
        // Arrival key = t + jitter in [0, maxOutOfOrder]: no record arrives after one more than maxOutOfOrder newer.
        const shuffled = rows
          .map((row, i) => ({ row, key: row.t + jitters[i % jitters.length] * bound }))
          .sort((a, b) => a.key - b.key)
          .map(({ row }) => row);
        const inOrder = await run(spec, rows, [rows.length]);
        const disordered = await run(spec, shuffled, [7]);
        // Repeats are exact copies, so whichever copy arrives first, the surviving rows are the same.
        assert.deepEqual(disordered, inOrder);
      }),
      { numRuns: 40 },
    );
  });

  test(`property: ${name} restarted from any checkpoint equals an uninterrupted run`, async () => {
    await fc.assert(
      fc.asyncProperty(observations, fc.integer({ min: 1, max: 20 }), fc.integer({ min: 1, max: 30 }), async (rows, size, stopAfter) => {
        const expected = await run(spec, rows, [size]);
        // First run: stop after `stopAfter` batches (graceful stop writes a checkpoint).
        const store = new MemoryCheckpointStore();
        const controller = new AbortController();
        const first = memoryParts(spec, rows, [size], store);
        let batches = 0;
        await runJob(first.parts, {
          signal: controller.signal,
          inject: (point) => {
            if (point === 'after-batch' && ++batches === stopAfter) controller.abort();
          },
        });
        // Second run resumes from the checkpoint; results of both runs together equal one run.
        const second = memoryParts(spec, rows, [size], store);
        await runJob(second.parts);
        assert.deepEqual(canonical([...first.main.rows, ...second.main.rows]), expected);
      }),
      { numRuns: 40 },
    );
  });
}

/** What an upsert-by-key sink (Cassandra) holds after all writes: the last row per key. */
function upserted(rows: Row[]): Row[] {
  const table = new Map<string, Row>();
  for (const row of rows) {
    const start = row.window_start instanceof Date ? row.window_start.getTime() : row.t;
    table.set(`${row.station}|${start}`, row);
  }
  return canonical([...table.values()]);
}

for (const { name, spec } of JOBS) {
  test(`property: ${name} crashed at any point (between batches or around a checkpoint save) recovers exactly`, async () => {
    const points = ['after-batch', 'before-checkpoint-save', 'after-checkpoint-save'] as const;
    await fc.assert(
      fc.asyncProperty(observations, fc.integer({ min: 1, max: 20 }), fc.constantFrom(...points), fc.integer({ min: 1, max: 30 }), async (rows, size, point, at) => {
        const expected = upserted((await memoryRun(spec, rows, size)).rows);
        const store = new MemoryCheckpointStore();
        const first = memoryParts(spec, rows, [size], store);
        const crashed = await runJob(first.parts, {
          inject: (reached, count) => {
            if (reached === point && count === at) throw new Error('simulated crash');
          },
        }).then(
          () => false,
          () => true,
        );
        const second = memoryParts(spec, rows, [size], store);
        await runJob(second.parts);
        const all = [...first.main.rows, ...(crashed ? second.main.rows : [])];
        assert.deepEqual(upserted(all), expected);
      }),
      { numRuns: 40 },
    );
  });
}

async function memoryRun(spec: JobSpec, rows: Row[], size: number) {
  const { parts, main } = memoryParts(spec, rows, [size]);
  await runJob(parts);
  return main;
}
