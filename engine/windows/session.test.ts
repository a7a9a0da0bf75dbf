import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { SessionPlacement } from './assigner';
import { SessionWindowAssigner } from './session';

function place(sessions: Array<{ start: number; end: number }>, t: number, gap = 5): SessionPlacement {
  const placement = { index: -1, overlapping: -1, start: NaN, end: NaN };
  new SessionWindowAssigner(gap).place(sessions, t, placement);
  return placement;
}

describe('SessionWindowAssigner', () => {
  it('a lone record opens [t, t + gap)', () => {
    assert.deepEqual(place([], 3), { index: 0, overlapping: 0, start: 3, end: 8 });
  });

  it('extends an overlapping session', () => {
    //  t:  0    5    10
    //      [-s-)            s: a at 0
    //         b--->         b at 3: session becomes [0, 8)
    assert.deepEqual(place([{ start: 0, end: 5 }], 3), { index: 0, overlapping: 1, start: 0, end: 8 });
  });

  it('a bridging record merges two sessions', () => {
    //  t:  0    4    8    13
    //      [s1 )   [s2 )            a at 0 -> s1 [0, 5); c at 8 -> s2 [8, 13)
    //          b--->                b at 4 opens [4, 9), overlapping both: one session [0, 13)
    assert.deepEqual(place([{ start: 0, end: 5 }, { start: 8, end: 13 }], 4), { index: 0, overlapping: 2, start: 0, end: 13 });
  });

  it('touching is not overlapping: a silence of exactly gap splits sessions', () => {
    //  t:  0    5    10
    //      [s1 )c--->           c at 5: new session after s1
    assert.deepEqual(place([{ start: 0, end: 5 }], 5), { index: 1, overlapping: 0, start: 5, end: 10 });
    //  t:  -5   0    5
    //      d--->[s1 )           d at -5 ends where s1 starts: new session before it
    assert.deepEqual(place([{ start: 0, end: 5 }], -5), { index: 0, overlapping: 0, start: -5, end: 0 });
  });

  it('an out-of-order record before a session extends its start', () => {
    //  t:  -3   0    5
    //      e--->[s1 )           e at -3 overlaps [0, 5): [-3, 5)
    assert.deepEqual(place([{ start: 0, end: 5 }, { start: 20, end: 25 }], -3), { index: 0, overlapping: 1, start: -3, end: 5 });
  });

  it('inserts between sessions', () => {
    assert.deepEqual(place([{ start: 0, end: 5 }, { start: 30, end: 35 }], 15), { index: 1, overlapping: 0, start: 15, end: 20 });
  });
});
