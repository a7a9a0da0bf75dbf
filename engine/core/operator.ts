import type { DeadLetter, RecordBatch, Row } from './batch';

/**
 * The lifecycle every operator shares (stateless ones implement only `process`):
 *
 *   [restore(state)] -> open -> ( process(batch) | onWatermark | onTimer | snapshot )* -> [close]
 *
 * - `process` takes one batch and returns the batch to pass downstream
 *   (possibly the same object); it runs tight loops over `batch.rows`.
 * - `onWatermark` is called when the watermark advanced without a batch (a
 *   quiet partition stopped holding it back): emit what it completes.
 * - `onTimer` is called once the wall-clock time asked for through
 *   `context.setTimer` has come (processing-time timers).
 * - `snapshot`/`restore` carry the operator's state in checkpoints; the
 *   runtime restores only state saved under the same `stateKey`.
 * - `close` is the end of a finite input: the watermark is +infinity, emit
 *   everything still open. A stopped run does not close its operators: their
 *   state goes into the checkpoint and the next run goes on from it.
 *
 * The runtime calls these one at a time, between batches, never concurrently.
 */
export interface Operator {
  /** Stable id from the job file: it names this operator's state in checkpoints. */
  readonly id: string;
  /**
   * What the saved state means, with a version: `<kind>/v<n>:<parameters>`.
   * It changes whenever a parameter that shapes the state changes (window
   * size, key...) or the snapshot layout does, so stale state is never
   * silently reused. Stateful operators must set it.
   */
  readonly stateKey?: string;
  /** Before the first batch, after any restore. */
  open?(context: OperatorContext): void;
  process(batch: RecordBatch, context: OperatorContext): RecordBatch;
  /** The watermark advanced to `watermark` without a batch; returns the rows that completes. */
  onWatermark?(watermark: number, context: OperatorContext): Row[];
  /** A processing-time timer set with `context.setTimer` fired at `now`; returns rows to emit. */
  onTimer?(now: number, context: OperatorContext): Row[];
  /** JSON-serialisable state; called between batches only. */
  snapshot?(): unknown;
  restore?(state: unknown): void;
  /** End of a finite input: the watermark is +infinity; returns every row still to emit. */
  close?(context: OperatorContext): Row[];
}

/** Why a record left the main flow. */
export interface LateRecord {
  row: Row;
  operator: string;
  reason: string;
  windowStart?: number;
  windowEnd?: number;
  watermark: number;
}

export type { DeadLetter } from './batch';

/** Counters every run keeps; the accounting identity is checked against these. */
export interface RunCounters {
  recordsIn: number;
  deadLetters: number;
  late: number;
  duplicatesDropped: number;
  nullReadings: number;
  filteredOut: number;
  /** Records absorbed into at least one window (their results are aggregates). */
  aggregated: number;
  /** Rows handed to result sinks (main and routed). */
  resultsOut: number;
}

export function emptyCounters(): RunCounters {
  return { recordsIn: 0, deadLetters: 0, late: 0, duplicatesDropped: 0, nullReadings: 0, filteredOut: 0, aggregated: 0, resultsOut: 0 };
}

/** What operators can reach besides their input: side outputs, named outputs, counters, time. */
export interface OperatorContext {
  late(record: LateRecord): void;
  deadLetter(letter: DeadLetter): void;
  /** Send rows to a named output (the `route` step). */
  emitTo(output: string, rows: Row[]): void;
  readonly counters: RunCounters;
  /** Wall-clock time now (the run's scheduler: virtual in tests). */
  now(): number;
  /** Asks for `onTimer` once the wall clock reaches `at` (one pending time per operator: a later call replaces it). */
  setTimer(at: number): void;
  /** The source partition of the task this runs for; null for a task of every partition (absent: not known). */
  readonly partition?: string | null;
}

/**
 * Every record is accounted for: each input record was either rejected (dead
 * letter), late, a dropped duplicate, a null reading, filtered out, or consumed
 * (absorbed into a window, or written as a result row by a job without windows).
 * Returns the difference `recordsIn - accounted`; 0 when the books balance.
 */
export function unaccounted(counters: RunCounters, hasWindow: boolean): number {
  const consumed = hasWindow ? counters.aggregated : counters.resultsOut;
  return (
    counters.recordsIn -
    (counters.deadLetters + counters.late + counters.duplicatesDropped + counters.nullReadings + counters.filteredOut + consumed)
  );
}
