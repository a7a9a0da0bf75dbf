#!/usr/bin/env node
'use strict';
// `npm run faults`: the fault-injection suite (test/faults/) at full size against
// the servers of `npm run cluster:up`, then test/faults/REPORT.md from the outcomes
// the scenarios appended to .tideflow/faults/results.jsonl.
// Compiles nothing: the npm script runs tsc first. FAULTS_SIZE=ci in the
// environment runs the CI size instead (what `npm test` runs).
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { testFiles } = require('./run-tests');

const root = path.join(__dirname, '..');
// Running the fault suite on purpose includes the scenarios that stop and restart servers.
const env = { ...process.env, FAULTS_SIZE: process.env.FAULTS_SIZE || 'full', TIDEFLOW_FAULTS_STOP_SERVERS: process.env.TIDEFLOW_FAULTS_STOP_SERVERS || '1' };
// The cluster's addresses, as scripts/run-tests.js loads them.
const envFile = path.join(root, '.cluster', 'env');
if (fs.existsSync(envFile)) {
  for (const line of fs.readFileSync(envFile, 'utf8').split('\n')) {
    const m = /^(?:export\s+)?([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line.trim());
    if (m && env[m[1]] === undefined) env[m[1]] = m[2].replace(/^['"]|['"]$/g, '');
  }
}

const suite = path.join(root, 'dist', 'test', 'faults');
const reportModule = path.join(suite, 'report.js');
if (!fs.existsSync(reportModule)) {
  process.stderr.write('faults: dist/test/faults is not built; run `npm run faults` (it compiles first) or `npm run build`.\n');
  process.exit(2);
}
const { RESULTS_FILE, readOutcomes, renderReport } = require(reportModule);

// This run's outcomes only.
fs.rmSync(RESULTS_FILE, { force: true });
const started = Date.now();
// The scenarios only: the harness and support modules beside them are not tests.
const scenarios = testFiles([path.relative(root, suite)]);
const result = spawnSync(process.execPath, ['--test', '--test-force-exit', '--test-reporter=spec', ...scenarios], { cwd: root, env, stdio: 'inherit' });
const minutes = ((Date.now() - started) / 60000).toFixed(1);

const outcomes = readOutcomes(RESULTS_FILE);
const report = path.join(root, 'test', 'faults', 'REPORT.md');
fs.writeFileSync(report, renderReport(outcomes, `Fault-injection report (${env.FAULTS_SIZE} size, ${minutes} min)`));
process.stderr.write(`faults: ${outcomes.length} outcomes in ${minutes} min -> ${path.relative(root, report)}\n`);
process.exit(result.status === null ? 1 : result.status);
