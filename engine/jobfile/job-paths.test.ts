import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { lintJobFiles, loadJobFile } from './load';

const ROOT = join(__dirname, '..', '..', '..');

/** project/jobs/job.yaml with the reader schema in project/schemas; `elsewhere` is an unrelated working directory. */
function project(jobText: string): { jobFile: string; dir: string; elsewhere: string } {
  const dir = mkdtempSync(join(tmpdir(), 'tideflow-paths-'));
  const elsewhere = mkdtempSync(join(tmpdir(), 'tideflow-elsewhere-'));
  mkdirSync(join(dir, 'jobs'));
  mkdirSync(join(dir, 'schemas'));
  writeFileSync(join(dir, 'schemas', 'tide.avsc'), readFileSync(join(ROOT, 'schemas', 'tide_observation.avsc')));
  const jobFile = join(dir, 'jobs', 'job.yaml');
  writeFileSync(jobFile, jobText);
  return { jobFile, dir, elsewhere };
}

test("relative paths of a job file come out absolute against the job file's directory, whatever the working directory", () => {
  const { jobFile, dir, elsewhere } = project(`job: paths
source:
  kafka:
    brokers: localhost:9092
    topic: tides
    format: { avro: { registry: "http://localhost:8081", readerSchema: ../schemas/tide.avsc } }
eventTime: { field: t }
steps:
  - route: { routes: [ { when: "v > 3", to: alerts } ] }
sink: { jsonl: { path: out/results.jsonl } }
sinks:
  alerts: { kafka: { brokers: localhost:9092, topic: alerts, format: { avro: { registry: "http://localhost:8081", readerSchema: ../schemas/tide.avsc } } } }
  archive: { jsonl: { path: /var/tmp/archive.jsonl } }
  table: { csv: { path: out/alerts.csv } }
deadLetters: { jsonl: { path: ../out/dead.jsonl } }
late: { console: {} }
checkpoint: { file: { dir: ../state } }
`);
  const spec = loadJobFile(jobFile, { env: {}, cwd: elsewhere });
  assert.equal(spec.source.kind === 'kafka' && spec.source.kafka.format.readerSchema, join(dir, 'schemas', 'tide.avsc'));
  assert.deepEqual(spec.sink, { kind: 'jsonl', jsonl: { path: join(dir, 'jobs', 'out', 'results.jsonl') } });
  const alerts = spec.sinks.alerts;
  assert.equal(alerts.kind === 'kafka' && alerts.kafka.format.kind === 'avro-registry' && alerts.kafka.format.readerSchema, join(dir, 'schemas', 'tide.avsc'));
  assert.deepEqual(spec.sinks.archive, { kind: 'jsonl', jsonl: { path: '/var/tmp/archive.jsonl' } }, 'absolute paths stay as written');
  assert.deepEqual(spec.sinks.table, { kind: 'csv', csv: { path: join(dir, 'jobs', 'out', 'alerts.csv') } });
  assert.deepEqual(spec.deadLetters, { kind: 'jsonl', jsonl: { path: join(dir, 'out', 'dead.jsonl') } });
  assert.deepEqual(spec.checkpoint, { kind: 'file', dir: join(dir, 'state'), intervalMs: 5000 });
  assert.deepEqual(lintJobFiles([jobFile], { env: {}, cwd: elsewhere }), [], 'lint reads the reader schema beside the job');
});

test('a file source starts at the job directory; a checkpoint directory the job does not write stays the working directory default', () => {
  const { jobFile, dir, elsewhere } = project(`job: paths
source: { file: { path: ../data/tides.avro } }
eventTime: { field: t }
steps: []
sink: { console: {} }
checkpoint: { file: { interval: 1s } }
`);
  const spec = loadJobFile(jobFile, { env: {}, cwd: elsewhere });
  assert.equal(spec.source.kind === 'file' && spec.source.file.path, join(dir, 'data', 'tides.avro'));
  assert.deepEqual(spec.checkpoint, { kind: 'file', dir: '.tideflow/checkpoints', intervalMs: 1000 });
});
