/**
 * Scenario "the pipeline against its parts" (issue #22): the CPU the engine's
 * process spends per record end to end (Kafka -> job -> Cassandra,
 * checkpointed) against the sum of its parts, each measured alone in the same
 * run on the same records:
 *
 *   consume   a consumer with tideflow's record-batch reader reading the topic, nothing else (its own process)
 *   engine    the job engine-only: in-memory Confluent Avro -> decode -> validate -> job -> null sink
 *   sink      the job's result rows written to its Cassandra table (per input record: rows x rows per record)
 *
 * The target: end to end at most 1.5x the sum. Reported, never asserted.
 *
 *   node --max-semi-space-size=64 dist/benchmarks/pipeline-factor.js [--records 300000] [--repeat 3] [--jobs a,b]
 */
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadJobFile } from '../engine/jobfile';
import { assemble } from '../engine/jobfile/assemble';
import { closeParts, runJob } from '../engine/runtime/run-job';
import { MemorySink } from '../engine/sinks/memory-sink';
import type { Row } from '../engine/core/batch';
import { benchEngineOnly, makePayloads } from './engine-only';
import { benchKafkaCeiling } from './kafka-ceiling';
import { awaitCassandraSettled, benchJob, deleteTopics, dropKeyspace, endToEndPass, REFERENCE_JOBS } from './end-to-end';
import { clusterUnreachable, median, produceRecords, ROOT, writeRecords } from './kafka-topic';
import { sampleCpu } from './cpu-usage';
import { runOnThreads } from '../engine/api/threads';

/** The bound: end to end at most this many times the sum of the parts. */
const TARGET_FACTOR = 1.5;

export interface FactorResult {
  job: string;
  records: number;
  results: number;
  /** CPU µs per input record of this process (medians over the runs). */
  endToEndUs: number;
  consumeUs: number;
  engineUs: number;
  sinkUs: number;
  factor: number;
  met: boolean;
  /**
   * The whole run, start-up included, per worker count (1 = one thread, 2 = `--workers 2`: two task
   * threads, members of the group): CPU µs per record of the process, and its factor against the parts.
   */
  wholeRun: Array<{ workers: number; us: number; factor: number }>;
}

/** The worker counts whose whole runs are measured. */
const WHOLE_RUN_WORKERS = [1, 2];

/**
 * CPU µs per record of this process over a whole bounded run of `job` on `workers` threads, start-up
 * (threads, connections, the group forming) included: a task thread's first batch and last checkpoint
 * are not seen from here without forwarding every batch's events, which would cost more than it measures.
 */
async function wholeRunUs(job: string, topic: string, keyspace: string, workers: number): Promise<number> {
  const spec = benchJob(job, topic, keyspace, `bench-factor-whole-${workers}-${Date.now()}`, true);
  const before = sampleCpu();
  const result =
    workers === 1
      ? await runJob(await assemble(spec, {}), { resetState: true })
      : await runOnThreads(spec, { threads: workers, overrides: {} });
  return ((sampleCpu().engineMs - before.engineMs) * 1000) / result.counters.recordsIn;
}

/** The job's result rows for the generated records, as the engine makes them (read from the same records as a file). */
async function resultRows(job: string, file: string): Promise<Row[]> {
  const parts = await assemble(loadJobFile(join(ROOT, 'jobs', `${job}.yaml`)), { input: file, output: 'null', checkpointDir: mkdtempSync(join(tmpdir(), 'tideflow-factor-ck-')) });
  const main = new MemorySink();
  parts.sinks.set('main', main);
  await runJob(parts, { resetState: true });
  return main.rows;
}

/** CPU µs this process spends per row writing `rows` to the job's Cassandra table, in batches as the run loop hands them over. */
async function sinkUsPerRow(job: string, rows: Row[], topic: string, keyspace: string): Promise<number> {
  const parts = await assemble(benchJob(job, topic, keyspace, `bench-factor-sink-${Date.now()}`, true), {});
  const sink = parts.sinks.get('main')!;
  try {
    await sink.open();
    // Warm-up: connection, prepared statements, table creation.
    await sink.write(rows.slice(0, 200));
    await sink.flush();
    const before = sampleCpu();
    for (let from = 200; from < rows.length; from += 1000) await sink.write(rows.slice(from, from + 1000));
    await sink.flush();
    const cpuMs = sampleCpu().engineMs - before.engineMs;
    return (cpuMs * 1000) / Math.max(1, rows.length - 200);
  } finally {
    await closeParts(parts);
  }
}

export async function benchPipelineFactor(options: { records: number; repeat: number; jobs?: string[]; log?: (line: string) => void }): Promise<FactorResult[]> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const unreachable = await clusterUnreachable();
  if (unreachable.length > 0) throw new Error(`needs the local cluster (npm run cluster:up): ${unreachable.join(', ')}`);
  const stamp = Date.now();
  const topic = `bench-factor-${stamp}`;
  const keyspace = `bench_factor_${stamp}`;
  const dir = mkdtempSync(join(tmpdir(), 'tideflow-factor-'));
  const file = join(dir, 'records.jsonl');
  const results: FactorResult[] = [];
  try {
    log(`pipeline factor: ${options.records.toLocaleString('en-US')} records into ${topic}...`);
    await produceRecords(topic, options.records, { partitions: 3 });
    await writeRecords(file, options.records);
    const { payloads, type } = makePayloads(options.records, 200);
    log('pipeline factor: consuming alone (tideflow\'s record-batch reader)...');
    const consume = await benchKafkaCeiling(topic, options.records, options.repeat, 'tideflow');
    const consumeUs = consume.cpu.usPerRecord.engine ?? Number.NaN;
    for (const job of options.jobs ?? REFERENCE_JOBS) {
      log(`pipeline factor: ${job} engine only...`);
      const engine = await benchEngineOnly(job, payloads, type, options.repeat, 1);
      const engineUs = (1e6 * engine.medianCoresBusy) / engine.medianRecordsPerSecond;
      log(`pipeline factor: ${job} result rows to Cassandra alone...`);
      const rows = await resultRows(job, file);
      const sinkRuns: number[] = [];
      for (let run = 0; run < options.repeat; run++) {
        await awaitCassandraSettled();
        sinkRuns.push(await sinkUsPerRow(job, rows, topic, `${keyspace}_sink`));
      }
      const sinkUs = (median(sinkRuns) * rows.length) / options.records;
      const endToEnd: number[] = [];
      for (let run = 0; run < options.repeat; run++) {
        await awaitCassandraSettled();
        log(`pipeline factor: ${job} end to end (run ${run + 1} of ${options.repeat})...`);
        const pass = await endToEndPass(job, topic, keyspace, 1);
        endToEnd.push(pass.cpu?.usPerRecord.engine ?? Number.NaN);
      }
      const endToEndUs = median(endToEnd);
      const sum = consumeUs + engineUs + sinkUs;
      const factor = endToEndUs / sum;
      const wholeRun: FactorResult['wholeRun'] = [];
      for (const workers of WHOLE_RUN_WORKERS) {
        const runs: number[] = [];
        for (let run = 0; run < options.repeat; run++) {
          await awaitCassandraSettled();
          log(`pipeline factor: ${job} whole run on ${workers} thread${workers === 1 ? '' : 's'} (run ${run + 1} of ${options.repeat})...`);
          // A keyspace per run: its checkpoints are the run's own.
          const own = `${keyspace}_w${workers}_${run}`;
          runs.push(await wholeRunUs(job, topic, own, workers));
          await dropKeyspace(own).catch(() => {});
        }
        wholeRun.push({ workers, us: median(runs), factor: median(runs) / sum });
      }
      results.push({ job, records: options.records, results: rows.length, endToEndUs, consumeUs, engineUs, sinkUs, factor, met: factor <= TARGET_FACTOR, wholeRun });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await dropKeyspace(keyspace).catch(() => {});
    await dropKeyspace(`${keyspace}_sink`).catch(() => {});
    await deleteTopics(topic).catch(() => {});
  }
  return results;
}

export function factorTable(results: FactorResult[]): string[] {
  const us = (value: number) => value.toFixed(2);
  const whole = (r: FactorResult, workers: number) => {
    const run = r.wholeRun.find((each) => each.workers === workers);
    return run === undefined ? '-' : `${us(run.us)} (${run.factor.toFixed(2)}x)`;
  };
  return [
    `| job | result rows | consume µs | engine only µs | sink µs | sum µs | end to end µs | factor | target <= ${TARGET_FACTOR}x | whole run, 1 thread µs | whole run, \`--workers 2\` µs |`,
    '|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|',
    ...results.map(
      (r) =>
        `| ${r.job} | ${r.results.toLocaleString('en-US')} | ${us(r.consumeUs)} | ${us(r.engineUs)} | ${us(r.sinkUs)} | ${us(r.consumeUs + r.engineUs + r.sinkUs)} | ${us(r.endToEndUs)} | ${r.factor.toFixed(2)}x | ${r.met ? 'met' : '**not met**'} | ${whole(r, 1)} | ${whole(r, 2)} |`,
    ),
  ];
}

function argument(name: string): string | undefined {
  const index = process.argv.indexOf(`--${name}`);
  return index >= 0 ? process.argv[index + 1] : undefined;
}

if (require.main === module) {
  benchPipelineFactor({ records: Number(argument('records') ?? 300_000), repeat: Number(argument('repeat') ?? 3), jobs: argument('jobs')?.split(',') }).then(
    (results) => {
      const table = factorTable(results).join('\n');
      process.stdout.write(`${table}\n`);
      const dir = join(ROOT, 'benchmarks', 'results');
      mkdirSync(dir, { recursive: true });
      const text = [
        `# The pipeline against its parts (issue #22), ${new Date().toISOString().slice(0, 10)}`,
        '',
        `    node --max-semi-space-size=64 dist/benchmarks/pipeline-factor.js ${process.argv.slice(2).join(' ')}`.trimEnd(),
        '',
        'CPU µs per input record of the measuring process, median of the runs. Parts, each alone in the same run on the same generated records: ' +
          'consume = a kafkajs consumer with tideflow\'s record-batch reader reading the topic (3 partitions), its own process, first to last batch; ' +
          'engine only = in-memory Confluent Avro -> decode -> validate -> job -> null sink, the whole run; ' +
          'sink = the job\'s result rows written to its Cassandra table (per result row, times result rows per input record). ' +
          'End to end = Kafka -> job -> Cassandra on 1 thread, checkpointed, from the first batch to the last checkpoint. Kafka, the registry and Cassandra share the 2 cores. ' +
          'Whole run = the same from start to exit (threads, connections and the group forming included; each run its own group and keyspace), on 1 thread and on `--workers 2` ' +
          '(two task threads, members of the group, sharing 3 partitions 2 + 1); in brackets its factor against the same sum of parts.',
        '',
        table,
        '',
      ].join('\n');
      writeFileSync(join(dir, 'pipeline-factor.md'), text);
    },
    (error: unknown) => {
      process.stderr.write(`pipeline factor: ${error instanceof Error ? error.stack : String(error)}\n`);
      process.exit(1);
    },
  );
}
