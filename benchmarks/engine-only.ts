/**
 * Scenario "engine only": Confluent-framed Avro tide records already in memory
 * -> a reference job -> null sinks. Measures decode + validation + watermarks
 * + operators, without Kafka or Cassandra in the way.
 */
import { performance } from 'node:perf_hooks';
import type * as avro from 'avsc';
import { loadJobFile } from '../engine/jobfile';
import type { JobSpec } from '../engine/config/job';
import { loadAvroType, tideObservationSchemaPath } from '../engine/codecs/avro-schema';
import { encodeConfluent } from '../engine/codecs/confluent-avro';
import { createRowValidator } from '../engine/codecs/validate';
import { preAggregationPlan } from '../engine/codecs/pre-aggregation';
import { decodeProjection } from '../engine/codecs/projection';
import type { RawBatch } from '../engine/core/batch';
import { createConfluentDecoder } from '../engine/codecs/parallel-confluent-decoder';
import { runJob, type JobParts } from '../engine/runtime/run-job';
import { NullSink } from '../engine/sinks/null-sink';
import type { Sink } from '../engine/core/sink';
import type { Positions, Source } from '../engine/core/source';
import { generateRows } from '../engine/sources/generator-source';
import type { Checkpoint, CheckpointStore } from '../engine/state/checkpoint';
import { laidOut } from '../test/support/fetch-layout';
import { median } from './kafka-topic';
import { createOperators } from '../engine/jobfile/components';

const SCHEMA_ID = 1;

/** Payloads in memory, handed out in Kafka-sized chunks. */
class PayloadSource implements Source {
  readonly description = 'in-memory Confluent Avro payloads';
  constructor(
    private readonly payloads: Buffer[],
    private readonly chunk: number,
  ) {}
  async *batches(_from: Positions): AsyncIterable<RawBatch> {
    for (let offset = 0; offset < this.payloads.length; offset += this.chunk) {
      const payloads = this.payloads.slice(offset, offset + this.chunk);
      const offsets = new Float64Array(payloads.length);
      for (let i = 0; i < payloads.length; i++) offsets[i] = offset + i;
      yield { payloads, offsets, source: { partition: 'bench/0', fromOffset: offset, toOffset: offset + payloads.length } };
    }
  }
  async close(): Promise<void> {}
}

class NoCheckpoints implements CheckpointStore {
  readonly description = 'none';
  async claim(): Promise<void> {}
  async list(): Promise<string[]> {
    return [];
  }
  async load(): Promise<Checkpoint | null> {
    return null;
  }
  async save(): Promise<void> {}
  async clear(): Promise<void> {}
  async close(): Promise<void> {}
}

/** Tide records from the harmonic generator, Confluent-framed, with the usual duplicates and nulls. */
export function makePayloads(records: number, stations: number): { payloads: Buffer[]; type: avro.Type } {
  const type = loadAvroType(tideObservationSchemaPath());
  const ids = Array.from({ length: stations }, (_, i) => String(8_400_000 + i));
  const perStation = Math.ceil(records / stations / 1.02);
  const rows = generateRows({
    stations: ids,
    startMs: Date.UTC(2024, 0, 1),
    count: perStation,
    intervalMs: 6 * 60_000,
    duplicateRate: 0.02,
    disorderMs: 5 * 60_000,
    lateRate: 0,
    nullRate: 0.01,
    seed: 7,
    batchSize: 4096,
  });
  const encoded: Buffer[] = [];
  for (const row of rows) {
    encoded.push(encodeConfluent(SCHEMA_ID, type, row));
    if (encoded.length === records) break;
  }
  return { payloads: asFetchResponses(encoded), type };
}

/**
 * Bytes of Kafka record framing before each value (record length,
 * attributes, timestamp and offset deltas, key and value lengths, headers):
 * about 8 for a record without key or headers.
 */
const RECORD_FRAMING_BYTES = 8;
/** Records per fetch response in the bench (kafkajs' default maxBytesPerPartition fits thousands of tide records). */
const FETCH_RECORDS = 5000;

/** The payloads as kafkajs hands them out: views into the buffer of the fetch response they came in. */
function asFetchResponses(encoded: Buffer[]): Buffer[] {
  const payloads: Buffer[] = [];
  for (let from = 0; from < encoded.length; from += FETCH_RECORDS) {
    payloads.push(...laidOut(encoded.slice(from, from + FETCH_RECORDS), 'one buffer', () => RECORD_FRAMING_BYTES));
  }
  return payloads;
}

export interface EngineOnlyResult {
  job: string;
  /** Threads that decode (`--workers`): 1 = in-thread, N > 1 = the run loop's thread + N - 1 pool threads. */
  workers: number;
  /** Records read without the string fields the job never reads. */
  projected: boolean;
  /** Chunks decoded, validated and aggregated into partial windows on each thread (workers > 1, a job starting with a window). */
  preAggregated: boolean;
  records: number;
  /** Whole runs: decoder and pool start-up, warm-up and the final flush of windows included. */
  runs: number[];
  medianRecordsPerSecond: number;
  /**
   * The same runs after their first quarter of records: the rate a long-running job keeps once its
   * threads are started and their code is compiled (a fresh pool's threads start cold in every run).
   */
  steadyRuns: number[];
  medianSteadyRecordsPerSecond: number;
  /**
   * CPU time of this process (every thread: the run loop's, pool threads, and V8's own
   * garbage-collector and compiler threads) per second of each run: how many cores the run kept busy.
   */
  coresBusy: number[];
  medianCoresBusy: number;
  results: number;
}

/** One result from several calls of {@link benchEngineOnly} for the same job and worker count (their runs together). */
export function combineRuns(results: EngineOnlyResult[]): EngineOnlyResult {
  const runs = results.flatMap((result) => result.runs);
  const steadyRuns = results.flatMap((result) => result.steadyRuns);
  const coresBusy = results.flatMap((result) => result.coresBusy);
  return {
    ...results[0],
    runs,
    medianRecordsPerSecond: median(runs),
    steadyRuns,
    medianSteadyRecordsPerSecond: median(steadyRuns),
    coresBusy,
    medianCoresBusy: median(coresBusy),
  };
}

/** Where the steady part of a run starts: after this share of its records. */
const STEADY_AFTER = 0.25;

export async function benchEngineOnly(
  jobName: string,
  payloads: Buffer[],
  type: avro.Type,
  repeat: number,
  workers = 1,
  options: { projection?: boolean; preAggregate?: boolean; windowOnly?: boolean } = {},
): Promise<EngineOnlyResult> {
  const loaded = loadJobFile(`jobs/${jobName}.yaml`);
  // windowOnly: the job's window step alone (no dedupe before it), so the job starts with a window.
  const steps = options.windowOnly === true ? loaded.steps.filter((step) => step.kind === 'window') : loaded.steps;
  const job: JobSpec = { ...loaded, steps, checkpoint: { kind: 'none' } };
  // As a Kafka job is assembled (engine/runtime/external-parts.ts): unread strings skipped, rows validated.
  const projection = options.projection === false ? null : decodeProjection(job, type);
  const validatorNow = Date.now();
  const validator = createRowValidator(type, job.eventTime.field, { mayBeAbsent: projection?.skipped, now: validatorNow });
  // A job starting with a window is pre-aggregated as it is decoded (as external-parts.ts assembles it).
  const plan = options.preAggregate !== false ? preAggregationPlan(job, type, projection, validatorNow) : null;
  const rates: number[] = [];
  const steadyRates: number[] = [];
  const coresBusy: number[] = [];
  let results = 0;
  for (let run = 0; run < repeat; run++) {
    // Built per run, as a real run does: pool start-up (workers > 1) is part of what is measured.
    const decoder = createConfluentDecoder(type, async () => type, { workers, projection, plan });
    const main = new NullSink();
    const sinks = new Map<string, Sink>([
      ['main', main],
      ['dead-letters', new NullSink()],
      ['late', new NullSink()],
    ]);
    const parts: JobParts = { job, source: new PayloadSource(payloads, FETCH_RECORDS), decoder, validator, sinks, checkpoints: new NoCheckpoints(), clearCheckpointOnCompletion: false, operators: () => createOperators(job) };
    // The steady part: from the batch that passes the first quarter of the records to the last one.
    let done = 0;
    let steadyFrom: { at: number; records: number } | null = null;
    let lastBatch = { at: 0, records: 0 };
    const onBatch = ({ records }: { records: number }) => {
      done += records;
      lastBatch = { at: performance.now(), records: done };
      if (steadyFrom === null && done >= payloads.length * STEADY_AFTER) steadyFrom = lastBatch;
    };
    const started = performance.now();
    const cpuBefore = process.cpuUsage();
    await runJob(parts, { observer: { onBatch } });
    const cpu = process.cpuUsage(cpuBefore);
    const seconds = (performance.now() - started) / 1000;
    rates.push(payloads.length / seconds);
    coresBusy.push((cpu.user + cpu.system) / 1e6 / seconds);
    const from = steadyFrom as { at: number; records: number } | null;
    steadyRates.push(from === null || lastBatch.at <= from.at ? Number.NaN : (lastBatch.records - from.records) / ((lastBatch.at - from.at) / 1000));
    results = main.rows;
  }
  return {
    job: options.windowOnly === true ? `${jobName} (window only)` : jobName,
    workers,
    // Rows are read in-thread at any worker count; pre-aggregating pool threads read projected too.
    projected: projection !== null,
    preAggregated: plan !== null,
    records: payloads.length,
    runs: rates,
    medianRecordsPerSecond: median(rates),
    steadyRuns: steadyRates,
    medianSteadyRecordsPerSecond: median(steadyRates),
    coresBusy,
    medianCoresBusy: median(coresBusy),
    results,
  };
}

