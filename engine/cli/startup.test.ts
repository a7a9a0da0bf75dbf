import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

const ROOT = join(__dirname, '..', '..', '..');
const CLI = join(ROOT, 'bin', 'tideflow.js');
const REGISTRY_PACKAGE = `${join('node_modules', '@confluentinc', 'schemaregistry')}`;

/**
 * Runs the CLI with a preload that prints, at exit, whether the registry
 * client package was loaded: loading it costs about 0.9 s, so only commands
 * that talk to a registry may pay for it (engine/codecs/registry.ts).
 */
function loadsRegistry(args: string[]): { loaded: boolean; status: number | null; stderr: string } {
  const dir = mkdtempSync(join(tmpdir(), 'tideflow-startup-'));
  const preload = join(dir, 'report.js');
  writeFileSync(
    preload,
    `process.on('exit', () => process.stdout.write('\\nREGISTRY_LOADED=' + Object.keys(require.cache).some((file) => file.includes(${JSON.stringify(REGISTRY_PACKAGE)})) + '\\n'));`,
  );
  const result = spawnSync(process.execPath, ['-r', preload, CLI, ...args], { cwd: ROOT, encoding: 'utf8' });
  const match = /REGISTRY_LOADED=(true|false)/.exec(result.stdout);
  assert.ok(match, `no report from the preload; stderr: ${result.stderr}`);
  return { loaded: match[1] === 'true', status: result.status, stderr: result.stderr };
}

test('commands that use no registry do not load its client package', () => {
  const help = loadsRegistry(['--help']);
  assert.equal(help.status, 0);
  assert.equal(help.loaded, false);
  const lint = loadsRegistry(['lint', 'jobs/tides-lunar-day.yaml', 'jobs/tides-dedupe.yaml']);
  assert.equal(lint.status, 0, lint.stderr);
  assert.equal(lint.loaded, false);
  // A Kafka job on a file: the registry of its source is not used.
  const run = loadsRegistry(['run', 'jobs/tides-30m-average.yaml', '--input', 'data/bundled/tides.avro', '--output', 'null', '--quiet', '--checkpoint-dir', mkdtempSync(join(tmpdir(), 'tideflow-startup-ck-'))]);
  assert.equal(run.status, 0, run.stderr);
  assert.equal(run.loaded, false);
});

test('the registry client package is loaded when a registry is first asked something, not when it is made', () => {
  // No server needed: port 9 refuses at once. The main thread of --workers N makes a registry it never asks.
  const script = `
    const { SchemaRegistry } = require(${JSON.stringify(join(ROOT, 'dist', 'engine', 'codecs', 'registry.js'))});
    const loaded = () => Object.keys(require.cache).some((file) => file.includes(${JSON.stringify(REGISTRY_PACKAGE)}));
    const before = loaded();
    const registry = new SchemaRegistry({ url: 'http://127.0.0.1:9' });
    const made = loaded();
    registry.getWriterType(1).catch(() => {}).finally(() => process.stdout.write(JSON.stringify({ before, made, asked: loaded() })));`;
  const result = spawnSync(process.execPath, ['-e', script], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(result.status, 0, result.stderr);
  assert.deepEqual(JSON.parse(result.stdout), { before: false, made: false, asked: true });
});
