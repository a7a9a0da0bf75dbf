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
  /** Per thread count: total records/s of all threads together, one entry per round. */
  runs: Record<string, number[]>;
  /** Per thread count: the median of `runs`. */
  medianRecordsPerSecond: Record<string, number>;
  /** median(2 threads) / median(1 thread). */
  twoThreadRatio: number;
}

/** Runs of 1 and 2 share-nothing threads take turns, `repeat` rounds, after one warm-up run per thread. */
export async function benchShareNothing(job: string, payloads: Buffer[], repeat: number): Promise<ShareNothingResult> {
  const data = sharedPayloads(payloads, job);
  const threads = await Promise.all([startThread(data), startThread(data)]);
  try {
    const runs: Record<string, number[]> = { '1': [], '2': [] };
    for (let round = 0; round < repeat; round++) {
      for (const count of [1, 2]) {
        const started = performance.now();
        await Promise.all(threads.slice(0, count).map((thread) => thread.run()));
        runs[String(count)].push((count * payloads.length) / ((performance.now() - started) / 1000));
      }
    }
    const medianRecordsPerSecond = { '1': median(runs['1']), '2': median(runs['2']) };
    return { job, records: payloads.length, runs, medianRecordsPerSecond, twoThreadRatio: medianRecordsPerSecond['2'] / medianRecordsPerSecond['1'] };
  } finally {
    await Promise.all(threads.map((thread) => thread.stop()));
  }
}

/** Every payload's bytes back to back in one SharedArrayBuffer, and [start, end) of each. */
function sharedPayloads(payloads: Buffer[], job: string): ShareNothingData {
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
  return { job, bytes, spans };
}

interface Thread {
  run(): Promise<void>;
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
    run: async () => {
      const done = reply();
      send('run');
      await done;
    },
    stop: async () => {
      await worker.terminate();
    },
  }));
}
