#!/usr/bin/env node
'use strict';
// The CLI is compiled by `npm ci` / `npm install` (the package's `prepare` script runs tsc).
const path = require('node:path');
const fs = require('node:fs');
const entry = path.join(__dirname, '..', 'dist', 'engine', 'cli', 'main.js');
if (!fs.existsSync(entry)) {
  process.stderr.write('tideflow: the CLI is not built yet. Run `npm ci` (or `npm run build`) in the repository first.\n');
  process.exit(2);
}
require(entry).main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (err) => { process.stderr.write(`tideflow: internal error: ${err && err.stack || err}\n`); process.exitCode = 1; },
);
