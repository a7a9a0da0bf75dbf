import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HoppingWindowAssigner } from './hopping';

function windowsOf(assigner: HoppingWindowAssigner, t: number): number[] {
  const out: number[] = [];
  assigner.assign(t, {}, out);
  return out;
}

describe('HoppingWindowAssigner', () => {
  it('puts a record in every window that covers it', () => {
    //  t:  0    5    10   15   20        (size 10, slide 5)
    //      [---w0----)
    //           [---w1----)
    //                [---w2----)
    //      a         b c                a 0 -> w0 (and [-5,5)); b 10 -> w1, w2; c 12 -> w1, w2
    const hopping = new HoppingWindowAssigner(10, 5);
    assert.deepEqual(windowsOf(hopping, 0), [-5, 5, 0, 10]);
    assert.deepEqual(windowsOf(hopping, 10), [5, 15, 10, 20]);
    assert.deepEqual(windowsOf(hopping, 12), [5, 15, 10, 20]);
  });

  it('size not a multiple of slide, negative times, anchor', () => {
    //  t:  -8   -5   -2   1    4         (size 7, slide 3, anchor 1)
    //       [------)                     [-8,-1)
    //            [------)                [-5, 2)
    //                 [------)           [-2, 5)
    //                 a                  a at -2: the last three
    const hopping = new HoppingWindowAssigner(7, 3, 1);
    assert.deepEqual(windowsOf(hopping, -2), [-8, -1, -5, 2, -2, 5]);
  });

  it('slide > size leaves gaps with no window', () => {
    //  t:  0   4    10  14   20          (size 4, slide 10)
    //      [w0)     [w1)
    //        a    b                      a 2 -> w0; b 6 -> nothing
    const hopping = new HoppingWindowAssigner(4, 10);
    assert.deepEqual(windowsOf(hopping, 2), [0, 4]);
    assert.deepEqual(windowsOf(hopping, 6), []);
    assert.deepEqual(windowsOf(hopping, 4), []);
  });

  it('hourly windows every 15 minutes: four each', () => {
    const minute = 60_000;
    const hopping = new HoppingWindowAssigner(60 * minute, 15 * minute, 0);
    const t = Date.parse('2020-01-01T10:20:00Z');
    const out = windowsOf(hopping, t);
    assert.equal(out.length, 8);
    assert.equal(out[0], Date.parse('2020-01-01T09:30:00Z'));
    assert.equal(out[6], Date.parse('2020-01-01T10:15:00Z'));
  });
});
