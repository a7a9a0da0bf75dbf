/**
 * Golden tests: the three reference jobs on the bundled real NOAA data must
 * equal a plain computation written here with no engine code — read every
 * record, group by station and window in a Map, compute with a loop.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { unaccounted } from '../engine/core/operator';
import { BUNDLED, job, runLocal } from './support/run-local';
import { assertRowsEqual, byStationThenStart, expectedAverages, expectedLunarDays, iso, plainDedupe, readBundled } from './support/plain';

test('golden: tides-dedupe on bundled data equals first-arrival-wins by (station, t)', async () => {
  const input = await readBundled();
  const expected = plainDedupe(input).map((row) => ({ ...row, t: iso(row.t) }));
  const { rows, result } = await runLocal(job('tides-dedupe'), { input: BUNDLED });
  assert.ok(input.length > 50_000, 'the bundled data is real and sizeable');
  assert.ok(result.counters.duplicatesDropped > 0, 'the bundled data holds genuine duplicates');
  assert.equal(result.counters.duplicatesDropped, input.length - expected.length);
  assert.equal(unaccounted(result.counters, false), 0, 'every record accounted for');
  assert.deepEqual(rows, expected);
});

test('golden: tides-30m-average on bundled data equals a plain dedupe + group-by', async () => {
  const input = await readBundled();
  const expected = expectedAverages(input);
  const { rows, result } = await runLocal(job('tides-30m-average'), { input: BUNDLED });
  assert.equal(unaccounted(result.counters, true), 0, 'every record accounted for');
  // Grand Isle (8761724, hourly) holds the bundled data's 24 repeated readings: none may count twice.
  assert.equal(result.counters.duplicatesDropped, input.length - plainDedupe(input).length);
  assert.equal(result.counters.duplicatesDropped, 24);
  assert.deepEqual(
    rows.filter((row) => row.station === '8761724' && row.count !== 1).map((row) => `${row.window_start} count ${row.count}`),
    [],
    'an hourly station has one reading per 30-minute window',
  );
  assertRowsEqual(rows.sort(byStationThenStart), expected, ['avg']);
});

test('golden: tides-lunar-day on bundled data equals a plain dedupe + group-by', async () => {
  const input = await readBundled();
  const expected = expectedLunarDays(input);
  const { rows, result } = await runLocal(job('tides-lunar-day'), { input: BUNDLED });
  assert.equal(unaccounted(result.counters, true), 0, 'every record accounted for');
  assert.ok(expected.length > 1000);
  assertRowsEqual(rows.sort(byStationThenStart), expected, ['mean', 'range']);
});
