/**
 * The report sections run.ts adds after the engine-only scenario: state
 * (state.ts), client ceiling (kafka-ceiling.ts), end to end and latency
 * (end-to-end.ts), a CPU profile where an end-to-end target is missed
 * (profile.ts), and the throughput chart (chart.ts).
 *
 * Scenarios that need servers run only when Kafka, the Schema Registry and
 * Cassandra answer (`npm run cluster:up`); otherwise they are reported as
 * skipped, with the reason. `--skip state,kafka,profile` leaves sections out.
 */
import { writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { throughputSvg, type ChartBar } from './chart';
import { cpuBoundRecordsPerSecond, type CpuBreakdown } from './cpu-usage';
import { benchEndToEnd, benchLatency, deleteTopics, dropKeyspace, type EndToEndResult, type LatencyResult } from './end-to-end';
import type { EngineOnlyResult } from './engine-only';
import type { ShareNothingResult } from './share-nothing';
import { benchKafkaCeiling, type CeilingResult } from './kafka-ceiling';
import { clusterUnreachable, produceRecords } from './kafka-topic';
import { profileEndToEnd, type ProfileResult } from './profile';
import { benchState, type StateResult } from './state';

export const TARGET_END_TO_END_SHARE = 0.9;
export const TARGET_P99_MS = 100;
export const TARGET_TWO_WORKERS = 1.7;
/** Seconds of producing at the fixed rate for the latency run (the first 2 s are warm-up). */
const LATENCY_SECONDS = 20;
/**
 * The live maximum: the latency run at falling rates, each step this share
 * of the one before, for this many seconds, until one is sustained: at
 * least KEEPS_UP of its rate acknowledged by Cassandra over the run (a
 * pipeline that falls behind by a second in ten is not keeping up).
 */
const LADDER_STEP = 0.8;
const LADDER_SECONDS = 10;
const LADDER_MAX_STEPS = 8;
const KEEPS_UP = 0.9;

export interface Target {
  target: string;
  measured: number;
  met: boolean;
}

export interface ExtraOptions {
  /** Records for the Kafka scenarios (500,000 by default, `--records` when given). */
  kafkaRecords: number;
  repeat: number;
  stations: number;
  skip: string[];
  /** Filled by the engine-only scenario already; read for the chart and the workers target. */
  engineOnly: Array<EngineOnlyResult & { workers?: number }>;
  /** Two share-nothing threads against one, when measured: the yardstick for the workers target. */
  shareNothing?: ShareNothingResult;
  /** The report's target list; this adds its own. */
  targets: Target[];
  resultsDir: string;
  machineLine: string;
}

export interface ExtraReport {
  report: {
    state?: StateResult;
    kafka?: {
      records: number;
      loadAverage: { before: number[]; after: number[] };
      /** kafkajs untouched: what "share of ceiling" divides by. */
      ceiling: CeilingResult;
      /** kafkajs with tideflow's record-batch reader, as the engine consumes (optional: older result files lack it). */
      readerCeiling?: CeilingResult;
      endToEnd: EndToEndResult[];
      /** The rates tried for the live maximum, and the highest one sustained (null: none was). */
      liveMaximum?: LiveMaximum;
      /** The run with the median p99 of `latencyRuns`. */
      latency?: LatencyResult;
      latencyRuns: LatencyResult[];
      profiles: ProfileResult[];
    };
    skipped: string[];
  };
  /** Markdown sections placed before the targets table. */
  markdown: string[];
  /** Markdown placed after the targets table (profiles). */
  appendix: string[];
}

const number = (value: number) => Math.round(value).toLocaleString('en-US');
const fixed = (value: number, digits = 1) => value.toFixed(digits);

export async function runStateAndServerScenarios(options: ExtraOptions): Promise<ExtraReport> {
  const { targets } = options;
  const skipped: string[] = [];
  const markdown: string[] = [];
  const appendix: string[] = [];
  const report: ExtraReport['report'] = { skipped };

  // ---- workers (scenario of engine-only.ts; the target is judged here only if nobody did yet)
  // One worker as a run uses it (unread strings skipped); pool threads decode whole records.
  const workers1 = options.engineOnly.find((r) => r.job === 'tides-30m-average' && (r.workers ?? 1) === 1 && r.projected !== false);
  const workers2 = options.engineOnly.find((r) => r.job === 'tides-30m-average' && r.workers === 2);
  if (workers1 && workers2 && !targets.some((t) => t.target.includes(`${TARGET_TWO_WORKERS}x`))) {
    const speedup = workers2.medianRecordsPerSecond / workers1.medianRecordsPerSecond;
    // One worker already keeps more than one core busy (V8's collector and compiler threads run beside
    // the run loop): with perfect scaling, the machine's cores allow at most cores / that.
    const bound = cpus().length / workers1.medianCoresBusy;
    const yardstick = options.shareNothing ? `; two share-nothing copies of the one-worker job reach ${options.shareNothing.twoThreadRatio.toFixed(2)}x` : '';
    targets.push({
      target: `engine only, 30-minute average: 2 workers >= ${TARGET_TWO_WORKERS}x one worker (one worker keeps ${workers1.medianCoresBusy.toFixed(2)} cores busy: these ${cpus().length} cores allow at most ${bound.toFixed(2)}x${yardstick})`,
      measured: Math.round(speedup * 100) / 100,
      met: speedup >= TARGET_TWO_WORKERS,
    });
    const steady = workers2.medianSteadyRecordsPerSecond / workers1.medianSteadyRecordsPerSecond;
    if (Number.isFinite(steady)) {
      targets.push({
        target: `engine only, 30-minute average: 2 workers >= ${TARGET_TWO_WORKERS}x one worker, steady state (after the first quarter of each run)`,
        measured: Math.round(steady * 100) / 100,
        met: steady >= TARGET_TWO_WORKERS,
      });
    }
  }

  // ---- state
  if (options.skip.includes('state')) skipped.push('state (--skip state)');
  else {
    process.stderr.write(`state: ${options.stations.toLocaleString('en-US')} stations...\n`);
    const state = benchState(options.stations);
    report.state = state;
    markdown.push(
      `## State at ${number(state.stations)} stations`,
      '',
      'Memory is (heap + array buffers after GC) grown by the operator / entries; restart is snapshot -> JSON -> parse -> restore into a fresh operator.',
      '',
      '| state | entries | bytes/entry | total MiB | snapshot ms | stringify ms | JSON MiB | parse ms | restore ms | restart ms |',
      '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
      ...state.measurements.map(
        (m) =>
          `| ${m.state} | ${number(m.entries)} | ${number(m.bytesPerEntry)} | ${fixed(m.totalMiB)} | ${number(m.snapshotMs)} | ${number(m.stringifyMs)} | ${fixed(m.jsonMiB)} | ${number(m.parseMs)} | ${number(m.restoreMs)} | ${number(m.restartMs)} |`,
      ),
      '',
    );
  }

  // ---- Kafka: ceiling, end to end, latency
  const unreachable = options.skip.includes('kafka') ? ['--skip kafka'] : await clusterUnreachable();
  if (unreachable.length > 0) {
    const why = `client ceiling, end to end, latency: skipped (${unreachable.join('; ')})${options.skip.includes('kafka') ? '' : '; start the servers with npm run cluster:up'}`;
    process.stderr.write(`${why}\n`);
    skipped.push(why);
    markdown.push(`## Kafka and Cassandra scenarios`, '', `Skipped: ${unreachable.join('; ')}.`, '');
  } else {
    const run = Date.now();
    const topic = `bench-${run}`;
    const keyspace = `bench_${run}`;
    const before = loadavg();
    try {
      process.stderr.write(`kafka: producing ${options.kafkaRecords.toLocaleString('en-US')} records to ${topic}...\n`);
      const produced = await produceRecords(topic, options.kafkaRecords);
      process.stderr.write(`kafka: client ceiling, kafkajs untouched and with tideflow's record-batch reader (${options.repeat} runs each)...\n`);
      const ceiling = await benchKafkaCeiling(topic, produced.records, options.repeat, 'kafkajs');
      const readerCeiling = await benchKafkaCeiling(topic, produced.records, options.repeat, 'tideflow');
      const endToEnd = await benchEndToEnd(topic, keyspace, options.repeat);
      for (const result of endToEnd) result.ratioToCeiling = result.medianRecordsPerSecond / ceiling.medianRecordsPerSecond;
      const dedupe = endToEnd.find((result) => result.job === 'tides-dedupe' && result.workers === 1)!;
      // "Half the maximum rate" halves the live maximum: the throughput above is read from a topic filled
      // beforehand, while during the latency run the producer's own CPU (reading, validating, Avro-encoding)
      // shares the same cores. Half of the pre-filled maximum can already saturate them (2026-11-22: asked
      // 27,166/s, the producer reached 19,393/s, and the p99 was 1,092 ms: queueing, not latency).
      const ladder = options.skip.includes('latency') ? null : await liveMaximum(topic, keyspace, dedupe.medianRecordsPerSecond, options.kafkaRecords);
      const rate = Math.max(100, Math.round((ladder?.maximum ?? dedupe.medianRecordsPerSecond) / 2));
      const halfOf = ladder?.maximum ? 'half the live max' : 'half the pre-filled-topic max';
      // Tail latency on shared cores swings from run to run (p99 564 ms and 63 ms in two identical runs at 8,000/s):
      // as many runs as the throughput scenarios, and the median one reported.
      const latencyRuns: LatencyResult[] = [];
      for (let i = 0; i < (options.skip.includes('latency') ? 0 : options.repeat); i++) {
        latencyRuns.push(await benchLatency(`${topic}-latency-${i}`, keyspace, rate, Math.min(options.kafkaRecords, rate * LATENCY_SECONDS)));
      }
      const latency = latencyRuns.length === 0 ? undefined : [...latencyRuns].sort((a, b) => a.p99Ms - b.p99Ms)[Math.floor(latencyRuns.length / 2)];
      const after = loadavg();

      for (const result of endToEnd) {
        targets.push({
          target: `end to end, ${result.job} --workers ${result.workers}: >= ${TARGET_END_TO_END_SHARE * 100}% of the kafkajs client ceiling (share)`,
          measured: Math.round(result.ratioToCeiling! * 1000) / 1000,
          met: result.ratioToCeiling! >= TARGET_END_TO_END_SHARE,
        });
      }
      if (latency) {
        targets.push({
          target: `end to end, tides-dedupe: p99 latency <= ${TARGET_P99_MS} ms at ${halfOf} rate (ms; median of ${latencyRuns.length} runs)`,
          measured: latency.p99Ms,
          met: latency.p99Ms <= TARGET_P99_MS,
        });
      }

      const profiles: ProfileResult[] = [];
      if (!options.skip.includes('profile')) {
        // The slowest job and the 30-minute job (the engine-only reference) say most about where time goes.
        const missed = endToEnd.filter((result) => result.workers === 1 && result.ratioToCeiling! < TARGET_END_TO_END_SHARE);
        const slowest = [...missed].sort((a, b) => a.medianRecordsPerSecond - b.medianRecordsPerSecond)[0];
        const chosen = new Set<string>();
        if (slowest) chosen.add(slowest.job);
        if (missed.some((r) => r.job === 'tides-30m-average')) chosen.add('tides-30m-average');
        for (const job of chosen) {
          process.stderr.write(`profile: ${job} under node --cpu-prof...\n`);
          profiles.push(profileEndToEnd(job, topic, keyspace));
        }
      }
      report.kafka = { records: produced.records, loadAverage: { before, after }, ceiling, readerCeiling, endToEnd, liveMaximum: ladder ?? undefined, latency, latencyRuns, profiles };
      const cores = cpus().length;
      // The engine consumes through tideflow's record-batch reader: its consumer costs at least that ceiling's CPU.
      const clientUs = readerCeiling.cpu.usPerRecord.engine ?? 0;
      const us = (cpu: CpuBreakdown, name: string) => (cpu.usPerRecord[name] === undefined ? '-' : fixed(cpu.usPerRecord[name], 2));
      const cpuRow = (scenario: string, workers: string, cpu: CpuBreakdown, bound: number | null) =>
        `| ${scenario} | ${workers} | ${us(cpu, 'engine')} | ${us(cpu, 'kafka')} | ${us(cpu, 'registry')} | ${us(cpu, 'cassandra')} | ${fixed(cpu.coresBusy, 2)} | ` +
        `${bound === null ? '-' : number(bound)} | ${bound === null ? '-' : `${fixed((100 * bound) / ceiling.medianRecordsPerSecond)}%`} |`;

      markdown.push(
        `## Kafka -> engine -> Cassandra (${number(produced.records)} records, 3 partitions, one consumer)`,
        '',
        `Kafka, the registry and Cassandra run on this same machine and share its cores with the engine. Load average (1/5/15 min) before: ${before.map((v) => fixed(v, 2)).join(' / ')}, after: ${after.map((v) => fixed(v, 2)).join(' / ')} (the runs themselves: the engine, the three servers and their background work).`,
        '',
        '| scenario | job | --workers | records/s (median) | share of ceiling | result rows | runs (records/s) |',
        '|---|---|---:|---:|---:|---:|---|',
        `| client ceiling: kafkajs, empty eachBatch | - | - | ${number(ceiling.medianRecordsPerSecond)} | 100% | - | ${ceiling.runs.map(number).join(', ')} |`,
        `| the same with tideflow's record-batch reader in kafkajs (what the engine consumes through) | - | - | ${number(readerCeiling.medianRecordsPerSecond)} | ${fixed((100 * readerCeiling.medianRecordsPerSecond) / ceiling.medianRecordsPerSecond)}% | - | ${readerCeiling.runs.map(number).join(', ')} |`,
        ...endToEnd.map(
          (r) =>
            `| end to end: Kafka -> ${r.job} -> Cassandra (checkpointed) | ${r.job} | ${r.workers} | ${number(r.medianRecordsPerSecond)} | ${fixed(100 * r.ratioToCeiling!)}% | ${number(r.results)} | ${r.runs.map(number).join(', ')} |`,
        ),
        '',
        `Each end-to-end run starts once Cassandra has no compaction or memtable flush left from the runs before it (seconds waited, in run order: ${endToEnd
          .map((r) => `${r.job}${r.workers > 1 ? ` --workers ${r.workers}` : ''} ${r.settleSeconds.join(' / ')}`)
          .join('; ')}). ` +
          `What a run's own writes cost Cassandra later (the flush of the memtables it filled, their compaction) is not in its span: the tables keep every run's rows, so it falls on later runs or after the bench.`,
        '',
        `Where the CPU went, per record, over the measured span of the median run (this process: engine, kafkajs and the Cassandra driver, all threads; the servers from /proc). ` +
          `"Bound" is the most records/s these ${cores} cores allow if the engine added nothing to its consumer's own ${fixed(clientUs, 2)} µs/record (the ceiling run with tideflow's record-batch reader; kafkajs untouched: ${fixed(ceiling.cpu.usPerRecord.engine ?? 0, 2)}): ` +
          `the servers' CPU per record comes out of the same cores.`,
        '',
        '| scenario | --workers | this process µs | Kafka µs | registry µs | Cassandra µs | cores busy | bound records/s | bound share of ceiling |',
        '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
        cpuRow('client ceiling', '-', ceiling.cpu, null),
        cpuRow("client ceiling, tideflow's record-batch reader", '-', readerCeiling.cpu, null),
        ...endToEnd.map((r) => cpuRow(r.job, String(r.workers), r.cpu, cpuBoundRecordsPerSecond(r.cpu, clientUs, cores))),
        '',
      );
      if (latency) {
        markdown.push(
          ...(ladder === null ? [] : liveMaximumMarkdown(ladder, dedupe.medianRecordsPerSecond)),
          `Latency, producer timestamp -> Cassandra acknowledged the row (tides-dedupe, one row per record), producing at ${number(latency.targetRate)} records/s ` +
            `(${halfOf}; the producer achieved ${number(latency.producedRate)}, Cassandra acknowledged ${number(latency.deliveredRate)}/s) for ${number(latency.records)} records; ${number(latency.measured)} measured after 2 s of warm-up. ` +
            `Each run (ladder steps too) starts once Cassandra has no compaction or memtable flush left from the runs before (waited ${latencyRuns.map((r) => `${(r.settle.waitedMs / 1000).toFixed(1)} s${r.settle.settled ? '' : ', gave up'}`).join(', ')}). ` +
            `The run with the median p99 of ${latencyRuns.length} (p50 / p99 of each run: ${latencyRuns.map((r) => `${fixed(r.p50Ms)} / ${fixed(r.p99Ms)} ms`).join(', ')}):`,
          '',
          '| p50 ms | p90 ms | p99 ms | max ms |',
          '|---:|---:|---:|---:|',
          `| ${fixed(latency.p50Ms)} | ${fixed(latency.p90Ms)} | ${fixed(latency.p99Ms)} | ${fixed(latency.maxMs)} |`,
          '',
          'The two legs of each row (the producer runs in a process of its own, as another application would):',
          '',
          '| leg | p50 ms | p99 ms |',
          '|---|---:|---:|',
          `| producer -> engine decoded the record (Kafka, kafkajs) | ${fixed(latency.legs.kafka.p50Ms)} | ${fixed(latency.legs.kafka.p99Ms)} |`,
          `| decoded -> Cassandra acknowledged the row (operators, sink queue, Cassandra) | ${fixed(latency.legs.engineAndCassandra.p50Ms)} | ${fixed(latency.legs.engineAndCassandra.p99Ms)} |`,
          '',
        );
      }
      for (const profile of profiles) {
        appendix.push(
          `## CPU profile: end to end, ${profile.job}`,
          '',
          `One pass under \`node --cpu-prof\` (${profile.recordsPerSecond === null ? '?' : number(profile.recordsPerSecond)} records/s in that pass); ` +
            `${number(profile.totalMs)} ms of samples, ${fixed(profile.idlePercent)}% idle (the main thread waiting for Kafka or Cassandra). Top frames by self time:`,
          '',
          '| self ms | self % | frame |',
          '|---:|---:|---|',
          ...profile.top.map((frame) => `| ${number(frame.selfMs)} | ${fixed(frame.selfPercent)} | \`${frame.frame.replace(/\|/g, '\\|')}\` |`),
          '',
        );
      }
    } finally {
      await dropKeyspace(keyspace).catch((error: unknown) => process.stderr.write(`could not drop keyspace ${keyspace}: ${(error as Error).message}\n`));
      await deleteTopics(topic).catch((error: unknown) => process.stderr.write(`could not delete topics ${topic}*: ${(error as Error).message}\n`));
    }
  }

  // ---- chart
  const bars: ChartBar[] = options.engineOnly.map((r) => ({
    group: `engine only, ${r.workers ?? 1} worker${(r.workers ?? 1) === 1 ? '' : 's'} (in-memory Avro -> null sink)`,
    label: r.projected === false && (r.workers ?? 1) === 1 ? `${r.job} (every field decoded)` : r.job,
    recordsPerSecond: r.medianRecordsPerSecond,
  }));
  if (report.kafka) {
    bars.push({ group: 'Kafka, one consumer', label: 'kafkajs ceiling (empty handler)', recordsPerSecond: report.kafka.ceiling.medianRecordsPerSecond });
    if (report.kafka.readerCeiling) bars.push({ group: 'Kafka, one consumer', label: "same, tideflow's record-batch reader", recordsPerSecond: report.kafka.readerCeiling.medianRecordsPerSecond });
    for (const r of report.kafka.endToEnd) bars.push({ group: 'end to end: Kafka -> job -> Cassandra', label: r.workers === 1 ? r.job : `${r.job} (--workers ${r.workers})`, recordsPerSecond: r.medianRecordsPerSecond });
  }
  const lines = [{ label: 'engine-only target 1M/s', recordsPerSecond: 1_000_000 }];
  if (report.kafka) lines.push({ label: '90% of ceiling', recordsPerSecond: TARGET_END_TO_END_SHARE * report.kafka.ceiling.medianRecordsPerSecond });
  writeFileSync(join(options.resultsDir, 'throughput.svg'), throughputSvg('tideflow throughput by scenario', options.machineLine, bars, lines));
  return { report, markdown, appendix };
}

/** The live-maximum search: every rate tried, and the highest one sustained. */
export interface LiveMaximum {
  steps: Array<Pick<LatencyResult, 'targetRate' | 'producedRate' | 'deliveredRate' | 'p99Ms'> & { sustained: boolean }>;
  /** The first (highest) rate sustained; null when none of the steps was. */
  maximum: number | null;
}

/**
 * The highest produce rate the whole chain sustains on this machine, the
 * producer process included: the latency run at `start`, then at LADDER_STEP
 * of the rate before, until Cassandra acknowledges at least KEEPS_UP of the
 * asked rate. `start` is the pre-filled-topic maximum, an upper bound (the
 * producer only adds work).
 */
async function liveMaximum(topic: string, keyspace: string, start: number, recordsCap: number): Promise<LiveMaximum> {
  const steps: LiveMaximum['steps'] = [];
  let rate = Math.round(start);
  for (let i = 0; i < LADDER_MAX_STEPS && rate >= 100; i++, rate = Math.round(rate * LADDER_STEP)) {
    const run = await benchLatency(`${topic}-ladder-${i}`, keyspace, rate, Math.min(recordsCap, rate * LADDER_SECONDS));
    const sustained = run.deliveredRate >= KEEPS_UP * rate;
    steps.push({ targetRate: rate, producedRate: run.producedRate, deliveredRate: run.deliveredRate, p99Ms: run.p99Ms, sustained });
    process.stderr.write(`live maximum: asked ${rate}/s, produced ${Math.round(run.producedRate)}/s, acknowledged ${Math.round(run.deliveredRate)}/s: ${sustained ? 'sustained' : 'not sustained'}\n`);
    if (sustained) return { steps, maximum: rate };
  }
  return { steps, maximum: null };
}

function liveMaximumMarkdown(ladder: LiveMaximum, prefilled: number): string[] {
  const found =
    ladder.maximum === null
      ? `None of them was sustained; the latency run below uses half the pre-filled-topic maximum (${number(prefilled)}/s).`
      : `The highest rate sustained, **${number(ladder.maximum)}/s**, is the live maximum; the latency runs below produce at half of it.`;
  return [
    `Live maximum (what "half the maximum rate" halves): the end-to-end rate above reads a topic filled beforehand, with nothing else running. ` +
      `During the latency run the producer process (reading, validating, Avro-encoding, sending) shares the same ${cpus().length} cores. ` +
      `So the dedupe job ran from ${number(prefilled)}/s (the pre-filled-topic maximum) down in steps of ${Math.round((1 - LADDER_STEP) * 100)}%, ${LADDER_SECONDS} s each, ` +
      `until Cassandra acknowledged at least ${KEEPS_UP * 100}% of the asked rate. ${found}`,
    '',
    '| asked records/s | producer reached | Cassandra acknowledged | p99 ms | sustained |',
    '|---:|---:|---:|---:|---|',
    ...ladder.steps.map((step) => `| ${number(step.targetRate)} | ${number(step.producedRate)} | ${number(step.deliveredRate)} | ${fixed(step.p99Ms)} | ${step.sustained ? 'yes' : 'no'} |`),
    '',
  ];
}
