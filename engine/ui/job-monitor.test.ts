import assert from 'node:assert/strict';
import { once } from 'node:events';
import { test } from 'node:test';
import { MessageChannel } from 'node:worker_threads';
import { forwardSideOutputs, type ThreadMessage } from '../api/thread-worker';
import type { JobSpec } from '../config/job';
import { emptyCounters } from '../core/operator';
import type { Sink } from '../core/sink';
import { combineObservers, JobMonitor, judgeLag, type JobPoint, type JobView } from './job-monitor';

function recordingSink(): Sink & { rows: unknown[] } {
  const rows: unknown[] = [];
  return { description: 'memory', rows, open: async () => {}, write: async (batch) => void rows.push(...batch), flush: async () => {}, close: async () => {} };
}

function monitorWithClock() {
  let now = Date.parse('2024-01-01T00:00:00Z');
  const sinks = new Map<string, Sink>([
    ['main', recordingSink()],
    ['dead-letters', recordingSink()],
    ['late', recordingSink()],
  ]);
  const deadInner = sinks.get('dead-letters') as ReturnType<typeof recordingSink>;
  const parts = {
    job: { job: 'tides-test' } as JobSpec,
    source: { description: 'Kafka topic tides', batches: () => ({ [Symbol.asyncIterator]: () => ({ next: async () => ({ done: true as const, value: undefined }) }) }), close: async () => {} },
    sinks,
    checkpoints: { description: 'checkpoint directory /tmp/x', claim: async () => {}, list: async () => [], load: async () => null, save: async () => {}, clear: async () => {}, close: async () => {} },
  };
  const monitor = new JobMonitor(parts, { now: () => now, checkpointBytes: async () => 1234 });
  const changes: Array<{ view: JobView; point: JobPoint | null }> = [];
  monitor.on('change', (view: JobView, point: JobPoint | null) => changes.push({ view, point }));
  return { monitor, sinks, deadInner, changes, advance: (ms: number) => (now += ms), now: () => now };
}

test('judgeLag: no lag is running, little is caught up, more than 30 s of records is lagging', () => {
  assert.deepEqual(judgeLag(null, 100).state, 'running');
  assert.equal(judgeLag({ 'tides/0': 999 }, 0).state, 'caught up');
  assert.equal(judgeLag({ 'tides/0': 20_000, 'tides/1': 20_000 }, 10_000).state, 'caught up'); // 4 s of records
  assert.equal(judgeLag({ 'tides/0': 200_000 }, 10_000).state, 'running'); // 20 s: catching up
  assert.equal(judgeLag({ 'tides/0': 310_000 }, 10_000).state, 'lagging'); // 31 s
  assert.equal(judgeLag({ 'tides/0': 5_000 }, 0).state, 'lagging'); // waiting records, nothing read
  assert.match(judgeLag({ 'tides/0': 310_000 }, 10_000).stateReason, /310,000 records waiting upstream \(31 s at the current rate\)/);
});

test('JobMonitor follows a run: progress points, lag, watermark delay, checkpoint, end', async () => {
  const { monitor, changes, advance, now } = monitorWithClock();
  const counters = emptyCounters();
  monitor.onStart({ counters: { ...counters }, resumedFromEpoch: null });
  counters.recordsIn = 5_000;
  monitor.onBatch({ partition: 'tides/0', records: 5_000, processingMs: 3, watermark: now() - 60_000, counters, lag: { 'tides/0': 400_000, 'tides/1': 0 } });
  advance(1000);
  monitor.onProgress({ recordsIn: 5_000, recordsPerSecond: 5_000, watermark: now() - 61_000, epoch: 0, counters, lag: { 'tides/0': 400_000, 'tides/1': 0 }, elapsedMs: 1000 });
  let view = monitor.snapshot();
  assert.equal(view.state, 'lagging');
  assert.deepEqual(view.lag, { 'tides/0': 400_000, 'tides/1': 0 });
  assert.equal(view.watermarkDelayMs, 61_000);
  assert.deepEqual(monitor.points(), [{ t: now(), recordsPerSecond: 5_000, lagTotal: 400_000, watermarkDelayMs: 61_000 }]);
  assert.deepEqual(changes[changes.length - 1].point, monitor.points()[0]);

  monitor.onCheckpoint({ epoch: 3, durationMs: 42 });
  await new Promise((resolve) => setImmediate(resolve));
  view = monitor.snapshot();
  assert.deepEqual(view.checkpoint, { epoch: 3, at: now(), durationMs: 42, bytes: 1234, store: 'checkpoint directory /tmp/x' });

  advance(1000);
  monitor.onProgress({ recordsIn: 5_000, recordsPerSecond: 4_000, watermark: now() - 1000, epoch: 3, counters, lag: { 'tides/0': 10, 'tides/1': 0 }, elapsedMs: 2000 });
  assert.equal(monitor.snapshot().state, 'caught up');

  monitor.finish({ counters, stopped: true, stoppedWaitingFor: null, watermark: now() - 1000 });
  view = monitor.snapshot();
  assert.equal(view.state, 'stopped');
  assert.equal(view.stateReason, 'stopped before the end of its input (checkpoint written)');
  assert.equal(view.endedAt, now());
});

test('JobMonitor: a stall report makes the job stalled until the next batch', () => {
  const { monitor, now } = monitorWithClock();
  const lines: string[] = [];
  const log = monitor.wrapLog((line) => lines.push(line));
  log('no progress for 30 s: checkpoint: flushing sink main (Cassandra)');
  assert.equal(monitor.snapshot().state, 'stalled');
  assert.equal(monitor.snapshot().stall?.report, 'no progress for 30 s: checkpoint: flushing sink main (Cassandra)');
  assert.deepEqual(lines, ['no progress for 30 s: checkpoint: flushing sink main (Cassandra)']);
  monitor.onBatch({ partition: 'tides/0', records: 1, processingMs: 1, watermark: now(), counters: emptyCounters() });
  assert.equal(monitor.snapshot().state, 'running');
  assert.equal(monitor.snapshot().stall, null);
});

test('JobMonitor taps the dead-letter sink: latest reasons with a sample, counts per minute, rows still written', async () => {
  const { monitor, sinks, deadInner, advance, now } = monitorWithClock();
  const counters = emptyCounters();
  monitor.onStart({ counters: { ...counters, deadLetters: 7 }, resumedFromEpoch: 4 });
  const letters = Array.from({ length: 8 }, (_, i) => ({ reason: `bad ${i}`, stage: 'decode', partition: 'tides/1', offset: 100 + i, payload: `{"v":${i}}`, payload_encoding: 'utf8' }));
  await sinks.get('dead-letters')!.write(letters);
  assert.equal(deadInner.rows.length, 8, 'every row reaches the real sink');
  monitor.onProgress({ recordsIn: 10, recordsPerSecond: 10, watermark: now(), epoch: 4, counters: { ...counters, deadLetters: 15 }, elapsedMs: 1000 });
  advance(60_000);
  monitor.onProgress({ recordsIn: 11, recordsPerSecond: 1, watermark: now(), epoch: 4, counters: { ...counters, deadLetters: 16 }, elapsedMs: 61_000 });
  const view = monitor.snapshot();
  assert.equal(view.deadLetters.total, 16);
  const minute = Math.floor(now() / 60_000) * 60_000;
  // The 7 restored at start are not this run's; 8 in the first minute, 1 in the next.
  assert.deepEqual(view.deadLetters.perMinute, [
    [minute - 60_000, 8],
    [minute, 1],
  ]);
  assert.deepEqual(
    view.deadLetters.latest.map((entry) => [entry.reason, entry.where, entry.sample]),
    [7, 6, 5, 4, 3].map((i) => [`bad ${i}`, `decode tides/1@${100 + i}`, JSON.stringify(`{"v":${i}}`)]),
  );
});

test('on --workers N, the dead letters and late records reach the monitor through a real MessagePort: the newest of each write, dates intact', { timeout: 10_000 }, async () => {
  const { monitor } = monitorWithClock();
  // The thread's own side-output sinks, wrapped as thread-worker.ts wraps them.
  const threadDeadLetters = recordingSink();
  const threadSinks = new Map<string, Sink>([
    ['dead-letters', threadDeadLetters],
    ['late', recordingSink()],
  ]);
  const { port1, port2 } = new MessageChannel();
  const received: ThreadMessage[] = [];
  port1.on('message', (message: ThreadMessage) => {
    received.push(message);
    if (message.kind === 'side-output') monitor.noteSideOutput(message.name, message.rows);
  });
  try {
    forwardSideOutputs(threadSinks, (message) => port2.postMessage(message));
    const letters = Array.from({ length: 8 }, (_, i) => ({ reason: `bad ${i}`, stage: 'decode', partition: 'tides/3', offset: 40 + i, payload: `{"v":${i}}`, payload_encoding: 'json' }));
    await threadSinks.get('dead-letters')!.write(letters);
    await once(port1, 'message');
    const late = { reason: 'window closed', operator: 'avg-30m', window_start: new Date('2024-01-01T00:00:00Z'), record: { station: '8454000', v: 1.25 } };
    await threadSinks.get('late')!.write([late]);
    await once(port1, 'message');
    assert.equal(threadDeadLetters.rows.length, 8, 'every row reaches the sink of the thread');
    assert.deepEqual(received.map((message) => (message.kind === 'side-output' ? [message.name, message.rows.length] : message.kind)), [
      ['dead-letters', 5],
      ['late', 1],
    ]);
    const view = monitor.snapshot();
    assert.deepEqual(
      view.deadLetters.latest.map((entry) => [entry.reason, entry.where, entry.sample]),
      [7, 6, 5, 4, 3].map((i) => [`bad ${i}`, `decode tides/3@${40 + i}`, `{"v":${i}}`]),
    );
    assert.deepEqual(
      view.late.latest.map((entry) => [entry.reason, entry.where, entry.sample]),
      [['window closed', 'avg-30m window 2024-01-01T00:00:00.000Z', '{"station":"8454000","v":1.25}']],
    );
  } finally {
    port1.close();
  }
});

test('combineObservers calls every observer', () => {
  const calls: string[] = [];
  const observer = combineObservers({ onEnd: () => calls.push('a') }, undefined, { onEnd: () => calls.push('b') });
  observer?.onEnd?.({ counters: emptyCounters() });
  assert.deepEqual(calls, ['a', 'b']);
  const single = { onEnd: () => {} };
  assert.equal(combineObservers(null, single), single);
});
