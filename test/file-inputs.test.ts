/**
 * `tideflow run --input` on files as people bring them: cut short, with bad
 * lines, straight from NOAA. Runs the real CLI (exit codes and the summary are
 * part of the contract) against files written into a temporary directory.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FakeNoaaServer, NO_DATA_MESSAGE } from './support/noaa-server';
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
        `deadLetters: { jsonl: { path: ${JSON.stringify(path.join(dir, 'strict-out.dead-letters.jsonl'))} } }`,
        `late: { jsonl: { path: ${JSON.stringify(path.join(dir, 'strict-out.late.jsonl'))} } }`,
        'checkpoint:',
        `  file: { dir: ${JSON.stringify(path.join(dir, 'checkpoints'))} }`,
        '',
      ].join('\n'),
    );
    const fromJob = tideflow(['run', job]);
    assert.equal(fromJob.status, 1, fromJob.stderr);
    assert.match(fromJob.stderr, /tideflow: 1 record went to the dead letters and the run is strict \(strict: true in the file source\): exit 1\n$/);
    assert.equal(readJsonl(path.join(dir, 'strict-out.jsonl')).length, 30_202);
    assert.deepEqual(deadLetters(path.join(dir, 'strict-out.dead-letters.jsonl')), [tornTail]);
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
  it('keep the line as received and its line number, in the same layout for a file output and the console', () => {
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

describe('files straight from NOAA', () => {
  const dir = temporaryDirectory('tideflow-noaa-files-');
  const out = (name: string) => path.join(dir, name);
  // Boston's hourly heights and San Francisco's 6-minute levels, as the fake API serves them (test/fixtures/noaa).
  const BOSTON = { station: '8443970', from: Date.UTC(2018, 8, 9), to: Date.UTC(2018, 9, 8, 23) };
  const GOLDEN_GATE = { station: '9414290', from: Date.UTC(2019, 0, 1), to: Date.UTC(2019, 0, 3, 23, 54) };
  let noaa: FakeNoaaServer;
  const saved = async (name: string, query: Record<string, string>): Promise<string> => {
    const url = `${noaa.url}?${new URLSearchParams({ datum: 'MLLW', time_zone: 'gmt', application: 'tideflow-test', ...query })}`;
    const file = out(name);
    fs.writeFileSync(file, await (await fetch(url)).text());
    return file;
  };
  /** `run tides-30m-average` on `input`, results read back (or the failed run). */
  const average = (input: string, name: string, extra: string[] = []) => {
    const run = tideflow(['run', 'jobs/tides-30m-average.yaml', '--input', input, '--output', out(`${name}.jsonl`), '--checkpoint-dir', out('checkpoints'), ...extra]);
    return { run, rows: run.status === 0 ? readJsonl(out(`${name}.jsonl`)) : [] };
  };
  /** The same observations as plain JSONL records: what the answers must amount to. */
  const plain = (name: string, rows: Array<Record<string, unknown>>): string => {
    const file = out(name);
    fs.writeFileSync(file, rows.map((row) => JSON.stringify(row)).join('\n') + '\n');
    return file;
  };

  // Saved before any run: the runs block this process, and a kept-alive connection would not survive them.
  const bostonFt = { station: BOSTON.station, product: 'hourly_height', begin_date: '20180909', end_date: '20181008', units: 'english' };
  const refused = { station: GOLDEN_GATE.station, product: 'water_level', begin_date: '20100101', end_date: '20100102', units: 'metric' };
  before(async () => {
    noaa = await FakeNoaaServer.start();
    await saved('golden-gate.json', { station: GOLDEN_GATE.station, product: 'water_level', begin_date: '20190101', end_date: '20190103', units: 'metric', format: 'json' });
    await saved('boston-ft.json', { ...bostonFt, format: 'json' });
    await saved('boston-ft.csv', { ...bostonFt, format: 'csv' });
    await saved('refusal.json', { ...refused, format: 'json' });
    await saved('refusal.csv', { ...refused, format: 'csv' });
    // A CSV answer names nothing; saved without the station id in its name, it is a station no table knows.
    await saved('answer.csv', { station: BOSTON.station, product: 'hourly_height', begin_date: '20180909', end_date: '20180910', units: 'metric', format: 'csv' });
  });
  after(async () => {
    await noaa.close();
  });

  /** San Francisco's 30-minute averages from the observations of the saved answer, as plain records (computed once). */
  let goldenGateAverages: Array<Record<string, unknown>> | undefined;
  const goldenGateExpected = () => {
    if (goldenGateAverages === undefined) {
      const expected = average(plain('golden-gate.jsonl', noaa.expectedRows('water_level', GOLDEN_GATE.station, GOLDEN_GATE.from, GOLDEN_GATE.to)), 'golden-gate-plain');
      assert.equal(expected.run.status, 0, expected.run.stderr);
      goldenGateAverages = expected.rows;
    }
    return goldenGateAverages;
  };

  it('read a saved JSON answer with its metadata as the station, exactly as the same observations as records', () => {
    const answer = out('golden-gate.json');
    const expected = { rows: goldenGateExpected() };
    assert.equal(expected.rows.length, 144);
    const fromAnswer = average(answer, 'golden-gate', ['--units', 'm']);
    assert.equal(fromAnswer.run.status, 0, fromAnswer.run.stderr);
    assert.deepEqual(fromAnswer.rows, expected.rows);
    // The units are what the request asked for, which the answer does not say: never guessed.
    const guessed = average(answer, 'golden-gate-no-units');
    assert.equal(guessed.run.status, 2);
    assert.match(guessed.run.stderr, /answers of NOAA's API do not say the units of their water levels.*Say which: --units m or --units ft/);
  });

  it('read answers in feet, JSON or CSV, as metres (Boston\'s range is 3.97 m, not 13 m)', () => {
    const json = out('boston-ft.json');
    const csv = out('boston-ft.csv');
    // The observations as the fixture holds them (metres, up to 7 decimals), before the server rounds them.
    const { name, lat, lon } = noaa.station(BOSTON.station);
    const observed = noaa
      .observations('hourly_height', BOSTON.station)
      .filter((obs) => obs.t >= BOSTON.from && obs.t <= BOSTON.to)
      .map((obs) => ({ station: BOSTON.station, name, lat, lon, ...obs }));
    const metres = average(plain('boston.jsonl', observed), 'boston-plain');
    const fromJson = average(json, 'boston-json', ['--units', 'ft']);
    const fromCsv = average(csv, 'boston-csv', ['--units', 'ft', '--station', BOSTON.station]);
    for (const { run } of [metres, fromJson, fromCsv]) assert.equal(run.status, 0, run.stderr);
    assert.deepEqual(fromCsv.rows, fromJson.rows);
    assert.equal(fromJson.rows.length, metres.rows.length);
    // Feet with 3 decimals, converted: within half a thousandth of a foot of the observations.
    fromJson.rows.forEach((row, i) => {
      for (const field of ['avg', 'min', 'max']) assert.ok(Math.abs((row[field] as number) - (metres.rows[i][field] as number)) <= 0.0003048 / 2 + 1e-9, `${field} of window ${i}`);
    });
    const range = Math.max(...fromJson.rows.map((row) => row.max as number)) - Math.min(...fromJson.rows.map((row) => row.min as number));
    assert.ok(range > 3.9 && range < 4.1, `range ${range}`);
    // Without --units the CSV is refused with the hint, instead of read as metres.
    const guessed = average(csv, 'boston-no-units', ['--station', BOSTON.station]);
    assert.equal(guessed.run.status, 2);
    assert.match(guessed.run.stderr, /its header \(noaa-api-csv layout: "Date Time, Water Level, Sigma, I, L"\) does not say the units of its water levels.*Say which: --units m or --units ft/);
  });

  it("say NOAA's message for NOAA's error answer: exit 2 for a file of nothing else, a dead letter in a directory", () => {
    const refusal = out('refusal.json');
    const refusalCsv = out('refusal.csv');
    for (const file of [refusal, refusalCsv]) {
      const { run } = average(file, 'refused', ['--units', 'm']);
      assert.equal(run.status, 2);
      assert.equal(run.stderr, `tideflow: ${file} is NOAA's error answer, not observations: NOAA CO-OPS API error: ${NO_DATA_MESSAGE}\n`);
    }
    const answers = out('answers');
    fs.mkdirSync(answers);
    fs.copyFileSync(refusal, path.join(answers, '2010-01-01.json'));
    fs.copyFileSync(out('golden-gate.json'), path.join(answers, '2019-01-01.json'));
    const { run, rows } = average(answers, 'answers', ['--units', 'm']);
    assert.equal(run.status, 0, run.stderr);
    assert.deepEqual(rows, goldenGateExpected());
    assert.deepEqual(deadLetters(out('answers.dead-letters.jsonl')), [
      {
        reason: `2010-01-01.json: NOAA CO-OPS API error: ${NO_DATA_MESSAGE}`,
        stage: 'decode',
        partition: `file:${answers}`,
        offset: 0,
        payload: fs.readFileSync(refusal, 'utf8').trim(),
        payload_encoding: 'utf8',
      },
    ]);
    assert.equal(tideflow(['run', 'jobs/tides-30m-average.yaml', '--input', answers, '--units', 'm', '--output', out('strict.jsonl'), '--checkpoint-dir', out('checkpoints'), '--strict', '--quiet']).status, 1);
  });

  it('take station names and positions from --station or a stations file (CO-OPS metadata CSV) for stations not bundled', () => {
    const csv = out('answer.csv');
    const unknown = average(csv, 'unknown', ['--units', 'm', '--station', '8638610']);
    assert.equal(unknown.run.status, 2);
    assert.match(unknown.run.stderr, /^tideflow: station 8638610 is not in data\/bundled\/stations.json, so its name and position are unknown: give them with --station "8638610,NAME,LAT,LON"/);
    const stations = out('stations.csv');
    fs.writeFileSync(stations, 'id,name,lat,lon\n8638610,Sewells Point,36.9467,-76.33\n');
    const where = (rows: Array<Record<string, unknown>>) => [...new Set(rows.map((row) => `${row.station} ${row.name} ${row.lat} ${row.lon}`))];
    const fromFile = tideflow(['run', 'jobs/tides-dedupe.yaml', '--input', csv, '--units', 'm', '--station', '8638610', '--stations', stations, '--output', out('from-file.jsonl'), '--checkpoint-dir', out('checkpoints')]);
    assert.equal(fromFile.status, 0, fromFile.stderr);
    assert.deepEqual(where(readJsonl(out('from-file.jsonl'))), ['8638610 Sewells Point 36.9467 -76.33']);
    const inline = tideflow(['run', 'jobs/tides-dedupe.yaml', '--input', csv, '--units', 'm', '--station', '8638610,Sewells Point,36.95,-76.33', '--output', out('inline.jsonl'), '--checkpoint-dir', out('checkpoints')]);
    assert.equal(inline.status, 0, inline.stderr);
    assert.deepEqual(where(readJsonl(out('inline.jsonl'))), ['8638610 Sewells Point 36.95 -76.33']);
    // CO-OPS' station metadata CSV as the stations file: it wins over the bundled table.
    const metadata = path.join(ROOT, 'engine', 'codecs', 'fixtures', '9454460_9454240_9454050_station_metadata.csv');
    const valdez = tideflow(['run', 'jobs/tides-dedupe.yaml', '--input', csv, '--units', 'm', '--station', '9454240', '--stations', metadata, '--output', out('valdez.jsonl'), '--checkpoint-dir', out('checkpoints')]);
    assert.equal(valdez.status, 0, valdez.stderr);
    assert.deepEqual(where(readJsonl(out('valdez.jsonl'))), ['9454240 Valdez 61.125 -146.362']);
    const badOption = tideflow(['run', 'jobs/tides-dedupe.yaml', '--input', csv, '--units', 'm', '--station', '8638610,Sewells Point', '--output', out('bad.jsonl')]);
    assert.equal(badOption.status, 2);
    assert.match(badOption.stderr, /^tideflow: station "8638610,Sewells Point" has 2 fields; give the station id, or id,name,lat,lon/);
  });
});
