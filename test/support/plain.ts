/**
 * Plain, obviously-correct computations of the three reference jobs (no engine
 * code): read every record, group by station and window in a Map, loop. The
 * golden tests (files) and the end-to-end tests (Kafka -> Cassandra) compare
 * the engine with these.
 */
import assert from 'node:assert/strict';
import * as avro from 'avsc';
import { BUNDLED } from './run-local';

export type Observation = { station: string; name: string; lat: number; lon: number; t: number; v: number | null; s: number | null; f: string | null; q: string | null };

export const THIRTY_MINUTES = 30 * 60 * 1000;
export const LUNAR_DAY = 89_428_329;

export function readBundled(): Promise<Observation[]> {
  return new Promise((resolve, reject) => {
    const rows: Observation[] = [];
    avro
      .createFileDecoder(BUNDLED)
      .on('data', (row: Observation) => rows.push({ ...row, t: Number(row.t) }))
      .on('end', () => resolve(rows))
      .on('error', reject);
  });
}

/** First arrival of each (station, t) wins. The bundled file is in time order, so the 2 h horizon never bites. */
export function plainDedupe(rows: Observation[]): Observation[] {
  const seen = new Set<string>();
  return rows.filter((row) => {
    const key = `${row.station}|${row.t}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

export function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** Group the non-null readings by (station, floor(t / size)). Insertion order = arrival order. */
export function groupByWindow(rows: Observation[], size: number): Map<string, { station: string; start: number; values: Array<{ v: number; t: number }> }> {
  const groups = new Map<string, { station: string; start: number; values: Array<{ v: number; t: number }> }>();
  for (const row of rows) {
    if (row.v === null) continue;
    const start = Math.floor(row.t / size) * size;
    const key = `${row.station}|${start}`;
    let group = groups.get(key);
    if (!group) groups.set(key, (group = { station: row.station, start, values: [] }));
    group.values.push({ v: row.v, t: row.t });
  }
  return groups;
}

export function byStationThenStart(a: Record<string, unknown>, b: Record<string, unknown>): number {
  if (a.station !== b.station) return String(a.station) < String(b.station) ? -1 : 1;
  return String(a.window_start) < String(b.window_start) ? -1 : String(a.window_start) > String(b.window_start) ? 1 : 0;
}


/** Expected rows of tides-30m-average: dedupe, then per station tumbling 30 min windows of the non-null readings. */
export function expectedAverages(input: Observation[]): Array<Record<string, unknown>> {
  return plainAverages(plainDedupe(input), THIRTY_MINUTES);
}

/** Per station, tumbling windows of `size`: avg, min, max and count of the non-null readings of `rows`, repeats included. */
export function plainAverages(rows: Observation[], size: number): Array<Record<string, unknown>> {
  return [...groupByWindow(rows, size).values()]
    .map(({ station, start, values }) => {
      let sum = 0;
      let min = Infinity;
      let max = -Infinity;
      for (const { v } of values) {
        sum += v;
        min = Math.min(min, v);
        max = Math.max(max, v);
      }
      return { station, window_start: iso(start), window_end: iso(start + size), avg: sum / values.length, min, max, count: values.length };
    })
    .sort(byStationThenStart);
}

/** Expected rows of tides-lunar-day: dedupe, then per station lunar-day (mean) windows. */
export function expectedLunarDays(input: Observation[]): Array<Record<string, unknown>> {
  return [...groupByWindow(plainDedupe(input), LUNAR_DAY).values()]
    .map(({ station, start, values }) => {
      let high = -Infinity;
      let highTime = 0;
      let low = Infinity;
      let lowTime = 0;
      let sum = 0;
      for (const { v, t } of values) {
        if (v > high || (v === high && t < highTime)) [high, highTime] = [v, t];
        if (v < low || (v === low && t < lowTime)) [low, lowTime] = [v, t];
        sum += v;
      }
      return {
        station,
        window_start: iso(start),
        window_end: iso(start + LUNAR_DAY),
        high,
        high_time: iso(highTime),
        low,
        low_time: iso(lowTime),
        range: high - low,
        mean: sum / values.length,
        count: values.length,
      };
    })
    .sort(byStationThenStart);
}

/** Sums in arrival order, as a person would; compared with a tolerance far below the data's resolution (1 mm). */
export function assertRowsEqual(actual: Array<Record<string, unknown>>, expected: Array<Record<string, unknown>>, floatFields: string[]): void {
  assert.equal(actual.length, expected.length, 'row count');
  for (let i = 0; i < expected.length; i++) {
    const a = { ...actual[i] };
    const e = { ...expected[i] };
    for (const field of floatFields) {
      assert.ok(Math.abs((a[field] as number) - (e[field] as number)) <= 1e-9, `${field} of row ${i}: ${a[field]} vs ${e[field]}`);
      delete a[field];
      delete e[field];
    }
    assert.deepEqual(a, e, `row ${i}`);
  }
}

