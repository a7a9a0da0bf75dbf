/**
 * One instance per job that cannot share its input: a second `tideflow run`
 * of a job whose source is not a Kafka consumer group (here the generator)
 * is refused at start with exit 2, naming the running instance, while the
 * first runs on. (A Kafka job shares its partitions among its instances
 * instead: test/faults/scale-out.test.ts.)
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ROOT, temporaryDirectory } from './support/run-local';

const CLI = join(ROOT, 'bin', 'tideflow.js');

test('a second instance of a running job that cannot share its input is refused with exit 2; the first runs on', { timeout: 60_000 }, async () => {
  const dir = temporaryDirectory('tideflow-second-');
  const job = join(dir, 'endless.yaml');
  writeFileSync(
    job,
    `job: endless
source:
  generator: { stations: ['8454000'], start: '2024-01-01T00:00:00Z', count: 100000000, interval: 6m, seed: 7, batchSize: 100 }
eventTime: { field: t, maxOutOfOrder: 30m }
steps:
  - window: { id: hourly, key: [station], tumbling: { size: 1h }, aggregate: { high: max(v) } }
sink:
  null: {}
checkpoint:
  file: { dir: checkpoints, interval: 1s }
`,
  );
  const first = spawn(process.execPath, [CLI, 'run', job], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  let firstErr = '';
  first.stderr!.setEncoding('utf8').on('data', (chunk: string) => (firstErr += chunk));
  try {
    // Running once its first checkpoint is written (it holds the job's claim from the start).
    for (let waited = 0; !firstErr.includes('epoch') && waited < 30_000; waited += 100) await new Promise((resolve) => setTimeout(resolve, 100));
    const second = spawnSync(process.execPath, [CLI, 'run', job], { cwd: dir, encoding: 'utf8', timeout: 30_000 });
    assert.equal(second.status, 2, second.stderr);
    assert.match(second.stderr, new RegExp(`^tideflow: job 'endless' is already running: the instance on host '[^']+' \\(pid ${first.pid}\\) since \\S+ holds .*endless\\.lock\\. Two instances of one job would overwrite each other's checkpoints and results; stop that one first`));
    assert.equal(first.exitCode, null, 'the first instance runs on');
  } finally {
    first.kill('SIGTERM');
    await new Promise((resolve) => first.on('close', resolve));
  }
  assert.equal(first.exitCode, 0, firstErr);
});
