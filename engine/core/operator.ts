import type { RecordBatch, Row } from './batch';

/**
 * The lifecycle every operator shares (stateless ones implement only `process`):
 *
 *   start -> process(batch)* -> [snapshot between batches] -> close (end of input)
 *
 * `process` returns the batch to pass downstream (possibly the same object).
 * Stateful operators keep their state in the instance and expose it through
 * `snapshot`/`restore` so the runtime can checkpoint it with the source offsets.
 */
export interface Operator {
  /** Stable id from the job file: it names this operator's state in checkpoints. */
  readonly id: string;
  /** Changes whenever a parameter that shapes the state changes (window size, key...). */
  readonly stateKey?: string;
  process(batch: RecordBatch, context: OperatorContext): RecordBatch;
  /** End of a finite input: the watermark is +infinity; emit everything still open. */
  close?(last: RecordBatch, context: OperatorContext): RecordBatch;
  /** JSON-serialisable state; called between batches only. */
  snapshot?(): unknown;
  restore?(state: unknown): void;
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

export interface DeadLetter {
  /** The original payload when decoding failed, or the decoded row when validation failed. */
  payload: Buffer | string | Row | null;
  reason: string;
  partition: string;
  offset: number;
  /** Where the record was rejected: `decode`, `validate`, or an operator id. */
  stage: string;
}

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

/** What operators can reach besides their input: side outputs, named outputs, counters. */
export interface OperatorContext {
  late(record: LateRecord): void;
  deadLetter(letter: DeadLetter): void;
  /** Send rows to a named output (the `route` step). */
  emitTo(output: string, rows: Row[]): void;
  readonly counters: RunCounters;
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
