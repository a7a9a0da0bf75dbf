import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { WindowAssigner } from './assigner';
import { createAssigner } from './create-assigner';
import { HoppingWindowAssigner } from './hopping';
import { LUNAR_DAY_MS, LunarDayMeanAssigner } from './lunar-day';
import { SessionWindowAssigner } from './session';
import { TumblingWindowAssigner } from './tumbling';

/**
 * Brute force: every window of the grid (anchor + k*slide, size) whose
 * [start, end) contains t, found by scanning k over a generous range.
 */
function windowsByScan(t: number, size: number, slide: number, anchor: number): number[] {
  const out: number[] = [];
  const k0 = Math.floor((t - anchor) / slide);
  for (let k = k0 - Math.ceil(size / slide) - 2; k <= k0 + 2; k++) {
    const start = anchor + k * slide;
    if (start <= t && t < start + size) out.push(start, start + size);
  }
  return out;
}

function assigned(assigner: WindowAssigner, t: number): number[] {
  const out: number[] = [];
  assigner.assign(t, {}, out);
  return out;
}

const time = fc.integer({ min: -4_000_000_000_000, max: 4_000_000_000_000 });
const anchor = fc.integer({ min: -2_000_000_000_000, max: 2_000_000_000_000 });

describe('a record lands in exactly the windows whose [start, end) contains it (property)', () => {
  it('tumbling', () => {
    fc.assert(
      fc.property(time, fc.integer({ min: 1, max: 10_000_000 }), anchor, (t, size, a) => {
        assert.deepEqual(assigned(new TumblingWindowAssigner(size, a), t), windowsByScan(t, size, size, a));
      }),
    );
  });

  it('hopping', () => {
    fc.assert(
      fc.property(time, fc.integer({ min: 1, max: 100_000 }), fc.integer({ min: 1, max: 100_000 }), anchor, (t, size, slide, a) => {
        fc.pre(size / slide <= 200);
        assert.deepEqual(assigned(new HoppingWindowAssigner(size, slide, a), t), windowsByScan(t, size, slide, a));
      }),
    );
  });

  it('hopping with small numbers near the anchor (edges hit often)', () => {
    fc.assert(
      fc.property(fc.integer({ min: -60, max: 60 }), fc.integer({ min: 1, max: 12 }), fc.integer({ min: 1, max: 12 }), fc.integer({ min: -10, max: 10 }), (t, size, slide, a) => {
        assert.deepEqual(assigned(new HoppingWindowAssigner(size, slide, a), t), windowsByScan(t, size, slide, a));
      }),
    );
  });

  it('lunar day, mode mean', () => {
    fc.assert(
      fc.property(time, anchor, (t, a) => {
        assert.deepEqual(assigned(new LunarDayMeanAssigner(a), t), windowsByScan(t, LUNAR_DAY_MS, LUNAR_DAY_MS, a));
      }),
    );
  });
});

describe('createAssigner', () => {
  it('maps each window kind to its assigner', () => {
    assert.ok(createAssigner({ kind: 'tumbling', sizeMs: 10, anchorMs: 0 }) instanceof TumblingWindowAssigner);
    assert.ok(createAssigner({ kind: 'hopping', sizeMs: 10, slideMs: 5, anchorMs: 0 }) instanceof HoppingWindowAssigner);
    assert.ok(createAssigner({ kind: 'session', gapMs: 10 }) instanceof SessionWindowAssigner);
    assert.ok(createAssigner({ kind: 'lunarDay', mode: 'mean', anchorMs: 0 }) instanceof LunarDayMeanAssigner);
    assert.equal(createAssigner({ kind: 'lunarDay', mode: 'transit', lonField: 'lon', latField: 'lat' }).merging, false);
  });

  it('state keys differ whenever the bounds would', () => {
    const keys = [
      createAssigner({ kind: 'tumbling', sizeMs: 10, anchorMs: 0 }),
      createAssigner({ kind: 'tumbling', sizeMs: 20, anchorMs: 0 }),
      createAssigner({ kind: 'tumbling', sizeMs: 10, anchorMs: 5 }),
      createAssigner({ kind: 'hopping', sizeMs: 10, slideMs: 5, anchorMs: 0 }),
      createAssigner({ kind: 'hopping', sizeMs: 10, slideMs: 2, anchorMs: 0 }),
      createAssigner({ kind: 'session', gapMs: 10 }),
      createAssigner({ kind: 'session', gapMs: 11 }),
      createAssigner({ kind: 'lunarDay', mode: 'mean', anchorMs: 0 }),
      createAssigner({ kind: 'lunarDay', mode: 'mean', anchorMs: 1 }),
      createAssigner({ kind: 'lunarDay', mode: 'transit', lonField: 'lon', latField: 'lat' }),
    ].map((a) => a.stateKey);
    assert.equal(new Set(keys).size, keys.length);
  });
});
