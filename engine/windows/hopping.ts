import type { Row } from '../core/batch';
import { alignedStart, type WindowAssigner } from './assigner';

/**
 * Windows of `size` starting every `slide`, aligned to `anchor`. A record
 * belongs to every window whose `[start, start + size)` contains it: about
 * size / slide of them. With slide > size there are gaps that hold no window.
 *
 * ```
 * //  t:  0    5    10   15   20        (size 10, slide 5)
 * //      [---w0----)
 * //           [---w1----)
 * //                [---w2----)
 * //                  a                 a at 12 -> w1 [5,15) and w2 [10,20)
 * ```
 *
 * @example
 * const out: number[] = [];
 * new HoppingWindowAssigner(10, 5, 0).assign(12, {}, out); // out: [5, 15, 10, 20]
 */
export class HoppingWindowAssigner implements WindowAssigner {
  readonly merging = false as const;
  readonly stateKey: string;
  readonly sizeMs: number;
  readonly slideMs: number;
  readonly anchorMs: number;

  constructor(sizeMs: number, slideMs: number, anchorMs = 0) {
    if (!(sizeMs > 0) || !Number.isFinite(sizeMs)) throw new RangeError(`hopping window size must be > 0 ms, got ${sizeMs}`);
    if (!(slideMs > 0) || !Number.isFinite(slideMs)) throw new RangeError(`hopping window slide must be > 0 ms, got ${slideMs}`);
    if (!Number.isFinite(anchorMs)) throw new RangeError(`hopping window anchor must be finite, got ${anchorMs}`);
    this.sizeMs = sizeMs;
    this.slideMs = slideMs;
    this.anchorMs = anchorMs;
    this.stateKey = `hopping(size=${sizeMs},slide=${slideMs},anchor=${anchorMs})`;
  }

  assign(eventTime: number, _row: Row, out: number[]): undefined {
    const size = this.sizeMs;
    const slide = this.slideMs;
    // The latest window starting at or before t, then walk back while it still covers t.
    const last = alignedStart(eventTime, slide, this.anchorMs);
    let first = last;
    while (first - slide + size > eventTime) first -= slide;
    for (let start = first; start <= last; start += slide) {
      if (start + size > eventTime) out.push(start, start + size);
    }
    return undefined;
  }
}
