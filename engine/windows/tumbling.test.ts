import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { alignedStart } from './assigner';
import { TumblingWindowAssigner } from './tumbling';

function windowsOf(assigner: TumblingWindowAssigner, t: number): number[] {
  const out: number[] = [];
  assigner.assign(t, {}, out);
  return out;
}

describe('TumblingWindowAssigner', () => {
  it('assigns half-open windows aligned to the epoch', () => {
    //  t:  0    10    20    30
    //      [-w0-)[-w1-)[-w2-)
    //      a   b c          (a 0, b 9, c 10)
    const tumbling = new TumblingWindowAssigner(10);
    assert.deepEqual(windowsOf(tumbling, 0), [0, 10]);
    assert.deepEqual(windowsOf(tumbling, 9), [0, 10]);
    assert.deepEqual(windowsOf(tumbling, 10), [10, 20]);
  });

  it('floors negative times: t -1 is in [-10, 0)', () => {
    //  t:  -20   -10    0    10
    //       [-w-2-)[-w-1-)[-w0-)
    //       a      b    c       (a -20, b -10 .. c -1)
    const tumbling = new TumblingWindowAssigner(10);
    assert.deepEqual(windowsOf(tumbling, -1), [-10, 0]);
    assert.deepEqual(windowsOf(tumbling, -10), [-10, 0]);
    assert.deepEqual(windowsOf(tumbling, -20), [-20, -10]);
  });

  it('aligns to the anchor, before and after it', () => {
    //  t:  -7    3    13   23        (size 10, anchor 3)
    //       [----)[----)[----)
    //        a  b  c                  (a -5, b 2, c 3)
    const tumbling = new TumblingWindowAssigner(10, 3);
    assert.deepEqual(windowsOf(tumbling, -5), [-7, 3]);
    assert.deepEqual(windowsOf(tumbling, 2), [-7, 3]);
    assert.deepEqual(windowsOf(tumbling, 3), [3, 13]);
    assert.deepEqual(windowsOf(tumbling, 22.5), [13, 23]);
  });

  it('30-minute windows on real timestamps', () => {
    const tumbling = new TumblingWindowAssigner(30 * 60_000, 0);
    const t = Date.parse('2020-09-24T04:18:00.000Z');
    assert.deepEqual(windowsOf(tumbling, t), [Date.parse('2020-09-24T04:00:00.000Z'), Date.parse('2020-09-24T04:30:00.000Z')]);
  });

  it('rejects a non-positive size', () => {
    assert.throws(() => new TumblingWindowAssigner(0), RangeError);
  });

  it('alignedStart survives large values and exact edges', () => {
    const size = 89_428_329;
    for (let k = -3; k <= 3; k++) {
      const edge = 1_600_000_000_000 + k * size;
      assert.equal(alignedStart(edge, size, 1_600_000_000_000), edge);
      assert.equal(alignedStart(edge - 1, size, 1_600_000_000_000), edge - size);
    }
  });
});
