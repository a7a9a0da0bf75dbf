import type { Row } from '../core/batch';
import { alignedStart, type WindowAssigner } from './assigner';

/**
 * Fixed-size, non-overlapping windows `[anchor + k*size, anchor + (k+1)*size)`
 * for every integer k, negative ones included.
 *
 * ```
 * //  t:  -10    0    10    20        (size 10, anchor 0)
 * //       [----)[----)[----)
 * //          -3   4    12
 * ```
 *
 * @example
 * const out: number[] = [];
 * new TumblingWindowAssigner(30 * 60_000, 0).assign(Date.UTC(2020, 0, 1, 0, 40), {}, out);
 * // out: [Date.UTC(2020, 0, 1, 0, 30), Date.UTC(2020, 0, 1, 1, 0)]
 */
export class TumblingWindowAssigner implements WindowAssigner {
  readonly merging = false as const;
  readonly stateKey: string;
  readonly sizeMs: number;
  readonly anchorMs: number;

  constructor(sizeMs: number, anchorMs = 0) {
    if (!(sizeMs > 0) || !Number.isFinite(sizeMs)) throw new RangeError(`tumbling window size must be > 0 ms, got ${sizeMs}`);
    if (!Number.isFinite(anchorMs)) throw new RangeError(`tumbling window anchor must be finite, got ${anchorMs}`);
    this.sizeMs = sizeMs;
    this.anchorMs = anchorMs;
    this.stateKey = `tumbling(size=${sizeMs},anchor=${anchorMs})`;
  }

  assign(eventTime: number, _row: Row, out: number[]): undefined {
    const start = alignedStart(eventTime, this.sizeMs, this.anchorMs);
    out.push(start, start + this.sizeMs);
    return undefined;
  }
}
