import assert from 'node:assert/strict';
import { test } from 'node:test';
import { emptyCounters } from '../core/operator';
import type { RunResult } from '../runtime/run-job';
import { formatLag, formatSummary, ProgressLine } from './progress';

/** A non-TTY stream that keeps what was written. */
function capture(): { stream: NodeJS.WriteStream; lines: string[] } {
  const lines: string[] = [];
  const stream = { isTTY: false, write: (text: string) => lines.push(text) } as unknown as NodeJS.WriteStream;
  return { stream, lines };
}

test('progress line: a live source shows consumer lag (total and worst partition) and how far the watermark trails the clock', () => {
  const now = Date.UTC(2024, 0, 1, 12, 0, 30);
  const { stream, lines } = capture();
  const line = new ProgressLine('tides-30m-average', stream, 0, () => now);
  line.update({
    recordsIn: 12_000,
    recordsPerSecond: 4000,
    watermark: Date.UTC(2024, 0, 1, 12, 0, 0),
    epoch: 2,
    counters: { ...emptyCounters(), resultsOut: 300 },
    lag: { 'tides/0': 100, 'tides/1': 2500, 'tides/2': 0 },
    elapsedMs: 3000,
  });
  assert.equal(lines.length, 1);
  assert.match(lines[0], /watermark 2024-01-01 12:00Z \(30 s behind\)/);
  assert.match(lines[0], /lag 2,600 records \(max 2,500 on tides\/1\)/);
});

test('progress line: a file source shows neither lag', () => {
  const { stream, lines } = capture();
  new ProgressLine('tides-dedupe', stream, 0).update({
    recordsIn: 10,
    recordsPerSecond: 10,
    watermark: Date.UTC(2019, 4, 2, 10, 0),
    epoch: 0,
    counters: emptyCounters(),
    elapsedMs: 1000,
  });
  assert.doesNotMatch(lines[0], /lag|behind/);
});

test('formatLag picks a readable unit', () => {
  assert.deepEqual([formatLag(850), formatLag(42_400), formatLag(12 * 60_000), formatLag(5.2 * 3_600_000), formatLag(3.1 * 86_400_000)], ['850 ms', '42 s', '12 min', '5.2 h', '3.1 d']);
});

test('summary: the rate is of the records this run read; a resumed run also names the totals since the first run', () => {
  const result = (recordsThisRun: number, resumedFromEpoch: number | null, stopped: boolean): RunResult => ({
    counters: { ...emptyCounters(), recordsIn: 81_409, resultsOut: 1262, duplicatesDropped: 24, nullReadings: 1, aggregated: 81_384 },
    recordsThisRun,
    epochs: 5,
    elapsedMs: 12_080,
    watermark: 0,
    resumedFromEpoch,
    stopped,
    stoppedWaitingFor: null,
    rowsBySink: { main: 0 },
    lostTasks: [],
  });
  const outputs = [{ name: 'main', description: 'Cassandra table tides.lunar_day' }];
  assert.equal(
    formatSummary('tides-lunar-day', result(81_409, null, false), outputs, true).split('\n')[0],
    'tides-lunar-day: 81,409 records in 12.08 s (6,739 records/s)',
  );
  assert.equal(
    formatSummary('tides-lunar-day', result(0, 3, true), outputs, true).split('\n')[0],
    "tides-lunar-day: 0 records in 12.08 s (0 records/s), resumed from checkpoint epoch 3 (81,409 records since the job's first run, counted below), " +
      'stopped before the end of input (checkpoint written)',
  );
  // Stopped after other instances took some of its tasks over: their checkpoints were not written here.
  assert.equal(
    formatSummary('tides-lunar-day', { ...result(10, null, true), lostTasks: ['tides-lunar-day/tides/1'] }, outputs, true).split('\n')[0],
    'tides-lunar-day: 10 records in 12.08 s (1 records/s), stopped before the end of input (checkpoints written for the tasks it still held; 1 taken over by other instances: tides-lunar-day/tides/1)',
  );
  // Stopped while start-up waited for a server: says so, and that nothing was read or saved.
  const waiting = { ...result(0, null, true), stoppedWaitingFor: 'the checkpoint store (Cassandra table tides.tideflow_checkpoints (127.0.0.1:9042))' };
  assert.equal(
    formatSummary('tides-lunar-day', waiting, outputs, true).split('\n')[0],
    'tides-lunar-day: stopped after 12.08 s while waiting for the checkpoint store (Cassandra table tides.tideflow_checkpoints (127.0.0.1:9042)); ' +
      'nothing was read and no checkpoint written',
  );
});
