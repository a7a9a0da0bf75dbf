/**
 * `npm run bench`: runs the benchmark scenarios, prints a table, and writes
 * benchmarks/results/latest.json and latest.md. Targets are reported as
 * met / not met — never asserted in tests.
 *
 *   npm run bench                     # 5M records in memory for the engine-only runs (about 2.5 GB, a minute to prepare)
 *   npm run bench -- --records 1000000 # quicker; the pool's start-up then weighs more in the 2-worker ratio
 *   npm run bench -- --workers 1,2,3   # decoding threads per engine-only run (default 1,2)
 *   npm run bench -- --skip kafka,state,latency,profile   # leave out sections of state-and-servers.ts
 *                                     # (also: sinks, scale = threads and instances, benchmarks/scale.ts,
 *                                     #  factor = the pipeline against its parts, benchmarks/pipeline-factor.ts)
 * Kafka scenarios use 500,000 records unless --records is given; they run only when the cluster answers.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { benchScale, scaleTable } from './scale';
import { benchPipelineFactor, factorTable } from './pipeline-factor';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { benchEngineOnly, combineRuns, makePayloads, type EngineOnlyResult } from './engine-only';
import type { ShareNothingResult } from './share-nothing';
import { benchTaskThreads, TARGET_AGAINST_YARDSTICK, taskThreadsTable } from './task-threads';
import { runStateAndServerScenarios } from './state-and-servers';
import { benchCassandraSink, benchOpenSearchSink, lunarDayLikeRows, type SinkBenchResult } from './opensearch-sink';

const JOBS = ['tides-dedupe', 'tides-30m-average', 'tides-lunar-day'];
const TARGET_ENGINE_ONLY_30M = 1_000_000;

function argument(name: string, fallback: number): number {
  const index = process.argv.indexOf(`--${name}`);
  return index >= 0 ? Number(process.argv[index + 1]) : fallback;
}

/** `--workers 1,2`: the decoding thread counts to compare. */
function workerCounts(): number[] {
  const index = process.argv.indexOf('--workers');
  const text = index >= 0 ? process.argv[index + 1] : '1,2';
  return text.split(',').map(Number).filter((n) => Number.isInteger(n) && n >= 1);
}

/**
 * Every engine-only run. A function of its own so that the payloads (about
 * 2.5 GB at 5M records) are garbage once it returns: the Kafka scenarios
 * run in this process too, and its collector would otherwise mark them over and over.
 */
async function engineOnlyScenarios(
  records: number,
  workers: number[],
  repeat: number,
): Promise<{ engineOnly: EngineOnlyResult[]; shareNothing: ShareNothingResult; taskThreads: ShareNothingResult[]; loadBefore: number[] }> {
  process.stderr.write(`preparing ${records.toLocaleString('en-US')} Confluent-framed Avro records in memory...\n`);
  const { payloads, type } = makePayloads(records, 200);
  // Other processes on these cores (servers compacting, other tests) slow every engine-only run: said next to the table.
  const loadBefore = loadavg();
  const engineOnly: EngineOnlyResult[] = [];
  for (const job of JOBS) {
    // Runs of the worker counts take turns (1, 2, 1, 2, ...): this VM's speed drifts by tens of
    // percent over minutes, and the ratio between worker counts should not take that drift for a difference.
    process.stderr.write(`engine only: ${job}, --workers ${workers.join(' / ')} in turn (${repeat} runs each)...\n`);
    const runsOf = new Map<number, EngineOnlyResult[]>(workers.map((count) => [count, []]));
    for (let run = 0; run < repeat; run++) {
      for (const count of workers) runsOf.get(count)!.push(await benchEngineOnly(job, payloads, type, 1, count));
    }
    for (const count of workers) engineOnly.push(combineRuns(runsOf.get(count)!));
  }
  // The 30-minute window without the dedupe before it starts with a window, so it is pre-aggregated: what
  // pre-aggregation is worth against the job's own window on the row path, and what the dedupe costs.
  process.stderr.write(`engine only: tides-30m-average, window only, --workers 1, pre-aggregated and row path in turn (${repeat} runs each)...\n`);
  const windowOnly = { preAggregated: [] as EngineOnlyResult[], rowPath: [] as EngineOnlyResult[] };
  for (let run = 0; run < repeat; run++) {
    windowOnly.preAggregated.push(await benchEngineOnly('tides-30m-average', payloads, type, 1, 1, { windowOnly: true }));
    windowOnly.rowPath.push(await benchEngineOnly('tides-30m-average', payloads, type, 1, 1, { windowOnly: true, preAggregate: false }));
  }
  engineOnly.push(combineRuns(windowOnly.preAggregated), combineRuns(windowOnly.rowPath));
  // What two threads can do on these cores with nothing shared (the yardstick), and --workers 2 as task threads against it.
  const taskThreads = await benchTaskThreads(payloads, repeat, (line) => process.stderr.write(line + '\n'));
  const shareNothing = taskThreads.find((result) => result.job === 'tides-30m-average')!;
  return { engineOnly, shareNothing, taskThreads, loadBefore };
}

const thousands = (value: number) => Math.round(value).toLocaleString('en-US');

/** The V8 settings this ran with (`npm run bench` gives the CLI's), as said in the report. */
function nodeFlags(): string {
  return process.execArgv.length > 0 ? ` with ${process.execArgv.map((flag) => `\`${flag}\``).join(' ')} (as the tideflow CLI runs)` : ' with V8\'s default settings (the tideflow CLI adds `--max-semi-space-size=64`)';
}

async function main(): Promise<void> {
  // The issue's size: a run long enough that the pool's start-up (threads start cold) weighs little.
  const records = argument('records', 5_000_000);
  const workers = workerCounts();
  const repeat = argument('repeat', 3);
  const machine = { cpus: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', memoryGiB: Math.round(totalmem() / 2 ** 30), node: process.version };
  const { engineOnly, shareNothing, taskThreads, loadBefore } = await engineOnlyScenarios(records, workers, repeat);
  const loadAfter = loadavg();
  const average =
    engineOnly.find((result) => result.job === 'tides-30m-average' && result.workers === 1 && result.preAggregated) ??
    engineOnly.find((result) => result.job === 'tides-30m-average')!;
  const targets = [
    {
      target: `engine only, 30-minute average job >= 1,000,000 records/s (--workers ${average.workers})`,
      measured: Math.round(average.medianRecordsPerSecond),
      met: average.medianRecordsPerSecond >= TARGET_ENGINE_ONLY_30M,
    },
    ...taskThreads.map((result) => ({
      target: `engine only, ${result.job}: --workers 2 (task threads) >= ${TARGET_AGAINST_YARDSTICK} of two share-nothing copies`,
      measured: Math.round(result.tasksAgainstYardstick * 100) / 100,
      met: result.tasksAgainstYardstick >= TARGET_AGAINST_YARDSTICK,
    })),
  ];
  const dir = join(__dirname, '..', '..', 'benchmarks', 'results');
  mkdirSync(dir, { recursive: true });
  // ---- state, client ceiling, end to end, latency, profiles, chart (state-and-servers.ts)
  const skipIndex = process.argv.indexOf('--skip');
  const extra = await runStateAndServerScenarios({
    kafkaRecords: process.argv.includes('--records') ? records : 500_000,
    repeat,
    stations: argument('stations', 100_000),
    skip: skipIndex >= 0 ? process.argv[skipIndex + 1].split(',') : [],
    engineOnly,
    shareNothing,
    targets,
    resultsDir: dir,
    machineLine: `${machine.cpus} cores (${machine.cpu}), ${machine.memoryGiB} GiB, Node ${machine.node}; median of ${repeat} runs; ${new Date().toISOString().slice(0, 10)}`,
  });
  const skip = skipIndex >= 0 ? process.argv[skipIndex + 1].split(',') : [];
  const sinks = skip.includes('sinks') ? [] : await sinkScenarios();
  const scale = skip.includes('scale') ? [] : await benchScale({ records: 300_000, repeat });
  const factor = skip.includes('factor') ? [] : await benchPipelineFactor({ records: 300_000, repeat });
  const report = { createdAt: new Date().toISOString(), machine, records, repeat, engineOnly, shareNothing, taskThreads, targets, sinks, scale, factor, ...extra.report };
  writeFileSync(join(dir, 'latest.json'), JSON.stringify(report, null, 2) + '\n');
  const lines = [
    `# Benchmark results (${report.createdAt.slice(0, 10)})`,
    '',
    `Machine: ${machine.cpus} cores (${machine.cpu}), ${machine.memoryGiB} GiB, Node ${machine.node}${nodeFlags()}. ${records.toLocaleString('en-US')} records, median of ${repeat} runs.`,
    '',
    'Engine only: in-memory Confluent Avro -> decode -> validate -> job -> null sink, as `tideflow run` assembles a Kafka job. ' +
      '"fields read": `used + numbers` = the string fields the job never reads are skipped; `all` = every field decoded. ' +
      '"pre-aggregated": a job starting with a window has each thread read its records with a compiled flat Avro reader that also validates, and fold them into partial windows (no row objects); ' +
      'the run loop merges partials and emits closed windows. With 1 worker the run loop\'s thread does it all; "no" is the row path (a row object per record from the same compiled reader, the validator, the window per row). ' +
      'The three reference jobs start with a dedupe and take the row path, on the run loop\'s thread at any worker count (reading a row there costs less than rebuilding it from a pool thread\'s columns); ' +
      '"window only" is the 30-minute job without its dedupe, pre-aggregated and on the row path.',
    '',
    '"steady": the same runs after their first quarter of records, the rate a long-running job keeps; the whole run also pays for starting the pool, whose threads start cold in every run (about 250 ms here).',
    '',
    `Load average (1/5/15 min) before the engine-only runs: ${loadBefore.map((v) => v.toFixed(2)).join(' / ')}, after: ${loadAfter.map((v) => v.toFixed(2)).join(' / ')} (the runs themselves keep about one core busy).`,
    '',
    '"cores busy": CPU time of the whole process (every thread, V8\'s garbage-collector and compiler threads included) per second of the run, median.',
    '',
    '| scenario | job | --workers | fields read | pre-aggregated | records/s (median) | steady records/s (median) | cores busy | results |',
    '|---|---|---:|---|---|---:|---:|---:|---:|',
    ...engineOnly.map(
      (r) =>
        `| engine only | ${r.job} | ${r.workers} | ${r.projected ? 'used + numbers' : 'all'} | ${r.preAggregated ? 'yes' : 'no'} | ${Math.round(r.medianRecordsPerSecond).toLocaleString('en-US')} | ${Math.round(r.medianSteadyRecordsPerSecond).toLocaleString('en-US')} | ${r.medianCoresBusy.toFixed(2)} | ${r.results.toLocaleString('en-US')} |`,
    ),
    '',
    `Share-nothing copies (the yardstick for \`--workers 2\`): one and two worker threads each run the one-worker tides-30m-average job over the same in-memory records at once, with nothing passed between them; ` +
      `total records/s, runs in turn: 1 thread ${shareNothing.runs['1'].map(thousands).join(', ')}; 2 threads ${shareNothing.runs['2'].map(thousands).join(', ')}. ` +
      `Two threads reach **${shareNothing.twoThreadRatio.toFixed(2)}x** one: the most a 2-worker engine can get from these cores for this job.`,
    '',
    '## Engine only: `--workers 2` as task threads against the yardstick, each reference job',
    '',
    'A job that runs as tasks runs `--workers 2` as two threads, each the one-worker engine over its share of the partitions. Here each thread takes 3 of 6 station partitions of the same in-memory records, ' +
      'against two share-nothing copies of the one-worker job over every record (benchmarks/task-threads.ts).',
    '',
    ...taskThreadsTable(taskThreads),
    '',
    ...extra.markdown,
    ...sinkMarkdown(sinks),
    ...(scale.length === 0
      ? []
      : [
          '## Threads and instances (Kafka, 6 partitions -> job -> Cassandra, 300,000 records)',
          '',
          'The same bounded run on 1 thread, on 2 threads of one process (`--workers 2`: two members of the consumer group that share nothing) and on 2 and 3 processes; ' +
            'records/s over the wall time from start to the last instance\'s end (start-up included), the servers on the same 2 cores. Each mode writes into its own keyspace, compared with the 1-thread run row for row.',
          '',
          ...scaleTable(scale),
          '',
        ]),
    ...(factor.length === 0
      ? []
      : [
          '## The pipeline against its parts (CPU µs per record of this process, 300,000 records, 3 partitions, 1 thread)',
          '',
          'Each part alone in the same run: consuming the topic (a consumer with tideflow\'s record-batch reader), the job engine-only, and writing its result rows to its Cassandra table ' +
            '(per input record). End to end is Kafka -> job -> Cassandra, checkpointed, from the first batch to the last checkpoint.',
          '',
          ...factorTable(factor),
          '',
        ]),
    '| target | measured | met |',
    '|---|---:|---|',
    ...targets.map((t) => `| ${t.target} | ${t.measured.toLocaleString('en-US')} | ${t.met ? 'yes' : 'no'} |`),
    '',
    ...extra.appendix,
    '![records/s by scenario](throughput.svg)',
    '',
  ];
  writeFileSync(join(dir, 'latest.md'), lines.join('\n'));
  process.stdout.write(lines.join('\n'));
}

/**
 * Results into OpenSearch beside the same rows into Cassandra, in the same run: 200,000 lunar-day
 * result rows (about 430 bytes as a document) through each sink as the runtime hands them over
 * (batches of 1,000, then the flush a checkpoint waits for). Only when both servers answer.
 */
async function sinkScenarios(): Promise<SinkBenchResult[]> {
  const url = process.env.OPENSEARCH_URL ?? 'http://127.0.0.1:9200';
  const reachable = await fetch(url, { signal: AbortSignal.timeout(2000) }).then((response) => response.ok, () => false);
  if (!reachable) {
    process.stderr.write(`bench: OpenSearch not reachable at ${url}: the sink comparison is left out\n`);
    return [];
  }
  const rows = lunarDayLikeRows(200_000);
  const results: SinkBenchResult[] = [];
  for (let round = 0; round < 2; round++) {
    results.push(await benchOpenSearchSink(rows, { bulkDocuments: 2000, concurrency: 2 }));
    results.push(await benchCassandraSink(rows));
  }
  return results;
}

function sinkMarkdown(results: SinkBenchResult[]): string[] {
  if (results.length === 0) return [];
  return [
    'Sinks, same run, interleaved: lunar-day result rows (1,000 stations) written in batches of 1,000 and flushed, as a job hands them over; each sink into a scratch index / keyspace of its own.',
    '',
    '| sink | settings | rows | seconds | rows/s | retries |',
    '|---|---|---:|---:|---:|---:|',
    ...results.map((r) => `| ${r.sink} | ${r.settings} | ${r.rows.toLocaleString('en-US')} | ${r.seconds.toFixed(2)} | ${r.rowsPerSecond.toLocaleString('en-US')} | ${r.retries} |`),
    '',
  ];
}

main().catch((error) => {
  process.stderr.write(`bench failed: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exitCode = 1;
});
