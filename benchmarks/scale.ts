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
  /** Records/s from when the group was first complete to the end: start-up and forming the group left out. */
  medianSteadyRecordsPerSecond: number;
  /** When the group formed, from an instance's start (ms). */
  medianGroupFormedMs: number;
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

/** What an instance read, and each "joined group" it logged: when (from its start) and what it had read by then. */
interface InstanceOutcome {
  recordsIn: number;
  joins: Array<{ at: number; records: number }>;
  endMs: number;
}

async function runInstance(command: InstanceCommand): Promise<InstanceOutcome> {
  const spec = benchJob(command.job, command.topic, command.keyspace, command.group, true);
  const started = performance.now();
  let latest = 0;
  const joins: InstanceOutcome['joins'] = [];
  const result = await run(spec, {
    workers: command.threads,
    // Progress comes every 200 ms on one thread, every second from threads: records at a join are known to that.
    progressIntervalMs: 200,
    onProgress: (progress) => {
      latest = progress.recordsThisRun ?? latest;
    },
    log: (line) => {
      if (line.includes('kafka: joined group')) joins.push({ at: performance.now() - started, records: latest });
    },
  });
  return { recordsIn: result.recordsThisRun, joins, endMs: performance.now() - started };
}

/**
 * When the group was first complete (the last member's first join: the others rejoin in the same
 * round), and records/s from then to the end. Later joins (a member done with a bounded run leaves,
 * the others take its partitions) are part of the run, not of its forming.
 */
function afterForming(instances: InstanceOutcome[]): { formedMs: number; recordsPerSecond: number } {
  const formedMs = Math.max(...instances.map((instance) => instance.joins[0]?.at ?? 0));
  let after = 0;
  for (const instance of instances) {
    const before = instance.joins.filter((join) => join.at <= formedMs + 500).at(-1)?.records ?? 0;
    after += instance.recordsIn - before;
  }
  const seconds = Math.max(...instances.map((instance) => instance.endMs - formedMs)) / 1000;
  return { formedMs, recordsPerSecond: after / seconds };
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
      const steadyOf = new Map<string, number[]>();
      const joinOf = new Map<string, number[]>();
      for (let round = 0; round < options.repeat; round++) {
        for (const { mode, threads, processes, copies } of MODES) {
          const keyspace = `bench_scale_${stamp}_${MODES.findIndex((m) => m.mode === mode)}`;
          const command: InstanceCommand = { job, topic, keyspace, group: `bench-scale-${job}-${stamp}-${mode.replace(/\W+/g, '-')}-${round}`, threads };
          // Copies share nothing: each its own group (the whole topic) and keyspace.
          const commands = Array.from({ length: processes }, (_, index) => (copies ? { ...command, keyspace: `${keyspace}_${index}`, group: `${command.group}-${index}` } : command));
          log(`threads and instances: ${job}, ${mode} (round ${round + 1} of ${options.repeat})...`);
          const started = performance.now();
          const instances = await Promise.all(commands.map((each) => resultOfChildProcess<InstanceOutcome>(__filename, ['--instance', JSON.stringify(each)], `${job} instance`)));
          const seconds = (performance.now() - started) / 1000;
          const recordsIn = instances.reduce((sum, instance) => sum + instance.recordsIn, 0);
          const expected = copies ? processes * produced.records : produced.records;
          if (recordsIn !== expected) throw new Error(`${job}, ${mode}: read ${recordsIn} records of ${expected}`);
          runsOf.set(mode, [...(runsOf.get(mode) ?? []), expected / seconds]);
          const formed = afterForming(instances);
          steadyOf.set(mode, [...(steadyOf.get(mode) ?? []), formed.recordsPerSecond]);
          joinOf.set(mode, [...(joinOf.get(mode) ?? []), formed.formedMs]);
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
          medianSteadyRecordsPerSecond: median(steadyOf.get(mode)!),
          medianGroupFormedMs: median(joinOf.get(mode)!),
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
    '| job | mode | records/s (median) | after the group formed | group formed after | against 1 thread | against the yardstick | result rows | equal to 1 thread |',
    '|---|---|---|---|---|---|---|---|---|',
    ...results.map(
      (r) =>
        `| ${r.job} | ${r.mode} | ${Math.round(r.medianRecordsPerSecond).toLocaleString('en-US')} | ${Math.round(r.medianSteadyRecordsPerSecond).toLocaleString('en-US')} | ` +
        `${(r.medianGroupFormedMs / 1000).toFixed(1)} s | ${r.ratio.toFixed(2)}x | ` +
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
