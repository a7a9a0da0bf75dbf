import { performance } from 'node:perf_hooks';
import { Subject } from 'rxjs';
import type { JobSpec } from '../config/job';
import { StateIncompatibleError } from '../core/errors';
import { createOperators } from '../operators/create-operator';
import type { Sink } from '../core/sink';
import type { Positions, Source } from '../core/source';
import { CHECKPOINT_FORMAT_VERSION, type Checkpoint, type CheckpointStore } from '../state/checkpoint';
import type { RawBatch, RecordBatch, Row } from '../core/batch';
import type { DecodedBatch as Decoded, Decoder } from '../codecs/decoder';
import type { DeadLetter, LateRecord, Operator, OperatorContext, RunCounters } from '../core/operator';
import { emptyCounters } from '../core/operator';
import { toRx } from './operator-rx';
import { raceTimeout } from '../core/retry';
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
 * Instruments a run (metrics, tracing). Called on the run loop, so hooks must
 * be cheap and must not throw.
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
  /** Wall clock for idle timeouts and epoch timing (tests inject one). */
  now?: () => number;
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
 * Per batch: decode -> validate -> assign watermarks -> operators (synchronous,
 * an RxJS pipe over batches) -> hand results to sinks. The source is not read
 * again until the sinks have taken the batch (backpressure).
 *
 * Per epoch (every `checkpoint.intervalMs`), in the order that makes results
 * effectively-once:
 *   1. the operators have processed exactly the batches up to the positions we
 *      are about to save (processing is synchronous between source reads);
 *   2. snapshot every stateful operator and the watermark tracker, now;
 *   3. flush every sink and wait until all results so far are durable;
 *   4. save the checkpoint (positions + state + sink positions);
 *   5. only then tell the source (Kafka group commit, for lag monitoring).
 * A crash before 4 replays the epoch from the previous checkpoint; results
 * are idempotent upserts (or truncated files), so replay changes nothing.
 */
export async function runJob(parts: JobParts, options: RunOptions = {}): Promise<RunResult> {
  const { job, source, sinks, checkpoints } = parts;
  const now = options.now ?? Date.now;
  const log = options.log ?? (() => {});
  const started = now();
  const counters = emptyCounters();
  const operators = createOperators(job);
  const tracker = new WatermarkTracker(job.eventTime.field, job.eventTime.maxOutOfOrderMs, job.eventTime.idleTimeoutMs, now);
  const stall = new StallWatch({
    afterMs: options.stallReportMs ?? DEFAULT_STALL_REPORT_MS,
    log,
    describe: () => [source.describeState?.(), parts.decoder?.describeState?.()].filter(Boolean).join('; ') || undefined,
  });

  // ---- restore
  let saved: Checkpoint | null = null;
  let positions: Positions = {};
  let epoch = 0;
  // The store and the sinks wait out an outage at start-up (retrying for as long as it lasts):
  // a stop request ends that wait, before anything was read or written.
  const signal = options.signal;
  const checkpointStore = `the checkpoint store (${checkpoints.description})`;
  try {
    // One instance per job: a second one is refused here, before it reads or writes anything.
    await unlessStopped(() => checkpoints.claim(job.job), signal, checkpointStore);
    if (options.resetState) await unlessStopped(() => checkpoints.clear(job.job), signal, checkpointStore);
    saved = options.resetState ? null : await unlessStopped(() => checkpoints.load(job.job), signal, checkpointStore);
    if (saved) {
      restoreState(saved, job, operators, tracker, counters, log);
      positions = { ...saved.positions };
      epoch = saved.epoch;
      log(`resuming ${job.job} from checkpoint epoch ${saved.epoch} (${saved.createdAt}, ${checkpoints.description})`);
    }
    for (const [name, sink] of sinks) await unlessStopped(() => sink.open(saved?.sinks[name]), signal, `sink ${name} (${sink.description})`);
  } catch (error) {
    // Refused state or a failed start: close what is connected (the checkpoint store, sinks
    // opened so far), or their sockets keep the process alive after the error is reported.
    // The first error is the one to report; failures while closing are dropped.
    await closeAll(parts);
    if (!(error instanceof StopRequested)) throw error;
    return {
      counters,
      recordsThisRun: 0,
      epochs: epoch,
      elapsedMs: now() - started,
      watermark: tracker.watermark,
      resumedFromEpoch: saved ? saved.epoch : null,
      stopped: true,
      stoppedWaitingFor: error.waitingFor,
      rowsBySink: {},
    };
  }

  // ---- wiring: operators as one RxJS pipe; outputs collected per sink between reads
  const buffers = new Map<string, Row[]>();
  for (const name of sinks.keys()) buffers.set(name, []);
  const bufferOf = (name: string): Row[] => {
    const buffer = buffers.get(name);
    if (!buffer) throw new StateIncompatibleError(`route target '${name}' is not a sink of job ${job.job}`);
    return buffer;
  };
  // Late and dead-lettered rows leave the job whole, even when the decoder skipped fields the job does not read.
  const expand = parts.decoder?.expand?.bind(parts.decoder);
  const context: OperatorContext = {
    counters,
    late: (record) => bufferOf(LATE).push(lateRow(expand ? { ...record, row: expand(record.row) } : record)),
    deadLetter: (letter) => {
      counters.deadLetters++;
      const { payload } = letter;
      const whole = expand && payload !== null && typeof payload === 'object' && !Buffer.isBuffer(payload) ? { ...letter, payload: expand(payload as Row) } : letter;
      bufferOf(DEAD_LETTERS).push(deadLetterRow(whole));
    },
    emitTo: (name, rows) => {
      const buffer = bufferOf(name);
      for (const row of rows) buffer.push(row);
    },
  };
  const input = new Subject<RecordBatch>();
  let failure: unknown = null;
  const mainBuffer = bufferOf(MAIN);
  // RxJS' pipe() is typed for a fixed number of arguments; reduce composes any count.
  const output = operators.reduce((stream, operator) => stream.pipe(toRx(operator, context)), input.asObservable());
  output.subscribe({
    next: (batch) => {
      for (const row of batch.rows) mainBuffer.push(row);
    },
    error: (error) => {
      failure = error;
    },
  });

  const rowsBySink: Record<string, number> = {};
  const drain = async (): Promise<void> => {
    for (const [name, buffer] of buffers) {
      if (buffer.length === 0) continue;
      const rows = buffer.splice(0, buffer.length);
      if (name !== DEAD_LETTERS && name !== LATE) counters.resultsOut += rows.length;
      rowsBySink[name] = (rowsBySink[name] ?? 0) + rows.length;
      stall.enter(`writing ${rows.length} rows to sink ${name}`);
      await sinks.get(name)!.write(rows);
    }
  };

  const checkpoint = async (): Promise<void> => {
    // Hand over what the operators produced so far first: it belongs to this epoch,
    // and the counters saved below must include it. Writing does not touch operator state.
    await drain();
    stall.enter('checkpoint: snapshotting operator state');
    // Steps 1-2: state at this batch boundary.
    const operatorState: Checkpoint['operators'] = {};
    for (const operator of operators) {
      if (operator.snapshot) operatorState[operator.id] = { stateKey: operator.stateKey ?? operator.id, state: operator.snapshot() };
    }
    const watermarks = tracker.snapshot();
    const savedPositions = { ...positions };
    const savedCounters = { ...counters } as unknown as Record<string, number>;
    // Step 3: results durable.
    const sinkPositions: Record<string, unknown> = {};
    for (const [name, sink] of sinks) {
      stall.enter(`checkpoint: flushing sink ${name} (${sink.description})`);
      await sink.flush();
      if (sink.position) sinkPositions[name] = sink.position();
    }
    // Step 4: the checkpoint itself.
    epoch++;
    stall.enter(`checkpoint: saving epoch ${epoch} (${checkpoints.description})`);
    await options.inject?.('before-checkpoint-save', epoch);
    await checkpoints.save({
      job: job.job,
      formatVersion: CHECKPOINT_FORMAT_VERSION,
      epoch,
      createdAt: new Date(now()).toISOString(),
      positions: savedPositions,
      watermarks,
      operators: operatorState,
      sinks: sinkPositions,
      counters: savedCounters,
    });
    await options.inject?.('after-checkpoint-save', epoch);
    // Step 5: upstream bookkeeping.
    stall.enter(`checkpoint: committing epoch ${epoch} to the source`);
    await source.commit?.(savedPositions);
  };

  const interval = job.checkpoint.kind === 'none' ? Number.POSITIVE_INFINITY : job.checkpoint.intervalMs;
  let lastCheckpointAt = now();
  let lastProgressAt = now();
  let lastProgressCount = counters.recordsIn;
  // The counters go on from the checkpoint's totals; rates count this run's records only.
  const recordsAtStart = counters.recordsIn;
  const progressInterval = options.progressIntervalMs ?? 1000;
  const reportProgress = (force: boolean) => {
    if (!options.onProgress) return;
    const at = now();
    if (!force && at - lastProgressAt < progressInterval) return;
    const seconds = Math.max((at - lastProgressAt) / 1000, 1e-3);
    options.onProgress({
      recordsIn: counters.recordsIn,
      recordsPerSecond: force ? (counters.recordsIn - recordsAtStart) / Math.max((at - started) / 1000, 1e-3) : (counters.recordsIn - lastProgressCount) / seconds,
      watermark: tracker.watermark,
      epoch,
      counters,
      lag: source.lag?.(),
      elapsedMs: at - started,
    });
    lastProgressAt = at;
    lastProgressCount = counters.recordsIn;
  };

  options.observer?.onStart?.({ counters, resumedFromEpoch: saved ? saved.epoch : null });
  let stopped = false;
  let batchNumber = 0;
  let lastBatch: RecordBatch | null = null;
  // A stop request must also end a wait for the next batch: a caught-up stream may get none for hours.
  const iterator = source.batches(positions)[Symbol.asyncIterator]();
  const stopWaiting = () => void iterator.return?.();
  options.signal?.addEventListener('abort', stopWaiting, { once: true });
  // Waiting for records is normal on a caught-up stream: worth a report only while the source says records are waiting.
  const recordsWaiting = (): number => Object.values(source.lag?.() ?? {}).reduce((sum, n) => sum + n, 0);
  const sourceWaitStep = `waiting for the source (${source.description})`;
  const sourceWait = {
    quietUnless: () => recordsWaiting() > 0,
    detail: () => `${recordsWaiting().toLocaleString('en-US')} records waiting upstream`,
  };
  const waitingForSource = () => stall.enter(sourceWaitStep, sourceWait);
  const takeCheckpoint = async () => {
    const checkpointStarted = performance.now();
    await checkpoint();
    options.observer?.onCheckpoint?.({ epoch, durationMs: performance.now() - checkpointStarted });
    lastCheckpointAt = now();
    uncheckpointed = false;
  };
  // Batches processed since the last checkpoint: a stream that goes quiet gets them checkpointed
  // (and committed) when the interval is up, not only when the next record arrives, which may be hours.
  let uncheckpointed = false;
  // A batch is decoded as soon as it arrives. A decoder with worker threads (`overlaps`) gets the
  // next batch requested right after the current one arrives, so its threads decode batch k + 1
  // while this thread runs the operators of batch k. Positions only move once a batch was
  // processed: a batch read ahead and never processed (stop, crash) is simply read again.
  const readAhead = parts.decoder?.overlaps === true;
  const fetchNext = (): Promise<IteratorResult<FetchedBatch>> => {
    const fetched = iterator.next().then((result): IteratorResult<FetchedBatch> => {
      if (result.done) return { done: true, value: undefined };
      const decoding = decodeRaw(result.value, parts);
      // Rethrown when the batch is processed; one read ahead and abandoned must not be an unhandled rejection.
      decoding.catch(() => {});
      return { done: false, value: { raw: result.value, decoding } };
    });
    fetched.catch(() => {});
    return fetched;
  };
  let pending: Promise<IteratorResult<FetchedBatch>> | null = null;
  stall.start();
  try {
    waitingForSource();
    for (;;) {
      pending ??= fetchNext();
      let next: IteratorResult<FetchedBatch> | undefined;
      if (uncheckpointed && Number.isFinite(interval)) {
        next = await raceTimeout(pending, Math.max(0, lastCheckpointAt + interval - now()));
        if (next === undefined) {
          // Quiet: checkpoint what was read; the request for the next batch stays pending meanwhile
          // (whatever it brings waits until this checkpoint is saved).
          await takeCheckpoint();
          waitingForSource();
          continue;
        }
      } else {
        next = await pending;
      }
      pending = null;
      if (next.done) break;
      const { raw, decoding } = next.value;
      if (readAhead) {
        pending = fetchNext();
        // One turn of the event loop: when the source already holds the next batch, its decoding
        // starts (chunks posted to the pool) before this batch's operators take this thread.
        // Without it, the source's promise chain resolves after them, and the pool sits idle.
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
      const batchStarted = performance.now();
      stall.enter(`processing ${raw.offsets.length} records of ${raw.source.partition} from offset ${raw.source.fromOffset} (decode, validate, operators)`);
      // Decoding waits out a registry outage for as long as it lasts; a stop request ends that wait.
      // The batch is not processed, so its records are read again by the next run.
      let decoded: DecodedBatch;
      try {
        decoded = await unlessStopped(() => decoding, options.signal, `the decoding of ${raw.source.partition}`);
      } catch (error) {
        if (error instanceof StopRequested) break;
        throw error;
      }
      const batch = prepareBatch(raw, decoded, parts, tracker, context);
      lastBatch = batch;
      input.next(batch);
      if (failure) throw failure;
      positions[raw.source.partition] = raw.source.toOffset;
      // Event-time alignment: a partition racing ahead of the watermark waits (bounds open windows and dedupe keys on a backlog).
      source.hold?.(tracker.partitionsAhead(job.eventTime.maxDriftMs, source.remaining?.() ?? {}, ALIGN_MIN_BACKLOG));
      await drain();
      batchNumber++;
      await options.inject?.('after-batch', batchNumber);
      options.observer?.onBatch?.({
        partition: raw.source.partition,
        records: raw.offsets.length,
        processingMs: performance.now() - batchStarted,
        watermark: tracker.watermark,
        counters,
        timestamps: raw.timestamps,
        lag: source.lag?.(),
      });
      uncheckpointed = true;
      if (now() - lastCheckpointAt >= interval) await takeCheckpoint();
      reportProgress(false);
      if (options.signal?.aborted) break;
      waitingForSource();
    }
    options.signal?.removeEventListener('abort', stopWaiting);
    // Left early (stop request): let the source know, as for-await would.
    if (options.signal?.aborted) await iterator.return?.();
    // Stopped, not at the end of the input: keep windows open for the next run.
    if (options.signal?.aborted) stopped = true;

    if (!stopped) {
      // End of a finite input: the watermark goes to +infinity and every open window closes.
      const watermark = tracker.finish();
      const partition = lastBatch?.source.partition ?? 'end';
      const offset = lastBatch?.source.toOffset ?? 0;
      input.next({
        rows: [],
        watermarks: new Float64Array(0),
        offsets: new Float64Array(0),
        watermark,
        source: { partition, fromOffset: offset, toOffset: offset },
      });
      input.complete();
      if (failure) throw failure;
    }
    if (job.checkpoint.kind !== 'none') await checkpoint();
    else await drain();
    if (!stopped && parts.clearCheckpointOnCompletion) await checkpoints.clear(job.job);
    options.observer?.onEnd?.({ counters });
  } catch (error) {
    // Failed mid-stream: the source stops (closeAll below closes it too).
    void iterator.return?.();
    throw error;
  } finally {
    stall.stop();
    options.signal?.removeEventListener('abort', stopWaiting);
    reportProgress(true);
    const closeFailure = await closeAll(parts);
    if (closeFailure !== undefined) throw closeFailure;
  }

  return {
    counters,
    recordsThisRun: counters.recordsIn - recordsAtStart,
    epochs: epoch,
    elapsedMs: now() - started,
    watermark: tracker.watermark,
    resumedFromEpoch: saved ? saved.epoch : null,
    stopped,
    stoppedWaitingFor: null,
    rowsBySink,
  };
}

/** A stop request that came while runJob waited for `waitingFor` (start-up, or a batch's decoding). */
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
  await attempt(parts.decoder?.close?.bind(parts.decoder));
  await attempt(() => parts.source.close());
  await attempt(() => parts.checkpoints.close());
  return failure;
}

/** A batch as read, and its decoding (started as soon as it arrived). */
interface FetchedBatch {
  raw: RawBatch;
  decoding: Promise<DecodedBatch>;
}

/** What decoding produced: nothing to decode (the source decoded), rows, or partial aggregates. */
type DecodedBatch = { kind: 'source' } | Decoded;

/**
 * The asynchronous part of preparing a batch: decoding it (worker threads,
 * registry lookups). Touches no run state, so it may run while the operators
 * process the batch before.
 */
async function decodeRaw(raw: RawBatch, parts: JobParts): Promise<DecodedBatch> {
  if (raw.rows) return { kind: 'source' };
  if (!parts.decoder) throw new StateIncompatibleError(`source ${parts.source.description} yields raw payloads but the job has no decoder`);
  return parts.decoder.decode(raw);
}

/** Count and dead-letter what decoding found, validate, and give every row the watermark in force when it arrived. */
function prepareBatch(raw: RawBatch, decoded: DecodedBatch, parts: JobParts, tracker: WatermarkTracker, context: OperatorContext): RecordBatch {
  let rows: Row[];
  let offsets: Float64Array;
  const counters = context.counters;
  if (decoded.kind === 'source') {
    rows = raw.rows!;
    offsets = raw.offsets;
    counters.recordsIn += rows.length + (raw.deadLetters?.length ?? 0);
    if (raw.deadLetters) for (const letter of raw.deadLetters) context.deadLetter(letter);
  } else if (decoded.kind === 'aggregated') {
    // Every record decoded and validated on the way; the window operator merges the partials.
    const { times, preAggregated } = decoded;
    counters.recordsIn += raw.offsets.length;
    const watermarks = new Float64Array(times.length);
    const watermark = tracker.assignTimes(raw.source.partition, times, watermarks);
    return { rows: [], watermarks, watermark, offsets: raw.offsets, source: raw.source, preAggregated };
  } else {
    rows = decoded.rows;
    offsets = decoded.offsets instanceof Float64Array ? decoded.offsets : Float64Array.from(decoded.offsets);
    counters.recordsIn += raw.offsets.length;
    for (const letter of decoded.deadLetters) context.deadLetter(letter);
  }
  const field = parts.job.eventTime.field;
  const validator = parts.validator;
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
  const watermark = tracker.assign(raw.source.partition, rows, watermarks);
  return { rows, watermarks, watermark, offsets, source: raw.source };
}

function restoreState(
  saved: Checkpoint,
  job: JobSpec,
  operators: Operator[],
  tracker: WatermarkTracker,
  counters: RunCounters,
  log: (line: string) => void,
): void {
  if (saved.formatVersion !== CHECKPOINT_FORMAT_VERSION) {
    throw new StateIncompatibleError(
      `the checkpoint of job '${job.job}' has state format version ${saved.formatVersion}; this engine reads version ${CHECKPOINT_FORMAT_VERSION}. ` +
        `Run with --reset-state to start fresh.`,
    );
  }
  const problems: string[] = [];
  for (const operator of operators) {
    const state = saved.operators[operator.id];
    if (!operator.snapshot) continue;
    if (!state) {
      log(`step '${operator.id}' has no saved state (new step?): it starts empty`);
      continue;
    }
    const stateKey = operator.stateKey ?? operator.id;
    if (state.stateKey !== stateKey) {
      problems.push(`step '${operator.id}' changed in a way its saved state cannot follow (saved: ${state.stateKey}; now: ${stateKey})`);
    }
  }
  for (const id of Object.keys(saved.operators)) {
    if (!operators.some((operator) => operator.id === id)) log(`saved state of step '${id}' is ignored: the job has no such step any more`);
  }
  if (problems.length > 0) {
    throw new StateIncompatibleError(
      `cannot resume job '${job.job}' from its checkpoint:\n  ${problems.join('\n  ')}\n` +
        `Run with --reset-state to discard the saved state and start from the source's configured start position.`,
    );
  }
  for (const operator of operators) {
    const state = saved.operators[operator.id];
    if (state && operator.restore) operator.restore(state.state);
  }
  tracker.restore(saved.watermarks);
  Object.assign(counters, saved.counters);
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

function deadLetterRow(letter: DeadLetter): Row {
  const { payload } = letter;
  let text: string | null = null;
  let encoding = 'utf8';
  if (payload === null) text = null;
  else if (typeof payload === 'string') text = payload;
  else if (Buffer.isBuffer(payload)) {
    // Keep the exact bytes when they are not text (Avro), readable text otherwise.
    const asText = payload.toString('utf8');
    if (Buffer.from(asText, 'utf8').equals(payload) && !/[\u0000-\u0008\u000e-\u001f]/.test(asText)) text = asText;
    else {
      text = payload.toString('base64');
      encoding = 'base64';
    }
  } else {
    encoding = 'json';
    text = JSON.stringify(payload);
  }
  return { reason: letter.reason, stage: letter.stage, partition: letter.partition, offset: letter.offset, payload: text, payload_encoding: encoding };
}
