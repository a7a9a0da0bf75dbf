import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_STALL_REPORT_MS, StallWatch, stallReportMsFromEnvironment } from './stall-watch';

function watch(afterMs = 1000) {
  let clock = Date.UTC(2026, 10, 22, 12, 0, 0);
  const lines: string[] = [];
  const w = new StallWatch({ afterMs, log: (line) => lines.push(line), describe: () => 'kafka: hand-over idle', now: () => clock });
  return { w, lines, advance: (ms: number) => (clock += ms) };
}

test('a step that lasts afterMs is reported once per afterMs, with its start and what the parts say', () => {
  const { w, lines, advance } = watch();
  w.enter('checkpoint: saving epoch 3');
  advance(999);
  w.check();
  assert.deepEqual(lines, []);
  advance(1);
  w.check();
  assert.deepEqual(lines, ['no progress for 1 s: checkpoint: saving epoch 3 (since 12:00:00 UTC); kafka: hand-over idle']);
  advance(500);
  w.check();
  assert.equal(lines.length, 1, 'not again before another afterMs');
  advance(500);
  w.check();
  assert.equal(lines.length, 2);
  assert.match(lines[1], /^no progress for 2 s: checkpoint: saving epoch 3/);
});

test('entering a step resets the clock', () => {
  const { w, lines, advance } = watch();
  w.enter('a');
  advance(900);
  w.enter('b');
  advance(900);
  w.check();
  assert.deepEqual(lines, []);
});

test('a normal wait is reported only while quietUnless says it is not normal, with its detail', () => {
  const { w, lines, advance } = watch();
  let waiting = 0;
  w.enter('waiting for the source', { quietUnless: () => waiting > 0, detail: () => `${waiting} records waiting upstream` });
  advance(5000);
  w.check();
  assert.deepEqual(lines, [], 'caught up: nothing to report');
  waiting = 7;
  w.check();
  assert.deepEqual(lines, ['no progress for 5 s: waiting for the source (since 12:00:00 UTC); 7 records waiting upstream; kafka: hand-over idle']);
});

test('a failing describe still reports the step', () => {
  const lines: string[] = [];
  let clock = 0;
  const w = new StallWatch({
    afterMs: 10,
    log: (line) => lines.push(line),
    describe: () => {
      throw new Error('boom');
    },
    now: () => clock,
  });
  w.enter('x');
  clock = 10;
  w.check();
  assert.deepEqual(lines, ['no progress for 0 s: x (state unavailable: boom)']);
});

test('afterMs 0 switches reports off; the environment can set afterMs', () => {
  const { w, lines, advance } = watch(0);
  w.enter('x');
  advance(1e9);
  w.check();
  assert.deepEqual(lines, []);
  assert.equal(stallReportMsFromEnvironment({}), DEFAULT_STALL_REPORT_MS);
  assert.equal(stallReportMsFromEnvironment({ TIDEFLOW_STALL_REPORT_MS: '10000' }), 10_000);
  assert.equal(stallReportMsFromEnvironment({ TIDEFLOW_STALL_REPORT_MS: 'soon' }), DEFAULT_STALL_REPORT_MS);
});
