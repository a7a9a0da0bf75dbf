/**
 * Engine only, each reference job: `--workers 2` as a job that runs as tasks
 * runs it (two threads, each the one-worker engine over its share of the
 * partitions) against the share-nothing yardstick measured in the same run
 * (two copies of the one-worker job over every record, at once). Target:
 * at least 90% of the yardstick. Part of `npm run bench`; alone:
 *
 *   node --max-semi-space-size=64 dist/benchmarks/task-threads.js --records 2000000 --repeat 3
 *
 * writes benchmarks/results/task-threads.md.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { makePayloads } from './engine-only';
import { benchShareNothing, TASK_PARTITIONS, type ShareNothingResult } from './share-nothing';

export const TASK_THREADS_JOBS = ['tides-dedupe', 'tides-30m-average', 'tides-lunar-day'];
/** `--workers 2` engine-only against two share-nothing copies. */
export const TARGET_AGAINST_YARDSTICK = 0.9;

/** Every reference job in turn, `repeat` rounds each (modes taking turns within a round). */
export async function benchTaskThreads(payloads: Buffer[], repeat: number, log: (line: string) => void = () => {}): Promise<ShareNothingResult[]> {
  const results: ShareNothingResult[] = [];
  for (const job of TASK_THREADS_JOBS) {
    log(`engine only: ${job}: 1 thread, 2 share-nothing copies, 2 task threads in turn (${repeat} rounds)...`);
    results.push(await benchShareNothing(job, payloads, repeat));
  }
  return results;
}

const thousands = (value: number) => Math.round(value).toLocaleString('en-US');

export function taskThreadsTable(results: readonly ShareNothingResult[]): string[] {
  return [
    `| job | 1 thread | 2 share-nothing copies (yardstick) | \`--workers 2\`: 2 task threads, ${TASK_PARTITIONS / 2} of ${TASK_PARTITIONS} partitions each | task threads / yardstick | target >= ${TARGET_AGAINST_YARDSTICK} |`,
    '|---|---:|---:|---:|---:|---|',
    ...results.map((r) => {
      const m = r.medianRecordsPerSecond;
      return `| ${r.job} | ${thousands(m['1'])} | ${thousands(m['2'])} (${r.twoThreadRatio.toFixed(2)}x) | ${thousands(m['tasks'])} | ${r.tasksAgainstYardstick.toFixed(2)} | ${r.tasksAgainstYardstick >= TARGET_AGAINST_YARDSTICK ? 'met' : 'not met'} |`;
    }),
    '',
    'Records/s, medians; every round, per job: ' +
      results.map((r) => `${r.job} 1 thread ${r.runs['1'].map(thousands).join(', ')}; copies ${r.runs['2'].map(thousands).join(', ')}; task threads ${r.runs['tasks'].map(thousands).join(', ')}`).join('. ') +
      '.',
  ];
}

function argument(name: string, fallback: number): number {
  const index = process.argv.indexOf(`--${name}`);
  return index >= 0 ? Number(process.argv[index + 1]) : fallback;
}

async function main(): Promise<void> {
  const records = argument('records', 2_000_000);
  const repeat = argument('repeat', 3);
  process.stderr.write(`preparing ${records.toLocaleString('en-US')} Confluent-framed Avro records in memory...\n`);
  const { payloads } = makePayloads(records, 200);
  const loadBefore = loadavg();
  const results = await benchTaskThreads(payloads, repeat, (line) => process.stderr.write(line + '\n'));
  const lines = [
    `# Engine only: \`--workers 2\` as task threads against two share-nothing copies (${new Date().toISOString().slice(0, 10)})`,
    '',
    `${cpus().length} cores (${cpus()[0]?.model ?? 'unknown'}), Node ${process.version}; ${records.toLocaleString('en-US')} in-memory Confluent Avro records from 200 stations, median of ${repeat} rounds; ` +
      `load average before ${loadBefore.map((v) => v.toFixed(2)).join(' / ')}, after ${loadavg().map((v) => v.toFixed(2)).join(' / ')}. ` +
      'Each thread runs the one-worker engine (decode, validate, the job, null sinks), as a task thread does; the task threads split the records by station into ' +
      `${TASK_PARTITIONS} partitions and take alternate ones, as a consumer group deals them out, and the run lasts until the slower thread is done.`,
    '',
    ...taskThreadsTable(results),
    '',
  ];
  const dir = join(__dirname, '..', '..', 'benchmarks', 'results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'task-threads.md'), lines.join('\n'));
  process.stdout.write(lines.join('\n'));
}

if (require.main === module) {
  main().catch((error: unknown) => {
    process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
    process.exit(1);
  });
}
