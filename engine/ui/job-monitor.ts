import { EventEmitter } from 'node:events';
import { hostname } from 'node:os';
import type { Row } from '../core/batch';
import type { RunCounters } from '../core/operator';
import type { JobParts, Progress, RunObserver, RunResult } from '../runtime/run-job';
import { DEAD_LETTERS, LATE, tappedSink, type Sink } from '../core/sink';

/**
 * What the web page shows about one job: its state, rates, lag, watermark,
 * last checkpoint, side outputs and stall report. Built by a JobMonitor for a
 * run in this process, or from a checkpoint store for a job seen only there
 * (checkpoint-jobs.ts). Times are epoch milliseconds; absent facts are null.
 */
export interface JobView {
  job: string;
  /** `this process` (live) or the checkpoint store the job was found in. */
  seenIn: string;
  state: JobState;
  /** Why the state is what it is, in words (shown beside it). */
  stateReason: string;
  /** Where the job reads from (`file data/bundled/tides.avro`, `Kafka topic ...`). */
  source: string | null;
  /** `host:pid` of the process running it, when known. */
  instance: string | null;
  startedAt: number | null;
  endedAt: number | null;
  /** Totals since the job's first run (restored from the checkpoint on resume). */
  counters: RunCounters | null;
  /** Records/s over the last report interval. */
  recordsPerSecond: number | null;
  /** Records not yet read, per source partition (sources that can tell: Kafka). */
  lag: Record<string, number> | null;
  /** Event-time watermark; +Infinity is sent as null with `watermarkEnded`. */
  watermark: number | null;
  watermarkEnded: boolean;
  /** Wall clock minus watermark, at `updatedAt`. */
  watermarkDelayMs: number | null;
  checkpoint: CheckpointInfo | null;
  deadLetters: SideOutputView;
  late: SideOutputView;
  /** The last "no progress for N s" report while the run is stuck there, else null. */
  stall: { report: string; at: number } | null;
  updatedAt: number;
}

export type JobState = 'running' | 'caught up' | 'lagging' | 'stalled' | 'stopped';

export interface CheckpointInfo {
  epoch: number;
  /** When it was saved (committed). */
  at: number;
  /** Sink flush + save, when measured by a run in this process. */
  durationMs: number | null;
  /** Bytes as stored (Cassandra: gzip-compressed), when known. */
  bytes: number | null;
  store: string;
}

export interface SideOutputView {
  total: number;
  /** Records per minute over the last hour: `[minuteStart, count]`, oldest first, minutes with none left out. */
  perMinute: Array<[number, number]>;
  /** The latest few, newest first: why, and the record (truncated JSON). */
  latest: Array<{ at: number; reason: string; where: string | null; sample: string }>;
}

/** One point of a job's history (one per progress report, about one a second). */
export interface JobPoint {
  t: number;
  recordsPerSecond: number;
  lagTotal: number | null;
  watermarkDelayMs: number | null;
}

export interface JobMonitorOptions {
  /** Wall clock (tests inject one). */
  now?: () => number;
  /** Points of history kept (default 900: 15 minutes at one report a second). */
  historyPoints?: number;
  /**
   * Reads the size of the checkpoint just saved (file length, Cassandra's
   * committed_bytes); called after each checkpoint, off the run loop's path.
   */
  checkpointBytes?: (job: string) => Promise<number | null>;
}

/** Records waiting that the current rate clears within this are "caught up". */
const CAUGHT_UP_MS = 5_000;
/** Records waiting that the current rate needs longer than this for are "lagging". */
const LAGGING_MS = 30_000;
/** Below this many records waiting a stream is caught up whatever its rate. */
const CAUGHT_UP_RECORDS = 1_000;
const LATEST_KEPT = 5;
const SAMPLE_CHARS = 2_000;
const MINUTE = 60_000;
const MINUTES_KEPT = 60;

/**
 * Watches one run in this process for the web UI: takes runJob's observer
 * hooks, its progress reports and its log lines (stall reports), taps the
 * dead-letter and late sinks for their reasons and a sample record, and keeps
 * a JobView plus a short history. Emits `change` (with the view and the new
 * point) at most once per progress report.
 *
 * Hooked in where the run is started (engine/cli/ui.ts `attachRunUi` does it
 * for `tideflow run --ui-port`):
 *
 * @example
 *   const monitor = new JobMonitor(parts);          // taps parts.sinks' dead-letters and late
 *   const result = await runJob(parts, {
 *     observer: monitor,                            // or combineObservers(metrics, monitor)
 *     onProgress: (p) => monitor.onProgress(p),
 *     log: monitor.wrapLog(log),                    // stall reports
 *   });
 *   monitor.finish(result);                         // or monitor.fail(error)
 */
export class JobMonitor extends EventEmitter implements RunObserver {
  readonly job: string;
  private readonly now: () => number;
  private readonly historyPoints: number;
  private readonly checkpointBytes?: (job: string) => Promise<number | null>;
  private readonly history: JobPoint[] = [];
  private readonly view: JobView;
  private readonly checkpointStore: string;
  private readonly deadLetterMinutes = new MinuteCounts();
  private readonly lateMinutes = new MinuteCounts();
  private ended = false;
  private stopRequested = false;
  /** The side outputs whose latest rows the view shows, and how a row is described there. */
  private readonly sideOutputs: Map<string, { view: SideOutputView; describe: (row: Row) => { reason: string; where: string | null; sample: string } }>;

  constructor(parts: Pick<JobParts, 'job' | 'source' | 'sinks' | 'checkpoints'>, options: JobMonitorOptions = {}) {
    super();
    this.job = parts.job.job;
    this.now = options.now ?? Date.now;
    this.historyPoints = options.historyPoints ?? 900;
    this.checkpointBytes = options.checkpointBytes;
    this.view = {
      job: this.job,
      seenIn: 'this process',
      state: 'running',
      stateReason: 'starting',
      source: parts.source.description,
      instance: `${hostname()}:${process.pid}`,
      startedAt: this.now(),
      endedAt: null,
      counters: null,
      recordsPerSecond: null,
      lag: null,
      watermark: null,
      watermarkEnded: false,
      watermarkDelayMs: null,
      checkpoint: null,
      deadLetters: { total: 0, perMinute: [], latest: [] },
      late: { total: 0, perMinute: [], latest: [] },
      stall: null,
      updatedAt: this.now(),
    };
    this.checkpointStore = parts.checkpoints.description;
    this.sideOutputs = new Map([
      [
        DEAD_LETTERS,
        {
          view: this.view.deadLetters,
          describe: (row: Row) => ({
            reason: String(row.reason ?? ''),
            where: [row.stage, row.partition !== undefined ? `${String(row.partition)}@${String(row.offset)}` : null].filter(Boolean).join(' ') || null,
            sample: row.payload_encoding === 'json' && typeof row.payload === 'string' ? row.payload : JSON.stringify(row.payload ?? null),
          }),
        },
      ],
      [
        LATE,
        {
          view: this.view.late,
          describe: (row: Row) => ({
            reason: String(row.reason ?? ''),
            where: [row.operator, row.window_start instanceof Date ? `window ${row.window_start.toISOString()}` : null].filter(Boolean).join(' ') || null,
            sample: JSON.stringify(row.record ?? null),
          }),
        },
      ],
    ]);
    for (const name of this.sideOutputs.keys()) this.tapSideOutput(parts.sinks, name);
  }

  /**
   * Rows written to a side output (`dead-letters`, `late`) somewhere the
   * monitor could not tap, such as a thread of `--workers N`: the newest
   * become the view's latest reasons and samples.
   */
  noteSideOutput(name: string, rows: readonly Row[]): void {
    const output = this.sideOutputs.get(name);
    if (output === undefined) return;
    // The newest few only: a burst of a million dead letters must not cost a million descriptions.
    const at = this.now();
    for (const row of rows.slice(-LATEST_KEPT)) {
      const described = output.describe(row);
      output.view.latest.unshift({ at, ...described, sample: truncate(described.sample, SAMPLE_CHARS) });
    }
    if (output.view.latest.length > LATEST_KEPT) output.view.latest.length = LATEST_KEPT;
  }

  /** The view now (state judged at this instant). */
  snapshot(): JobView {
    const view = { ...this.view, ...this.judge() };
    view.deadLetters = { ...view.deadLetters, perMinute: this.deadLetterMinutes.recent(this.now()) };
    view.late = { ...view.late, perMinute: this.lateMinutes.recent(this.now()) };
    return view;
  }

  /** The history points kept, oldest first. */
  points(): JobPoint[] {
    return [...this.history];
  }

  // ---------------------------------------------------------------- runJob hooks

  onStart(info: { counters: RunCounters; resumedFromEpoch: number | null }): void {
    this.view.counters = { ...info.counters };
    this.deadLetterMinutes.follow(info.counters.deadLetters, this.now(), true);
    this.lateMinutes.follow(info.counters.late, this.now(), true);
    this.view.deadLetters.total = info.counters.deadLetters;
    this.view.late.total = info.counters.late;
    this.view.stateReason = info.resumedFromEpoch === null ? 'started' : `resumed from checkpoint epoch ${info.resumedFromEpoch}`;
    this.changed(null);
  }

  onBatch(info: Parameters<NonNullable<RunObserver['onBatch']>>[0]): void {
    // Cheap: the view is assembled when asked for; a batch only notes what moved.
    this.view.watermark = info.watermark;
    if (info.lag) this.view.lag = { ...info.lag };
    this.follow(info.counters);
    this.view.stall = null;
  }

  onCheckpoint(info: { epoch: number; durationMs: number }): void {
    const at = this.now();
    this.view.checkpoint = { epoch: info.epoch, at, durationMs: info.durationMs, bytes: null, store: this.checkpointStore };
    this.view.stall = null;
    this.checkpointBytes?.(this.job).then(
      (bytes) => {
        if (this.view.checkpoint?.epoch === info.epoch) this.view.checkpoint.bytes = bytes;
      },
      () => {},
    );
  }

  onEnd(info: { counters: RunCounters }): void {
    this.follow(info.counters);
  }

  /** runJob's `onProgress`: one history point and a `change` event. */
  onProgress(progress: Progress): void {
    const at = this.now();
    this.view.recordsPerSecond = progress.recordsPerSecond;
    this.view.watermark = progress.watermark;
    if (progress.lag) this.view.lag = { ...progress.lag };
    this.follow(progress.counters);
    const judged = this.judge();
    const point: JobPoint = {
      t: at,
      recordsPerSecond: progress.recordsPerSecond,
      lagTotal: this.view.lag ? sum(Object.values(this.view.lag)) : null,
      watermarkDelayMs: judged.watermarkDelayMs,
    };
    if (!this.ended) {
      this.history.push(point);
      if (this.history.length > this.historyPoints) this.history.splice(0, this.history.length - this.historyPoints);
    }
    this.changed(this.ended ? null : point);
  }

  /** Wraps runJob's `log`: the run's stall reports ("no progress for 30 s: ...") become the view's stall. */
  wrapLog(log: (line: string) => void): (line: string) => void {
    return (line) => {
      if (line.startsWith('no progress for ')) {
        this.view.stall = { report: line, at: this.now() };
        this.changed(null);
      } else if (/^(SIGINT|SIGTERM): stopping/.test(line)) {
        this.stopRequested = true;
        this.changed(null);
      }
      log(line);
    };
  }

  /** The run returned. */
  finish(result: Pick<RunResult, 'counters' | 'stopped' | 'stoppedWaitingFor' | 'watermark'>): void {
    this.ended = true;
    this.view.endedAt = this.now();
    this.view.watermark = result.watermark;
    this.follow(result.counters);
    this.view.stall = null;
    this.view.stateReason =
      result.stoppedWaitingFor !== null
        ? `stopped while waiting for ${result.stoppedWaitingFor}`
        : result.stopped
          ? 'stopped before the end of its input (checkpoint written)'
          : 'finished: end of input';
    this.changed(null);
  }

  /** The run failed. */
  fail(error: unknown): void {
    this.ended = true;
    this.view.endedAt = this.now();
    this.view.stateReason = `failed: ${error instanceof Error ? error.message : String(error)}`;
    this.changed(null);
  }

  // ---------------------------------------------------------------- internals

  private follow(counters: RunCounters): void {
    const at = this.now();
    this.view.counters = { ...counters };
    this.deadLetterMinutes.follow(counters.deadLetters, at);
    this.lateMinutes.follow(counters.late, at);
    this.view.deadLetters.total = counters.deadLetters;
    this.view.late.total = counters.late;
    this.view.updatedAt = at;
  }

  /** State, its reason and the watermark's delay, judged now. */
  private judge(): Pick<JobView, 'state' | 'stateReason' | 'watermark' | 'watermarkEnded' | 'watermarkDelayMs'> {
    const at = this.now();
    const raw = this.view.watermark;
    const watermarkEnded = raw === Number.POSITIVE_INFINITY;
    const watermark = raw !== null && Number.isFinite(raw) ? raw : null;
    const watermarkDelayMs = watermark === null ? null : Math.max(0, at - watermark);
    const base = { watermark, watermarkEnded, watermarkDelayMs };
    if (this.ended) return { ...base, state: 'stopped', stateReason: this.view.stateReason };
    if (this.view.stall) return { ...base, state: 'stalled', stateReason: this.view.stall.report };
    const judged = judgeLag(this.view.lag, this.recentRate(at));
    if (this.stopRequested) judged.stateReason += ' (stop requested: finishing the current batch)';
    return { ...base, ...judged };
  }

  /** Records/s over the last 10 s of history (smooths one slow batch). */
  private recentRate(at: number): number | null {
    const recent = this.history.filter((point) => at - point.t <= 10_000);
    if (recent.length === 0) return this.view.recordsPerSecond;
    return sum(recent.map((point) => point.recordsPerSecond)) / recent.length;
  }

  private changed(point: JobPoint | null): void {
    this.view.updatedAt = this.now();
    this.emit('change', this.snapshot(), point);
  }

  /** Replaces a side-output sink with one that notes the latest rows' reasons, then writes through. */
  private tapSideOutput(sinks: Map<string, Sink>, name: string): void {
    const inner = sinks.get(name);
    if (inner) sinks.set(name, tappedSink(inner, (rows) => this.noteSideOutput(name, rows)));
  }
}

/**
 * The state of a live run from its consumer lag and rate:
 * no lag reported (files, generator): running;
 * waiting records the rate clears within 5 s (or under 1,000): caught up;
 * more than 30 s of records at the current rate (or any while nothing moves): lagging;
 * in between: running (catching up).
 *
 * @example
 *   judgeLag({ 'tides/0': 120_000 }, 2_000).state   // 'lagging' (60 s of records)
 */
export function judgeLag(lag: Record<string, number> | null, recordsPerSecond: number | null): { state: JobState; stateReason: string } {
  if (lag === null) return { state: 'running', stateReason: 'reading (the source reports no lag)' };
  const waiting = sum(Object.values(lag));
  const rate = recordsPerSecond ?? 0;
  const count = waiting.toLocaleString('en-US');
  if (waiting <= CAUGHT_UP_RECORDS || (rate > 0 && (waiting / rate) * 1000 <= CAUGHT_UP_MS)) {
    return { state: 'caught up', stateReason: `${count} records waiting upstream` };
  }
  if (rate <= 0) return { state: 'lagging', stateReason: `${count} records waiting upstream, none read in the last seconds` };
  const seconds = Math.round(waiting / rate);
  if (seconds * 1000 > LAGGING_MS) return { state: 'lagging', stateReason: `${count} records waiting upstream (${seconds} s at the current rate)` };
  return { state: 'running', stateReason: `catching up: ${count} records waiting upstream (${seconds} s at the current rate)` };
}

/**
 * One observer out of several (runJob takes one): each hook calls every
 * observer that has it, in order.
 *
 * @example
 *   runJob(parts, { observer: combineObservers(metrics ?? undefined, monitor) });
 */
export function combineObservers(...observers: Array<RunObserver | null | undefined>): RunObserver | undefined {
  const present = observers.filter((observer): observer is RunObserver => observer !== null && observer !== undefined);
  if (present.length <= 1) return present[0];
  return {
    onStart: (info) => present.forEach((observer) => observer.onStart?.(info)),
    onBatch: (info) => present.forEach((observer) => observer.onBatch?.(info)),
    onCheckpoint: (info) => present.forEach((observer) => observer.onCheckpoint?.(info)),
    onEnd: (info) => present.forEach((observer) => observer.onEnd?.(info)),
  };
}

/** A cumulative counter turned into counts per wall-clock minute, for the last hour. */
class MinuteCounts {
  private last: number | null = null;
  private readonly minutes = new Map<number, number>();

  /** `total` is the counter now; `baseline` sets it without counting (restored totals). */
  follow(total: number, at: number, baseline = false): void {
    if (baseline || this.last === null) {
      this.last = total;
      return;
    }
    const delta = total - this.last;
    this.last = total;
    if (delta <= 0) return;
    const minute = Math.floor(at / MINUTE) * MINUTE;
    this.minutes.set(minute, (this.minutes.get(minute) ?? 0) + delta);
    for (const key of this.minutes.keys()) if (key < minute - MINUTES_KEPT * MINUTE) this.minutes.delete(key);
  }

  recent(at: number): Array<[number, number]> {
    const from = Math.floor(at / MINUTE) * MINUTE - MINUTES_KEPT * MINUTE;
    return [...this.minutes].filter(([minute]) => minute > from).sort((a, b) => a[0] - b[0]);
  }
}

function sum(values: number[]): number {
  let total = 0;
  for (const value of values) total += value;
  return total;
}

function truncate(text: string, chars: number): string {
  return text.length <= chars ? text : `${text.slice(0, chars)}… (${text.length.toLocaleString('en-US')} characters)`;
}
