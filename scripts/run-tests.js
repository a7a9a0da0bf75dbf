#!/usr/bin/env node
'use strict';
// Runs every compiled test (unit tests next to the code, cross-cutting and
// real-server tests under test/) with Node's built-in test runner.
// Real-server tests find the cluster through KAFKA_BROKERS, SCHEMA_REGISTRY_URL
// and CASSANDRA_CONTACT_POINTS; `npm run cluster:up` writes them to .cluster/env,
// which is loaded here when present so `npm test` just works after cluster:up.
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const envFile = path.join(root, '.cluster', 'env');
const env = { ...process.env };
if (fs.existsSync(envFile)) {
  for (const line of fs.readFileSync(envFile, 'utf8').split('\n')) {
    const m = /^(?:export\s+)?([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line.trim());
    if (m && env[m[1]] === undefined) env[m[1]] = m[2].replace(/^['"]|['"]$/g, '');
  }
}
const only = process.argv.slice(2);
const targets = only.length > 0 ? only : ['dist/engine', 'dist/test'];
const result = spawnSync(process.execPath, ['--test', '--test-force-exit', '--test-reporter=spec', ...targets], {
  cwd: root,
  env,
  stdio: 'inherit',
});
process.exit(result.status === null ? 1 : result.status);
