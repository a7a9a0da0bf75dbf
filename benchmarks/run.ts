/**
 * `npm run bench`: runs the benchmark scenarios, prints a table, and writes
 * benchmarks/results/latest.json and latest.md. Targets are reported as
 * met / not met — never asserted in tests.
 *
 *   npm run bench                     # CI-sized (1M records)
 *   npm run bench -- --records 5000000
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { benchEngineOnly, makePayloads, type EngineOnlyResult } from './engine-only';

const JOBS = ['tides-dedupe', 'tides-30m-average', 'tides-lunar-day'];
const TARGET_ENGINE_ONLY_30M = 1_000_000;

function argument(name: string, fallback: number): number {
  const index = process.argv.indexOf(`--${name}`);
  return index >= 0 ? Number(process.argv[index + 1]) : fallback;
}

async function main(): Promise<void> {
  const records = argument('records', 1_000_000);
  const repeat = argument('repeat', 3);
  const machine = { cpus: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', memoryGiB: Math.round(totalmem() / 2 ** 30), node: process.version };
  process.stderr.write(`preparing ${records.toLocaleString('en-US')} Confluent-framed Avro records in memory...\n`);
  const { payloads, type } = makePayloads(records, 200);

  const engineOnly: EngineOnlyResult[] = [];
  for (const job of JOBS) {
    process.stderr.write(`engine only: ${job} (${repeat} runs)...\n`);
    engineOnly.push(await benchEngineOnly(job, payloads, type, repeat));
  }
  const average = engineOnly.find((result) => result.job === 'tides-30m-average')!;
  const targets = [
    {
      target: 'engine only, 30-minute average job >= 1,000,000 records/s (1 worker)',
      measured: Math.round(average.medianRecordsPerSecond),
      met: average.medianRecordsPerSecond >= TARGET_ENGINE_ONLY_30M,
    },
  ];
  const report = { createdAt: new Date().toISOString(), machine, records, repeat, engineOnly, targets };
  const dir = join(__dirname, '..', '..', 'benchmarks', 'results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'latest.json'), JSON.stringify(report, null, 2) + '\n');
  const lines = [
    `# Benchmark results (${report.createdAt.slice(0, 10)})`,
    '',
    `Machine: ${machine.cpus} cores (${machine.cpu}), ${machine.memoryGiB} GiB, Node ${machine.node}. ${records.toLocaleString('en-US')} records, median of ${repeat} runs.`,
    '',
    '| scenario | job | records/s (median) | results |',
    '|---|---|---:|---:|',
    ...engineOnly.map((r) => `| engine only (in-memory Confluent Avro -> null sink) | ${r.job} | ${Math.round(r.medianRecordsPerSecond).toLocaleString('en-US')} | ${r.results.toLocaleString('en-US')} |`),
    '',
    '| target | measured | met |',
    '|---|---:|---|',
    ...targets.map((t) => `| ${t.target} | ${t.measured.toLocaleString('en-US')} | ${t.met ? 'yes' : 'no'} |`),
    '',
  ];
  writeFileSync(join(dir, 'latest.md'), lines.join('\n'));
  process.stdout.write(lines.join('\n'));
}

main().catch((error) => {
  process.stderr.write(`bench failed: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exitCode = 1;
});
