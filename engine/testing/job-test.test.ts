import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { UsageError } from '../core/errors';
import { formatTestReport, testJob } from './job-test';

const JOB = `job: sums
source:
  file: { path: unused.jsonl }
eventTime: { field: t, maxOutOfOrder: 0s, idleTimeout: 1m }
steps:
  - window: { id: sum-10m, key: [station], tumbling: { size: 10m }, aggregate: { sum: sum(v), n: count(v) } }
sink:
  null: {}
`;

const at = (minute: number) => new Date(Date.UTC(2024, 0, 1, 0, minute)).toISOString();
const line = (value: unknown) => JSON.stringify(value);

function jobWithCases(cases: Record<string, Record<string, string>>): string {
  const dir = mkdtempSync(join(tmpdir(), 'tideflow-jobtest-'));
  writeFileSync(join(dir, 'sums.yaml'), JOB);
  for (const [name, files] of Object.entries(cases)) {
    mkdirSync(join(dir, 'sums.test', name), { recursive: true });
    for (const [file, text] of Object.entries(files)) writeFileSync(join(dir, 'sums.test', name, file), text);
  }
  return join(dir, 'sums.yaml');
}

test('cases pass and fail; a failing case shows what is missing, what differs (field: expected -> actual) and what is unexpected', async () => {
  const input = [
    line({ station: 'A', t: at(1), v: 1 }),
    line({ station: 'A', t: at(4), v: 2 }),
    line({ station: 'B', t: at(5), v: 5 }),
    line({ station: 'A', t: at(12), v: 4 }),
    'not json',
  ].join('\n');
  const expected = [
    line({ station: 'A', window_start: at(0), window_end: at(10), sum: 3, n: 2 }),
    line({ station: 'B', window_start: at(0), window_end: at(10), sum: 5, n: 1 }),
    line({ station: 'A', window_start: at(10), window_end: at(20), sum: 4, n: 1 }),
  ].join('\n');
  const job = jobWithCases({
    good: { 'input.jsonl': input, 'expected.jsonl': expected, 'expected-dead-letters.jsonl': line({ stage: 'decode', reason: "invalid JSON: Unexpected token 'o', \"not json\" is not valid JSON" }) },
    wrong: {
      'input.jsonl': input,
      'expected.jsonl': [line({ station: 'A', window_start: at(0), window_end: at(10), sum: 3.5, n: 2 }), line({ station: 'C', window_start: at(0), window_end: at(10), sum: 1, n: 1 })].join('\n'),
      'case.yaml': 'description: sums that are wrong on purpose\nbatchSize: 1\n',
    },
  });
  const report = await testJob(job);
  assert.equal(report.passed, false);
  assert.deepEqual(report.cases.map((c) => [c.name, c.passed]), [['good', true], ['wrong', false]]);
  assert.equal(
    formatTestReport(report),
    [
      'ok   sums / good',
      'FAIL sums / wrong — sums that are wrong on purpose',
      '     results: 2 expected, 3 produced',
      `       ~ differs    {"station":"A","window_start":"${at(0)}","window_end":"${at(10)}","sum":3.5,"n":2}`,
      '                    sum: 3.5 -> 3',
      `       ~ differs    {"station":"C","window_start":"${at(0)}","window_end":"${at(10)}","sum":1,"n":1}`,
      '                    station: "C" -> "B"',
      '                    sum: 1 -> 5',
      `       + unexpected {"station":"A","window_start":"${at(10)}","window_end":"${at(20)}","sum":4,"n":1}`,
      '1 of 2 cases failed',
    ].join('\n'),
  );
});

test('virtual time: {"$wait": ...} lets a quiet partition stop holding the watermark back; without the end of input closing windows, only those close', async () => {
  //  p0: A at 1, 12, 25      p1: B at 2, then silent
  //  watermark = min(25, 2) = 2: nothing closes; after 1 min of silence p1 is idle -> 25: A 0-10, B 0-10, A 10-20 close
  const input = [
    line({ $partition: 'p0', station: 'A', t: at(1), v: 1 }),
    line({ $partition: 'p1', station: 'B', t: at(2), v: 2 }),
    line({ $partition: 'p0', station: 'A', t: at(12), v: 3 }),
    line({ $partition: 'p0', station: 'A', t: at(25), v: 4 }),
  ];
  const beforeWait = await testJob(jobWithCases({ open: { 'input.jsonl': input.join('\n'), 'expected.jsonl': '', 'case.yaml': 'closeAtEnd: false\n' } }));
  assert.equal(beforeWait.passed, true, formatTestReport(beforeWait));
  const afterWait = await testJob(
    jobWithCases({
      quiet: {
        'input.jsonl': [...input, line({ $wait: '2m' })].join('\n'),
        'expected.jsonl': [
          line({ station: 'A', window_start: at(0), window_end: at(10), sum: 1, n: 1 }),
          line({ station: 'B', window_start: at(0), window_end: at(10), sum: 2, n: 1 }),
          line({ station: 'A', window_start: at(10), window_end: at(20), sum: 3, n: 1 }),
        ].join('\n'),
        'case.yaml': 'closeAtEnd: false\n',
      },
    }),
  );
  assert.equal(afterWait.passed, true, formatTestReport(afterWait));
});

test('a job without test cases, or a case without its expected file, is a usage error that says what is needed', async () => {
  await assert.rejects(testJob(jobWithCases({})), (error: unknown) => error instanceof UsageError && /^no test cases: .*sums\.test does not exist \(a directory of cases, each with input\.jsonl and expected\.jsonl\)$/.test(error.message));
  await assert.rejects(testJob(jobWithCases({ lonely: { 'input.jsonl': '' } })), /test case .*lonely: input\.jsonl but no expected\.jsonl/);
});
