import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { concatMap } from 'rxjs';
import { loadJobFile } from '../jobfile/load';
import type { RecordBatch, Row } from '../core/batch';
import { ConfigError, formatProblem } from '../core/errors';
import type { Operator } from '../core/operator';
import { readBundled } from '../../test/support/plain';
import { defineJob, filterRows, mapRows, operatorStep, rxStep } from './define-job';
import { run } from './run';

const ROOT = join(__dirname, '..', '..', '..');
const BUNDLED = join(ROOT, 'data', 'bundled', 'tides.avro');

function readJsonl(path: string): Array<Record<string, unknown>> {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

const lunarDaySteps = [
  { dedupe: { id: 'dedupe-observations', key: ['station', 't'], horizon: '2h' } },
  {
    window: {
      id: 'lunar-day',
      key: ['station'],
      lunarDay: { mode: 'mean' },
      aggregate: { high: 'max(v)', high_time: 'time_of_max(v)', low: 'min(v)', low_time: 'time_of_min(v)', range: 'range(v)', mean: 'avg(v)', count: 'count(v)' },
    },
  },
];

test('a job built in code is the job a job file loads into, and runs to the same results', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tideflow-api-'));
  const definition = defineJob({
    job: 'tides-lunar-day',
    source: { file: { path: BUNDLED } },
    eventTime: { field: 't', maxOutOfOrder: '30m', idleTimeout: '1m' },
    steps: lunarDaySteps,
    sink: { jsonl: { path: join(dir, 'code.jsonl') } },
  });
  const file = loadJobFile(join(ROOT, 'jobs', 'tides-lunar-day.yaml'));
  assert.deepEqual(definition.spec.steps, file.steps.map((step) => ({ ...step, at: definition.spec.steps[file.steps.indexOf(step)].at })));
  await run(definition, { checkpointDir: join(dir, 'cp-code'), output: join(dir, 'code.jsonl') });
  await run(join(ROOT, 'jobs', 'tides-lunar-day.yaml'), { input: BUNDLED, output: join(dir, 'file.jsonl'), checkpointDir: join(dir, 'cp-file') });
  const fromCode = readJsonl(join(dir, 'code.jsonl'));
  assert.equal(fromCode.length, 1413);
  assert.deepEqual(fromCode, readJsonl(join(dir, 'file.jsonl')));
});

test('steps written in code: a function over rows, a filter, and an RxJS operator that takes its time', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tideflow-api-'));
  const output = join(dir, 'feet.jsonl');
  const definition = defineJob({
    job: 'tides-feet',
    source: { file: { path: BUNDLED } },
    eventTime: { field: 't', maxOutOfOrder: '30m' },
    steps: [
      filterRows('one-station', (row) => row.station === '9414290'),
      mapRows('feet', (row) => (typeof row.v === 'number' ? { station: row.station, t: row.t, v_ft: Math.round(row.v * 3.28084 * 1000) / 1000 } : null)),
      // An asynchronous lookup per batch, as an enrichment step would do.
      rxStep('tagged', concatMap(async (batch: RecordBatch) => {
        await new Promise((resolve) => setTimeout(resolve, 1));
        return { ...batch, rows: batch.rows.map((row) => ({ ...row, unit: 'ft' })) };
      })),
      { window: { id: 'daily', key: ['station'], tumbling: { size: '24h' }, aggregate: { high_ft: 'max(v_ft)', readings: 'count(v_ft)' } } },
    ],
    sink: { jsonl: { path: output } },
  });
  assert.deepEqual(definition.spec.steps.map((step) => `${step.kind} ${step.id}`), ['code one-station', 'code feet', 'code tagged', 'window daily']);
  await run(definition, { output, checkpointDir: join(dir, 'cp'), batchSize: 500 });
  // The plain computation: Providence's readings in feet, per UTC day.
  const days = new Map<number, { high: number; count: number }>();
  for (const row of await readBundled()) {
    if (row.station !== '9414290' || row.v === null) continue;
    const day = Math.floor(row.t / 86_400_000) * 86_400_000;
    const feet = Math.round(row.v * 3.28084 * 1000) / 1000;
    const entry = days.get(day) ?? { high: -Infinity, count: 0 };
    days.set(day, { high: Math.max(entry.high, feet), count: entry.count + 1 });
  }
  const expected = [...days].sort(([a], [b]) => a - b).map(([day, { high, count }]) => ({ station: '9414290', window_start: new Date(day).toISOString(), high_ft: high, readings: count }));
  const rows = readJsonl(output).map(({ station, window_start, high_ft, readings }) => ({ station, window_start, high_ft, readings }));
  assert.ok(expected.length > 20);
  assert.deepEqual(rows, expected);
});

test('a job built in code gets every problem at once, each named by its place in the object', () => {
  assert.throws(
    () =>
      defineJob({
        job: 'Bad Name',
        source: { file: { path: BUNDLED } },
        eventTime: { field: 't', maxOutOfOrder: 'soon' },
        steps: [{ window: { id: 'w', key: ['station'], tumbling: { size: '-5m' }, aggregate: { m: 'mean(v)' } } }],
        sink: { jsonl: { path: 'x.jsonl' } },
      }),
    (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      const lines = error.problems.map(formatProblem);
      assert.ok(lines.some((line) => /^defineJob: job: /.test(line)), lines.join('\n'));
      assert.ok(lines.some((line) => /^defineJob: eventTime\.maxOutOfOrder: /.test(line)), lines.join('\n'));
      assert.ok(lines.some((line) => /^defineJob: steps\[0\]\.window\.tumbling\.size: /.test(line)), lines.join('\n'));
      assert.ok(lines.some((line) => /^defineJob: steps\[0\]\.window\.aggregate\.m: .*avg/.test(line)), lines.join('\n'));
      return true;
    },
  );
});

test('an Operator written in code is made afresh for each run, opened before the first batch and closed at the end of the input', async () => {
  const made: Array<{ calls: string[] }> = [];
  const counting = (): Operator & { calls: string[] } => {
    const operator = {
      id: 'counting',
      calls: [] as string[],
      open() {
        operator.calls.push('open');
      },
      process(batch: RecordBatch) {
        if (batch.rows.length > 0) operator.calls.push(`process ${batch.rows.length}`);
        return batch;
      },
      close(): Row[] {
        operator.calls.push('close');
        return [];
      },
    };
    made.push(operator);
    return operator;
  };
  const dir = mkdtempSync(join(tmpdir(), 'tideflow-api-'));
  const definition = defineJob({
    job: 'counting',
    source: { file: { path: BUNDLED } },
    eventTime: { field: 't', maxOutOfOrder: '30m' },
    steps: [operatorStep('counting', counting)],
    sink: { null: {} },
  });
  for (let i = 0; i < 2; i++) await run(definition, { checkpointDir: join(dir, 'cp'), output: 'null', batchSize: 40_000 });
  assert.equal(made.length, 2);
  for (const operator of made) assert.deepEqual(operator.calls, ['open', 'process 40000', 'process 40000', 'process 1409', 'close']);
});
