/**
 * Local checkpoints: SIGKILL the real CLI process at random points (between
 * batches, just before and just after a checkpoint save), run it again, and
 * the output files must be byte-identical to an uninterrupted run.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { mulberry32 } from '../engine/sources/generator-source';
import { readBundled } from './support/plain';
import { BUNDLED, job, ROOT, temporaryDirectory } from './support/run-local';

const CLI = join(ROOT, 'bin', 'tideflow.js');

function runCli(args: string[], env: Record<string, string> = {}) {
  return spawnSync(process.execPath, [CLI, ...args], { cwd: ROOT, env: { ...process.env, ...env }, encoding: 'utf8' });
}

// JSONL for each job; CSV (a header, then lines) for the job with the most rows.
const CASES: Array<[string, '.jsonl' | '.csv']> = [
  ['tides-dedupe', '.jsonl'],
  ['tides-lunar-day', '.jsonl'],
  ['tides-dedupe', '.csv'],
];

for (const [name, extension] of CASES) {
  test(`crash/restart: ${name} killed at random points and restarted writes exactly the uninterrupted output (${extension})`, async () => {
    const dir = temporaryDirectory();
    const common = ['--input', BUNDLED, '--batch-size', '2000', '--checkpoint-interval', '0ms', '--quiet'];
    const reference = join(dir, `reference${extension}`);
    const clean = runCli(['run', job(name), ...common, '--output', reference, '--checkpoint-dir', join(dir, 'cp-reference')]);
    assert.equal(clean.status, 0, clean.stderr);
    const expected = readFileSync(reference, 'utf8');
    // Crash points must fall inside the run: after-batch n exists only for n < the number of batches.
    const batches = Math.ceil((await readBundled()).length / 2000);

    const seed = Number(process.env.TIDEFLOW_TEST_SEED ?? Date.now() % 100_000);
    const random = mulberry32(seed);
    const points = ['after-batch', 'before-checkpoint-save', 'after-checkpoint-save'];
    for (let k = 0; k < 4; k++) {
      const point = points[k % points.length];
      const at = 1 + Math.floor(random() * (batches - 2));
      const output = join(dir, `out-${k}${extension}`);
      const checkpoints = join(dir, `cp-${k}`);
      const args = ['run', job(name), ...common, '--output', output, '--checkpoint-dir', checkpoints];
      const crashed = runCli(args, { TIDEFLOW_TEST_CRASH: `${point}:${at}` });
      assert.equal(crashed.signal, 'SIGKILL', `expected a crash at ${point}:${at} (seed ${seed}); stderr: ${crashed.stderr}`);
      const resumed = runCli(args);
      assert.equal(resumed.status, 0, resumed.stderr);
      assert.equal(readFileSync(output, 'utf8') === expected, true, `output after a crash at ${point}:${at} differs (seed ${seed})`);
    }
  });
}
