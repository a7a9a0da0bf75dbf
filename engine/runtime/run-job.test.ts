import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadJobFile } from '../jobfile';
import { ExternalError } from '../core/errors';
import { NullSink } from '../sinks/null-sink';
import type { Sink } from '../core/sink';
import type { Positions, Source } from '../core/source';
import type { Checkpoint, CheckpointStore } from '../state/checkpoint';
import { FileCheckpointStore } from '../state/file-checkpoint-store';
import type { RawBatch, Row } from '../core/batch';
import type { Decoder } from '../codecs/decoder';
import { runJob } from './run-job';
import { createOperators } from '../jobfile/components';

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

  constructor(
    private readonly script: Row[][],
    private readonly firstOffset = 0,
  ) {}

  batches(_from: Positions): AsyncIterable<RawBatch> {
    let index = 0;
    let offset = this.firstOffset;
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
    { job, source: new QuietAfterSource(script), sinks, checkpoints, clearCheckpointOnCompletion: false, operators: () => createOperators(job) },
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

test('a resumed run counts on from the checkpoint, and tells its own records apart for its rate', async () => {
  const spec = loadJobFile(join(ROOT, 'jobs', 'tides-30m-average.yaml'));
  const job = { ...spec, checkpoint: { kind: 'file' as const, dir: '', intervalMs: 100 } };
  const row = (minute: number, v: number): Row => ({ station: '8454000', name: 'Providence', lat: 41.8, lon: -71.4, t: T0 + minute * MINUTE, v, s: null, f: null, q: null });
  const dir = mkdtempSync(join(tmpdir(), 'tideflow-resume-count-'));
  // Each run stops at its first checkpoint, taken once its source has gone quiet.
  const runOnce = async (script: Row[][], firstOffset: number) => {
    const sinks = new Map<string, Sink>([
      ['main', new NullSink()],
      ['dead-letters', new NullSink()],
      ['late', new NullSink()],
    ]);
    const controller = new AbortController();
    const progress: Array<{ recordsIn: number; recordsPerSecond: number; elapsedMs: number }> = [];
    const result = await runJob(
      { job, source: new QuietAfterSource(script, firstOffset), sinks, checkpoints: new FileCheckpointStore(dir), clearCheckpointOnCompletion: false, operators: () => createOperators(job) },
      {
        signal: controller.signal,
        onProgress: ({ recordsIn, recordsPerSecond, elapsedMs }) => progress.push({ recordsIn, recordsPerSecond, elapsedMs }),
        observer: { onCheckpoint: () => controller.abort() },
      },
    );
    return { result, last: progress[progress.length - 1] };
  };
  const first = await runOnce([[row(0, 1.0), row(6, 2.0), row(12, 3.0)], [row(18, 4.0), row(24, 5.0)]], 0);
  assert.equal(first.result.resumedFromEpoch, null);
  assert.equal(first.result.counters.recordsIn, 5);
  assert.equal(first.result.recordsThisRun, 5);

  const second = await runOnce([[row(30, 6.0), row(36, 7.0)]], 5);
  assert.equal(second.result.resumedFromEpoch, first.result.epochs, "resumed from the first run's last checkpoint");
  assert.equal(second.result.counters.recordsIn, 7, 'totals go on from the checkpoint');
  assert.equal(second.result.recordsThisRun, 2);
  // The last progress report's rate is of this run's 2 records, not of the 7 since the first run.
  assert.equal(second.last.recordsIn, 7);
  assert.ok(Math.abs(second.last.recordsPerSecond - 2 / (second.last.elapsedMs / 1000)) < 1e-6, JSON.stringify(second.last));
});

/** A checkpoint store (or sink) behind an outage: its answers wait until it is closed. */
class UnreachableStore implements CheckpointStore {
  readonly description = 'Cassandra table tides.tideflow_checkpoints (127.0.0.1:9042)';
  closed = false;
  /** Calls of claim and load (the first thing a run asks of its store). */
  loads = 0;
  claim(): Promise<void> {
    return this.load().then(() => {});
  }
  async list(): Promise<string[]> {
    return [];
  }
  load(): Promise<Checkpoint | null> {
    this.loads++;
    return new Promise((_resolve, reject) => {
      const poll = setInterval(() => {
        if (!this.closed) return;
        clearInterval(poll);
        reject(new Error('client closed'));
      }, 5);
    });
  }
  async save(): Promise<void> {}
  async clear(): Promise<void> {}
  async close(): Promise<void> {
    this.closed = true;
  }
}

test('a stop request while start-up waits for an unreachable checkpoint store or sink ends the run at once: nothing read, nothing saved', { timeout: 10_000 }, async () => {
  const spec = loadJobFile(join(ROOT, 'jobs', 'tides-30m-average.yaml'));
  const job = { ...spec, checkpoint: { kind: 'file' as const, dir: '', intervalMs: 100 } };
  const row: Row = { station: '8454000', name: 'Providence', lat: 41.8, lon: -71.4, t: T0, v: 1, s: null, f: null, q: null };

  // The checkpoint store.
  const store = new UnreachableStore();
  const source = new QuietAfterSource([[row]]);
  const controller = new AbortController();
  const sinks = new Map<string, Sink>([
    ['main', new CaptureSink()],
    ['dead-letters', new NullSink()],
    ['late', new NullSink()],
  ]);
  const run = runJob({ job, source, sinks, checkpoints: store, clearCheckpointOnCompletion: false, operators: () => createOperators(job) }, { signal: controller.signal });
  await new Promise((resolve) => setTimeout(resolve, 50));
  const asked = Date.now();
  controller.abort();
  const result = await run;
  assert.ok(Date.now() - asked < 1000, `returned ${Date.now() - asked} ms after the stop request`);
  assert.equal(result.stopped, true);
  assert.equal(result.stoppedWaitingFor, 'the checkpoint store (Cassandra table tides.tideflow_checkpoints (127.0.0.1:9042))');
  assert.equal(result.recordsThisRun, 0);
  assert.equal(result.epochs, 0);
  assert.equal(store.closed, true, 'the store was closed, which ends its retries');
  assert.deepEqual((sinks.get('main') as CaptureSink).rows, []);

  // A sink: the store answers, the main sink's open waits.
  const dir = mkdtempSync(join(tmpdir(), 'tideflow-stop-at-start-'));
  let closedSink = false;
  const waitingSink: Sink = {
    description: 'Cassandra table tides.avg_30m (127.0.0.1:9042)',
    open: () => new Promise<void>(() => {}),
    write: async () => {},
    flush: async () => {},
    close: async () => {
      closedSink = true;
    },
  };
  const second = new AbortController();
  const sinkRun = runJob(
    { job, source: new QuietAfterSource([[row]]), sinks: new Map<string, Sink>([['main', waitingSink], ['dead-letters', new NullSink()], ['late', new NullSink()]]), checkpoints: new FileCheckpointStore(dir), clearCheckpointOnCompletion: false, operators: () => createOperators(job) },
    { signal: second.signal },
  );
  setTimeout(() => second.abort(), 50);
  const sinkResult = await sinkRun;
  assert.equal(sinkResult.stoppedWaitingFor, 'sink main (Cassandra table tides.avg_30m (127.0.0.1:9042))');
  assert.equal(closedSink, true);
  assert.equal(await new FileCheckpointStore(dir).load(job.job), null, 'no checkpoint was written');

  // Already stopped before the run: the store is not even asked.
  const early = new UnreachableStore();
  const stoppedBefore = new AbortController();
  stoppedBefore.abort();
  const earlyResult = await runJob({ job, source: new QuietAfterSource([[row]]), sinks, checkpoints: early, clearCheckpointOnCompletion: false, operators: () => createOperators(job) }, { signal: stoppedBefore.signal });
  assert.equal(earlyResult.stoppedWaitingFor, 'the checkpoint store (Cassandra table tides.tideflow_checkpoints (127.0.0.1:9042))');
  assert.equal(early.loads, 0);
});

test('a stop request while a batch waits for its decoding (a registry outage) stops the run; the batch is left for the next run', { timeout: 10_000 }, async () => {
  const spec = loadJobFile(join(ROOT, 'jobs', 'tides-dedupe.yaml'));
  const job = { ...spec, checkpoint: { kind: 'file' as const, dir: '', intervalMs: 60_000 } };
  const row = (minute: number): Row => ({ station: '8454000', name: 'Providence', lat: 41.8, lon: -71.4, t: T0 + minute * MINUTE, v: 1, s: null, f: null, q: null });
  // Two batches of payloads (their bytes do not matter to this decoder), then a quiet stream.
  const batches: RawBatch[] = [0, 3].map((from) => ({
    payloads: [Buffer.from('a'), Buffer.from('b'), Buffer.from('c')],
    offsets: Float64Array.from([from, from + 1, from + 2]),
    source: { partition: 'tides/0', fromOffset: from, toOffset: from + 3 },
  }));
  let stopWaiting: () => void = () => {};
  const source: Source = {
    description: 'two payload batches',
    batches: () => {
      let index = 0;
      const iterator: AsyncIterator<RawBatch> = {
        next: () =>
          index < batches.length
            ? Promise.resolve({ value: batches[index++], done: false })
            : new Promise((resolve) => (stopWaiting = () => resolve({ value: undefined, done: true }))),
        return: () => {
          stopWaiting();
          return Promise.resolve({ value: undefined, done: true });
        },
      };
      return { [Symbol.asyncIterator]: () => iterator };
    },
    close: async () => stopWaiting(),
  };
  // The first batch decodes; the second waits for a registry that does not answer, until the decoder is closed.
  let decodes = 0;
  let closed = false;
  const decoder: Decoder = {
    overlaps: false,
    decode: (raw) => {
      decodes++;
      if (decodes === 1) return Promise.resolve({ kind: 'rows', rows: [row(0), row(6), row(12)], offsets: raw.offsets, deadLetters: [] });
      return new Promise((_resolve, reject) => {
        const poll = setInterval(() => {
          if (!closed) return;
          clearInterval(poll);
          reject(new ExternalError('schema registry unreachable', { retriable: true }));
        }, 5);
      });
    },
    close: async () => {
      closed = true;
    },
  };
  const main = new CaptureSink();
  const sinks = new Map<string, Sink>([
    ['main', main],
    ['dead-letters', new NullSink()],
    ['late', new NullSink()],
  ]);
  const dir = mkdtempSync(join(tmpdir(), 'tideflow-stop-decoding-'));
  const controller = new AbortController();
  const result = await runJob(
    { job, source, decoder, sinks, checkpoints: new FileCheckpointStore(dir), clearCheckpointOnCompletion: false, operators: () => createOperators(job) },
    { signal: controller.signal, observer: { onBatch: () => setTimeout(() => controller.abort(), 50) } },
  );
  assert.equal(result.stopped, true);
  assert.equal(result.stoppedWaitingFor, null, 'stopped while running, not while starting');
  assert.equal(result.recordsThisRun, 3, 'the first batch only');
  assert.equal(decodes, 2);
  assert.equal(closed, true, 'the decoder was closed, which ends its retries');
  assert.deepEqual(main.rows.map((r) => r.t), [T0, T0 + 6 * MINUTE, T0 + 12 * MINUTE]);
  const checkpoint = await new FileCheckpointStore(dir).load(job.job);
  assert.deepEqual(checkpoint?.positions, { 'tides/0': 3 }, 'the next run starts at the batch that was waiting');
});

/** Collects rows in memory. */
class CaptureSink implements Sink {
  readonly description = 'memory';
  readonly rows: Row[] = [];
  async open(): Promise<void> {}
  async write(rows: Row[]): Promise<void> {
    this.rows.push(...rows);
  }
  async flush(): Promise<void> {}
  async close(): Promise<void> {}
}

test('late records are written whole when the decoder skipped fields (expand); dead letters (validation and operators) as the payload was received', async () => {
  const spec = loadJobFile(join(ROOT, 'jobs', 'tides-30m-average.yaml'));
  const job = { ...spec, checkpoint: { kind: 'none' as const } };
  const whole = (minute: number, v: number): Row => ({ station: '8454000', name: 'Providence', lat: 41.8, lon: -71.4, t: T0 + minute * MINUTE, v, s: null, f: '0,0,0,0', q: 'v' });
  // Batch 1 moves the watermark a day on; batch 2 brings a reading from the first hour (late) and a NaN sigma (invalid).
  // It also brings a level that is not a number, which the window step (not validation) dead-letters.
  const script = [[whole(0, 1), whole(24 * 60, 2)], [whole(6, 3), { ...whole(24 * 60 + 6, 4), s: Number.NaN }, { ...whole(24 * 60 + 12, 5), v: 'high' as unknown as number }]];
  const source: Source = {
    description: 'projected batches',
    async *batches() {
      let offset = 0;
      for (const rows of script) {
        // What was received: here the record as JSON text (Kafka: its Avro bytes).
        yield { payloads: rows.map((row) => Buffer.from(JSON.stringify(row))), offsets: Float64Array.from(rows, (_, i) => offset + i), source: { partition: 'tides/0', fromOffset: offset, toOffset: offset + rows.length } };
        offset += rows.length;
      }
    },
    async close() {},
  };
  // Rows as a projected read returns them (no name, f, q); expand gives the whole record back.
  let last = new Map<Row, Row>();
  const decoder: Decoder = {
    overlaps: false,
    async decode(raw: RawBatch) {
      const batch = script[raw.source.fromOffset === 0 ? 0 : 1];
      last = new Map();
      const rows = batch.map((row) => {
        const { name: _n, f: _f, q: _q, ...projected } = row;
        last.set(projected, row);
        return projected;
      });
      return { kind: 'rows', rows, offsets: raw.offsets, deadLetters: [] };
    },
    expand: (row: Row) => last.get(row) ?? row,
    close: async () => {},
  };
  const late = new CaptureSink();
  const deadLetters = new CaptureSink();
  const sinks = new Map<string, Sink>([
    ['main', new NullSink()],
    ['dead-letters', deadLetters],
    ['late', late],
  ]);
  const validator = (row: Row) => (typeof row.s === 'number' && !Number.isFinite(row.s) ? 'field "s" is not a finite number: NaN' : null);
  await runJob({ job, source, decoder, validator, sinks, checkpoints: new FileCheckpointStore(mkdtempSync(join(tmpdir(), 'tideflow-expand-'))), clearCheckpointOnCompletion: true, operators: () => createOperators(job) });
  assert.equal(late.rows.length, 1);
  assert.deepEqual(late.rows[0].record, whole(6, 3));
  assert.deepEqual(
    deadLetters.rows.map((letter) => [letter.stage, letter.payload, letter.payload_encoding]),
    [
      ['validate', JSON.stringify({ ...whole(24 * 60 + 6, 4), s: Number.NaN }), 'utf8'],
      ['avg-30m', JSON.stringify({ ...whole(24 * 60 + 12, 5), v: 'high' }), 'utf8'],
    ],
  );
});

test('a decoder on worker threads (overlaps) gets the next batch before this batch is processed, so both run at once', async () => {
  const spec = loadJobFile(join(ROOT, 'jobs', 'tides-30m-average.yaml'));
  const job = { ...spec, checkpoint: { kind: 'none' as const } };
  const row = (minute: number): Row => ({ station: '8454000', name: 'Providence', lat: 41.8, lon: -71.4, t: T0 + minute * MINUTE, v: 1, s: null, f: null, q: null });
  const script = [[row(0)], [row(6)], [row(12)]];
  // A source that holds every batch already (a memory source, or Kafka with records waiting).
  const source: Source = {
    description: 'batches at hand',
    async *batches() {
      for (const [k, rows] of script.entries()) yield { payloads: rows.map(() => Buffer.alloc(0)), offsets: Float64Array.from([k]), source: { partition: 'tides/0', fromOffset: k, toOffset: k + 1 } };
    },
    async close() {},
  };
  const events: string[] = [];
  const decoder: Decoder = {
    overlaps: true,
    async decode(raw: RawBatch) {
      const k = raw.source.fromOffset;
      events.push(`decode ${k}`);
      return { kind: 'rows', rows: script[k], offsets: raw.offsets, deadLetters: [] };
    },
    close: async () => {},
  };
  // Validation is the first thing processing does with a batch's rows.
  const validator = (validated: Row) => {
    events.push(`process ${script.findIndex((rows) => rows[0] === validated)}`);
    return null;
  };
  const sinks = new Map<string, Sink>([
    ['main', new NullSink()],
    ['dead-letters', new NullSink()],
    ['late', new NullSink()],
  ]);
  await runJob({ job, source, decoder, validator, sinks, checkpoints: new FileCheckpointStore(mkdtempSync(join(tmpdir(), 'tideflow-overlap-'))), clearCheckpointOnCompletion: true, operators: () => createOperators(job) });
  assert.deepEqual(events, ['decode 0', 'decode 1', 'process 0', 'decode 2', 'process 1', 'process 2']);
});
