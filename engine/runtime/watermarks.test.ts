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
