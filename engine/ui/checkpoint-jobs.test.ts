import assert from 'node:assert/strict';
import { test } from 'node:test';
import { groupTasks, storedJobView } from './checkpoint-jobs';

const NOW = Date.UTC(2026, 11, 7, 12);

function view(job: string, epoch: number, agoMs: number, recordsIn: number, watermark: number | null) {
  return storedJobView({ job, store: 'memory', epoch, at: NOW - agoMs, bytes: 10, counters: { recordsIn, deadLetters: 1, late: 2 }, watermark, partitions: [], now: NOW });
}

test('tasks of a job (one checkpoint per partition) show as one job: counters summed, the slowest watermark, running if any task is', () => {
  const views = groupTasks([
    view('tides-lunar-day/tides.observations/1', 7, 2_000, 300, NOW - 3_600_000),
    view('generator-job', 3, 10 * 86_400_000, 50, null),
    view('tides-lunar-day/tides.observations/0', 9, 20 * 60_000, 200, NOW - 7_200_000),
  ]);
  assert.deepEqual(
    views.map((each) => each.job),
    ['generator-job', 'tides-lunar-day'],
  );
  const [single, tasks] = views;
  assert.equal(single.tasks, undefined);
  assert.equal(tasks.state, 'running');
  assert.match(tasks.stateReason, /^2 tasks \(one per partition\): running elsewhere/);
  assert.equal(tasks.counters?.recordsIn, 500);
  assert.equal(tasks.deadLetters.total, 2);
  assert.equal(tasks.late.total, 4);
  assert.equal(tasks.watermark, NOW - 7_200_000);
  // The latest checkpoint of any task.
  assert.equal(tasks.checkpoint?.epoch, 7);
  assert.deepEqual(
    tasks.tasks?.map((task) => [task.task, task.state, task.epoch, task.recordsIn]),
    [
      ['tides.observations/1', 'running', 7, 300],
      ['tides.observations/0', 'stopped', 9, 200],
    ],
  );
});
