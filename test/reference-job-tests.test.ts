/**
 * The reference jobs ship with their own tests (`jobs/<job>.test/`, the
 * layout `tideflow test` reads, as the README's walk-through shows): they
 * pass, and a changed expectation fails them with the differing field.
 */
import assert from 'node:assert/strict';
import { cpSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { formatTestReport, testJob } from '../engine/testing/job-test';
import { ROOT, temporaryDirectory } from './support/run-local';

const JOBS_DIR = join(ROOT, 'jobs');
const TESTED = readdirSync(JOBS_DIR).filter((name) => name.endsWith('.yaml') && existsSync(join(JOBS_DIR, name.replace(/\.yaml$/, '.test'))));

test('every reference job has tests of its own', () => {
  assert.deepEqual(TESTED.sort(), ['tides-30m-average.yaml', 'tides-dedupe.yaml', 'tides-lunar-day.yaml']);
});

for (const file of TESTED) {
  test(`tideflow test jobs/${file}: every case passes`, async () => {
    const report = await testJob(join(JOBS_DIR, file));
    assert.ok(report.cases.length > 0);
    assert.equal(report.passed, true, formatTestReport(report));
  });
}

test('a wrong expectation fails the case and names the field, expected and produced', async () => {
  const cases = temporaryDirectory('tideflow-job-tests-');
  cpSync(join(JOBS_DIR, 'tides-30m-average.test'), cases, { recursive: true });
  const expected = join(cases, 'two-stations', 'expected.jsonl');
  const rows = readFileSync(expected, 'utf8').trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
  rows[3] = { ...rows[3], count: (rows[3].count as number) + 1 };
  writeFileSync(expected, rows.map((row) => JSON.stringify(row)).join('\n') + '\n');
  const report = await testJob(join(JOBS_DIR, 'tides-30m-average.yaml'), { casesDir: cases });
  assert.equal(report.passed, false);
  const text = formatTestReport(report);
  assert.match(text, /^FAIL tides-30m-average \/ two-stations/m);
  assert.match(text, new RegExp(`count: ${rows[3].count as number} -> ${(rows[3].count as number) - 1}`));
});
