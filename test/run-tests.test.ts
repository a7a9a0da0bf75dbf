import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ROOT } from './support/run-local';

test('scripts/run-tests.js runs the *.test.js files of a directory, not the support modules beside them', () => {
  // Shaped like dist/test: a test file, and support modules (which Node's own pattern, **/test/**/*.js, would run too).
  const dir = join(mkdtempSync(join(tmpdir(), 'tideflow-runner-')), 'test');
  mkdirSync(join(dir, 'support'), { recursive: true });
  writeFileSync(join(dir, 'sample.test.js'), "require('node:test').test('the sample test', () => {});\n");
  writeFileSync(join(dir, 'harness.js'), 'module.exports = {};\n');
  writeFileSync(join(dir, 'support', 'cluster.js'), 'module.exports = {};\n');
  // Not as a child of this test run (NODE_TEST_CONTEXT would make it report to this runner instead of printing).
  const env = { ...process.env };
  delete env.NODE_TEST_CONTEXT;
  const run = spawnSync(process.execPath, [join(ROOT, 'scripts', 'run-tests.js'), dir], { cwd: ROOT, encoding: 'utf8', env });
  assert.equal(run.status, 0, run.stderr);
  assert.match(run.stdout, /✔ the sample test/);
  assert.match(run.stdout, /ℹ tests 1\n/);
  assert.doesNotMatch(run.stdout, /harness\.js|cluster\.js/);
});

test('no test is lost: every compiled file that declares tests is a *.test.js file the runner picks', () => {
  const { testFiles } = require(join(ROOT, 'scripts', 'run-tests.js')) as { testFiles(targets: string[]): string[] };
  const picked = new Set(testFiles(['dist/engine', 'dist/test']));
  const { execFileSync } = require('node:child_process') as typeof import('node:child_process');
  // Compiled test declarations read `(0, node_test_1.test)(`, `.describe)(`, `.it)(`.
  const declaring = execFileSync('grep', ['-rlE', String.raw`\(0, node_test_1\.(test|describe|it)\)\(`, 'dist/engine', 'dist/test'], { cwd: ROOT, encoding: 'utf8' })
    .split('\n')
    .filter((file) => file.endsWith('.js'));
  assert.ok(declaring.length > 80, `${declaring.length} files declare tests`);
  assert.deepEqual(declaring.filter((file) => !picked.has(file)), []);
  assert.ok([...picked].every((file) => file.endsWith('.test.js')));
});
