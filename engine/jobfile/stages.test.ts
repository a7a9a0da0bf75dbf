import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadJobFile } from '.';
import { run } from '../api/run';
import type { JobSpec } from '../config/job';
import { stagesOf } from './stages';
import { assemble } from './assemble';

const ROOT = join(__dirname, '..', '..', '..');
const BUNDLED = join(ROOT, 'data', 'bundled', 'tides.avro');

/** The 30-minute job with a repartition step before its dedupe and window. */
function repartitioned(): JobSpec {
  const spec = loadJobFile(join(ROOT, 'jobs', 'tides-30m-average.yaml'));
  return { ...spec, steps: [{ kind: 'repartition', id: 'by-station', by: ['station'], at: { line: 1, col: 1 } }, ...spec.steps] };
}

test('without a Kafka source a repartition step does nothing: one task sees every record', async () => {
  const spec = repartitioned();
  const local: JobSpec = { ...spec, source: { kind: 'file', file: { path: BUNDLED, batchSize: 4096 } } };
  const stages = await stagesOf(local);
  assert.equal(stages.length, 1);
  assert.deepEqual(stages[0].steps.map((step) => step.kind), ['dedupe', 'window']);
  // Run from a file (--input), the job gives what the job without the step gives.
  const dir = mkdtempSync(join(tmpdir(), 'tideflow-stages-'));
  const common = { input: BUNDLED, checkpointDir: join(dir, 'checkpoints') };
  await run(spec, { ...common, output: join(dir, 'with.jsonl') });
  await run(loadJobFile(join(ROOT, 'jobs', 'tides-30m-average.yaml')), { ...common, output: join(dir, 'without.jsonl') });
  const with_ = readFileSync(join(dir, 'with.jsonl'), 'utf8');
  assert.ok(with_.split('\n').length > 1000);
  assert.equal(with_, readFileSync(join(dir, 'without.jsonl'), 'utf8'));
});

test('a Kafka job with a repartition step is not assembled whole: it runs as two stages', async () => {
  await assert.rejects(assemble(repartitioned()), /repartition step 'by-station' splits it into two stages/);
});
