// Windows close on a quiet stream: the run's timer advances the watermark of
// partitions that went silent (eventTime.idleTimeout), in virtual time.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { VirtualTimeScheduler } from 'rxjs';
import type { JobSpec } from '../config/job';
import type { RawBatch, Row } from '../core/batch';
import type { Operator } from '../core/operator';
import type { Positions, Source } from '../core/source';
import { MemoryCheckpointStore, MemorySink } from '../../test/support/memory';
import { runJob } from './run-job';
import { createOperators } from '../jobfile/components';

const MINUTE = 60_000;
const T0 = Date.UTC(2024, 0, 1);

/** Two partitions, each station in one, fed by the test; waits (a live, caught-up stream) when nothing is pushed. */
class LiveSource implements Source {
  readonly description = 'live test source';
  private readonly queue: RawBatch[] = [];
  private wake: (() => void) | null = null;
  private ended = false;
  private readonly offsets = new Map<string, number>();

  constructor() {
    // Both partitions are known from the start, as a Kafka source announces them.
    for (const partition of ['tides/0', 'tides/1']) this.queue.push({ rows: [], offsets: new Float64Array(0), source: { partition, fromOffset: 0, toOffset: 0 } });
  }

  push(partition: string, rows: Row[]): void {
    const from = this.offsets.get(partition) ?? 0;
    this.offsets.set(partition, from + rows.length);
    this.queue.push({ rows, offsets: Float64Array.from(rows, (_, i) => from + i), source: { partition, fromOffset: from, toOffset: from + rows.length } });
    this.wake?.();
  }

  batches(_from: Positions): AsyncIterable<RawBatch> {
    return {
      [Symbol.asyncIterator]: () => ({
        next: async (): Promise<IteratorResult<RawBatch>> => {
          while (this.queue.length === 0 && !this.ended) await new Promise<void>((resolve) => (this.wake = resolve));
          if (this.queue.length > 0) return { value: this.queue.shift()!, done: false };
          return { value: undefined, done: true };
        },
        return: async () => {
          this.ended = true;
          this.wake?.();
          return { value: undefined, done: true };
        },
      }),
    };
  }

  async close(): Promise<void> {
    this.ended = true;
    this.wake?.();
  }
}

/** 30-minute sums per station, 1 min idle timeout, no out-of-order allowance, checkpoints every 5 s. */
function averages(): JobSpec {
  return {
    job: 'quiet',
    file: 'quiet.yaml',
    source: { kind: 'file', file: { path: 'unused', batchSize: 100 } },
    eventTime: { field: 't', maxOutOfOrderMs: 0, idleTimeoutMs: MINUTE, maxDriftMs: 60 * MINUTE },
    steps: [
      {
        kind: 'window',
        id: 'avg',
        key: ['station'],
        window: { kind: 'tumbling', sizeMs: 30 * MINUTE, anchorMs: 0 },
        allowedLatenessMs: 0,
        emit: 'final',
        aggregates: [{ name: 'sum', fn: 'sum', field: 'v' }],
        at: { line: 1, col: 1 },
      },
    ],
    sink: { kind: 'null' },
    sinks: {},
    checkpoint: { kind: 'file', dir: 'unused', intervalMs: 5000 },
  };
}

/** Readings of one station every 6 minutes from `start` (minutes after T0), `count` of them, v = 1. */
function readings(station: string, start: number, count: number): Row[] {
  return Array.from({ length: count }, (_, i) => ({ station, t: T0 + (start + 6 * i) * MINUTE, v: 1 }));
}

/** Lets the dataflow's promises settle (sink writes, source hand-overs). */
async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

function windows(sink: MemorySink): string[] {
  return sink.rows.map((row) => `${row.station as string} ${((row.window_start as Date).getTime() - T0) / MINUTE}-${((row.window_end as Date).getTime() - T0) / MINUTE} ${row.sum as number}`);
}

test('a live stream that goes quiet: once its partitions are silent for the idle timeout, the windows it completed close without another record', async () => {
  //  minutes:        0        30        60        90
  //  tides/0  A  ----|---------|---------|--         (readings 0..84)
  //  tides/1  B  ----|---------|-                    (readings 0..36)
  //  watermark after the batches = min(A 84, B 36) = 36: A 0-30 and B 0-30 close
  //  1 min later, both silent: the watermark moves to 84: A 30-60 and B 30-60 close
  const scheduler = new VirtualTimeScheduler();
  const source = new LiveSource();
  const store = new MemoryCheckpointStore();
  const main = new MemorySink();
  const stop = new AbortController();
  const running = runJob(
    { job: averages(), source, sinks: new Map([['main', main], ['late', new MemorySink()], ['dead-letters', new MemorySink()]]), checkpoints: store, clearCheckpointOnCompletion: false, operators: () => createOperators(averages()) },
    { scheduler, signal: stop.signal },
  );
  source.push('tides/0', readings('A', 0, 15));
  source.push('tides/1', readings('B', 0, 7));
  await settle();
  assert.deepEqual(windows(main), ['A 0-30 5', 'B 0-30 5']);

  // 59 s of silence: nothing moves yet.
  scheduler.maxFrames = 59_000;
  scheduler.flush();
  await settle();
  assert.deepEqual(windows(main), ['A 0-30 5', 'B 0-30 5']);
  // The idle timeout passes.
  scheduler.maxFrames = 61_000;
  scheduler.flush();
  await settle();
  assert.deepEqual(windows(main), ['A 0-30 5', 'B 0-30 5', 'A 30-60 5', 'B 30-60 2']);
  // What the quiet stream read is checkpointed too (within one interval of 5 s).
  const saved = JSON.parse(store.saved.get('quiet')!) as { positions: Positions };
  assert.deepEqual(saved.positions, { 'tides/0': 15, 'tides/1': 7 });

  stop.abort();
  const result = await running;
  assert.equal(result.stopped, true);
  assert.deepEqual(windows(main), ['A 0-30 5', 'B 0-30 5', 'A 30-60 5', 'B 30-60 2'], 'a stop closes no window that is still open');
});

test('a stream whose records keep coming within the idle timeout gives what a replay of the same records gives', async () => {
  // B reports every 50 s of wall clock (under the 1 min idle timeout) while A races ahead: B must
  // keep holding the watermark back, so no reading of B is late and every window is complete.
  const scheduler = new VirtualTimeScheduler();
  const source = new LiveSource();
  const main = new MemorySink();
  const late = new MemorySink();
  const stop = new AbortController();
  const running = runJob(
    { job: averages(), source, sinks: new Map([['main', main], ['late', late], ['dead-letters', new MemorySink()]]), checkpoints: new MemoryCheckpointStore(), clearCheckpointOnCompletion: false, operators: () => createOperators(averages()) },
    { scheduler, signal: stop.signal },
  );
  source.push('tides/0', readings('A', 0, 40));
  for (let step = 0; step < 20; step++) {
    source.push('tides/1', readings('B', step * 12, 2));
    await settle();
    scheduler.maxFrames = (step + 1) * 50_000;
    scheduler.flush();
    await settle();
  }
  stop.abort();
  await running;
  assert.equal(late.rows.length, 0, 'no reading of B was late');
  const b = windows(main).filter((line) => line.startsWith('B'));
  // B's 40 readings fill 0-30 .. 210-240 with 5 each; A's last reading (234) holds the watermark under 240.
  assert.deepEqual(b, ['B 0-30 5', 'B 30-60 5', 'B 60-90 5', 'B 90-120 5', 'B 120-150 5', 'B 150-180 5', 'B 180-210 5']);
});

test('a processing-time timer an operator sets fires on the wall clock, in line with the batches, and its rows reach the sinks', async () => {
  // Emits, every 10 s of wall clock, how many rows it has seen.
  const calls: string[] = [];
  let seen = 0;
  const heartbeat: Operator = {
    id: 'heartbeat',
    open(context) {
      context.setTimer(context.now() + 10_000);
    },
    process(batch) {
      seen += batch.rows.length;
      return { ...batch, rows: [] };
    },
    onTimer(now, context) {
      calls.push(`timer at ${now}: ${seen} seen`);
      context.setTimer(now + 10_000);
      return [{ station: 'all', t: now, seen }];
    },
  };
  const scheduler = new VirtualTimeScheduler();
  const source = new LiveSource();
  const main = new MemorySink();
  const stop = new AbortController();
  const running = runJob(
    {
      job: { ...averages(), steps: [] },
      source,
      sinks: new Map([['main', main], ['late', new MemorySink()], ['dead-letters', new MemorySink()]]),
      checkpoints: new MemoryCheckpointStore(),
      clearCheckpointOnCompletion: false,
      operators: () => [heartbeat],
    },
    { scheduler, signal: stop.signal },
  );
  source.push('tides/0', readings('A', 0, 3));
  await settle();
  scheduler.maxFrames = 15_000;
  scheduler.flush();
  await settle();
  source.push('tides/1', readings('B', 0, 4));
  await settle();
  scheduler.maxFrames = 25_000;
  scheduler.flush();
  await settle();
  stop.abort();
  await running;
  assert.deepEqual(calls, ['timer at 10000: 3 seen', 'timer at 20000: 7 seen']);
  assert.deepEqual(main.rows, [{ station: 'all', t: 10_000, seen: 3 }, { station: 'all', t: 20_000, seen: 7 }]);
});
