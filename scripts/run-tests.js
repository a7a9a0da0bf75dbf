#!/usr/bin/env node
'use strict';
// Runs every compiled test (unit tests next to the code, cross-cutting and
// real-server tests under test/) with Node's built-in test runner: the
// `*.test.js` files under dist/engine and dist/test, or under the directories
// given (files given are run as they are). Support modules (test/support/,
// the faults harness) are not tests, so they are not run as such.
// Real-server tests find the cluster through KAFKA_BROKERS, SCHEMA_REGISTRY_URL
// and CASSANDRA_CONTACT_POINTS; `npm run cluster:up` writes them to .cluster/env,
// which is loaded here when present so `npm test` just works after cluster:up.
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');

/** The `*.test.js` files under each directory of `targets` (sorted), and each file of `targets` itself. */
function testFiles(targets) {
  const files = [];
  const walk = (dir) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.name.endsWith('.test.js')) files.push(full);
    }
  };
  for (const target of targets) {
    const full = path.resolve(root, target);
    if (fs.existsSync(full) && fs.statSync(full).isDirectory()) walk(full);
    else files.push(full);
  }
  return files.map((file) => path.relative(root, file));
}

/** process.env with the cluster's addresses from .cluster/env where the environment does not set them. */
function clusterEnvironment() {
  const envFile = path.join(root, '.cluster', 'env');
  const env = { ...process.env };
  if (fs.existsSync(envFile)) {
    for (const line of fs.readFileSync(envFile, 'utf8').split('\n')) {
      const m = /^(?:export\s+)?([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line.trim());
      if (m && env[m[1]] === undefined) env[m[1]] = m[2].replace(/^['"]|['"]$/g, '');
    }
  }
  return env;
}

if (require.main === module) {
  const only = process.argv.slice(2);
  const files = testFiles(only.length > 0 ? only : ['dist/engine', 'dist/test']);
  if (files.length === 0) {
    process.stderr.write(`run-tests: no *.test.js files in ${only.join(' ') || 'dist/engine dist/test'} (build first: npx tsc -p tsconfig.json)\n`);
    process.exit(2);
  }
  const result = spawnSync(process.execPath, ['--test', '--test-force-exit', '--test-reporter=spec', ...files], {
    cwd: root,
    env: clusterEnvironment(),
    stdio: 'inherit',
  });
  process.exit(result.status === null ? 1 : result.status);
}

module.exports = { testFiles, clusterEnvironment };
