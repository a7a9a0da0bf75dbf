import assert from 'node:assert/strict';
import { test } from 'node:test';
import { emptyCounters, type RunCounters } from '../core/operator';
import { sumTasks } from './threads';

const counted = (recordsIn: number, resultsOut = 0): RunCounters => ({ ...emptyCounters(), recordsIn, resultsOut });

test('a job on threads counts each task once: the latest counters of a task moved between threads, summed over tasks', () => {
  // Partition 0 ran on thread 1 (100 records), was handed to thread 2, which restored 100 and read on to 250.
  const thread1 = { 'job/t/0': counted(100, 4), 'job/t/1': counted(70, 3) };
  const thread2 = { 'job/t/0': counted(250, 9), 'job/t/2': counted(30, 1) };
  assert.deepEqual(sumTasks([thread1, thread2]), counted(250 + 70 + 30, 9 + 3 + 1));
  // In either order.
  assert.deepEqual(sumTasks([thread2, thread1]), counted(350, 13));
  assert.deepEqual(sumTasks([]), emptyCounters());
});
