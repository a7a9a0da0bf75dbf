#!/usr/bin/env -S node --max-semi-space-size=64
'use strict';
// Semi-spaces (V8's young generation) of 64 MB instead of 16: kafkajs makes several short-lived
// objects per Kafka record. Profiled, tides-lunar-day end to end: the collector's share fell from
// 23% to 12% and the job ran at 216k instead of 142k records/s. `npm run bench` runs with it too.
// Run `node bin/tideflow.js` to go without it, or `node --max-semi-space-size=N bin/tideflow.js`.
// The CLI is compiled by `npm ci` / `npm install` (the package's `prepare` script runs tsc).
const path = require('node:path');
const fs = require('node:fs');
const entry = path.join(__dirname, '..', 'dist', 'engine', 'cli', 'main.js');
if (!fs.existsSync(entry)) {
  process.stderr.write('tideflow: the CLI is not built yet. Run `npm ci` (or `npm run build`) in the repository first.\n');
  process.exit(2);
}
// Once main() has returned, everything durable is done (results flushed,
// checkpoint saved). A client library that still holds a socket or timer must
// not keep the process alive: exit on our own after a short grace period.
function finish(code) {
  process.exitCode = code;
  setTimeout(() => process.exit(code), 1500).unref();
}
require(entry).main(process.argv.slice(2)).then(
  finish,
  (err) => { process.stderr.write(`tideflow: internal error: ${err && err.stack || err}\n`); finish(1); },
);
