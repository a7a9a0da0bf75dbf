/**
 * Scenario "threads and instances": Kafka (6 partitions) -> a reference job
 * -> Cassandra, the same bounded run on 1 thread, on 2 threads of one
 * process (`--workers 2`: two members of the consumer group, sharing
 * nothing) and on 2 and 3 processes (instances). Records/s is the topic's
 * records over the wall time from start to the last instance's end (start-up
 * included, the same for every mode); each mode writes into a keyspace of
 * its own, and its tables are compared with the 1-thread run's, row for row.
 *
 * The yardstick for two members: two copies of the 1-thread run at once, each
 * its own consumer group and keyspace reading the whole topic (nothing shared
 * but the machine and the servers): their records/s together is the most two
 * members could reach here. Two threads and two instances are also given
 * against it.
 *
 *   node dist/benchmarks/scale.js [--records N] [--repeat R] [--jobs a,b]
 *
 * `npm run bench` runs it too (skip with `--skip scale`).
 */
import { Client } from 'cassandra-driver';
import { run } from '../engine/api/run';
import { benchJob, REFERENCE_JOBS } from './end-to-end';
import { answerParent, cluster, median, produceRecords, resultOfChildProcess } from './kafka-topic';

export interface ScaleResult {
  job: string;
  mode: string;
  /** Records/s per round (all instances together). */
  runs: number[];
  medianRecordsPerSecond: number;
  /** Against the 1-thread median of the same run. */
  ratio: number;
  /** Two members (threads or instances) against the two-copies yardstick of the same run. */
  againstYardstick?: number;
  /** Result rows in its table. */
  rows: number;
  /** Its table equals the 1-thread run's, row for row. */
  exact: boolean;
}

const PARTITIONS = 6;
const YARDSTICK = 'yardstick: 2 copies of 1 thread, nothing shared';
const MODES: ReadonlyArray<{ mode: string; threads: number; processes: number; copies?: boolean }> = [
  { mode: '1 thread', threads: 1, processes: 1 },
  { mode: '2 threads (--workers 2)', threads: 2, processes: 1 },
  { mode: '2 instances', threads: 1, processes: 2 },
  { mode: '3 instances', threads: 1, processes: 3 },
  { mode: YARDSTICK, threads: 1, processes: 2, copies: true },
];

const TABLE: Record<string, string> = { 'tides-dedupe': 'observations', 'tides-30m-average': 'avg_30m', 'tides-lunar-day': 'lunar_day' };

/** One instance in a process of its own (the scenario's "instances"). */
interface InstanceCommand {
  job: string;
  topic: string;
  keyspace: string;
  group: string;
  threads: number;
}

async function runInstance(command: InstanceCommand): Promise<{ recordsIn: number }> {
  const spec = benchJob(command.job, command.topic, command.keyspace, command.group, true);
  const result = await run(spec, { workers: command.threads, log: () => {} });
  return { recordsIn: result.recordsThisRun };
}

export async function benchScale(options: { records: number; repeat: number; jobs?: string[]; log?: (line: string) => void }): Promise<ScaleResult[]> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const stamp = Date.now();
  const topic = `bench-scale-${stamp}`;
  log(`threads and instances: producing ${options.records.toLocaleString('en-US')} records into ${topic} (${PARTITIONS} partitions)...`);
  const produced = await produceRecords(topic, options.records, { partitions: PARTITIONS });
  const env = cluster();
  const client = new Client({ contactPoints: env.cassandraContactPoints, localDataCenter: env.cassandraLocalDc });
  await client.connect();
  const results: ScaleResult[] = [];
  try {
    for (const job of options.jobs ?? REFERENCE_JOBS) {
      const tables = new Map<string, string[]>();
      const runsOf = new Map<string, number[]>();
      for (let round = 0; round < options.repeat; round++) {
        for (const { mode, threads, processes, copies } of MODES) {
          const keyspace = `bench_scale_${stamp}_${MODES.findIndex((m) => m.mode === mode)}`;
          const command: InstanceCommand = { job, topic, keyspace, group: `bench-scale-${job}-${stamp}-${mode.replace(/\W+/g, '-')}-${round}`, threads };
          // Copies share nothing: each its own group (the whole topic) and keyspace.
          const commands = Array.from({ length: processes }, (_, index) => (copies ? { ...command, keyspace: `${keyspace}_${index}`, group: `${command.group}-${index}` } : command));
          log(`threads and instances: ${job}, ${mode} (round ${round + 1} of ${options.repeat})...`);
          const started = performance.now();
          const instances = await Promise.all(commands.map((each) => resultOfChildProcess<{ recordsIn: number }>(__filename, ['--instance', JSON.stringify(each)], `${job} instance`)));
          const seconds = (performance.now() - started) / 1000;
          const recordsIn = instances.reduce((sum, instance) => sum + instance.recordsIn, 0);
          const expected = copies ? processes * produced.records : produced.records;
          if (recordsIn !== expected) throw new Error(`${job}, ${mode}: read ${recordsIn} records of ${expected}`);
          runsOf.set(mode, [...(runsOf.get(mode) ?? []), expected / seconds]);
          if (round === 0) {
            tables.set(mode, await tableRows(client, `${commands[0].keyspace}.${TABLE[job]}`));
          }
          // Its checkpoints and tables go with it: every round starts from nothing.
          for (const each of new Set(commands.map((c) => c.keyspace))) await client.execute(`DROP KEYSPACE IF EXISTS ${each}`);
        }
      }
      const base = median(runsOf.get(MODES[0].mode)!);
      const baseTable = tables.get(MODES[0].mode)!;
      for (const { mode } of MODES) {
        const table = tables.get(mode)!;
        results.push({
          job,
          mode,
          runs: runsOf.get(mode)!,
          medianRecordsPerSecond: median(runsOf.get(mode)!),
          ratio: median(runsOf.get(mode)!) / base,
          ...(mode === MODES[1].mode || mode === MODES[2].mode ? { againstYardstick: median(runsOf.get(mode)!) / median(runsOf.get(YARDSTICK)!) } : {}),
          rows: table.length,
          exact: table.length === baseTable.length && table.every((row, index) => row === baseTable[index]),
        });
      }
    }
  } finally {
    for (let index = 0; index < MODES.length; index++) {
      for (const suffix of ['', '_0', '_1']) await client.execute(`DROP KEYSPACE IF EXISTS bench_scale_${stamp}_${index}${suffix}`).catch(() => {});
    }
    await client.shutdown();
  }
  return results;
}

/** Every row of a table as JSON text, sorted. */
async function tableRows(client: Client, table: string): Promise<string[]> {
  const rows: string[] = [];
  let pageState: string | undefined;
  do {
    const page = await client.execute(`SELECT * FROM ${table}`, [], { fetchSize: 5000, pageState });
    for (const row of page.rows) rows.push(JSON.stringify(row));
    pageState = page.pageState ?? undefined;
  } while (pageState);
  return rows.sort();
}

export function scaleTable(results: ScaleResult[]): string[] {
  return [
    '| job | mode | records/s (median) | against 1 thread | against the yardstick | result rows | equal to 1 thread |',
    '|---|---|---|---|---|---|---|',
    ...results.map(
      (r) =>
        `| ${r.job} | ${r.mode} | ${Math.round(r.medianRecordsPerSecond).toLocaleString('en-US')} | ${r.ratio.toFixed(2)}x | ` +
        `${r.againstYardstick === undefined ? '' : `${r.againstYardstick.toFixed(2)} (${r.againstYardstick >= 0.9 ? 'met' : '**not met**'}: >= 0.90)`} | ${r.rows.toLocaleString('en-US')} | ${r.exact ? 'yes' : '**no**'} |`,
    ),
  ];
}

function argument(name: string): string | undefined {
  const index = process.argv.indexOf(`--${name}`);
  return index >= 0 ? process.argv[index + 1] : undefined;
}

if (require.main === module) {
  if (process.argv[2] === '--instance') {
    answerParent('instance', runInstance(JSON.parse(process.argv[3]) as InstanceCommand));
  } else {
    benchScale({ records: Number(argument('records') ?? 300_000), repeat: Number(argument('repeat') ?? 3), jobs: argument('jobs')?.split(',') }).then(
      (results) => process.stdout.write(scaleTable(results).join('\n') + '\n'),
      (error: unknown) => {
        process.stderr.write(`scale: ${error instanceof Error ? error.stack : String(error)}\n`);
        process.exit(1);
      },
    );
  }
}
