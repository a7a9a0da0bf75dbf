import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { expectedLunarDays, readBundled } from '../../test/support/plain';

/** The CLI as a user runs it: `node bin/tideflow.js ...`, from a working directory of the test's choosing. */
const ROOT = join(__dirname, '..', '..', '..');
const CLI = join(ROOT, 'bin', 'tideflow.js');
const BUNDLED = join(ROOT, 'data', 'bundled', 'tides.avro');

function tideflow(args: string[], cwd: string): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [CLI, ...args], { cwd, encoding: 'utf8', env: { ...process.env, TIDEFLOW_DEBUG: '' } });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

function lines(path: string): Array<Record<string, unknown>> {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

describe('paths: those in a job file start at its directory, those on the command line at the working directory', () => {
  it('runs a reference job from another directory: its reader schema is found, --input and --output are the working directory\'s', () => {
    const elsewhere = mkdtempSync(join(tmpdir(), 'tideflow-elsewhere-'));
    mkdirSync(join(elsewhere, 'data'));
    copyFileSync(BUNDLED, join(elsewhere, 'data', 'tides.avro'));
    const run = tideflow(['run', join(ROOT, 'jobs', 'tides-lunar-day.yaml'), '--input', 'data/tides.avro', '--output', 'out/lunar.jsonl', '--quiet'], elsewhere);
    assert.equal(run.status, 0, run.stderr);
    assert.equal(lines(join(elsewhere, 'out', 'lunar.jsonl')).length, 1413);
    // Local checkpoints by default in the working directory too (the job file does not name a directory).
    assert.ok(existsSync(join(elsewhere, '.tideflow', 'checkpoints')), 'default checkpoint directory in the working directory');
    // lint from there agrees.
    const lint = tideflow(['lint', join(ROOT, 'jobs', 'tides-lunar-day.yaml'), join(ROOT, 'jobs', 'tides-30m-average.yaml'), join(ROOT, 'jobs', 'tides-dedupe.yaml')], elsewhere);
    assert.equal(lint.status, 0, lint.stderr);
  });

  it("a job file's own data file, outputs and checkpoint directory start at its directory", () => {
    // project/jobs/local.yaml reads project/data/tides.avro and writes project/out/...; run from elsewhere.
    const project = mkdtempSync(join(tmpdir(), 'tideflow-project-'));
    const elsewhere = mkdtempSync(join(tmpdir(), 'tideflow-elsewhere-'));
    for (const dir of ['jobs', 'data', 'schemas']) mkdirSync(join(project, dir));
    copyFileSync(BUNDLED, join(project, 'data', 'tides.avro'));
    writeFileSync(
      join(project, 'jobs', 'local.yaml'),
      `job: local-paths
source:
  file: { path: ../data/tides.avro }
eventTime: { field: t, maxOutOfOrder: 30m }
steps:
  - dedupe: { id: dedupe, key: [station, t], horizon: 2h }
sink:
  jsonl: { path: ../out/observations.jsonl }
deadLetters:
  jsonl: { path: ../out/dead-letters.jsonl }
late:
  jsonl: { path: ../out/late.jsonl }
checkpoint:
  file: { dir: ../state, interval: 10ms }
`,
    );
    const run = tideflow(['run', join(project, 'jobs', 'local.yaml'), '--quiet'], elsewhere);
    assert.equal(run.status, 0, run.stderr);
    assert.equal(lines(join(project, 'out', 'observations.jsonl')).length, 81_385);
    assert.ok(existsSync(join(project, 'out', 'dead-letters.jsonl')));
    assert.ok(existsSync(join(project, 'state')), "the job's checkpoint directory, beside the job");
    assert.deepEqual(readdirSync(elsewhere), [], 'nothing written in the working directory');
    // --checkpoint-dir on the command line wins, relative to the working directory.
    const again = tideflow(['run', join(project, 'jobs', 'local.yaml'), '--quiet', '--checkpoint-dir', 'ck'], elsewhere);
    assert.equal(again.status, 0, again.stderr);
    assert.deepEqual(readdirSync(elsewhere), ['ck']);
  });
});

describe('--output chooses the sink by the extension', () => {
  it('writes CSV to a .csv file: a header, ISO timestamps with milliseconds, the same rows as JSONL', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tideflow-csv-out-'));
    const job = join(ROOT, 'jobs', 'tides-lunar-day.yaml');
    const csv = tideflow(['run', job, '--input', BUNDLED, '--output', 'lunar.csv', '--quiet'], dir);
    assert.equal(csv.status, 0, csv.stderr);
    const jsonl = tideflow(['run', job, '--input', BUNDLED, '--output', 'lunar.jsonl', '--quiet'], dir);
    assert.equal(jsonl.status, 0, jsonl.stderr);
    const text = readFileSync(join(dir, 'lunar.csv'), 'utf8');
    const [header, ...records] = text.split('\r\n');
    assert.equal(header, 'station,window_start,window_end,high,high_time,low,low_time,range,mean,count');
    assert.equal(records.pop(), '', 'the file ends with a line break');
    const expected = lines(join(dir, 'lunar.jsonl'));
    assert.equal(records.length, expected.length);
    // Field for field what the JSONL sink wrote: timestamps as the same ISO text, numbers as JSON writes them.
    const columns = header.split(',');
    records.forEach((record, i) => {
      const fields = record.split(',');
      assert.deepEqual(fields, columns.map((column) => String(expected[i][column])), `row ${i}`);
    });
    assert.match(records[0], /^\d+,\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z,/);
    // Side outputs beside it, as JSON lines.
    assert.ok(existsSync(join(dir, 'lunar.dead-letters.jsonl')) && existsSync(join(dir, 'lunar.late.jsonl')));
  });

  it('refuses an extension it cannot write (exit 2, the supported ones listed), before reading anything', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tideflow-bad-out-'));
    for (const output of ['results.txt', 'results']) {
      const run = tideflow(['run', join(ROOT, 'jobs', 'tides-lunar-day.yaml'), '--input', BUNDLED, '--output', output], dir);
      assert.equal(run.status, 2, run.stderr);
      const what = output === 'results' ? 'a file without an extension' : "'.txt' files";
      assert.equal(
        run.stderr,
        `tideflow: --output ${output}: cannot write ${what}; give a .jsonl or .json file (JSON lines), a .csv file (CSV with a header), console (a table), - (JSON lines on stdout) or null\n`,
      );
    }
    assert.deepEqual(readdirSync(dir), [], 'nothing written');
  });
});

describe('--output console: one section per station with labelled totals, partial windows marked', () => {
  const STATIONS = ['8410140', '8443970', '8729108', '8761724', '9410230', '9414290', '9454460'];

  it('tides-lunar-day: each station once; the lunar days the input began or ended in marked and left out of the summary', async () => {
    const run = tideflow(['run', join(ROOT, 'jobs', 'tides-lunar-day.yaml'), '--input', BUNDLED, '--output', 'console', '--quiet', '--checkpoint-dir', mkdtempSync(join(tmpdir(), 'tideflow-ck-'))], ROOT);
    assert.equal(run.status, 0, run.stderr);
    for (const station of STATIONS) assert.equal(run.stdout.split(`\nstation ${station}: `).length, 2, `one section for ${station}`);
    assert.match(run.stdout, /\n7 stations, 1,413 windows in total, 13 partial\n\* partial: the input began or ended inside the window/);
    // 8729108 has four lunar days in the bundled data, the first and last cut by the input.
    const from = run.stdout.indexOf('\nstation 8729108: ') + 1;
    const section = run.stdout.slice(from, run.stdout.indexOf('\n\n', from));
    assert.match(section, /^station 8729108: 4 windows in total, 2 partial \(\*\); input 2018-10-09 00:00 \.\. 2018-10-12 00:24\n/);
    const days = expectedLunarDays(await readBundled()).filter((row) => row.station === '8729108');
    const whole = days.slice(1, -1).map((row) => row.range as number);
    const mean = whole.reduce((sum, value) => sum + value, 0) / whole.length;
    const summary = `  summary of the 2 whole windows: range ${Math.min(...whole).toFixed(3)}..${Math.max(...whole).toFixed(3)} (mean ${mean.toFixed(3)});`;
    assert.ok(section.includes(summary), `${summary}\nin\n${section}`);
    const marked = section.split('\n').filter((line) => line.startsWith('* 2018'));
    assert.deepEqual(marked.map((line) => line.slice(2, 18)), ['2018-10-08 04:15', '2018-10-11 06:46']);
  });

  it('tides-dedupe: grouped by station (its dedupe key without the event time), each once', () => {
    const run = tideflow(['run', join(ROOT, 'jobs', 'tides-dedupe.yaml'), '--input', BUNDLED, '--output', 'console', '--quiet', '--checkpoint-dir', mkdtempSync(join(tmpdir(), 'tideflow-ck-'))], ROOT);
    assert.equal(run.status, 0, run.stderr);
    for (const station of STATIONS) assert.match(run.stdout, new RegExp(`\\nstation ${station}: [0-9,]+ rows in total\\n`));
    assert.equal(run.stdout.split('\nstation ').length, 1 + STATIONS.length);
    assert.match(run.stdout, /\n7 stations, 81,385 rows in total\n$/);
    assert.doesNotMatch(run.stdout, /results/);
  });
});

describe('a first afternoon: --version, empty inputs', () => {
  it('--version (and -V) prints the package version', () => {
    const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    for (const flag of ['--version', '-V']) {
      const run = tideflow([flag], ROOT);
      assert.equal(run.status, 0, run.stderr);
      assert.equal(run.stdout, `${version}\n`);
    }
  });

  it('an input without records says why instead of a bare "0 records" (and an empty Avro file is no error)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tideflow-empty-'));
    const files: Array<[string, string, string]> = [
      ['empty.jsonl', '', 'is empty (0 bytes): is it the file you meant, and did its download or export finish?'],
      ['empty.csv', '', 'is empty (0 bytes): is it the file you meant, and did its download or export finish?'],
      ['empty.avro', '', 'is empty (0 bytes): is it the file you meant, and did its download or export finish?'],
      ['blank.jsonl', '\n  \n\n', 'holds only blank lines'],
      ['header.csv', 'Date Time, Water Level, Sigma\n', 'holds a header line and no data lines'],
    ];
    for (const [name, text, why] of files) {
      writeFileSync(join(dir, name), text);
      const args = ['run', join(ROOT, 'jobs', 'tides-lunar-day.yaml'), '--input', name, '--output', `${name}.out.jsonl`];
      const run = tideflow(name.endsWith('.csv') ? [...args, '--station', '8454000', '--units', 'm'] : args, dir);
      assert.equal(run.status, 0, run.stderr);
      assert.equal(run.stderr.split('\n')[0], `tides-lunar-day: 0 records: ${name} ${why}`);
    }
  });
});

