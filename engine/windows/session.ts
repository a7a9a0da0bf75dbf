import type { MergingWindowAssigner, SessionBounds, SessionPlacement } from './assigner';

/**
 * Session windows per key: a record at t opens `[t, t + gap)`; windows that
 * overlap merge. So two records share a session exactly when a chain of
 * records less than `gap` apart joins them; a silence of `gap` or more ends
 * the session (windows that merely touch, end == start, stay apart, as
 * half-open windows do not overlap).
 *
 * A session's end is its latest event time + gap, so it closes once
 * watermark >= last event + gap + allowedLateness.
 *
 * ```
 * //  t:  0    4    8    13        (gap 5)
 * //      a--->   c--->
 * //      [s1 )   [s2 )            a at 0, c at 8: two sessions
 * //          b--->                b at 4 overlaps both...
 * //      [----merged----)         ...and bridges them: [0, 13)
 * ```
 *
 * @example
 * const placement = { index: 0, overlapping: 0, start: 0, end: 0 };
 * new SessionWindowAssigner(5).place([{ start: 0, end: 5 }, { start: 8, end: 13 }], 4, placement);
 * // placement: { index: 0, overlapping: 2, start: 0, end: 13 }
 */
export class SessionWindowAssigner implements MergingWindowAssigner {
  readonly merging = true as const;
  readonly stateKey: string;
  readonly gapMs: number;

  constructor(gapMs: number) {
    if (!(gapMs > 0) || !Number.isFinite(gapMs)) throw new RangeError(`session gap must be > 0 ms, got ${gapMs}`);
    this.gapMs = gapMs;
    this.stateKey = `session(gap=${gapMs})`;
  }

  place(sessions: readonly SessionBounds[], eventTime: number, placement: SessionPlacement): void {
    const start = eventTime;
    const end = eventTime + this.gapMs;
    // Sessions are disjoint and sorted by start, so their ends are sorted too:
    // binary-search the first one ending after the record's start.
    let lo = 0;
    let hi = sessions.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (sessions[mid].end > start) hi = mid;
      else lo = mid + 1;
    }
    let mergedStart = start;
    let mergedEnd = end;
    let overlapping = 0;
    for (let i = lo; i < sessions.length && sessions[i].start < end; i++) {
      if (sessions[i].start < mergedStart) mergedStart = sessions[i].start;
      if (sessions[i].end > mergedEnd) mergedEnd = sessions[i].end;
      overlapping++;
    }
    placement.index = lo;
    placement.overlapping = overlapping;
    placement.start = mergedStart;
    placement.end = mergedEnd;
  }
}
