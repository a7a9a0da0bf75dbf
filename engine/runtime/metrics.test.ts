import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadJobFile } from '../jobfile';
import { NullSink } from '../sinks/null-sink';
import type { Sink } from '../core/sink';
import type { Positions, Source } from '../core/source';
import { FileCheckpointStore } from '../state/file-checkpoint-store';
import type { RawBatch, Row } from '../core/batch';
import { RunMetrics, serveMetrics } from './metrics';
import { runJob } from './run-job';
import { createOperators } from '../jobfile/components';

const ROOT = join(__dirname, '..', '..', '..');
const NOW = Date.UTC(2024, 0, 10, 12, 0, 0);
const T0 = Date.UTC(2024, 0, 1, 0, 0, 0);
const MINUTE = 60_000;

/** Two Kafka-like batches with producer timestamps 250 ms before NOW. */
class ScriptedSource implements Source {
  readonly description = 'scripted batches';
  constructor(private readonly script: Row[][]) {}
  async *batches(_from: Positions): AsyncIterable<RawBatch> {
    let offset = 0;
    for (const rows of this.script) {
      const offsets = Float64Array.from(rows, (_, i) => offset + i);
      yield {
        rows,
        offsets,
        timestamps: new Float64Array(rows.length).fill(NOW - 250),
        source: { partition: 'tides/0', fromOffset: offset, toOffset: offset + rows.length },
      };
      offset += rows.length;
    }
  }
  lag(): Record<string, number> {
    return { 'tides/0': 42, 'tides/1': 0 };
  }
  async close(): Promise<void> {}
}

/** One sample of the exposition text: `name{labels} value`. */
function sample(text: string, name: string, labels = ''): number {
  const wanted = `${name}{${labels ? `${labels},` : ''}tideflow_job="tides-lunar-day"}`;
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${wanted} `));
  assert.ok(line, `no sample ${wanted} in:\n${text}`);
  return Number(line.slice(wanted.length + 1));
}

test('metrics: a run scraped over HTTP shows exact counters, watermark, lag and latency', async () => {
  const spec = loadJobFile(join(ROOT, 'jobs', 'tides-lunar-day.yaml'));
  const job = { ...spec, checkpoint: { kind: 'none' as const } };
  const a = (t: number | undefined, v: number | null): Row => ({ station: '8454000', name: 'Providence', lat: 41.8, lon: -71.4, t, v, s: null, f: null, q: null });
  // Batch 1: a reading, its repeat (duplicate), a null reading, a reading, a record without event time (dead letter).
  // Batch 2: three days later (the first lunar day closes), then a reading from the first hour: older
  //          than the dedupe horizon behind the watermark, so it is late.
  const script = [
    [a(T0, 1.0), a(T0, 1.0), a(T0 + 6 * MINUTE, null), a(T0 + 12 * MINUTE, 2.0), a(undefined, 3.0)],
    [a(T0 + 3 * 24 * 60 * MINUTE, 3.0), a(T0 + 18 * MINUTE, 4.0)],
  ];
  const sinks = new Map<string, Sink>([
    ['main', new NullSink()],
    ['dead-letters', new NullSink()],
    ['late', new NullSink()],
  ]);
  const checkpoints = new FileCheckpointStore(mkdtempSync(join(tmpdir(), 'tideflow-metrics-')));
  const metrics = new RunMetrics(job.job, { now: () => NOW, processMetrics: false });
  metrics.onStart({ counters: { recordsIn: 0, deadLetters: 0, late: 0, duplicatesDropped: 0, nullReadings: 0, filteredOut: 0, aggregated: 0, resultsOut: 0 } });
  const server = await serveMetrics(metrics, { port: 0 });
  try {
    assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    const result = await runJob(
      { job, source: new ScriptedSource(script), sinks, checkpoints, clearCheckpointOnCompletion: true, operators: () => createOperators(job) },
      { observer: metrics },
    );
    metrics.onEnd(result);

    const response = await fetch(server.url);
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    const text = await response.text();

    assert.equal(sample(text, 'tideflow_records_in_total'), 7);
    assert.equal(sample(text, 'tideflow_dead_letters_total'), 1);
    assert.equal(sample(text, 'tideflow_duplicates_dropped_total'), 1);
    assert.equal(sample(text, 'tideflow_null_readings_total'), 1);
    assert.equal(sample(text, 'tideflow_late_records_total'), 1);
    // The first lunar day (T0, T0+12m) and the one three days later, closed at the end of input.
    assert.equal(sample(text, 'tideflow_results_out_total'), 2);
    assert.deepEqual(
      [result.counters.recordsIn, result.counters.deadLetters, result.counters.duplicatesDropped, result.counters.nullReadings, result.counters.late, result.counters.resultsOut],
      [7, 1, 1, 1, 1, 2],
    );

    // Watermark after batch 2: max event time - maxOutOfOrder (30 min).
    const watermark = T0 + 3 * 24 * 60 * MINUTE - 30 * MINUTE;
    assert.equal(sample(text, 'tideflow_watermark_timestamp_seconds'), watermark / 1000);
    assert.equal(sample(text, 'tideflow_watermark_lag_seconds'), (NOW - watermark) / 1000);
    assert.equal(sample(text, 'tideflow_consumer_lag_records', 'partition="tides/0"'), 42);
    assert.equal(sample(text, 'tideflow_consumer_lag_records', 'partition="tides/1"'), 0);

    // Every record of both (small) batches is sampled: 7 latencies of 250 ms.
    assert.equal(sample(text, 'tideflow_end_to_end_latency_seconds_count'), 7);
    assert.equal(sample(text, 'tideflow_end_to_end_latency_seconds_sum'), 7 * 0.25);
    assert.equal(sample(text, 'tideflow_end_to_end_latency_seconds_bucket', 'le="0.1"'), 0);
    assert.equal(sample(text, 'tideflow_end_to_end_latency_seconds_bucket', 'le="0.25"'), 7);
    assert.equal(sample(text, 'tideflow_batch_processing_seconds_count'), 2);
    assert.equal(sample(text, 'tideflow_checkpoint_duration_seconds_count'), 0);

    const missing = await fetch(server.url.replace('/metrics', '/other'));
    assert.equal(missing.status, 404);
    await missing.text();
  } finally {
    await server.close();
  }
});

test('metrics: counters count from the restored baseline, checkpoints are timed', async () => {
  const metrics = new RunMetrics('tides-lunar-day', { now: () => NOW, processMetrics: false });
  const counters = { recordsIn: 1000, deadLetters: 3, late: 0, duplicatesDropped: 10, nullReadings: 0, filteredOut: 0, aggregated: 987, resultsOut: 40 };
  metrics.onStart({ counters });
  metrics.onBatch({ partition: 'tides/0', records: 500, processingMs: 4, watermark: Number.NEGATIVE_INFINITY, counters: { ...counters, recordsIn: 1500, resultsOut: 45 } });
  metrics.onCheckpoint({ epoch: 7, durationMs: 30 });
  const text = await metrics.metrics();
  assert.equal(sample(text, 'tideflow_records_in_total'), 500);
  assert.equal(sample(text, 'tideflow_results_out_total'), 5);
  assert.equal(sample(text, 'tideflow_dead_letters_total'), 0);
  assert.equal(sample(text, 'tideflow_checkpoint_duration_seconds_count'), 1);
  assert.equal(sample(text, 'tideflow_checkpoint_duration_seconds_sum'), 0.03);
  // No watermark yet: the gauges stay unset (0) rather than reporting -Infinity.
  assert.equal(sample(text, 'tideflow_watermark_timestamp_seconds'), 0);
});
