/**
 * A checkpoint belongs to the input it was taken reading. Stopped on one
 * file and run again on another, a job is refused (exit 2) with the choice
 * spelled out, instead of resuming at positions that mean nothing there
 * (before: "resuming from checkpoint epoch 1", then nearly every record late).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { readBundled } from './support/plain';
import { BUNDLED, job, readJsonl, ROOT, temporaryDirectory } from './support/run-local';

const CLI = join(ROOT, 'bin', 'tideflow.js');

function runCli(args: string[], env: Record<string, string> = {}) {
  return spawnSync(process.execPath, [CLI, ...args], { cwd: ROOT, env: { ...process.env, TIDEFLOW_TEST_CRASH: '', ...env }, encoding: 'utf8' });
}

test('a checkpoint taken on one input is refused for another (exit 2, both named, the way out given); the same data resumes', async () => {
  const dir = temporaryDirectory();
  // Other input: a third of the bundled readings as JSON lines.
  const other = join(dir, 'first-third.jsonl');
  const rows = await readBundled();
  writeFileSync(other, rows.slice(0, Math.floor(rows.length / 3)).map((row) => JSON.stringify({ ...row, t: new Date(row.t).toISOString() })).join('\n') + '\n');
  const checkpoints = join(dir, 'cp');
  const common = ['--batch-size', '2000', '--checkpoint-interval', '0ms', '--checkpoint-dir', checkpoints, '--quiet'];
  const stopped = runCli(['run', job('tides-30m-average'), '--input', other, '--output', join(dir, 'a.jsonl'), ...common], { TIDEFLOW_TEST_CRASH: 'after-checkpoint-save:2' });
  assert.equal(stopped.signal, 'SIGKILL', stopped.stderr);

  const refused = runCli(['run', job('tides-30m-average'), '--input', BUNDLED, '--output', join(dir, 'b.jsonl'), ...common]);
  assert.equal(refused.status, 2, refused.stderr);
  assert.match(refused.stderr, /was taken reading file .*first-third\.jsonl \([\d,]+ bytes\); this run reads file .*tides\.avro \([\d,]+ bytes\)/);
  assert.match(refused.stderr, /--reset-state/);
  assert.match(refused.stderr, /--checkpoint-dir/);
  assert.doesNotMatch(refused.stderr, /\n\s+at /, 'no stack trace');

  // Another checkpoint directory leaves that checkpoint alone; --reset-state discards it.
  const elsewhere = runCli(['run', job('tides-30m-average'), '--input', BUNDLED, '--output', join(dir, 'c.jsonl'), ...common, '--checkpoint-dir', join(dir, 'cp-other')]);
  assert.equal(elsewhere.status, 0, elsewhere.stderr);
  const reset = runCli(['run', job('tides-30m-average'), '--input', BUNDLED, '--output', join(dir, 'd.jsonl'), ...common, '--reset-state']);
  assert.equal(reset.status, 0, reset.stderr);
  assert.equal(readJsonl(join(dir, 'd.jsonl')).filter((row) => row.count !== undefined).length, readJsonl(join(dir, 'c.jsonl')).length);

  // The same bytes under another name are the same input: the stopped run resumes there.
  const again = runCli(['run', job('tides-30m-average'), '--input', BUNDLED, '--output', join(dir, 'e.jsonl'), ...common], { TIDEFLOW_TEST_CRASH: 'after-checkpoint-save:2' });
  assert.equal(again.signal, 'SIGKILL', again.stderr);
  const copy = join(dir, 'copy-of-tides.avro');
  copyFileSync(BUNDLED, copy);
  const resumed = runCli(['run', job('tides-30m-average'), '--input', copy, '--output', join(dir, 'e.jsonl'), ...common.filter((arg) => arg !== '--quiet')]);
  assert.equal(resumed.status, 0, resumed.stderr);
  assert.match(resumed.stderr, /resum/);
  assert.deepEqual(readJsonl(join(dir, 'e.jsonl')), readJsonl(join(dir, 'c.jsonl')));
});
