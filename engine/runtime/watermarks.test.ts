import assert from 'node:assert/strict';
import { test } from 'node:test';
import { WatermarkTracker } from './watermarks';

const rows = (...ts: number[]) => ts.map((t) => ({ t }));

test('each row gets the watermark in force before it: max event time seen minus maxOutOfOrder', () => {
  //  arrival:   t=100  t=90  t=130  t=120
  //  wm before:  -inf   90    90     120     (maxOutOfOrder 10)
  const tracker = new WatermarkTracker('t', 10, 60_000, () => 0);
  const out = new Float64Array(4);
  const after = tracker.assign('p0', rows(100, 90, 130, 120), out);
  assert.deepEqual(Array.from(out), [-Infinity, 90, 90, 120]);
  assert.equal(after, 120);
});

test('the job watermark is the minimum over active partitions and never goes backwards', () => {
  let clock = 0;
  const tracker = new WatermarkTracker('t', 0, 1000, () => clock);
  const out = new Float64Array(2);
  tracker.assign('a', rows(100, 200), out);
  assert.equal(tracker.watermark, 200);
  // Partition b is far behind: it holds the job watermark where it was (no regression).
  tracker.assign('b', rows(50), new Float64Array(1));
  assert.equal(tracker.watermark, 200);
  tracker.assign('a', rows(300), new Float64Array(1));
  assert.equal(tracker.watermark, 200, 'b at 50 holds the watermark back');
  tracker.assign('b', rows(250), new Float64Array(1));
  assert.equal(tracker.watermark, 250);
});

test('an idle partition stops holding the watermark back after idleTimeout of wall-clock time', () => {
  let clock = 0;
  const tracker = new WatermarkTracker('t', 0, 1000, () => clock);
  tracker.assign('quiet', rows(10), new Float64Array(1));
  tracker.assign('busy', rows(500), new Float64Array(1));
  assert.equal(tracker.watermark, 10);
  clock = 1500; // 'quiet' has been silent for 1.5 s
  tracker.assign('busy', rows(600), new Float64Array(1));
  assert.equal(tracker.watermark, 600);
});

test('finish() jumps to +infinity; snapshot/restore keeps per-partition maxima', () => {
  const tracker = new WatermarkTracker('t', 5, 60_000, () => 0);
  tracker.assign('a', rows(100), new Float64Array(1));
  const copy = new WatermarkTracker('t', 5, 60_000, () => 0);
  copy.restore(JSON.parse(JSON.stringify(tracker.snapshot())));
  const out = new Float64Array(1);
  copy.assign('a', rows(50), out);
  assert.equal(out[0], 95);
  assert.equal(tracker.finish(), Infinity);
});

test('alignment: a partition more than maxDrift ahead of the watermark is held while a partition behind still has records to read', () => {
  //  watermark 100 (held back by 'slow')
  //  slow  ---100                 (500 records left)
  //  mid   ------150              (within drift 60 of 100: read on)
  //  fast  -----------------400   (300 > 100 + 60: held)
  const tracker = new WatermarkTracker('t', 0, 60_000, () => 0);
  tracker.assign('slow', rows(100), new Float64Array(1));
  tracker.assign('mid', rows(150), new Float64Array(1));
  tracker.assign('fast', rows(400), new Float64Array(1));
  assert.equal(tracker.watermark, 100);
  assert.deepEqual([...tracker.partitionsAhead(60, { slow: 500, mid: 10, fast: 10 })], ['fast']);
  // Exactly at the limit is not ahead.
  assert.deepEqual([...tracker.partitionsAhead(300, { slow: 500 })], []);
  // 'slow' overtakes: now 'mid' holds the watermark (150) and both others wait for it.
  tracker.assign('slow', rows(420), new Float64Array(1));
  assert.equal(tracker.watermark, 150);
  assert.deepEqual([...tracker.partitionsAhead(60, { slow: 400, mid: 10, fast: 10 })], ['slow', 'fast']);
});

test('alignment never stalls a stream: nothing is held when the partitions behind have nothing left to read', () => {
  const tracker = new WatermarkTracker('t', 10, 60_000, () => 0);
  tracker.assign('slow', rows(100), new Float64Array(1));
  tracker.assign('fast', rows(1000), new Float64Array(1));
  // Caught up (live stream) or at the end of a bounded run: 'fast' must go on.
  assert.deepEqual([...tracker.partitionsAhead(60, { slow: 0, fast: 50 })], []);
  assert.deepEqual([...tracker.partitionsAhead(60, { fast: 50 })], []);
  // A partition not read yet but with records waiting counts as behind.
  assert.deepEqual([...tracker.partitionsAhead(60, { slow: 0, fast: 50, unseen: 7 })], ['fast']);
  // A backlog-only threshold: 7 records left is a live stream, not a backlog.
  assert.deepEqual([...tracker.partitionsAhead(60, { slow: 7, fast: 50 }, 1000)], []);
  assert.deepEqual([...tracker.partitionsAhead(60, { slow: 7000, fast: 50 }, 1000)], ['fast']);
  // Before any watermark exists nothing is held.
  const fresh = new WatermarkTracker('t', 10, 60_000, () => 0);
  assert.deepEqual([...fresh.partitionsAhead(60, { a: 5 })], []);
});

test('tick: a silent partition stops holding the watermark back; when every partition is silent, the most advanced one sets it', () => {
  //  partition a   t 100, 400           (silent from clock 0)
  //  partition b   t 200                (silent from clock 500)
  let clock = 0;
  const tracker = new WatermarkTracker('t', 10, 1000, () => clock);
  // Both partitions known from the start (a source announces its partitions before any record).
  tracker.assign('b', rows(), new Float64Array(0));
  tracker.assign('a', rows(100, 400), new Float64Array(2));
  assert.equal(tracker.watermark, -Infinity, 'b has read nothing yet');
  clock = 500;
  tracker.assign('b', rows(200), new Float64Array(1));
  assert.equal(tracker.watermark, 190, 'b holds it back');
  assert.equal(tracker.tick(), 190, 'nobody silent for the idle timeout yet');
  clock = 1000;
  assert.equal(tracker.tick(), 190, 'a is silent: b alone holds it at 190');
  clock = 1500;
  assert.equal(tracker.tick(), 390, 'both silent: the most advanced partition, a, sets it');
  clock = 99_000;
  assert.equal(tracker.tick(), 390, 'and it stays there: nothing newer was read');
});
