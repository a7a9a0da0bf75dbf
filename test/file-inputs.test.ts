/**
 * `tideflow run --input` on files as people bring them: cut short, with bad
 * lines, straight from NOAA. Runs the real CLI (exit codes and the summary are
 * part of the contract) against files written into a temporary directory.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { readJsonl, ROOT, BUNDLED, temporaryDirectory } from './support/run-local';

const CLI = path.join(ROOT, 'bin', 'tideflow.js');

interface CliRun {
  status: number | null;
  stdout: string;
  stderr: string;
}

function tideflow(args: string[]): CliRun {
  const result = spawnSync(process.execPath, [CLI, ...args], { cwd: ROOT, encoding: 'utf8' });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** `run <job> --input <file> --output <dir>/out.jsonl`, checkpoints in the directory too. */
function runOn(job: string, input: string, dir: string, extra: string[] = []): CliRun {
  return tideflow(['run', job, '--input', input, '--output', path.join(dir, 'out.jsonl'), '--checkpoint-dir', path.join(dir, 'checkpoints'), ...extra]);
}

describe('a truncated Avro container file', () => {
  const dir = temporaryDirectory('tideflow-file-inputs-');
  const cut = path.join(dir, 'cut.avro');
  fs.writeFileSync(cut, fs.readFileSync(BUNDLED).subarray(0, 300_000));
  const tornTail = {
    reason:
      'truncated Avro container: the file ends inside a block (a block of 921 records by its count): ' +
      'bytes 298964 to 300000 (the last 1036 bytes) do not form a whole block; the 30202 records before them were read',
    stage: 'decode',
    partition: `file:${cut}`,
    offset: 30_202,
    payload: null,
    payload_encoding: 'utf8',
  };

  it('is read up to its last whole block; the torn tail is a dead letter; summary and exit 0', () => {
    const run = runOn('jobs/tides-dedupe.yaml', cut, dir);
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stderr, /^tides-dedupe: 30,203 records in /m);
    assert.match(run.stderr, /30,178 results, 24 duplicates dropped, 0 null readings, 0 filtered out, 0 late, 1 dead letters \(every record accounted for\)/);
    assert.equal(readJsonl(path.join(dir, 'out.jsonl')).length, 30_178);
    assert.deepEqual(readJsonl(path.join(dir, 'out.dead-letters.jsonl')), [tornTail]);
  });

  it('exits 1 after the same summary when the run is strict (--strict, or strict: true in the file source)', () => {
    const strict = runOn('jobs/tides-dedupe.yaml', cut, dir, ['--strict']);
    assert.equal(strict.status, 1, strict.stderr);
    assert.match(strict.stderr, /30,178 results, .* 1 dead letters/);
    assert.match(strict.stderr, /tideflow: 1 record went to the dead letters and the run is strict \(--strict\): exit 1\n$/);
    assert.deepEqual(readJsonl(path.join(dir, 'out.dead-letters.jsonl')), [tornTail]);

    const job = path.join(dir, 'strict.yaml');
    fs.writeFileSync(
      job,
      [
        'job: strict-file',
        'source:',
        `  file: { path: ${JSON.stringify(cut)}, strict: true }`,
        'eventTime: { field: t, maxOutOfOrder: 30m }',
        'steps: []',
        'sink:',
        `  jsonl: { path: ${JSON.stringify(path.join(dir, 'strict-out.jsonl'))} }`,
        'checkpoint:',
        `  file: { dir: ${JSON.stringify(path.join(dir, 'checkpoints'))} }`,
        '',
      ].join('\n'),
    );
    const fromJob = tideflow(['run', job]);
    assert.equal(fromJob.status, 1, fromJob.stderr);
    assert.match(fromJob.stderr, /tideflow: 1 record went to the dead letters and the run is strict \(strict: true in the file source\): exit 1\n$/);
    assert.equal(readJsonl(path.join(dir, 'strict-out.jsonl')).length, 30_202);
    // A whole file has no dead letters: strict or not, exit 0.
    assert.equal(runOn('jobs/tides-dedupe.yaml', BUNDLED, dir, ['--strict', '--quiet']).status, 0);
  });
});
