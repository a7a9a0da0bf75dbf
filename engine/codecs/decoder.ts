import type { PreAggregatedRows, RawBatch, Row } from '../core/batch';
import type { DeadLetter } from '../core/operator';

/**
 * What decoding made of one raw batch: rows (with a dead letter for every
 * payload that did not decode), or, for a job whose first step is a fixed
 * window, the batch already folded into partial windows.
 */
export type DecodedBatch =
  | { kind: 'rows'; rows: Row[]; offsets: ArrayLike<number>; deadLetters: DeadLetter[]; upstream?: Upstream }
  | { kind: 'aggregated'; preAggregated: PreAggregatedRows; times: Float64Array };

/**
 * Where the rows of a batch read from a `repartition` step's internal topic
 * came from (codecs/repartition-envelope.ts), aligned with the rows: their
 * origin partition and offset in the job's own topic, and the first stage's
 * watermark when each arrived there. `marks` carry an origin's watermark
 * (+Infinity: its end), to apply before the row at index `before`.
 */
export interface Upstream {
  origins: string[];
  originOffsets: Float64Array;
  watermarks: Float64Array;
  marks: Array<{ before: number; origin: string; watermark: number }>;
}

/**
 * Turns a source's raw payloads into rows: the one decoder interface of the
 * engine (Kafka Confluent Avro, in-thread or on worker threads). Sources that
 * decode themselves (files, the generator) need none.
 *
 * @example
 *   const decoded = await decoder.decode(raw);
 *   if (decoded.kind === 'rows') use(decoded.rows, decoded.deadLetters);
 */
export interface Decoder {
  /** Decodes one batch. Waits out what may pass (a registry outage); bad payloads become dead letters. */
  decode(raw: RawBatch): Promise<DecodedBatch>;
  /**
   * True when the next batch may be decoded while the run still processes
   * this one (worker threads decode); false for an in-thread decoder, whose
   * `expand` reads the batch decoded last.
   */
  readonly overlaps: boolean;
  /**
   * The whole record behind a row of the batch decoded last, when `decode`
   * skipped fields the job does not read: late and invalid records are
   * written out whole.
   */
  expand?(row: Row): Row;
  /** What it is waiting for, if anything (schema lookups in flight), for stall reports. */
  describeState?(): string | undefined;
  close(): Promise<void>;
}

/** Rows decoded from `raw`, whatever the decoder did (tests, tools). */
export function rowsOf(decoded: DecodedBatch): Extract<DecodedBatch, { kind: 'rows' }> {
  if (decoded.kind !== 'rows') throw new TypeError('the batch was pre-aggregated, not decoded into rows');
  return decoded;
}
