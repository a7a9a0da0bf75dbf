import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { formatProduceSummary, type ProduceSummary } from './produce';

const ROOT = join(__dirname, '..', '..', '..');

const summary: ProduceSummary = {
  file: 'data/bundled/tides.avro',
  topic: 'tides.observations',
  records: 40_000,
  rejected: 0,
  rejectReasons: [],
  partitions: 3,
  createdTopic: false,
  schemaId: 1,
  bytes: 3 * 1048576,
  seconds: 2,
  recordsPerSecond: 20_000,
  stopped: false,
};

test('produce summary: a run stopped before the end of its file says so', () => {
  const line = 'produced 40,000 records to tides.observations (3 partitions, schema id 1) in 2.00 s (20,000 records/s, 3.0 MiB)';
  assert.equal(formatProduceSummary(summary), line);
  assert.equal(formatProduceSummary({ ...summary, stopped: true }), `${line}, stopped before the end of data/bundled/tides.avro`);
});

/** A port nothing listens on: one the OS just gave out and took back. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

test('produce: SIGINT while it waits for an unreachable registry is a stop (exit 0, says what it waited for), not a failure', { timeout: 30_000 }, async () => {
  const port = await closedPort();
  const child = spawn(
    process.execPath,
    [join(ROOT, 'bin', 'tideflow.js'), 'produce', 'data/bundled/tides.avro', '--topic', 't', '--registry', `http://127.0.0.1:${port}`, '--brokers', `127.0.0.1:${port}`],
    { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (text: string) => {
    stderr += text;
    // The first retry line: it is waiting. Now stop it.
    if (/retrying in \d+ ms \(attempt 1\)/.test(stderr) && child.exitCode === null && !child.killed) child.kill('SIGINT');
  });
  const code = await new Promise<number | null>((resolve) => child.on('exit', (exitCode) => resolve(exitCode)));
  assert.equal(code, 0, stderr);
  assert.match(stderr, new RegExp(`produce: stopped while waiting: schema registry http://127.0.0.1:${port} unreachable: cannot register a schema under subject 't-value'`));
  assert.doesNotMatch(stderr, /^tideflow: /m, 'not reported as an error');
});
