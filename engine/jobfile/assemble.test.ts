import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadJobFile } from '.';
import { assemble } from './assemble';
import { runJob } from '../runtime/run-job';

const ROOT = join(__dirname, '..', '..', '..');

test("--output null discards results but still keeps dead letters and late records in files", async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tideflow-assemble-'));
  const parts = await assemble(loadJobFile(join(ROOT, 'jobs', 'tides-lunar-day.yaml')), {
    input: join(ROOT, 'data', 'bundled', 'tides.avro'),
    output: 'null',
    checkpointDir: join(dir, 'checkpoints'),
  });
  assert.equal(parts.sinks.get('main')!.description, 'null sink (results discarded)');
  assert.equal(parts.sinks.get('dead-letters')!.description, `JSONL file ${join('.tideflow', 'output', 'tides-lunar-day.dead-letters.jsonl')}`);
  assert.equal(parts.sinks.get('late')!.description, `JSONL file ${join('.tideflow', 'output', 'tides-lunar-day.late.jsonl')}`);
  const result = await runJob(parts);
  assert.equal(result.counters.recordsIn, 81_409);
  assert.equal(result.rowsBySink.main, 1413, 'the lunar days of the bundled data (as in test/golden.test.ts)');
});

test('without deadLetters/late in the job, side outputs go where --output console puts them', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tideflow-assemble-'));
  const jobFile = join(dir, 'own-sink.yaml');
  writeFileSync(
    jobFile,
    ['job: own-sink', 'source:', `  file: { path: ${JSON.stringify(join(ROOT, 'data', 'bundled', 'tides.avro'))} }`, 'eventTime: { field: t, maxOutOfOrder: 30m }', 'steps: []', 'sink:', `  jsonl: { path: ${JSON.stringify(join(dir, 'out.jsonl'))} }`, ''].join('\n'),
  );
  const own = await assemble(loadJobFile(jobFile), { checkpointDir: join(dir, 'checkpoints') });
  const shown = await assemble(loadJobFile(jobFile), { output: 'console', checkpointDir: join(dir, 'checkpoints') });
  for (const parts of [own, shown]) {
    assert.equal(parts.sinks.get('dead-letters')!.description, `JSONL file ${join('.tideflow', 'output', 'own-sink.dead-letters.jsonl')}`);
    assert.equal(parts.sinks.get('late')!.description, `JSONL file ${join('.tideflow', 'output', 'own-sink.late.jsonl')}`);
  }
});
