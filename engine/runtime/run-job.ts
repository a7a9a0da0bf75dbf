import { performance } from 'node:perf_hooks';
import { asyncScheduler, concat, concatMap, defer, EMPTY, from, interval, lastValueFrom, map, merge, mergeMap, Observable, Subject, takeUntil, tap, type OperatorFunction, type SchedulerLike } from 'rxjs';
import type { Decoder, DecodedBatch as Decoded } from '../codecs/decoder';
import type { JobSpec } from '../config/job';
import type { RawBatch, RecordBatch, Row } from '../core/batch';
import { StateIncompatibleError } from '../core/errors';
import type { DeadLetter, LateRecord, Operator, OperatorContext, RunCounters } from '../core/operator';
import { emptyCounters } from '../core/operator';
import type { Sink } from '../core/sink';
import type { Positions, Source } from '../core/source';
import { createOperators } from '../operators/create-operator';
import type { CheckpointStore } from '../state/checkpoint';
import { deadLetterRow, receivedOf, type Received } from '../codecs/dead-letter-row';
import { Checkpointer } from './checkpointer';
import { addOutput, emptyBatch, type Barrier, type ControlEvent, type DataEvent, type StreamEvent } from './events';
import { batchOperatorStage, operatorStage } from './operator-rx';
import { Credits, pulled } from './source-rx';
import { DEFAULT_STALL_REPORT_MS, StallWatch } from './stall-watch';
import { WatermarkTracker } from './watermarks';

/** Checks one decoded row; returns why it is invalid, or null. */
export type RowValidator = (row: Row) => string | null;

/** Everything a run is made of, built from the job spec by `engine/runtime/assemble.ts`. */
export interface JobParts {
  job: JobSpec;
  source: Source;
  decoder?: Decoder;
  validator?: RowValidator;
  /** `main`, every named sink of `sinks:`, `dead-letters` and `late`. */
  sinks: Map<string, Sink>;
  checkpoints: CheckpointStore;
  /** Finite inputs (files, generator) clear their checkpoint after a complete run, so a re-run starts fresh. */
  clearCheckpointOnCompletion: boolean;
  /**
   * The job's steps as operators, in order (default: made from `job.steps`).
   * Jobs built in code may add their own, and RxJS operators over batches
   * (`{ id, rx }`), which must answer each batch with exactly one.
   */
  operators?: Array<Operator | RxStep>;
}

/** A step written as an RxJS operator over record batches (see `batchOperatorStage`). */
export interface RxStep {
  id: string;
  rx: OperatorFunction<RecordBatch, RecordBatch>;
}

export interface Progress {
  /** Since the job's first run (restored from the checkpoint on resume). */
  recordsIn: number;
  /** Of this run: over the last interval, or over the whole run for the last report. */
  recordsPerSecond: number;
  watermark: number;
  epoch: number;
  counters: RunCounters;
  lag?: Record<string, number>;
  elapsedMs: number;
}

/**
 * Instruments a run (metrics, tracing). Called on the run's thread, so hooks
 * must be cheap and must not throw.
 */
export interface RunObserver {
  /** After state was restored, before the first batch (counters hold the restored totals). */
  onStart?(info: { counters: RunCounters; resumedFromEpoch: number | null }): void;
  /** After the run ended (input exhausted or stopped) and its last checkpoint was saved. */
  onEnd?(info: { counters: RunCounters }): void;
  /** After a batch went through the operators and its results were handed to the sinks. */
  onBatch?(info: { partition: string; records: number; processingMs: number; watermark: number; counters: RunCounters; timestamps?: Float64Array; lag?: Record<string, number> }): void;
  /** After a checkpoint was saved. */
  onCheckpoint?(info: { epoch: number; durationMs: number }): void;
}

export interface RunOptions {
  /** Ignore and delete saved state; start from the source's configured start. */
  resetState?: boolean;
  /** Graceful stop: finish the current batch, checkpoint, close. */
  signal?: AbortSignal;
  onProgress?: (progress: Progress) => void;
  progressIntervalMs?: number;
  /** Informational lines (resumed from checkpoint, retries...). */
  log?: (line: string) => void;
  /**
   * Where wall-clock time comes from: idle timeouts, checkpoint intervals,
   * processing-time timers (tests pass a VirtualTimeScheduler; default RxJS'
   * asyncScheduler).
   */
  scheduler?: SchedulerLike;
  observer?: RunObserver;
  /** Fault injection for crash tests: called at each named point with how often it was reached. */
  inject?: (point: FaultPoint, count: number) => void | Promise<void>;
  /** Log where the run is stuck when one step lasts this long (default 30 s; 0 = never). */
  stallReportMs?: number;
}

/** Where a crash test may kill the engine: between batches, and on both sides of a checkpoint save. */
export type FaultPoint = 'after-batch' | 'before-checkpoint-save' | 'after-checkpoint-save';

export interface RunResult {
  /** Totals since the job's first run: a resumed run starts from the checkpoint's counters. */
  counters: RunCounters;
  /** Records read by this run alone (`counters.recordsIn` less the checkpoint's): what its rate is made of. */
  recordsThisRun: number;
  epochs: number;
  elapsedMs: number;
  watermark: number;
  resumedFromEpoch: number | null;
  /**
   * What start-up was waiting for when the stop signal came (a checkpoint
   * store or sink still unreachable), or null. Nothing was read or written then.
   */
  stoppedWaitingFor: string | null;
  /** True when stopped by the signal before the input ended. */
  stopped: boolean;
  /** Rows written per sink name. */
  rowsBySink: Record<string, number>;
}

const MAIN = 'main';
export const DEAD_LETTERS = 'dead-letters';
export const LATE = 'late';

/**
 * Event-time alignment engages only on a real backlog: a partition holding the
 * watermark back must have at least this many records left to read. Live
 * streams (a few batches behind at most) are read exactly as they arrive.
 */
const ALIGN_MIN_BACKLOG = 50_000;

/**
 * Runs a job to the end of its input (or until stopped).
 *
 * The job is an RxJS dataflow over record batches (see docs/architecture.md):
 *
 *   source (pulled: the next batch is read once the previous one was taken)
 *     -> decode, validate, assign watermarks      (async, in order)
 *     + watermark, timer and checkpoint events    (from the scheduler, in line with the batches)
 *     -> operators                                (one RxJS operator per step, in stream order)
 *     -> sinks                                    (async, in order; a barrier saves a checkpoint)
 *
 * Errors travel the error channel and end the run; a stop request ends the
 * source, and the batches already read finish before the last checkpoint.
 */
export async function runJob(parts: JobParts, options: RunOptions = {}): Promise<RunResult> {
  return new JobRun(parts, options).run();
}

/** One run of a job: its state, and the stages of its dataflow. */
class JobRun {
  private readonly job: JobSpec;
  private readonly scheduler: SchedulerLike;
  private readonly now: () => number;
  private readonly log: (line: string) => void;
  private readonly counters = emptyCounters();
  private readonly tracker: WatermarkTracker;
  private readonly steps: Array<Operator | RxStep>;
  private readonly checkpointer: Checkpointer;
  private readonly stall: StallWatch;
  private readonly started: number;
  private readonly checkpointIntervalMs: number;
  private readonly rowsBySink: Record<string, number> = {};
  /** Where the next batch of each partition starts: the positions a barrier saves. */
  private positions: Positions = {};
  /** The source position of the last batch read (control events carry it). */
  private lastSource: RecordBatch['source'] = { partition: 'start', fromOffset: 0, toOffset: 0 };
  /** The event whose side outputs the operators' context fills. */
  private current: StreamEvent | null = null;
  private recordsAtStart = 0;
  private batchNumber = 0;
  /** When the last barrier was sent, and whether batches arrived since; one barrier in flight at most. */
  private lastBarrierAt: number;
  private uncheckpointed = false;
  private barrierInFlight = false;
  private lastProgressAt: number;
  private lastProgressCount = 0;
  /** The pending processing-time timer of each operator (by step index), and its requests as they come. */
  private readonly timerAt = new Map<number, number>();
  private readonly timerRequests = new Subject<{ operator: number; at: number }>();

  constructor(
    private readonly parts: JobParts,
    private readonly options: RunOptions,
  ) {
    this.job = parts.job;
    this.scheduler = options.scheduler ?? asyncScheduler;
    this.now = () => this.scheduler.now();
    this.log = options.log ?? (() => {});
    this.started = this.now();
    this.lastBarrierAt = this.started;
    this.lastProgressAt = this.started;
    const eventTime = this.job.eventTime;
    this.tracker = new WatermarkTracker(eventTime.field, eventTime.maxOutOfOrderMs, eventTime.idleTimeoutMs, this.now);
    this.steps = parts.operators ?? createOperators(this.job);
    this.checkpointer = new Checkpointer(this.job.job, parts.checkpoints, this.log, options.inject);
    this.checkpointIntervalMs = this.job.checkpoint.kind === 'none' ? Number.POSITIVE_INFINITY : this.job.checkpoint.intervalMs;
    this.stall = new StallWatch({
      afterMs: options.stallReportMs ?? DEFAULT_STALL_REPORT_MS,
      log: this.log,
      describe: () => [parts.source.describeState?.(), parts.decoder?.describeState?.()].filter(Boolean).join('; ') || undefined,
    });
  }

  async run(): Promise<RunResult> {
    const { parts, options } = this;
    // ---- start: claim and restore, open the sinks. Each may wait out an outage; a stop request ends the wait.
    let restored: Awaited<ReturnType<Checkpointer['restore']>>;
    try {
      const checkpointStore = `the checkpoint store (${this.checkpointer.description})`;
      restored = await this.checkpointer.restore(
        { operators: this.steps.filter(isOperator), tracker: this.tracker, counters: this.counters },
        { resetState: options.resetState, wait: (call) => unlessStopped(call, options.signal, checkpointStore) },
      );
      for (const [name, sink] of parts.sinks) await unlessStopped(() => sink.open(restored.checkpoint?.sinks[name]), options.signal, `sink ${name} (${sink.description})`);
    } catch (error) {
      // Refused state or a failed start: close what is connected (the checkpoint store, sinks
      // opened so far), or their sockets keep the process alive after the error is reported.
      await closeAll(parts);
      if (!(error instanceof StopRequested)) throw error;
      return this.result({ stopped: true, stoppedWaitingFor: error.waitingFor, resumedFromEpoch: null });
    }
    this.positions = restored.positions;
    this.recordsAtStart = this.counters.recordsIn;
    this.lastProgressCount = this.counters.recordsIn;
    for (const [index, step] of this.steps.entries()) if (isOperator(step)) step.open?.(this.operatorContextFor(index));
    options.observer?.onStart?.({ counters: this.counters, resumedFromEpoch: restored.resumedFromEpoch });

    // ---- the dataflow
    let stopped = false;
    this.stall.start();
    try {
      stopped = await this.flow();
      if (!stopped && parts.clearCheckpointOnCompletion) await this.checkpointer.clear();
      options.observer?.onEnd?.({ counters: this.counters });
    } finally {
      this.stall.stop();
      this.reportProgress(true);
      const closeFailure = await closeAll(parts);
      if (closeFailure !== undefined) throw closeFailure;
    }
    return this.result({ stopped, stoppedWaitingFor: null, resumedFromEpoch: restored.resumedFromEpoch });
  }

  /** Runs the dataflow to its end; resolves true when a stop request ended it before the input did. */
  private async flow(): Promise<boolean> {
    const { parts, options } = this;
    const signal = options.signal;
    // A decoder on worker threads decodes batch k + 1 while this thread processes batch k: two batches may be
    // between read and written. An in-thread decoder's `expand` reads the batch decoded last: one at a time.
    const readAhead = parts.decoder?.overlaps === true;
    const credits = new Credits(readAhead ? 2 : 1);
    const stopRequested = new Observable<void>((subscriber) => {
      if (signal === undefined) return;
      const onAbort = () => subscriber.next();
      if (signal.aborted) onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      return () => signal.removeEventListener('abort', onAbort);
    });
    const sourceDone = new Subject<void>();
    let stopped = false;

    const raw$ = pulled(parts.source.batches(this.positions), credits).pipe(takeUntil(stopRequested));
    const data$ = raw$.pipe(
      // Decoding starts as soon as a batch arrives; results are taken in order.
      map((raw) => {
        const decoding = this.decode(raw);
        // Rethrown when the batch is taken; one read ahead and abandoned (a stop) must not be an unhandled rejection.
        decoding.catch(() => {});
        return { raw, decoding };
      }),
      concatMap(({ raw, decoding }) =>
        defer(async () => {
          // One turn of the event loop: the next batch's decoding starts before this one's operators take the thread.
          if (readAhead) await new Promise<void>((resolve) => setImmediate(resolve));
          this.stall.enter(`processing ${raw.offsets.length} records of ${raw.source.partition} from offset ${raw.source.fromOffset} (decode, validate, operators)`);
          try {
            return await unlessStopped(() => decoding, signal, `the decoding of ${raw.source.partition}`);
          } catch (error) {
            // The batch waits for the registry: it is left for the next run.
            if (error instanceof StopRequested) return null;
            throw error;
          }
        }).pipe(mergeMap((decoded) => (decoded === null ? EMPTY : this.dataAndBarrier(raw, decoded)))),
      ),
    );
    const events$ = concat(
      merge(
        data$.pipe(
          tap({
            complete: () => {
              stopped = signal?.aborted === true;
              sourceDone.next();
            },
          }),
        ),
        this.ticks().pipe(takeUntil(sourceDone)),
        this.timers().pipe(takeUntil(sourceDone)),
      ),
      defer(() => this.finalEvents(stopped)),
    );
    const done = events$.pipe(
      ...(this.operatorStages() as [OperatorFunction<StreamEvent, StreamEvent>]),
      map((event) => this.collectOutputs(event)),
      concatMap((event) => defer(() => this.write(event, credits))),
    );
    await lastValueFrom(done, { defaultValue: undefined });
    return stopped;
  }

  // ---------------------------------------------------------------- stage 1: decode, validate, watermarks

  private async decode(raw: RawBatch): Promise<Decoded | { kind: 'source' }> {
    if (raw.rows) return { kind: 'source' };
    if (!this.parts.decoder) throw new StateIncompatibleError(`source ${this.parts.source.description} yields raw payloads but the job has no decoder`);
    return this.parts.decoder.decode(raw);
  }

  /** The data event of a decoded batch, and a barrier after it when a checkpoint is due. */
  private dataAndBarrier(raw: RawBatch, decoded: Decoded | { kind: 'source' }): StreamEvent[] {
    const event: DataEvent = { kind: 'data', raw, batch: emptyBatch(raw.source, this.tracker.watermark), outputs: new Map() };
    this.current = event;
    event.batch = this.prepare(raw, decoded);
    this.positions[raw.source.partition] = raw.source.toOffset;
    this.lastSource = raw.source;
    this.uncheckpointed = true;
    // Event-time alignment: a partition racing ahead of the watermark waits (bounds open windows and dedupe keys on a backlog).
    this.parts.source.hold?.(this.tracker.partitionsAhead(this.job.eventTime.maxDriftMs, this.parts.source.remaining?.() ?? {}, ALIGN_MIN_BACKLOG));
    const due = !this.barrierInFlight && this.now() - this.lastBarrierAt >= this.checkpointIntervalMs;
    if (!due) return [event];
    event.barrierFollows = true;
    return [event, this.barrier('interval', true)];
  }

  /** Count and dead-letter what decoding found, validate, and give every row the watermark in force when it arrived. */
  private prepare(raw: RawBatch, decoded: Decoded | { kind: 'source' }): RecordBatch {
    const counters = this.counters;
    const context = this.sideOutputs;
    let rows: Row[];
    let offsets: Float64Array;
    const event = this.current as DataEvent;
    if (decoded.kind === 'source') {
      rows = raw.rows!;
      offsets = raw.offsets;
      const received = raw.received;
      if (received) event.decoded = { offsets, rows, payloadAt: (index) => received[index], lineOfOffsetZero: raw.lineOfOffsetZero };
      counters.recordsIn += rows.length + (raw.deadLetters?.length ?? 0);
      if (raw.deadLetters) for (const letter of raw.deadLetters) context.deadLetter(letter);
    } else if (decoded.kind === 'aggregated') {
      // Every record decoded and validated on the way; the window operator merges the partials.
      counters.recordsIn += raw.offsets.length;
      const watermarks = new Float64Array(decoded.times.length);
      const watermark = this.tracker.assignTimes(raw.source.partition, decoded.times, watermarks);
      return { rows: [], watermarks, watermark, offsets: raw.offsets, source: raw.source, preAggregated: decoded.preAggregated };
    } else {
      rows = decoded.rows;
      offsets = decoded.offsets instanceof Float64Array ? decoded.offsets : Float64Array.from(decoded.offsets);
      // The payloads the rows were decoded from, found by offset only when a row is dead-lettered.
      if (raw.payloads) event.decoded = { offsets, rows, payloadAt: payloadOfRow(raw, offsets) };
      counters.recordsIn += raw.offsets.length;
      for (const letter of decoded.deadLetters) context.deadLetter(letter);
    }
    const field = this.job.eventTime.field;
    const validator = this.parts.validator;
    let invalid = 0;
    let keep: Uint8Array | null = null;
    for (let i = 0; i < rows.length; i++) {
      const t = rows[i][field];
      let reason: string | null = null;
      if (typeof t !== 'number' || !Number.isFinite(t)) reason = `event time field '${field}' is missing or not a timestamp`;
      else if (validator) reason = validator(rows[i]);
      if (reason !== null) {
        keep ??= new Uint8Array(rows.length).fill(1);
        keep[i] = 0;
        invalid++;
        context.deadLetter({ payload: rows[i], reason, partition: raw.source.partition, offset: offsets[i], stage: 'validate' });
      }
    }
    if (keep) {
      const validRows: Row[] = [];
      const validOffsets = new Float64Array(rows.length - invalid);
      for (let i = 0; i < rows.length; i++) {
        if (keep[i] === 1) {
          validOffsets[validRows.length] = offsets[i];
          validRows.push(rows[i]);
        }
      }
      rows = validRows;
      offsets = validOffsets;
    }
    const watermarks = new Float64Array(rows.length);
    const watermark = this.tracker.assign(raw.source.partition, rows, watermarks);
    return { rows, watermarks, watermark, offsets, source: raw.source };
  }

  // ---------------------------------------------------------------- control events

  /** A barrier: positions and watermarks now; operators and counters fill in the rest as it passes. */
  private barrier(reason: Barrier['reason'], releasesCredit = false): ControlEvent {
    this.barrierInFlight = true;
    this.lastBarrierAt = this.now();
    this.uncheckpointed = false;
    const barrier: Barrier = { positions: { ...this.positions }, watermarks: this.tracker.snapshot(), operators: {}, counters: {}, reason };
    return this.control('barrier', { barrier, releasesCredit });
  }

  private control(kind: ControlEvent['kind'], extra: Partial<ControlEvent> = {}, watermark = this.tracker.watermark): ControlEvent {
    return { kind, batch: emptyBatch(this.lastSource, watermark), outputs: new Map(), ...extra };
  }

  /**
   * From the scheduler, between batches: the watermark of a stream whose
   * partitions went quiet moves on (idle timeout), and a stream that went
   * quiet gets what it read checkpointed within one interval.
   */
  private ticks(): Observable<ControlEvent> {
    const { idleTimeoutMs } = this.job.eventTime;
    const period = Math.max(10, Math.min(1000, idleTimeoutMs / 2, this.checkpointIntervalMs));
    return interval(period, this.scheduler).pipe(
      mergeMap(() => {
        const events: ControlEvent[] = [];
        const before = this.tracker.watermark;
        const after = this.tracker.tick();
        if (after > before) events.push(this.control('watermark', {}, after));
        if (this.uncheckpointed && !this.barrierInFlight && this.now() - this.lastBarrierAt >= this.checkpointIntervalMs) events.push(this.barrier('quiet'));
        return events;
      }),
    );
  }

  /** Processing-time timers operators asked for (`context.setTimer`), as events in line with the batches. */
  private timers(): Observable<ControlEvent> {
    // Timers set before the dataflow started (in `open`), then those set as it runs.
    const requests = merge(
      defer(() => from([...this.timerAt].map(([operator, at]) => ({ operator, at })))),
      this.timerRequests,
    );
    return requests.pipe(
      mergeMap(
        ({ operator, at }) =>
          new Observable<ControlEvent>((subscriber) =>
            this.scheduler.schedule(() => {
              // A later setTimer replaced this one.
              if (this.timerAt.get(operator) !== at) return subscriber.complete();
              this.timerAt.delete(operator);
              subscriber.next(this.control('timer', { operator }));
              subscriber.complete();
            }, Math.max(0, at - this.now())),
          ),
      ),
    );
  }

  /** After the source: at the end of a finite input, `end` (every window closes); then the last checkpoint. */
  private finalEvents(stopped: boolean): Observable<ControlEvent> {
    const events: ControlEvent[] = [];
    if (!stopped) events.push(this.control('end', {}, this.tracker.finish()));
    if (this.job.checkpoint.kind !== 'none') events.push(this.barrier(stopped ? 'stop' : 'end'));
    return from(events);
  }

  // ---------------------------------------------------------------- stage 2: operators

  private operatorStages(): Array<OperatorFunction<StreamEvent, StreamEvent>> {
    const bind = (event: StreamEvent) => {
      this.current = event;
    };
    return this.steps.map((step, index) =>
      isOperator(step) ? operatorStage(step, index, this.operatorContextFor(index), bind) : batchOperatorStage(step.id, step.rx),
    );
  }

  /** Side outputs of the event in hand; late and dead-lettered rows leave whole, even when the decoder skipped fields. */
  private readonly sideOutputs = {
    late: (record: LateRecord) => {
      const expand = this.parts.decoder?.expand;
      addOutput(this.current!, LATE, [lateRow(expand ? { ...record, row: expand.call(this.parts.decoder, record.row) } : record)]);
    },
    deadLetter: (letter: DeadLetter) => {
      this.counters.deadLetters++;
      // What was received (a file's line, a Kafka value's bytes) when the letter holds a row of the batch in hand.
      const received = this.receivedOf(letter);
      const expand = this.parts.decoder?.expand;
      const { payload } = letter;
      const whole =
        received === undefined && expand && payload !== null && typeof payload === 'object' && !Buffer.isBuffer(payload)
          ? { ...letter, payload: expand.call(this.parts.decoder, payload as Row) }
          : letter;
      addOutput(this.current!, DEAD_LETTERS, [deadLetterRow(whole, received)]);
    },
  };

  private operatorContextFor(index: number): OperatorContext {
    return {
      counters: this.counters,
      late: this.sideOutputs.late,
      deadLetter: this.sideOutputs.deadLetter,
      emitTo: (name, rows) => {
        if (!this.parts.sinks.has(name)) throw new StateIncompatibleError(`route target '${name}' is not a sink of job ${this.job.job}`);
        addOutput(this.current!, name, rows);
      },
      now: this.now,
      setTimer: (at) => {
        this.timerAt.set(index, at);
        this.timerRequests.next({ operator: index, at });
      },
    };
  }

  /** What a dead-lettered row was decoded from, when it is a row of the data event in hand. */
  private receivedOf(letter: DeadLetter): Received | undefined {
    const event = this.current;
    if (event === null || event.kind !== 'data' || event.decoded === undefined) return undefined;
    return receivedOf(letter, event.decoded);
  }

  /** After the last operator: its rows are the main output; a barrier takes the counters here. */
  private collectOutputs(event: StreamEvent): StreamEvent {
    if (event.batch.rows.length > 0) addOutput(event, MAIN, event.batch.rows);
    for (const [name, rows] of event.outputs) if (name !== DEAD_LETTERS && name !== LATE) this.counters.resultsOut += rows.length;
    if (event.kind === 'barrier') event.barrier!.counters = { ...this.counters } as unknown as Record<string, number>;
    return event;
  }

  // ---------------------------------------------------------------- stage 3: sinks and checkpoints

  private async write(event: StreamEvent, credits: Credits): Promise<void> {
    const { parts, options } = this;
    const started = performance.now();
    for (const [name, rows] of event.outputs) {
      if (rows.length === 0) continue;
      this.rowsBySink[name] = (this.rowsBySink[name] ?? 0) + rows.length;
      this.stall.enter(`writing ${rows.length} rows to sink ${name}`);
      await parts.sinks.get(name)!.write(rows);
    }
    if (event.kind === 'data') {
      this.batchNumber++;
      await options.inject?.('after-batch', this.batchNumber);
      options.observer?.onBatch?.({
        partition: event.raw.source.partition,
        records: event.raw.offsets.length,
        processingMs: performance.now() - started,
        watermark: event.batch.watermark,
        counters: this.counters,
        timestamps: event.raw.timestamps,
        lag: parts.source.lag?.(),
      });
      this.reportProgress(false);
      // Room for the next batch to be read (after the checkpoint, when one follows).
      if (!event.barrierFollows) credits.release();
    } else if (event.kind === 'barrier') {
      const checkpointStarted = performance.now();
      const epoch = await this.checkpointer.save(event.barrier!, parts.sinks, parts.source, (step) => this.stall.enter(step), this.now);
      options.observer?.onCheckpoint?.({ epoch, durationMs: performance.now() - checkpointStarted });
      this.barrierInFlight = false;
      if (event.releasesCredit) credits.release();
    }
    this.waitingForSource();
  }

  private waitingForSource(): void {
    const source = this.parts.source;
    // Waiting for records is normal on a caught-up stream: worth a report only while the source says records are waiting.
    const recordsWaiting = (): number => Object.values(source.lag?.() ?? {}).reduce((sum, n) => sum + n, 0);
    this.stall.enter(`waiting for the source (${source.description})`, {
      quietUnless: () => recordsWaiting() > 0,
      detail: () => `${recordsWaiting().toLocaleString('en-US')} records waiting upstream`,
    });
  }

  private reportProgress(force: boolean): void {
    const { onProgress, progressIntervalMs = 1000 } = this.options;
    if (!onProgress) return;
    const at = this.now();
    if (!force && at - this.lastProgressAt < progressIntervalMs) return;
    const seconds = Math.max((at - this.lastProgressAt) / 1000, 1e-3);
    const counters = this.counters;
    onProgress({
      recordsIn: counters.recordsIn,
      // The counters go on from the checkpoint's totals; rates count this run's records only.
      recordsPerSecond: force
        ? (counters.recordsIn - this.recordsAtStart) / Math.max((at - this.started) / 1000, 1e-3)
        : (counters.recordsIn - this.lastProgressCount) / seconds,
      watermark: this.tracker.watermark,
      epoch: this.checkpointer.lastEpoch,
      counters,
      lag: this.parts.source.lag?.(),
      elapsedMs: at - this.started,
    });
    this.lastProgressAt = at;
    this.lastProgressCount = counters.recordsIn;
  }

  private result(outcome: { stopped: boolean; stoppedWaitingFor: string | null; resumedFromEpoch: number | null }): RunResult {
    return {
      counters: this.counters,
      recordsThisRun: this.counters.recordsIn - this.recordsAtStart,
      epochs: this.checkpointer.lastEpoch,
      elapsedMs: this.now() - this.started,
      watermark: this.tracker.watermark,
      rowsBySink: this.rowsBySink,
      ...outcome,
    };
  }
}

/**
 * The payload the row at `index` was decoded from (decoded rows skip the
 * payloads that were dead letters): found by its offset, only when a row is
 * rejected, so batches without one pay nothing.
 */
function payloadOfRow(raw: RawBatch, rowOffsets: ArrayLike<number>): (index: number) => string | Buffer {
  return (index) => {
    const at = binarySearch(raw.offsets, rowOffsets[index]);
    return at < 0 ? '' : (raw.payloads![at] ?? '');
  };
}

function binarySearch(sorted: ArrayLike<number>, value: number): number {
  let low = 0;
  let high = sorted.length - 1;
  while (low <= high) {
    const middle = (low + high) >>> 1;
    if (sorted[middle] === value) return middle;
    if (sorted[middle] < value) low = middle + 1;
    else high = middle - 1;
  }
  return -1;
}

function isOperator(step: Operator | RxStep): step is Operator {
  return !('rx' in step);
}

/** A stop request that came while the run waited for `waitingFor` (start-up, or a batch's decoding). */
class StopRequested extends Error {
  constructor(readonly waitingFor: string) {
    super(`stopped while waiting for ${waitingFor}`);
  }
}

/**
 * `start()`'s result, or StopRequested once `signal` aborts, whichever
 * comes first; not started at all when the signal has already aborted. What
 * `start()` began goes on (closing its client ends it); its later failure is
 * nobody's concern then.
 */
function unlessStopped<T>(start: () => Promise<T>, signal: AbortSignal | undefined, waitingFor: string): Promise<T> {
  if (signal === undefined) return start();
  if (signal.aborted) return Promise.reject(new StopRequested(waitingFor));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new StopRequested(waitingFor));
    signal.addEventListener('abort', onAbort, { once: true });
    const settled = () => signal.removeEventListener('abort', onAbort);
    start().then(
      (value) => {
        settled();
        resolve(value);
      },
      (error: unknown) => {
        settled();
        reject(error);
      },
    );
  });
}

/**
 * Closes every part (sinks flush on close), even when one of them fails, so no
 * connection keeps the process alive; returns the first failure, if any.
 */
async function closeAll(parts: JobParts): Promise<unknown> {
  let failure: unknown = undefined;
  const attempt = async (close: (() => Promise<void>) | undefined) => {
    try {
      await close?.();
    } catch (error) {
      failure ??= error;
    }
  };
  for (const sink of parts.sinks.values()) await attempt(() => sink.close());
  await attempt(parts.decoder?.close.bind(parts.decoder));
  await attempt(() => parts.source.close());
  await attempt(() => parts.checkpoints.close());
  return failure;
}

function lateRow(record: LateRecord): Row {
  return {
    reason: record.reason,
    operator: record.operator,
    window_start: record.windowStart === undefined ? null : new Date(record.windowStart),
    window_end: record.windowEnd === undefined ? null : new Date(record.windowEnd),
    watermark: Number.isFinite(record.watermark) ? new Date(record.watermark) : null,
    record: record.row,
  };
}
