import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadJobFile } from '../config';
import { NullSink } from '../sinks/null-sink';
import type { Sink } from '../sinks/sink';
import type { Positions, Source } from '../sources/source';
import { FileCheckpointStore } from '../state/file-checkpoint-store';
import type { RawBatch, Row } from './batch';
import { runJob } from './run-job';

const ROOT = join(__dirname, '..', '..', '..');
const T0 = Date.UTC(2024, 0, 1, 0, 0, 0);
const MINUTE = 60_000;

/**
 * A live source that delivers its batches at once and then goes quiet: the
 * next request waits until the run stops it (a caught-up Kafka topic).
 */
class QuietAfterSource implements Source {
  readonly description = 'batches, then silence';
  private stopWaiting: (() => void) | null = null;

  constructor(private readonly script: Row[][]) {}

  batches(_from: Positions): AsyncIterable<RawBatch> {
    let index = 0;
    let offset = 0;
    const iterator: AsyncIterator<RawBatch> = {
      next: () => {
        if (index < this.script.length) {
          const rows = this.script[index++];
          const batch: RawBatch = {
            rows,
            offsets: Float64Array.from(rows, (_, i) => offset + i),
            source: { partition: 'tides/0', fromOffset: offset, toOffset: offset + rows.length },
          };
          offset += rows.length;
          return Promise.resolve({ value: batch, done: false });
        }
        return new Promise((resolve) => (this.stopWaiting = () => resolve({ value: undefined, done: true })));
      },
      return: () => {
        this.stopWaiting?.();
        return Promise.resolve({ value: undefined, done: true });
      },
    };
    return { [Symbol.asyncIterator]: () => iterator };
  }

  async close(): Promise<void> {
    this.stopWaiting?.();
  }
}

test('a stream that goes quiet is checkpointed when the interval is up, without waiting for the next record', async () => {
  const spec = loadJobFile(join(ROOT, 'jobs', 'tides-30m-average.yaml'));
  const job = { ...spec, checkpoint: { kind: 'file' as const, dir: '', intervalMs: 200 } };
  const row = (minute: number, v: number): Row => ({ station: '8454000', name: 'Providence', lat: 41.8, lon: -71.4, t: T0 + minute * MINUTE, v, s: null, f: null, q: null });
  // Both batches arrive well within one interval of each other and of the start.
  const script = [
    [row(0, 1.0), row(6, 2.0), row(12, 3.0)],
    [row(18, 4.0), row(24, 5.0)],
  ];
  const sinks = new Map<string, Sink>([
    ['main', new NullSink()],
    ['dead-letters', new NullSink()],
    ['late', new NullSink()],
  ]);
  const dir = mkdtempSync(join(tmpdir(), 'tideflow-quiet-'));
  const checkpoints = new FileCheckpointStore(dir);
  const controller = new AbortController();
  const saved: number[] = [];
  const started = Date.now();
  const run = runJob(
    { job, source: new QuietAfterSource(script), sinks, checkpoints, clearCheckpointOnCompletion: false },
    {
      signal: controller.signal,
      observer: {
        onCheckpoint: ({ epoch }) => {
          saved.push(epoch);
          controller.abort();
        },
      },
    },
  );
  const result = await run;
  const waited = Date.now() - started;
  assert.equal(result.stopped, true);
  assert.deepEqual(saved.slice(0, 1), [1], 'the first checkpoint came while the source was quiet');
  assert.ok(waited < 5000, `checkpointed after ${waited} ms`);
  const checkpoint = await new FileCheckpointStore(dir).load(job.job);
  assert.ok(checkpoint);
  assert.deepEqual(checkpoint.positions, { 'tides/0': 5 }, 'both batches are in the checkpoint');
  assert.equal(checkpoint.counters.recordsIn, 5);
});
