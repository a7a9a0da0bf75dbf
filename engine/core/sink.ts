import type { Row } from './batch';

/**
 * Where results go. `write` may buffer; `flush` resolves only once everything
 * written so far is durable — the runtime writes a checkpoint only after every
 * sink's flush resolved, so a sink must never report success for rows it may
 * still lose. Outages are retried inside the sink (retry and wait, not drop).
 */
export interface Sink {
  readonly description: string;
  /** Prepare (connect, create tables); `resume` is this sink's position from the checkpoint, if any. */
  open(resume?: unknown): Promise<void>;
  /** Hand rows over; resolves when the sink can take more (backpressure), not necessarily durable. */
  write(rows: Row[]): Promise<void>;
  /** Resolves when every row written so far is durable. */
  flush(): Promise<void>;
  /**
   * This sink's position after the last flush, stored in the checkpoint (a
   * file's length, cut back to on a restart). A job with such a sink runs as
   * one task: the position is exact only for one checkpoint of the whole job.
   */
  position?(): unknown;
  close(): Promise<void>;
}

/** Fields holding event times as epoch-ms numbers that a sink should render as timestamps. */
export interface SinkOptions {
  timestampFields: ReadonlySet<string>;
}

/** The sinks every job has besides its results: records that cannot be processed, and records too late for their window. */
export const DEAD_LETTERS = 'dead-letters';
export const LATE = 'late';

/**
 * `inner` with `onWrite` called with every batch of rows before they are
 * handed on: how side outputs are watched (the web UI's samples) without
 * changing what is written or when it is durable.
 */
export function tappedSink(inner: Sink, onWrite: (rows: Row[]) => void): Sink {
  const tapped: Sink = {
    description: inner.description,
    open: (resume) => inner.open(resume),
    write: (rows) => {
      onWrite(rows);
      return inner.write(rows);
    },
    flush: () => inner.flush(),
    close: () => inner.close(),
  };
  if (inner.position) tapped.position = () => inner.position!();
  return tapped;
}
