import type { WindowKindSpec } from '../config/job';
import type { AnyWindowAssigner } from './assigner';
import { HoppingWindowAssigner } from './hopping';
import { LunarDayMeanAssigner, LunarTransitAssigner } from './lunar-day';
import { SessionWindowAssigner } from './session';
import { TumblingWindowAssigner } from './tumbling';

/**
 * The assigner for a job file's window kind.
 *
 * @example
 * createAssigner({ kind: 'tumbling', sizeMs: 30 * 60_000, anchorMs: 0 }).stateKey;
 * // 'tumbling(size=1800000,anchor=0)'
 */
export function createAssigner(spec: WindowKindSpec): AnyWindowAssigner {
  switch (spec.kind) {
    case 'tumbling':
      return new TumblingWindowAssigner(spec.sizeMs, spec.anchorMs);
    case 'hopping':
      return new HoppingWindowAssigner(spec.sizeMs, spec.slideMs, spec.anchorMs);
    case 'session':
      return new SessionWindowAssigner(spec.gapMs);
    case 'lunarDay':
      return spec.mode === 'mean' ? new LunarDayMeanAssigner(spec.anchorMs) : new LunarTransitAssigner(spec.lonField, spec.latField);
  }
}
