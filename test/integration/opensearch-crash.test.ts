// SIGKILL at random instants while the OpenSearch sink indexes, then a
// restart from the last checkpoint: the index ends up exactly as one run
// that never crashed would leave it (count, ids, contents).
//
//   set -a; . .cluster/env; set +a; node --test dist/test/integration/opensearch-crash.test.js
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import type { Row } from '../../engine/core/batch';
import { crashWriterRows } from '../support/opensearch-crash-writer';
import { allDocuments, expectedDocument, requireOpenSearch, scratchIndices } from '../support/opensearch';

const scratch = scratchIndices();

const WRITER = join(__dirname, '..', 'support', 'opensearch-crash-writer.js');
const COPIES = 15;
const KILLS = 10;

interface WriterExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  output: string;
}

/**
 * Runs the writer; with `kill`, SIGKILLs it `delayMs` after its `checkpoints`-th
 * checkpoint of this run (0: after it began indexing), unless it finished
 * first. Counted in checkpoints, the kills land inside the run however fast
 * the machine indexes.
 */
function runWriter(index: string, checkpointFile: string, rowsFile: string, kill?: { checkpoints: number; delayMs: number }): Promise<WriterExit> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [WRITER, index, checkpointFile, rowsFile], { stdio: ['ignore', 'pipe', 'pipe'], env: process.env });
    let output = '';
    let timer: NodeJS.Timeout | null = null;
    child.stdout.on('data', (chunk) => {
      output += chunk;
      if (kill === undefined || timer !== null || !output.includes('indexing from row')) return;
      const checkpoints = output.split('\n').filter((line) => line.startsWith('checkpoint ')).length;
      if (checkpoints >= kill.checkpoints) timer = setTimeout(() => child.kill('SIGKILL'), kill.delayMs);
    });
    child.stderr.on('data', (chunk) => (output += chunk));
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (timer) clearTimeout(timer);
      resolve({ code, signal, output });
    });
  });
}

test('SIGKILL at 10 random instants during indexing, restarts from the checkpoint: count and contents exact, no duplicate ids', async (t) => {
  if (!(await requireOpenSearch(t))) return;
  const index = scratch.index('crash');
  const directory = mkdtempSync(join(tmpdir(), 'tideflow-opensearch-crash-'));
  t.after(() => rmSync(directory, { recursive: true, force: true }));
  const checkpointFile = join(directory, 'checkpoint');
  const rows: Row[] = await crashWriterRows(COPIES);
  const rowsFile = join(directory, 'rows.json');
  writeFileSync(rowsFile, JSON.stringify(rows));
  // Kill instants: after 0-1 checkpoints of each run (of 500 rows each, 42 in all), then 0-60 ms into the next
  // batches; drawn anew each time, the seed is in the diagnostics.
  const seed = Date.now() % 2 ** 31;
  t.diagnostic(`kill instants from seed ${seed}`);
  const kills = fc.sample(fc.noBias(fc.record({ checkpoints: fc.integer({ min: 0, max: 1 }), delayMs: fc.integer({ min: 0, max: 60 }) })), { numRuns: KILLS, seed });
  let killed = 0;
  for (const kill of kills) {
    const exit = await runWriter(index, checkpointFile, rowsFile, kill);
    const position = existsSync(checkpointFile) ? readFileSync(checkpointFile, 'utf8') : '0';
    t.diagnostic(`run killed ${kill.delayMs} ms after its checkpoint ${kill.checkpoints}: ${exit.signal ?? `exit ${exit.code}`}, checkpoint at row ${position}`);
    if (exit.signal === 'SIGKILL') killed++;
    else assert.equal(exit.code, 0, exit.output);
    if (exit.output.includes('done')) break;
  }
  assert.equal(killed, KILLS, `only ${killed} runs were killed before the writer finished; more rows are needed on this machine`);
  const last = await runWriter(index, checkpointFile, rowsFile);
  assert.equal(last.code, 0, last.output);

  const documents = await allDocuments(index);
  assert.equal(documents.size, rows.length, 'one document per result');
  const count = await fetch(`${process.env.OPENSEARCH_URL ?? 'http://127.0.0.1:9200'}/${index}/_count`).then((response) => response.json() as Promise<{ count: number }>);
  assert.equal(count.count, rows.length, '_count agrees: no duplicates under other ids');
  for (const row of rows) {
    const id = `${row.station as string}|${(row.window_start as Date).toISOString()}`;
    assert.deepEqual(documents.get(id), expectedDocument(row), id);
  }
});
