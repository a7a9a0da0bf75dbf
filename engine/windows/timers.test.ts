import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { WindowTimers } from './timers';

describe('WindowTimers', () => {
  it('pops due items earliest first and shares buckets', () => {
    const timers = new WindowTimers<string>();
    timers.add(30, 'c');
    timers.add(10, 'a');
    timers.add(10, 'b');
    timers.add(20, 'd');
    assert.equal(timers.size, 3);
    const due: string[] = [];
    assert.equal(timers.popDue(20, due), 3);
    assert.deepEqual(due, ['a', 'b', 'd']);
    assert.equal(timers.peek(), 30);
    timers.popDue(Infinity, due);
    assert.deepEqual(due, ['a', 'b', 'd', 'c']);
    assert.equal(timers.peek(), Infinity);
  });

  it('is a correct priority queue (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: -50, max: 50 })), fc.integer({ min: -60, max: 60 }), (times, until) => {
        const timers = new WindowTimers<number>();
        times.forEach((t) => timers.add(t, t));
        const due: number[] = [];
        timers.popDue(until, due);
        assert.deepEqual(due, times.filter((t) => t <= until).sort((a, b) => a - b));
      }),
    );
  });
});
