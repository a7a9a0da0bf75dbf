/**
 * One thread of the share-nothing scenario (share-nothing.ts): Buffer views
 * over the shared payloads, one warm-up run of the job with --workers 1,
 * then one run per message (of every payload, or of its share of the
 * partitions), answering when it is done.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { loadAvroType, tideObservationSchemaPath } from '../engine/codecs/avro-schema';
import { benchEngineOnly } from './engine-only';

export interface ShareNothingData {
  job: string;
  bytes: SharedArrayBuffer;
  spans: Uint32Array;
  /** The partition of each payload (its station's), and the partitions this thread gets as a member of a group. */
  partitionOf: Uint8Array;
  share: number[];
}
/** `run`: every payload (a share-nothing copy); `run-share`: the payloads of this thread's partitions (a task thread of `--workers`). */
export type ShareNothingCommand = 'run' | 'run-share';
export type ShareNothingReply = 'ready' | 'done';

async function main(): Promise<void> {
  const port = parentPort;
  if (port === null) throw new Error('share-nothing-worker.js runs as a worker thread only');
  const { job, bytes, spans, partitionOf, share } = workerData as ShareNothingData;
  const payloads: Buffer[] = new Array<Buffer>(spans.length / 2);
  for (let i = 0; i < payloads.length; i++) payloads[i] = Buffer.from(bytes, spans[2 * i], spans[2 * i + 1] - spans[2 * i]);
  const mine = payloads.filter((_, i) => share.includes(partitionOf[i]));
  // The schema makePayloads (engine-only.ts) encodes with.
  const type = loadAvroType(tideObservationSchemaPath());
  await benchEngineOnly(job, payloads, type, 1, 1);
  port.on('message', (command: ShareNothingCommand) => {
    // A failed run rejects unhandled, which ends this thread: the parent sees it as the worker's 'error' event.
    void benchEngineOnly(job, command === 'run' ? payloads : mine, type, 1, 1).then(() => port.postMessage('done' satisfies ShareNothingReply));
  });
  port.postMessage('ready' satisfies ShareNothingReply);
}

// As above: a failure here reaches the parent as the worker's 'error' event.
void main();
