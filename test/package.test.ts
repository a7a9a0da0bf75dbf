/**
 * tideflow as a user's project gets it: `npm pack`, install the tarball into
 * a fresh project, compile a TypeScript file that imports 'tideflow' with
 * tsc, and run a job built in code and a reference job shipped in the
 * package. The tarball carries no tests.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ROOT, temporaryDirectory } from './support/run-local';

const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';

const consumer = `
import { defineJob, mapRows, run, formatProblem, ConfigError, type Row } from 'tideflow';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const bundled = join(__dirname, 'node_modules', 'tideflow', 'data', 'bundled', 'tides.avro');

async function main(): Promise<void> {
  const feet = (row: Row): Row => ({ ...row, v: typeof row.v === 'number' ? row.v * 3.28084 : null });
  const definition = defineJob({
    job: 'consumer-feet',
    source: { file: { path: bundled } },
    eventTime: { field: 't', maxOutOfOrder: '30m' },
    steps: [
      { dedupe: { id: 'dedupe', key: ['station', 't'], horizon: '2h' } },
      mapRows('feet', feet),
      { window: { id: 'daily', key: ['station'], tumbling: { size: '24h' }, aggregate: { high_ft: 'max(v)', count: 'count(v)' } } },
    ],
    sink: { jsonl: { path: 'feet.jsonl' } },
  });
  const coded = await run(definition, { output: 'feet.jsonl', checkpointDir: 'checkpoints' });
  // A reference job shipped in the package, run from here: its paths are its own.
  const shipped = await run(join(__dirname, 'node_modules', 'tideflow', 'jobs', 'tides-lunar-day.yaml'), { input: bundled, output: 'lunar.jsonl', checkpointDir: 'checkpoints' });
  let problems: string[] = [];
  try {
    defineJob({ job: 'x', source: { file: { path: bundled } }, eventTime: { field: 't' }, steps: [], sink: { nowhere: {} } });
  } catch (error) {
    if (error instanceof ConfigError) problems = error.problems.map(formatProblem);
  }
  const lines = (file: string) => readFileSync(file, 'utf8').trim().split('\\n').length;
  console.log(JSON.stringify({ feet: lines('feet.jsonl'), feetResults: coded.counters.resultsOut, lunar: lines('lunar.jsonl'), lunarResults: shipped.counters.resultsOut, problems }));
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
`;

test('npm pack -> install into a fresh project -> tsc -> a job built in code and a shipped job run; no tests in the tarball', { timeout: 300_000 }, () => {
  const dir = temporaryDirectory('tideflow-package-');
  execFileSync(NPM, ['pack', '--ignore-scripts', '--pack-destination', dir], { cwd: ROOT, stdio: 'pipe' });
  const tarball = join(dir, JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).name + '-' + JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version + '.tgz');
  const listing = execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8' }).split('\n');
  assert.deepEqual(listing.filter((path) => /\.test\.|\/test\/|fixtures\//.test(path)), [], 'no tests or fixtures in the tarball');
  assert.ok(listing.includes('package/dist/engine/index.js') && listing.includes('package/dist/engine/index.d.ts'), 'main and types are in it');

  const project = join(dir, 'consumer');
  mkdirSync(project);
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true }));
  writeFileSync(
    join(project, 'tsconfig.json'),
    JSON.stringify({ compilerOptions: { target: 'ES2022', module: 'node16', moduleResolution: 'node16', strict: true, types: ['node'], typeRoots: [join(ROOT, 'node_modules', '@types')], skipLibCheck: true } }),
  );
  writeFileSync(join(project, 'consumer.ts'), consumer);
  execFileSync(NPM, ['install', tarball, '--ignore-scripts', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error'], { cwd: project, stdio: 'pipe' });
  const tsc = spawnSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], { cwd: project, encoding: 'utf8' });
  assert.equal(tsc.status, 0, `tsc: ${tsc.stdout}${tsc.stderr}`);
  const ran = spawnSync(process.execPath, ['consumer.js'], { cwd: project, encoding: 'utf8' });
  assert.equal(ran.status, 0, ran.stderr);
  const outcome = JSON.parse(ran.stdout.trim().split('\n').at(-1)!) as { feet: number; feetResults: number; lunar: number; lunarResults: number; problems: string[] };
  assert.equal(outcome.lunar, 1413, 'the shipped lunar-day job on the bundled data');
  assert.equal(outcome.lunarResults, 1413);
  assert.equal(outcome.feet, outcome.feetResults);
  assert.ok(outcome.feet > 1000);
  assert.ok(outcome.problems.some((problem) => /^defineJob: sink: .*nowhere/.test(problem)), outcome.problems.join('\n'));
});
