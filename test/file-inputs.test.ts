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

/** Dead-letter rows, without `line` (null for an Avro file; absent until run-job.ts uses codecs/dead-letter-row.ts). */
function deadLetters(file: string): Array<Record<string, unknown>> {
  return readJsonl(file).map(({ line, ...rest }) => {
    assert.ok(line === undefined || line === null);
    return rest;
  });
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
    assert.deepEqual(deadLetters(path.join(dir, 'out.dead-letters.jsonl')), [tornTail]);
  });

  it('exits 1 after the same summary when the run is strict (--strict, or strict: true in the file source)', () => {
    const strict = runOn('jobs/tides-dedupe.yaml', cut, dir, ['--strict']);
    assert.equal(strict.status, 1, strict.stderr);
    assert.match(strict.stderr, /30,178 results, .* 1 dead letters/);
    assert.match(strict.stderr, /tideflow: 1 record went to the dead letters and the run is strict \(--strict\): exit 1\n$/);
    assert.deepEqual(deadLetters(path.join(dir, 'out.dead-letters.jsonl')), [tornTail]);

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

describe('dead letters of a text file', () => {
  const dir = temporaryDirectory('tideflow-dead-letters-');
  const sample = fs.readFileSync(path.join(ROOT, 'data', 'bundled', 'sample-8729108.jsonl'), 'utf8').split('\n').slice(0, 4);
  const invalid = '{"station":"8729108","name":"Panama City","lat":30.1497,"lon":-85.6644,"t":"2018-10-09T05:00:00Z","v":"oops","s":0.01,"f":"1,0,0,0","q":"p"}';
  const input = path.join(dir, 'mixed.jsonl');
  fs.writeFileSync(input, [sample[0], sample[1], invalid, 'not json', '', sample[2], sample[3]].join('\n') + '\n');
  const expected = [
    {
      reason: `invalid JSON: ${(() => { try { JSON.parse('not json'); } catch (error) { return (error as Error).message; } })()}`,
      stage: 'decode',
      partition: `file:${input}`,
      offset: 3,
      line: 4,
      payload: 'not json',
      payload_encoding: 'utf8',
    },
    {
      reason: 'field "v" must be a number, got a string "oops"',
      stage: 'validate',
      partition: `file:${input}`,
      offset: 2,
      line: 3,
      payload: invalid,
      payload_encoding: 'utf8',
    },
  ];

  // Needs engine/runtime/run-job.ts to build its dead-letter rows with deadLetterRow of engine/codecs/dead-letter-row.ts.
  it('keep the line as received and its line number, in the same layout for a file output and the console', { todo: 'run-job.ts calls codecs/dead-letter-row.ts deadLetterRow' }, () => {
    const toFile = runOn('jobs/tides-dedupe.yaml', input, dir);
    assert.equal(toFile.status, 0, toFile.stderr);
    assert.deepEqual(readJsonl(path.join(dir, 'out.dead-letters.jsonl')), expected);
    const cwd = temporaryDirectory('tideflow-dead-letters-console-');
    const shown = spawnSync(process.execPath, [CLI, 'run', path.join(ROOT, 'jobs', 'tides-dedupe.yaml'), '--input', input, '--output', 'console', '--checkpoint-dir', path.join(cwd, 'checkpoints')], {
      cwd: ROOT,
      encoding: 'utf8',
    });
    assert.equal(shown.status, 0, shown.stderr);
    assert.deepEqual(readJsonl(path.join(ROOT, '.tideflow', 'output', 'tides-dedupe.dead-letters.jsonl')), expected);
  });
});
