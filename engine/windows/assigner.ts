import type { Row } from '../core/batch';

/**
 * Window *configuration* (which windows a timestamp belongs to) kept apart
 * from window *logic* (accumulating, closing at the watermark, snapshots),
 * which lives in `operators/window.ts`. A new window kind is one new assigner.
 *
 * All windows are half-open, `[start, end)`, in epoch milliseconds.
 */

/**
 * Assigns each record to a fixed set of windows that never change once
 * computed (tumbling, hopping, lunar day). Fixed windows of different records
 * are either identical or distinct; they never need merging.
 */
export interface WindowAssigner {
  readonly merging: false;
  /** Names everything that decides the window bounds; part of the operator's state key. */
  readonly stateKey: string;
  /**
   * Push `start, end` of every window containing `eventTime` onto `out`
   * (pairs, in ascending start order). `out` is the caller's reused array:
   * assigning allocates nothing per record. Pushing nothing is fine (a hopping
   * window with slide > size leaves gaps).
   *
   * @returns `undefined`, or why this row cannot be placed at all (e.g. a
   *   lunar-transit window needs the row's longitude). Such a row is a dead letter.
   */
  assign(eventTime: number, row: Row, out: number[]): string | undefined;
}

/** One open session as the merging path sees it (the operator's window objects fit this shape). */
export interface SessionBounds {
  start: number;
  end: number;
}

/** Where a record lands among a key's open sessions; filled in place by {@link MergingWindowAssigner.place}. */
export interface SessionPlacement {
  /** Index of the first open session the record's window overlaps (or where a new one is inserted). */
  index: number;
  /** How many consecutive open sessions, from `index`, it overlaps (0: it opens a new one). */
  overlapping: number;
  /** Bounds of the session after merging the record and every overlapped session. */
  start: number;
  end: number;
}

/**
 * Windows whose bounds depend on the data (sessions): a record opens
 * `[t, t + gap)`, and sessions that overlap merge into one. Kept as a
 * separate path because merging needs the accumulators, which only the
 * operator has.
 */
export interface MergingWindowAssigner {
  readonly merging: true;
  readonly stateKey: string;
  readonly gapMs: number;
  /**
   * Find how a record at `eventTime` relates to a key's open sessions
   * (sorted by start, pairwise disjoint) and write it to `placement`.
   */
  place(sessions: readonly SessionBounds[], eventTime: number, placement: SessionPlacement): void;
}

export type AnyWindowAssigner = WindowAssigner | MergingWindowAssigner;

/**
 * Start of the grid cell of width `size` (anchored at `anchor`) containing `t`.
 * Floor division, so times before the anchor are aligned too: with size 10
 * and anchor 0, t = -1 lies in [-10, 0), not [0, 10).
 *
 * @example
 * alignedStart(-1, 10, 0); // -10
 * alignedStart(25, 10, 3); // 23
 */
export function alignedStart(t: number, size: number, anchor: number): number {
  let start = anchor + Math.floor((t - anchor) / size) * size;
  // Division of large epoch values can round across a cell edge; one step corrects it.
  if (start > t) start -= size;
  else if (start + size <= t) start += size;
  return start;
}
