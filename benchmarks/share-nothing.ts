/**
 * Scenario "share-nothing copies": how far these cores let two threads go
 * on this job when the threads share nothing. Each of K worker threads runs
 * the one-worker engine-only job (benchEngineOnly, --workers 1) over the same
 * in-memory payloads, all K at once, with no message between them while they
 * run. Their total records/s against one such thread alone is the most a
 * 2-worker engine could reach here: the same work per record as one worker
 * and no hand-over at all. The engine's own `--workers 2` is judged against it.
 *
 * The payloads are copied once into a SharedArrayBuffer; every thread reads
 * them through its own Buffer views, so no thread holds a copy.
 */
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { median } from './kafka-topic';
import type { ShareNothingCommand, ShareNothingData, ShareNothingReply } from './share-nothing-worker';

export interface ShareNothingResult {
  job: string;
  records: number;
  /**
   * Total records/s of all threads together, one entry per round: '1' and '2' threads each running
   * every record (the yardstick), 'tasks' 2 threads each running its share of the partitions.
   */
  runs: Record<string, number[]>;
  /** Per mode: the median of `runs`. */
  medianRecordsPerSecond: Record<string, number>;
  /** median(2 threads) / median(1 thread). */
  twoThreadRatio: number;
  /** median(tasks) / median(2 threads): `--workers 2` as task threads against the yardstick. */
  tasksAgainstYardstick: number;
}

/** Partitions of the topic a task-thread run splits (as `tideflow produce` keys by station), dealt to 2 threads alternately. */
export const TASK_PARTITIONS = 6;

/**
 * Runs of 1 and 2 share-nothing threads and of 2 task threads take turns, `repeat` rounds, after one
 * warm-up run per thread. Task threads are what `--workers 2` is for a job that runs as tasks, engine
 * only: each thread the one-worker engine over the records of its partitions (3 of 6, by station), at
 * once; the run lasts until the slower one is done.
 */
export async function benchShareNothing(job: string, payloads: Buffer[], repeat: number): Promise<ShareNothingResult> {
  const partitionOf = stationPartitions(payloads);
  const shares = [0, 1].map((thread) => Array.from({ length: TASK_PARTITIONS }, (_, p) => p).filter((p) => p % 2 === thread));
  const data = sharedPayloads(payloads, job, partitionOf);
  const threads = await Promise.all(shares.map((share) => startThread({ ...data, share })));
  try {
    const runs: Record<string, number[]> = { '1': [], '2': [], tasks: [] };
    for (let round = 0; round < repeat; round++) {
      for (const count of [1, 2]) {
        const started = performance.now();
        await Promise.all(threads.slice(0, count).map((thread) => thread.run('run')));
        runs[String(count)].push((count * payloads.length) / ((performance.now() - started) / 1000));
      }
      const started = performance.now();
      await Promise.all(threads.map((thread) => thread.run('run-share')));
      runs['tasks'].push(payloads.length / ((performance.now() - started) / 1000));
    }
    const medianRecordsPerSecond = { '1': median(runs['1']), '2': median(runs['2']), tasks: median(runs['tasks']) };
    return {
      job,
      records: payloads.length,
      runs,
      medianRecordsPerSecond,
      twoThreadRatio: medianRecordsPerSecond['2'] / medianRecordsPerSecond['1'],
      tasksAgainstYardstick: medianRecordsPerSecond['tasks'] / medianRecordsPerSecond['2'],
    };
  } finally {
    await Promise.all(threads.map((thread) => thread.stop()));
  }
}

/** The partition of each payload: its station (the record's first field, an Avro string after the 5-byte Confluent header), hashed. */
function stationPartitions(payloads: Buffer[]): Uint8Array {
  const out = new Uint8Array(new SharedArrayBuffer(payloads.length));
  for (let i = 0; i < payloads.length; i++) {
    const payload = payloads[i];
    // Avro's zig-zag varint length; station ids are short, so one or two bytes.
    let at = 5;
    let raw = 0;
    let shift = 0;
    let byte: number;
    do {
      byte = payload[at++];
      raw |= (byte & 0x7f) << shift;
      shift += 7;
    } while (byte & 0x80);
    const length = (raw >>> 1) ^ -(raw & 1);
    let hash = 2166136261;
    for (let j = at; j < at + length; j++) hash = Math.imul(hash ^ payload[j], 16777619);
    out[i] = (hash >>> 0) % TASK_PARTITIONS;
  }
  return out;
}

/** Every payload's bytes back to back in one SharedArrayBuffer, and [start, end) of each. */
function sharedPayloads(payloads: Buffer[], job: string, partitionOf: Uint8Array): Omit<ShareNothingData, 'share'> {
  let size = 0;
  for (const payload of payloads) size += payload.length;
  const bytes = new SharedArrayBuffer(size);
  const spans = new Uint32Array(new SharedArrayBuffer(payloads.length * 2 * 4));
  const view = new Uint8Array(bytes);
  let at = 0;
  for (let i = 0; i < payloads.length; i++) {
    view.set(payloads[i], at);
    spans[2 * i] = at;
    at += payloads[i].length;
    spans[2 * i + 1] = at;
  }
  return { job, bytes, spans, partitionOf };
}

interface Thread {
  run(command: ShareNothingCommand): Promise<void>;
  stop(): Promise<void>;
}

/** A thread that has read the payloads and run the job once (warm), waiting for `run`. */
function startThread(data: ShareNothingData): Promise<Thread> {
  const worker = new Worker(join(__dirname, 'share-nothing-worker.js'), { workerData: data });
  const reply = () =>
    new Promise<ShareNothingReply>((resolve, reject) => {
      const onError = (error: Error) => reject(error);
      worker.once('error', onError);
      worker.once('message', (message: ShareNothingReply) => {
        worker.off('error', onError);
        resolve(message);
      });
    });
  const send = (command: ShareNothingCommand) => worker.postMessage(command);
  return reply().then(() => ({
    run: async (command) => {
      const done = reply();
      send(command);
      await done;
    },
    stop: async () => {
      await worker.terminate();
    },
  }));
}
