import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Row } from '../core/batch';
import { UsageError } from '../core/errors';
import { openFileSource } from '../sources/file-source';
import { generateRows } from '../sources/generator-source';
import type { GenerateCommandOptions } from './generate';
import { formatGenerateSummary, generatorSpecFromOptions, runGenerate } from './generate';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tideflow-generate-'));
const options: GenerateCommandOptions = {
  stations: '8454000,9414290',
  start: '2024-03-01T00:00:00Z',
  count: '300',
  interval: '6m',
  duplicates: '0.05',
  disorder: '5m',
  late: '0.01',
  nulls: '0.02',
  seed: '3',
  output: '-',
  quiet: true,
};

async function readBack(file: string): Promise<Row[]> {
  const rows: Row[] = [];
  for await (const batch of openFileSource({ path: file, batchSize: 1000 }, { fromOffset: 0 })) {
    assert.deepEqual(batch.deadLetters, []);
    rows.push(...batch.rows!);
  }
  return rows;
}

describe('tideflow generate', () => {
  it('turns options into a generator spec', () => {
    const spec = generatorSpecFromOptions({ ...options, count: undefined, days: '2' });
    assert.deepEqual(spec, {
      stations: ['8454000', '9414290'],
      startMs: Date.UTC(2024, 2, 1),
      count: 480,
      intervalMs: 360_000,
      duplicateRate: 0.05,
      disorderMs: 300_000,
      lateRate: 0.01,
      nullRate: 0.02,
      seed: 3,
      batchSize: 4096,
    });
  });

  it('reports every invalid argument at once as a UsageError', () => {
    assert.throws(
      () => generatorSpecFromOptions({ ...options, days: '1', interval: '6', duplicates: '1.5', start: 'yesterday' }),
      (e: unknown) =>
        e instanceof UsageError &&
        e.message ===
          [
            '--start must be an ISO-8601 time such as 2024-01-01T00:00:00Z, got "yesterday"',
            '--interval must be a duration such as 6m, 30s or 1h (more than 0), got "6"',
            'give --days or --count, not both',
            '--duplicates must be a probability between 0 and 1 (e.g. 0.05), got "1.5"',
          ].join('\n'),
    );
    assert.throws(() => generatorSpecFromOptions({ ...options, stations: ' , ' }), (e: unknown) => e instanceof UsageError && e.message === '--stations must name at least one station id');
  });

  for (const extension of ['jsonl', 'csv', 'avro']) {
    it(`writes .${extension} that reads back as the generated rows`, async () => {
      const file = path.join(dir, `out.${extension}`);
      const summary = await runGenerate({ ...options, output: file });
      const expected = [...generateRows(generatorSpecFromOptions(options))];
      assert.equal(summary.rows, expected.length);
      assert.equal(summary.bytes, fs.statSync(file).size);
      assert.ok(summary.duplicates > 0 && summary.nulls > 0);
      assert.deepEqual(await readBack(file), expected);
      assert.match(formatGenerateSummary(summary), new RegExp(`^generate: ${expected.length} rows \\(${summary.duplicates} duplicates, ${summary.late} late, ${summary.nulls} null readings\\)`));
    });
  }

  it('rejects unknown output extensions', async () => {
    await assert.rejects(runGenerate({ ...options, output: path.join(dir, 'x.parquet') }), (e: unknown) => e instanceof UsageError && /\.jsonl, \.csv or \.avro/.test(e.message));
  });
});
