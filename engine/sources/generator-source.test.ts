import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import fc from 'fast-check';
import type { GeneratorSourceSpec } from '../config/job';
import type { Row } from '../core/batch';
import { UsageError } from '../core/errors';
import { createCsvDecoder } from '../codecs/csv';
import { generateRecords, generateRows, mulberry32, openGeneratorSource, predictLevel, stationModel } from './generator-source';

const FIXTURES = path.resolve(__dirname, '..', '..', '..', 'engine', 'codecs', 'fixtures');

const base: GeneratorSourceSpec = {
  stations: ['8454000', '9414290', 'ZZ-SYNTH'],
  startMs: Date.UTC(2024, 0, 1),
  count: 500,
  intervalMs: 360_000,
  duplicateRate: 0.05,
  disorderMs: 300_000,
  lateRate: 0.01,
  nullRate: 0.02,
  seed: 7,
  batchSize: 100,
};

describe('generator source', () => {
  it('is deterministic for a seed and differs across seeds', () => {
    const a = [...generateRows(base)];
    assert.deepEqual([...generateRows(base)], a);
    assert.notDeepEqual([...generateRows({ ...base, seed: 8 })], a);
  });

  it('emits every observation once, plus exact re-sends of earlier records', () => {
    const records = [...generateRecords(base)];
    const originals = records.filter((r) => !r.duplicate);
    assert.equal(originals.length, base.stations.length * base.count);
    const keys = new Set(originals.map((r) => `${r.row.station}|${r.row.t}`));
    assert.equal(keys.size, originals.length);
    const seen = new Map<string, Row>();
    let duplicates = 0;
    for (const record of records) {
      const key = `${record.row.station}|${record.row.t}`;
      if (record.duplicate) {
        duplicates++;
        assert.deepEqual(record.row, seen.get(key), 'a duplicate repeats a record already delivered, field for field');
      } else {
        seen.set(key, record.row);
      }
    }
    assert.ok(duplicates > 0.02 * originals.length && duplicates < 0.1 * originals.length);
    const nulls = records.filter((r) => r.row.v === null);
    assert.ok(nulls.length > 0 && nulls.every((r) => r.row.s === null));
  });

  it('bounds disorder: no non-late record arrives more than disorderMs behind the newest event time (property)', () => {
    fc.assert(
      fc.property(
        fc.record({
          seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
          stations: fc.integer({ min: 1, max: 4 }),
          count: fc.integer({ min: 1, max: 300 }),
          intervalMs: fc.integer({ min: 1, max: 600_000 }),
          disorderMs: fc.integer({ min: 0, max: 3_600_000 }),
          duplicateRate: fc.double({ min: 0, max: 0.5, noNaN: true }),
          lateRate: fc.double({ min: 0, max: 0.2, noNaN: true }),
        }),
        (p) => {
          const spec: GeneratorSourceSpec = { ...base, ...p, stations: ['8454000', '9414290', '8443970', 'X1'].slice(0, p.stations), nullRate: 0 };
          let newest = Number.NEGATIVE_INFINITY;
          let lastArrival = Number.NEGATIVE_INFINITY;
          for (const record of generateRecords(spec)) {
            const t = record.row.t as number;
            assert.ok(record.arrivalMs >= lastArrival, 'delivered in arrival order');
            lastArrival = record.arrivalMs;
            if (record.late) {
              // Far beyond the disorder: past any watermark that trusts disorderMs.
              assert.ok(record.arrivalMs > t + 2 * spec.disorderMs + 2 * spec.intervalMs);
              continue;
            }
            assert.ok(record.arrivalMs >= t && record.arrivalMs <= t + spec.disorderMs);
            assert.ok(newest - t <= spec.disorderMs, `record at ${t} arrived ${newest - t} ms behind the newest`);
            newest = Math.max(newest, t);
          }
        },
      ),
      { numRuns: 150 },
    );
  });

  it('delivers in event-time order when there is no disorder', () => {
    const rows = [...generateRows({ ...base, disorderMs: 0, lateRate: 0, duplicateRate: 0 })];
    for (let i = 1; i < rows.length; i++) assert.ok((rows[i].t as number) >= (rows[i - 1].t as number));
    assert.deepEqual(rows.slice(0, 3).map((r) => r.station), base.stations);
  });

  it('follows NOAA predictions for a real station (9414290, 2019-01-01)', () => {
    const lines = fs.readFileSync(path.join(FIXTURES, '9414290_2019-01-01_day.csv'), 'utf8').trim().split('\n');
    const decoder = createCsvDecoder('Date,Time (GMT),Verified (ft)', { station: '9414290' });
    const model = stationModel('9414290');
    assert.equal(model.published, true);
    let squared = 0;
    const predicted: number[] = [];
    const modelled: number[] = [];
    for (const line of lines.slice(1)) {
      // Read the Predicted column through the decoder by pretending it is the observed one.
      const [date, time, prediction] = line.split(',');
      const row = decoder.decode(`${date},${time},${prediction}`.replace(/"/g, ''));
      predicted.push(row.v as number);
      modelled.push(predictLevel(model, row.t as number));
      squared += (predicted.at(-1)! - modelled.at(-1)!) ** 2;
    }
    const rms = Math.sqrt(squared / predicted.length);
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const [mp, mm] = [mean(predicted), mean(modelled)];
    const cov = mean(predicted.map((x, i) => (x - mp) * (modelled[i] - mm)));
    const r = cov / Math.sqrt(mean(predicted.map((x) => (x - mp) ** 2)) * mean(modelled.map((x) => (x - mm) ** 2)));
    assert.ok(r > 0.95, `correlation with NOAA's prediction ${r}`);
    assert.ok(rms < 0.25, `rms difference ${rms} m`);
  });

  it('invents stable constituents for unknown stations', () => {
    const a = stationModel('NOT-A-STATION');
    assert.equal(a.published, false);
    assert.deepEqual(stationModel('NOT-A-STATION'), a);
    assert.ok(a.amplitudes[0] > 0.1 && Math.abs(a.lat) <= 60);
  });

  it('resumes from an offset with the tail of a full run, in contiguous batches', async () => {
    const all: Row[] = [];
    for await (const batch of openGeneratorSource(base, { fromOffset: 0 })) all.push(...batch.rows!);
    assert.deepEqual(all, [...generateRows(base)]);
    const tail: Row[] = [];
    let expected = 777;
    for await (const batch of openGeneratorSource(base, { fromOffset: 777 })) {
      assert.equal(batch.source.partition, 'generator:7');
      assert.equal(batch.source.fromOffset, expected);
      assert.equal(batch.offsets[0], expected);
      expected = batch.source.toOffset;
      tail.push(...batch.rows!);
    }
    assert.equal(expected, all.length);
    assert.deepEqual(tail, all.slice(777));
  });

  it('refuses bad settings with every problem listed', () => {
    assert.throws(() => [...generateRows({ ...base, duplicateRate: 2, intervalMs: 0 })], (e: unknown) =>
      e instanceof UsageError && /duplicateRate must be a probability/.test(e.message) && /intervalMs must be/.test(e.message));
  });

  it('mulberry32 gives the same sequence for a seed, within [0, 1)', () => {
    const a = mulberry32(123);
    const b = mulberry32(123);
    for (let i = 0; i < 1000; i++) {
      const x = a();
      assert.equal(x, b());
      assert.ok(x >= 0 && x < 1);
    }
  });
});
