import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { lintJobFiles, loadJobFile } from '../engine/jobfile';
import { formatProblem } from '../engine/core/errors';

/**
 * The config-error corpus: each `test/config-errors/<name>.yaml` is a broken
 * job file and `<name>.expected` the exact `tideflow lint` output for it.
 * The messages are the product here, so they are pinned word for word.
 *
 * To regenerate after a deliberate wording change, run with
 * TIDEFLOW_UPDATE_EXPECTED=1 and review the diff before committing.
 */

// Compiled to dist/test/, the corpus stays in the source tree.
const repoRoot = resolve(__dirname, '..', '..');
const corpus = join('test', 'config-errors');
// Fixed environment: messages must not depend on the machine's variables.
const env = { KAFKA_BROKERS: 'localhost:9092' };

process.chdir(repoRoot);

const cases = readdirSync(join(repoRoot, corpus))
  .filter((name) => name.endsWith('.yaml'))
  .map((name) => name.slice(0, -'.yaml'.length))
  .sort();

test('the corpus has a case for every expected file and the other way round', () => {
  const expected = readdirSync(join(repoRoot, corpus)).filter((name) => name.endsWith('.expected'));
  assert.deepEqual(expected.map((name) => name.slice(0, -'.expected'.length)).sort(), cases);
  assert.ok(cases.length >= 15, `only ${cases.length} cases`);
});

for (const name of cases) {
  test(`config error corpus: ${name}`, () => {
    const file = `${corpus}/${name}.yaml`;
    const actual = lintJobFiles([file], { env, cwd: repoRoot }).map(formatProblem).join('\n');
    const expectedPath = join(repoRoot, corpus, `${name}.expected`);
    if (process.env.TIDEFLOW_UPDATE_EXPECTED === '1') writeFileSync(expectedPath, `${actual}\n`);
    assert.ok(existsSync(expectedPath), `missing ${expectedPath}`);
    assert.ok(actual.length > 0, `${file} should have problems`);
    assert.equal(actual, readFileSync(expectedPath, 'utf8').trimEnd());
  });
}

test('a missing job file is a config error at 1:1', () => {
  const problems = lintJobFiles([`${corpus}/no-such-job.yaml`], { env });
  assert.deepEqual(problems.map(formatProblem), [`${corpus}/no-such-job.yaml:1:1 cannot read job file: no such file`]);
});

test('lint reports the files in the order given', () => {
  const problems = lintJobFiles([`${corpus}/yaml-syntax.yaml`, `${corpus}/empty.yaml`], { env });
  assert.deepEqual([...new Set(problems.map((p) => p.file))], [`${corpus}/yaml-syntax.yaml`, `${corpus}/empty.yaml`]);
});

for (const job of ['tides-dedupe', 'tides-30m-average', 'tides-lunar-day']) {
  test(`jobs/${job}.yaml loads cleanly with and without env overrides`, () => {
    assert.deepEqual(lintJobFiles([`jobs/${job}.yaml`], { env: {} }), []);
    const spec = loadJobFile(`jobs/${job}.yaml`, {
      env: { KAFKA_BROKERS: 'k1:9092,k2:9092', CASSANDRA_KEYSPACE: 'tides_test', SCHEMA_REGISTRY_URL: 'http://registry:8081/apis/ccompat/v7' },
    });
    assert.equal(spec.job, job);
    assert.equal(spec.source.kind, 'kafka');
    if (spec.source.kind === 'kafka') {
      assert.deepEqual(spec.source.kafka.brokers, ['k1:9092', 'k2:9092']);
      assert.equal(spec.source.kafka.topic, 'tides.observations');
      assert.equal(spec.source.kafka.format.registryUrl, 'http://registry:8081/apis/ccompat/v7');
      // Written as ../schemas/..., relative to the job file's directory; absolute once loaded.
      assert.equal(spec.source.kafka.format.readerSchema, join(repoRoot, 'schemas', 'tide_observation.avsc'));
    }
    assert.equal(spec.sink.kind, 'cassandra');
    if (spec.sink.kind === 'cassandra') assert.equal(spec.sink.cassandra.keyspace, 'tides_test');
  });
}

test('the reference jobs produce the output fields their tables and the README document', () => {
  const average = loadJobFile('jobs/tides-30m-average.yaml', { env: {} });
  const lunar = loadJobFile('jobs/tides-lunar-day.yaml', { env: {} });
  const windowOf = (spec: typeof average) => spec.steps.find((step) => step.kind === 'window');
  const averageWindow = windowOf(average);
  const lunarWindow = windowOf(lunar);
  assert.ok(averageWindow?.kind === 'window' && lunarWindow?.kind === 'window');
  assert.deepEqual(averageWindow.window, { kind: 'tumbling', sizeMs: 30 * 60_000, anchorMs: 0 });
  assert.deepEqual(averageWindow.aggregates.map((a) => a.name), ['avg', 'min', 'max', 'count']);
  assert.deepEqual(lunarWindow.window, { kind: 'lunarDay', mode: 'mean', anchorMs: 0 });
  assert.deepEqual(lunarWindow.aggregates.map((a) => `${a.name}=${a.fn}(${a.field})`), [
    'high=max(v)',
    'high_time=time_of_max(v)',
    'low=min(v)',
    'low_time=time_of_min(v)',
    'range=range(v)',
    'mean=avg(v)',
    'count=count(v)',
  ]);
  // Both drop repeats of (station, t) first: a poller's re-sent reading must not count twice.
  for (const spec of [average, lunar]) {
    assert.deepEqual(spec.steps[0], { kind: 'dedupe', id: 'dedupe-observations', key: ['station', 't'], horizonMs: 2 * 3_600_000, at: spec.steps[0].at });
  }
  if (lunar.sink.kind === 'cassandra') {
    assert.equal(lunar.sink.cassandra.table, 'lunar_day');
    assert.deepEqual(lunar.sink.cassandra.primaryKey, { partition: ['station'], clustering: ['window_start'] });
  }
});
