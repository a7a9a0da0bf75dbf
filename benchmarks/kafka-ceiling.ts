/**
 * Scenario "client ceiling": plain kafkajs reads a topic with an empty
 * `eachBatch` handler. No decoding, no engine: the most records per second one
 * kafkajs consumer can take from this broker. No engine built on kafkajs' own
 * reading can beat it with one consumer, so the end-to-end scenario is
 * reported as a share of it.
 *
 * The consumer has the settings of the engine's Kafka source (engine/sources/
 * kafka-source.ts: 500 ms max wait, one partition at a time, no auto-commit),
 * so the comparison is like for like.
 *
 * Each ceiling runs in a process of its own, with a stated record-batch
 * reader: `kafkajs` is kafkajs untouched (the ceiling the targets are judged
 * against), `tideflow` is kafkajs with the engine's record-batch reader
 * (engine/sources/kafkajs-record-batches.ts), the least the engine's own
 * consumer can cost. Run in this process, the ceiling would get whichever
 * reader the engine's modules had installed.
 */
import { performance } from 'node:perf_hooks';
import { Kafka, logLevel } from 'kafkajs';
import { answerParent, cluster, median, resultOfChildProcess } from './kafka-topic';
import { cpuPerRecord, sampleCpu, type CpuBreakdown, type CpuSample } from './cpu-usage';
import { installRecordBatchReader } from '../engine/patches/kafkajs-record-batches';

/** Who reads kafkajs' record batches in a ceiling run. */
export type RecordBatchReader = 'kafkajs' | 'tideflow';

export interface CeilingResult {
  topic: string;
  reader: RecordBatchReader;
  records: number;
  runs: number[];
  medianRecordsPerSecond: number;
  /** CPU per record over the measured span of the median run (`engine` here is kafkajs alone). */
  cpu: CpuBreakdown;
}

/**
 * Reads the whole topic `repeat` times, each time in a new consumer group.
 * Time runs from the first batch handed to `eachBatch` to the batch that
 * completes `records` (group join and the first fetch are not counted; the
 * end-to-end scenario measures the same span).
 */
export async function benchKafkaCeiling(topic: string, records: number, repeat: number, reader: RecordBatchReader = 'kafkajs'): Promise<CeilingResult> {
  const env = { ...process.env };
  if (reader === 'kafkajs') env.TIDEFLOW_KAFKAJS_RECORD_READER = 'kafkajs';
  else delete env.TIDEFLOW_KAFKAJS_RECORD_READER;
  return resultOfChildProcess<CeilingResult>(__filename, ['--ceiling', JSON.stringify({ topic, records, repeat, reader })], `the ceiling process (${reader} reader)`, env);
}

/** The ceiling runs, in this process, with the reader the environment chose (checked against `reader`). */
async function ceilingRuns(topic: string, records: number, repeat: number, reader: RecordBatchReader): Promise<CeilingResult> {
  const state = installRecordBatchReader();
  if (state.active !== (reader === 'tideflow')) throw new Error(`ceiling with the ${reader} reader: ${state.reason}`);
  const env = cluster();
  const kafka = new Kafka({ clientId: 'tideflow-bench-ceiling', brokers: env.kafkaBrokers, logLevel: logLevel.NOTHING });
  const runs: number[] = [];
  const cpus: CpuBreakdown[] = [];
  for (let run = 0; run < repeat; run++) {
    const consumer = kafka.consumer({ groupId: `bench-ceiling-${Date.now()}-${run}`, sessionTimeout: 30_000, heartbeatInterval: 3000, maxWaitTimeInMs: 500 });
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    let seen = 0;
    let firstAt = 0;
    let firstCpu: CpuSample | null = null;
    let endCpu: CpuSample | null = null;
    const done = new Promise<number>((resolve) => {
      void consumer.run({
        autoCommit: false,
        partitionsConsumedConcurrently: 1,
        eachBatch: async ({ batch }) => {
          if (seen === 0) {
            firstAt = performance.now();
            firstCpu = sampleCpu();
          }
          seen += batch.messages.length;
          if (seen >= records) {
            endCpu = sampleCpu();
            resolve(performance.now());
          }
        },
      });
    });
    const endAt = await done;
    await consumer.disconnect();
    runs.push(records / ((endAt - firstAt) / 1000));
    cpus.push(cpuPerRecord(firstCpu!, endCpu!, records));
  }
  const middle = runs.indexOf([...runs].sort((a, b) => a - b)[Math.floor((runs.length - 1) / 2)]);
  return { topic, reader, records, runs, medianRecordsPerSecond: median(runs), cpu: cpus[middle] };
}

if (require.main === module && process.argv[2] === '--ceiling') {
  const { topic, records, repeat, reader } = JSON.parse(process.argv[3]) as { topic: string; records: number; repeat: number; reader: RecordBatchReader };
  answerParent('ceiling', ceilingRuns(topic, records, repeat, reader));
}
