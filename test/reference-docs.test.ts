/**
 * The generated job-file reference (docs/reference.md) and editor schema
 * (schemas/job.schema.json) as committed: current with the component
 * registry, and the editor schema right about the reference jobs.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import Ajv, { type ValidateFunction } from 'ajv';
import { parse } from 'yaml';
import { EDITOR_SCHEMA_FILE, REFERENCE_COMMAND, referenceFiles } from '../engine/jobfile/reference';

const ROOT = join(__dirname, '..', '..');
const JOBS = readdirSync(join(ROOT, 'jobs'))
  .filter((name) => name.endsWith('.yaml'))
  .sort();

test('the committed reference and editor schema are what the registry generates', () => {
  for (const [file, expected] of Object.entries(referenceFiles())) {
    const path = join(ROOT, file);
    assert.ok(existsSync(path), `${file} is missing: run ${REFERENCE_COMMAND}`);
    // Not assert.equal: a diff of two 100 kB texts would bury the one line that matters.
    const stale = readFileSync(path, 'utf8') !== expected;
    assert.ok(!stale, `${file} is stale: run ${REFERENCE_COMMAND}`);
  }
});

let compiled: ValidateFunction | undefined;

/** The committed editor schema, compiled as an editor would read it: standard keywords only. */
function committedEditorSchema(): ValidateFunction {
  const schema = JSON.parse(readFileSync(join(ROOT, EDITOR_SCHEMA_FILE), 'utf8')) as object;
  // strict: an unknown keyword (one of tideflow's own) fails to compile. strictRequired is Ajv's lint
  // against `required` naming keys `properties` does not list, which is how "exactly one kind" is written.
  compiled ??= new Ajv({ strict: true, strictRequired: false, allErrors: true, allowUnionTypes: true }).compile(schema);
  return compiled;
}

test('every reference job validates against the committed editor schema', () => {
  const validate = committedEditorSchema();
  assert.ok(JOBS.length >= 5, `jobs found: ${JOBS.join(', ')}`);
  for (const name of JOBS) {
    const valid = validate(parse(readFileSync(join(ROOT, 'jobs', name), 'utf8')));
    assert.ok(valid, `jobs/${name}: ${JSON.stringify(validate.errors, null, 2)}`);
  }
});

test('the committed editor schema rejects a reference job with a misspelled key', () => {
  const validate = committedEditorSchema();
  const text = readFileSync(join(ROOT, 'jobs', 'tides-lunar-day.yaml'), 'utf8');
  const typo = text.replace('maxOutOfOrder:', 'maxOutOfOrdr:');
  assert.notEqual(typo, text);
  assert.equal(validate(parse(typo)), false);
  assert.deepEqual(
    validate.errors?.map((error) => [error.instancePath, error.keyword, error.params]),
    [['/eventTime', 'additionalProperties', { additionalProperty: 'maxOutOfOrdr' }]],
  );
});

test('every reference job names the editor schema on its first line', () => {
  for (const name of JOBS) {
    const first = readFileSync(join(ROOT, 'jobs', name), 'utf8').split('\n')[0];
    const match = /^# yaml-language-server: \$schema=(\S+)$/.exec(first);
    assert.ok(match, `jobs/${name} starts with ${JSON.stringify(first)}`);
    assert.equal(join(dirname(join(ROOT, 'jobs', name)), match[1]), join(ROOT, EDITOR_SCHEMA_FILE), `jobs/${name}`);
  }
});
