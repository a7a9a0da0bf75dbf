
/**
 * Record batches: the unit that flows through the engine (micro-batches, as in
 * Spark Structured Streaming). Operators run tight loops over `rows`.
 */

/** One record. Timestamps inside the engine are epoch milliseconds (numbers). */
export type Row = Record<string, unknown>;

/** Where a batch came from: one source partition, offsets [fromOffset, toOffset). */
export interface SourceRange {
  /** Stable partition id, e.g. `tides.observations/3` or `file:data/bundled/tides.avro`. */
  partition: string;
  fromOffset: number;
  /** Exclusive: the offset to resume from once this batch is durable. */
  toOffset: number;
}

export interface RecordBatch {
  rows: Row[];
  /**
   * The job watermark in force when each row arrived (computed before the row
   * itself is counted), aligned with `rows`. Judging lateness per row, not per
   * batch, is what makes results identical for any batch split.
   */
  watermarks: Float64Array;
  /** Job watermark after the last row of this batch. */
  watermark: number;
  /** Offset of each row in its partition, aligned with `rows` (for dead letters). */
  offsets: Float64Array;
  source: SourceRange;
  /**
   * Set instead of `rows` (which is then empty) when worker threads already
   * aggregated the batch for the job's first step, a window; `watermarks`
   * and `offsets` still have one entry per record.
   */
  preAggregated?: PreAggregatedRows;
}

/**
 * A batch the decoder has aggregated in chunks for a window step (see
 * window-partials.ts). Every record of the batch decoded and validated; the
 * window operator still judges lateness, and when a record would be late it
 * takes the rows themselves (`materialize`) and its per-row path, so results
 * never depend on the worker count.
 */
export interface PreAggregatedRows<Partials = unknown> {
  /** The window step the partials are for. */
  stepId: string;
  /** Partials per chunk (windows/window-partials.ts), in input order, and the batch row index each chunk starts at. */
  chunks: Partials[];
  chunkStarts: number[];
  /** The batch's rows, decoded whole on the calling thread. */
  materialize(): Row[];
}

/** A batch before decoding: raw payloads as read by a source. */
export interface RawBatch {
  /** Either encoded payloads (Kafka values, file lines)... */
  payloads?: Array<Buffer | string | null>;
  /** ...or rows a source already decoded (e.g. an Avro container file, the generator). */
  rows?: Row[];
  /** Offset of each payload/row in its partition, aligned. */
  offsets: Float64Array;
  source: SourceRange;
  /** Per-payload Kafka metadata where it exists (key, timestamp), aligned. */
  keys?: Array<Buffer | string | null>;
  /** Producer timestamps (epoch ms) where the source has them, aligned. */
  timestamps?: Float64Array;
  /** Records the source could not decode (only sources that decode themselves set this). */
  deadLetters?: DeadLetter[];
  /**
   * What each row was decoded from, aligned with `rows` (sources that decode
   * text themselves): a row rejected later (validation, a step) leaves as the
   * text it was read from, not re-serialised.
   */
  received?: ReadonlyArray<string | Buffer>;
  /** Text files: the 1-based line of offset 0 (a record's line is its offset plus this). */
  lineOfOffsetZero?: number;
  /** A bounded run reads nothing of this batch's partition after it: the partition's task is finished. */
  endsPartition?: boolean;
}

/** Keep the rows whose index is set in `keep` (in order), with their aligned arrays. */
export function selectRows(batch: RecordBatch, keep: Uint8Array, keptCount: number): RecordBatch {
  if (keptCount === batch.rows.length) return batch;
  const rows: Row[] = new Array(keptCount);
  const watermarks = new Float64Array(keptCount);
  const offsets = new Float64Array(keptCount);
  let j = 0;
  for (let i = 0; i < batch.rows.length; i++) {
    if (keep[i] === 1) {
      rows[j] = batch.rows[i];
      watermarks[j] = batch.watermarks[i];
      offsets[j] = batch.offsets[i];
      j++;
    }
  }
  return { rows, watermarks, offsets, watermark: batch.watermark, source: batch.source };
}

/** A batch of new rows (e.g. window results) that all carry the batch's final watermark. */
export function derivedBatch(from: RecordBatch, rows: Row[]): RecordBatch {
  return {
    rows,
    watermarks: new Float64Array(rows.length).fill(from.watermark),
    offsets: new Float64Array(rows.length).fill(from.source.toOffset - 1),
    watermark: from.watermark,
    source: from.source,
  };
}

export interface DeadLetter {
  /** The original payload when decoding failed, or the decoded row when validation failed. */
  payload: Buffer | string | Row | null;
  reason: string;
  partition: string;
  offset: number;
  /** Where the record was rejected: `decode`, `validate`, or an operator id. */
  stage: string;
  /** Text files: the 1-based line the record starts on. */
  line?: number;
}
