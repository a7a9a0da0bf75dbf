import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { RunCounters } from '../core/operator';
import type { RunObserver } from './run-job';

/**
 * Prometheus metrics of one run: a `RunObserver` that turns the run loop's
 * per-batch and per-checkpoint reports into prom-client metrics, plus a tiny
 * HTTP endpoint that serves them (`serveMetrics`). Off unless asked for
 * (`tideflow run --metrics-port 9464`).
 *
 * Metric                                   type       from
 * tideflow_records_in_total                counter    counters.recordsIn
 * tideflow_results_out_total               counter    counters.resultsOut
 * tideflow_dead_letters_total              counter    counters.deadLetters
 * tideflow_late_records_total              counter    counters.late
 * tideflow_duplicates_dropped_total        counter    counters.duplicatesDropped
 * tideflow_null_readings_total             counter    counters.nullReadings
 * tideflow_watermark_timestamp_seconds     gauge      job watermark (event time)
 * tideflow_watermark_lag_seconds           gauge      wall clock - watermark
 * tideflow_consumer_lag_records{partition} gauge      records behind the partition's end
 * tideflow_batch_processing_seconds        histogram  decode .. results handed to sinks
 * tideflow_end_to_end_latency_seconds      histogram  now - producer timestamp (sampled)
 * tideflow_checkpoint_duration_seconds     histogram  flush sinks + save checkpoint
 *
 * Every series carries the label `tideflow_job` (not `job`: Prometheus sets
 * `job` itself when it scrapes, and would rename ours).
 */

/** Records per batch observed into the latency histogram: each observation costs ~170 ns, a 5,000-record batch would pay ~1 ms. */
export const LATENCY_SAMPLES_PER_BATCH = 64;

/** Counter metric -> the run counter it follows. */
const COUNTERS: ReadonlyArray<{ name: string; help: string; field: keyof RunCounters }> = [
  { name: 'tideflow_records_in_total', help: 'Records read from the source (before decoding).', field: 'recordsIn' },
  { name: 'tideflow_results_out_total', help: 'Result rows handed to result sinks (main and routed).', field: 'resultsOut' },
  { name: 'tideflow_dead_letters_total', help: 'Records sent to the dead-letter output (undecodable or invalid).', field: 'deadLetters' },
  { name: 'tideflow_late_records_total', help: 'Records that arrived for a closed window (late output).', field: 'late' },
  { name: 'tideflow_duplicates_dropped_total', help: 'Repeated records dropped by dedupe.', field: 'duplicatesDropped' },
  { name: 'tideflow_null_readings_total', help: 'Records with a null reading (they contribute to no aggregate).', field: 'nullReadings' },
];

export interface RunMetricsOptions {
  /** Wall clock for the watermark lag and end-to-end latency (tests inject one). */
  now?: () => number;
  /** Also export Node's process metrics (heap, event-loop delay, GC, CPU). Default true. */
  processMetrics?: boolean;
}

/**
 * The metrics of one job run, as a RunObserver.
 *
 * Run counters are cumulative; Prometheus counters are incremented by the
 * difference to the previous report. After a restart the run counters resume
 * from the checkpoint; `onStart` takes them as the baseline so the Prometheus
 * counters count this process's work from 0, as Prometheus expects.
 *
 * @example
 *   const metrics = new RunMetrics('tides-30m-average');
 *   const server = await serveMetrics(metrics, { port: 9464 });   // http://127.0.0.1:9464/metrics
 *   await runJob(parts, { observer: metrics });
 *   await server.close();
 */
export class RunMetrics implements RunObserver {
  readonly registry = new Registry();
  private readonly now: () => number;
  private readonly counters: Array<{ counter: Counter; field: keyof RunCounters }>;
  private readonly last = new Map<keyof RunCounters, number>();
  private readonly watermark: Gauge;
  private readonly watermarkLag: Gauge;
  private readonly consumerLag: Gauge<'partition'>;
  private readonly batchProcessing: Histogram;
  private readonly endToEndLatency: Histogram;
  private readonly checkpointDuration: Histogram;

  constructor(job: string, options: RunMetricsOptions = {}) {
    this.now = options.now ?? Date.now;
    this.registry.setDefaultLabels({ tideflow_job: job });
    const registers = [this.registry];
    this.counters = COUNTERS.map(({ name, help, field }) => ({ counter: new Counter({ name, help, registers }), field }));
    this.watermark = new Gauge({ name: 'tideflow_watermark_timestamp_seconds', help: 'Job watermark (event time, seconds since the epoch).', registers });
    this.watermarkLag = new Gauge({ name: 'tideflow_watermark_lag_seconds', help: 'How far the watermark is behind the wall clock, in seconds.', registers });
    this.consumerLag = new Gauge({
      name: 'tideflow_consumer_lag_records',
      help: 'Records between the position the engine read and the end of the partition.',
      labelNames: ['partition'],
      registers,
    });
    this.batchProcessing = new Histogram({
      name: 'tideflow_batch_processing_seconds',
      help: 'Time to decode, validate and run one batch through the operators and hand its results to the sinks.',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    });
    this.endToEndLatency = new Histogram({
      name: 'tideflow_end_to_end_latency_seconds',
      help: `Producer timestamp to the end of processing of the record's batch, in seconds (sampled: up to ${LATENCY_SAMPLES_PER_BATCH} records per batch).`,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
      registers,
    });
    this.checkpointDuration = new Histogram({
      name: 'tideflow_checkpoint_duration_seconds',
      help: 'Time to flush every sink and save one checkpoint, in seconds.',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    if (options.processMetrics ?? true) collectDefaultMetrics({ register: this.registry, prefix: 'tideflow_' });
  }

  /** The run's counters before its first batch (restored from a checkpoint, or all 0). */
  onStart(info: { counters: RunCounters }): void {
    for (const { field } of this.counters) this.last.set(field, info.counters[field]);
  }

  onBatch(info: Parameters<NonNullable<RunObserver['onBatch']>>[0]): void {
    const now = this.now();
    this.follow(info.counters);
    if (Number.isFinite(info.watermark)) {
      this.watermark.set(info.watermark / 1000);
      this.watermarkLag.set(Math.max(0, now - info.watermark) / 1000);
    }
    if (info.lag) for (const [partition, records] of Object.entries(info.lag)) this.consumerLag.set({ partition }, records);
    this.batchProcessing.observe(info.processingMs / 1000);
    const timestamps = info.timestamps;
    if (timestamps && timestamps.length > 0) {
      // Evenly spaced records of the batch, always including its first (the oldest).
      const step = Math.max(1, timestamps.length / LATENCY_SAMPLES_PER_BATCH);
      for (let position = 0; position < timestamps.length; position += step) {
        const produced = timestamps[Math.floor(position)];
        if (Number.isFinite(produced) && produced > 0) this.endToEndLatency.observe(Math.max(0, now - produced) / 1000);
      }
    }
  }

  onCheckpoint(info: { epoch: number; durationMs: number }): void {
    this.checkpointDuration.observe(info.durationMs / 1000);
  }

  /**
   * The run ended: take its final counters. The windows that close at the end
   * of a finite input are emitted after the last `onBatch`, so without this the
   * last results would be missing from `tideflow_results_out_total`.
   */
  onEnd(info: { counters: RunCounters }): void {
    this.follow(info.counters);
  }

  private follow(counters: RunCounters): void {
    for (const { counter, field } of this.counters) {
      const value = counters[field];
      const delta = value - (this.last.get(field) ?? 0);
      if (delta > 0) counter.inc(delta);
      this.last.set(field, value);
    }
  }

  /** The exposition text (what GET /metrics returns). */
  metrics(): Promise<string> {
    return this.registry.metrics();
  }
}

export interface MetricsServer {
  /** `http://127.0.0.1:9464/metrics` */
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

/**
 * Serves `GET /metrics` (Prometheus text format) for a RunMetrics. Binds to
 * 127.0.0.1 unless `host` says otherwise: metrics name topics and hosts, so
 * exposing them beyond the machine is the operator's explicit choice.
 * Port 0 picks a free port (tests).
 *
 * @example
 *   const server = await serveMetrics(metrics, { port: 9464, host: '0.0.0.0' });
 */
export function serveMetrics(metrics: RunMetrics, options: { port: number; host?: string }): Promise<MetricsServer> {
  const host = options.host ?? '127.0.0.1';
  const server: Server = createServer((request, response) => {
    const path = (request.url ?? '/').split('?')[0];
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (path !== '/metrics') {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('tideflow serves metrics at /metrics\n');
      return;
    }
    metrics.metrics().then(
      (text) => response.writeHead(200, { 'content-type': metrics.registry.contentType }).end(request.method === 'HEAD' ? undefined : text),
      (error: unknown) => response.writeHead(500, { 'content-type': 'text/plain' }).end(`cannot collect metrics: ${(error as Error).message}\n`),
    );
  });
  // A scrape must never keep a finished job's process alive.
  server.unref();
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, host, () => {
      server.off('error', reject);
      const port = (server.address() as AddressInfo).port;
      const shownHost = host.includes(':') ? `[${host}]` : host;
      resolve({
        url: `http://${shownHost}:${port}/metrics`,
        port,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            server.closeAllConnections();
          }),
      });
    });
  });
}
