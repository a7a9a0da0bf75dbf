import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { AggregateSpec, WindowKindSpec, WindowStepSpec } from '../config/job';
import { StateIncompatibleError } from '../core/errors';
import type { RecordBatch, Row } from '../core/batch';
import { emptyCounters, type DeadLetter, type LateRecord, type OperatorContext } from '../core/operator';
import { LUNAR_DAY_MS } from '../windows/lunar-day';
import { WindowOperator } from './window';

// ---------------------------------------------------------------- helpers

function windowSpec(overrides: Partial<WindowStepSpec> = {}): WindowStepSpec {
  return {
    kind: 'window',
    id: 'w',
    key: ['station'],
    window: { kind: 'tumbling', sizeMs: 10, anchorMs: 0 },
    allowedLatenessMs: 0,
    emit: 'final',
    aggregates: [
      { name: 'count', fn: 'count', field: 'v' },
      { name: 'max', fn: 'max', field: 'v' },
    ],
    at: { line: 1, col: 1 },
    ...overrides,
  };
}

class TestContext implements OperatorContext {
  readonly counters = emptyCounters();
  readonly lateRecords: LateRecord[] = [];
  readonly deadLetters: DeadLetter[] = [];
  late(record: LateRecord): void {
    this.lateRecords.push(record);
  }
  deadLetter(letter: DeadLetter): void {
    // As the runtime does: the context counts dead letters, operators do not.
    this.counters.deadLetters++;
    this.deadLetters.push(letter);
  }
  emitTo(): void {
    throw new Error('the window operator never routes');
  }
  now(): number {
    return 0;
  }
  setTimer(): void {}
}

function batch(rows: Row[], watermarks: number[], watermark: number, fromOffset = 0): RecordBatch {
  return {
    rows,
    watermarks: Float64Array.from(watermarks),
    watermark,
    offsets: Float64Array.from(rows.map((_, i) => fromOffset + i)),
    source: { partition: 'test/0', fromOffset, toOffset: fromOffset + rows.length },
  };
}

/** Watermark in force before each row (max earlier event time - maxOutOfOrder), and after all of them. */
function watermarksFor(rows: Row[], maxOutOfOrder: number, before = -Infinity): { perRow: number[]; after: number } {
  let max = before + maxOutOfOrder;
  const perRow: number[] = [];
  for (const row of rows) {
    perRow.push(max - maxOutOfOrder);
    const t = row.t;
    if (typeof t === 'number' && t > max) max = t;
  }
  return { perRow, after: max - maxOutOfOrder };
}

interface RunResult {
  rows: Row[];
  late: LateRecord[];
  deadLetters: DeadLetter[];
  counters: ReturnType<typeof emptyCounters>;
  /** Rows per batch, to check what was emitted when. */
  perBatch: Row[][];
}

/**
 * Feed `rows` cut at `cuts` (row indices where a new batch begins), then the
 * end-of-input batch (watermark +infinity) and close(), like the runtime does.
 * At each index in `restartAt` the operator is snapshotted through JSON and
 * replaced by a fresh one restored from it.
 */
function run(spec: WindowStepSpec, rows: Row[], maxOutOfOrder: number, cuts: number[] = [], restartAt: number[] = []): RunResult {
  let operator = new WindowOperator(spec, 't');
  const context = new TestContext();
  const perBatch: Row[][] = [];
  const bounds = [0, ...[...new Set(cuts)].filter((c) => c > 0 && c < rows.length).sort((a, b) => a - b), rows.length];
  let maxSeen = -Infinity;
  let last: RecordBatch = batch([], [], -Infinity);
  for (let b = 0; b + 1 < bounds.length; b++) {
    if (restartAt.includes(bounds[b])) {
      const saved = JSON.parse(JSON.stringify(operator.snapshot()));
      operator = new WindowOperator(spec, 't');
      operator.restore(saved);
    }
    const slice = rows.slice(bounds[b], bounds[b + 1]);
    const { perRow, after } = watermarksFor(slice, maxOutOfOrder, maxSeen - maxOutOfOrder);
    maxSeen = after + maxOutOfOrder;
    last = batch(slice, perRow, after, bounds[b]);
    perBatch.push(operator.process(last, context).rows);
  }
  last = batch([], [], Infinity, rows.length);
  perBatch.push(operator.process(last, context).rows);
  perBatch.push(operator.close());
  return { rows: perBatch.flat(), late: context.lateRecords, deadLetters: context.deadLetters, counters: context.counters, perBatch };
}

/** Compact view of output rows for readable assertions. */
function summary(rows: Row[]): string[] {
  return rows.map((row) => {
    const fields = Object.entries(row).map(([name, value]) => `${name}=${value instanceof Date ? value.getTime() : String(value)}`);
    return fields.join(' ');
  });
}

const r = (station: string, t: number, v: number | null): Row => ({ station, t, v });

// ---------------------------------------------------------------- tumbling

describe('WindowOperator: tumbling', () => {
  it('emits one row per (key, window) when the watermark passes its end', () => {
    //  t:  0    10    20    30
    //      [-w0-)[-w1-)[-w2-)
    //      a  b   c      d        a, b, c: station A; d: station B (in w2)
    //  watermark = max event time so far - 9; after d it is 12: w0 closes, w1 stays open
    const operator = new WindowOperator(windowSpec(), 't');
    const context = new TestContext();
    const rows = [r('A', 1, 1.5), r('A', 4, 2.5), r('A', 12, 0.5), r('B', 21, 3)];
    const first = operator.process(batch(rows.slice(0, 3), [-Infinity, -8, -5], 3), context);
    assert.deepEqual(first.rows, []);
    const second = operator.process(batch(rows.slice(3), [3], 12, 3), context);
    assert.deepEqual(summary(second.rows), ['station=A window_start=0 window_end=10 count=2 max=2.5']);
    assert.ok(second.rows[0].window_start instanceof Date);
    assert.equal(second.watermark, 12);
    assert.deepEqual(second.watermarks, Float64Array.of(12));
    const end = operator.close();
    assert.deepEqual(summary(end), [
      'station=A window_start=10 window_end=20 count=1 max=0.5',
      'station=B window_start=20 window_end=30 count=1 max=3',
    ]);
  });

  it('orders a batch by window_end, window_start, then key', () => {
    //  t:  0    10    20
    //      [-w0-)[-w1-)
    //      b a   c b a        stations arrive in a scrambled order
    const rows = [r('B', 1, 1), r('A', 2, 1), r('C', 11, 1), r('B', 12, 1), r('A', 13, 1)];
    const result = run(windowSpec(), rows, 100);
    assert.deepEqual(
      result.rows.map((row) => `${row.station}@${(row.window_start as Date).getTime()}`),
      ['A@0', 'B@0', 'A@10', 'B@10', 'C@10'],
    );
  });

  it('null readings are counted and dropped; a window with only nulls has no row', () => {
    //  t:  0    10    20
    //      [-w0-)[-w1-)
    //      a  n   n           a: v 1; n: v null (w1 gets only nulls -> no row)
    const rows = [r('A', 1, 1), r('A', 3, null), r('A', 12, null), { station: 'A', t: 14 }];
    const result = run(windowSpec(), rows, 100);
    assert.deepEqual(summary(result.rows), ['station=A window_start=0 window_end=10 count=1 max=1']);
    assert.equal(result.counters.nullReadings, 3);
  });

  it('a null in one aggregate input still feeds the others', () => {
    const spec = windowSpec({
      aggregates: [
        { name: 'n_v', fn: 'count', field: 'v' },
        { name: 'n_s', fn: 'count', field: 's' },
        { name: 'avg_v', fn: 'avg', field: 'v' },
      ],
    });
    const result = run(spec, [{ station: 'A', t: 1, v: null, s: 0.1 }, { station: 'A', t: 2, v: 2, s: null }], 100);
    assert.deepEqual(summary(result.rows), ['station=A window_start=0 window_end=10 n_v=1 n_s=1 avg_v=2']);
    assert.equal(result.counters.nullReadings, 0);
  });

  it('a record for a closed window goes to the late output with the window it missed', () => {
    //  t:  0    10    20    30
    //      [-w0-)[-w1-)[-w2-)
    //      a          b       a 1, b 25 (watermark -> 25)
    //        c                c 5 arrives after b: w0 [0,10) closed at watermark 25
    const rows = [r('A', 1, 1), r('A', 25, 2), r('A', 5, 3)];
    const result = run(windowSpec(), rows, 0);
    assert.deepEqual(result.late, [
      { row: rows[2], operator: 'w', reason: 'window closed', windowStart: 0, windowEnd: 10, watermark: 25 },
    ]);
    assert.equal(result.counters.late, 1);
    assert.deepEqual(summary(result.rows), [
      'station=A window_start=0 window_end=10 count=1 max=1',
      'station=A window_start=20 window_end=30 count=1 max=2',
    ]);
  });

  it('the window end is exclusive for lateness too: watermark == end closes it', () => {
    //  t:  0    10    20
    //      [-w0-)[-w1-)
    //      a     b            b at 10 -> watermark 10 = end of w0: w0 is closed
    //         c               c at 5 is late
    const rows = [r('A', 1, 1), r('A', 10, 1), r('A', 5, 1)];
    assert.equal(run(windowSpec(), rows, 0).counters.late, 1);
    // One millisecond earlier the window is still open.
    assert.equal(run(windowSpec(), [r('A', 1, 1), r('A', 9, 1), r('A', 5, 1)], 0).counters.late, 0);
  });

  it('allowedLateness keeps a window open past its end', () => {
    //  t:  0    10    20    30
    //      [-w0-)[-w1-)[-w2-)
    //      a          b        b at 25: watermark 25; w0 closes at 10 + 20 = 30
    //         c                c at 5 is still accepted...
    //                     d e  ...d at 30 closes w0; e at 6 is late for it
    const spec = windowSpec({ allowedLatenessMs: 20 });
    const rows = [r('A', 1, 1), r('A', 25, 2), r('A', 5, 3), r('A', 30, 4), r('A', 6, 5)];
    const result = run(spec, rows, 0);
    assert.deepEqual(result.late.map((l) => [l.row.t, l.windowStart, l.windowEnd, l.watermark]), [[6, 0, 10, 30]]);
    assert.equal(summary(result.rows)[0], 'station=A window_start=0 window_end=10 count=2 max=3');
    // ...and the row came out in the batch where the watermark reached 30, not at 10.
    const cut = run(spec, rows, 0, [1, 2, 3, 4]);
    assert.deepEqual(summary(cut.perBatch[3]), ['station=A window_start=0 window_end=10 count=2 max=3']);
  });

  it('a record is counted late once even when it misses several hopping windows', () => {
    //  t:  0    5    10   15   20   25   30
    //      [---w0----)                             (size 10, slide 5)
    //           [---w1----)
    //                [---w2----)
    //                               a              a at 27: watermark 27 after it
    //                  b                           b at 12: w1 [5,15) and w2 [10,20) closed; b is late for both
    const spec = windowSpec({ window: { kind: 'hopping', sizeMs: 10, slideMs: 5, anchorMs: 0 } });
    const result = run(spec, [r('A', 27, 1), r('A', 12, 2)], 0);
    assert.deepEqual(result.late.map((l) => [l.windowStart, l.windowEnd]), [[5, 15], [10, 20]]);
    assert.equal(result.counters.late, 1);
  });

  it('a record late for one hopping window still counts in the open ones', () => {
    //  t:  0    5    10   15   20
    //      [---w0----)                  (size 10, slide 5)
    //           [---w1----)
    //                a                  a at 12: watermark 12
    //             b                     b at 8: w0 [0,10) closed (late), w1 [5,15) open (counted)
    const spec = windowSpec({ window: { kind: 'hopping', sizeMs: 10, slideMs: 5, anchorMs: 0 } });
    const result = run(spec, [r('A', 12, 1), r('A', 8, 2)], 0);
    assert.deepEqual(result.late.map((l) => [l.windowStart, l.windowEnd]), [[0, 10]]);
    assert.deepEqual(summary(result.rows), [
      'station=A window_start=5 window_end=15 count=2 max=2',
      'station=A window_start=10 window_end=20 count=1 max=1',
    ]);
  });

  it('records that cannot be placed go to dead letters (never silently dropped)', () => {
    const rows: Row[] = [{ station: 'A', t: 'noon', v: 1 }, { station: 'A', t: 1, v: 'high' }, r('A', 2, 1)];
    const result = run(windowSpec(), rows, 0);
    assert.deepEqual(
      result.deadLetters.map((d) => [d.reason, d.offset, d.stage]),
      [
        ["window 'w': event time field 't' is not an epoch-ms number", 0, 'w'],
        ["window 'w': field 'v' is not a number", 1, 'w'],
      ],
    );
    assert.equal(result.counters.deadLetters, 2);
    assert.equal(result.rows.length, 1);
  });

  it('keys on several fields, keeping the original values', () => {
    const spec = windowSpec({ key: ['station', 'sensor'] });
    const rows: Row[] = [
      { station: 'A', sensor: 1, t: 1, v: 1 },
      { station: 'A', sensor: '1', t: 2, v: 2 },
      { station: 'A', sensor: 1, t: 3, v: 3 },
    ];
    const result = run(spec, rows, 100);
    assert.deepEqual(result.rows.map((row) => [row.station, row.sensor, row.count]), [
      ['A', 1, 2],
      ['A', '1', 1],
    ]);
  });
});

// ---------------------------------------------------------------- emit modes

describe('WindowOperator: emit modes', () => {
  //  t:  0    10    20
  //      [-w0-)[-w1-)
  //      a b    c           batch 1: a, b   batch 2: c (watermark 11)   end
  const rows = [r('A', 1, 1), r('A', 2, 5), r('A', 11, 2)];

  it('final: one row per window, when it closes', () => {
    const result = run(windowSpec(), rows, 0, [2]);
    assert.deepEqual(result.perBatch.map(summary), [
      [],
      ['station=A window_start=0 window_end=10 count=2 max=5'],
      ['station=A window_start=10 window_end=20 count=1 max=2'],
      [],
    ]);
  });

  it('update: a row for each window changed in a batch, none at close unless changed', () => {
    const result = run(windowSpec({ emit: 'update' }), rows, 0, [1, 2]);
    assert.deepEqual(result.perBatch.map(summary), [
      ['station=A window_start=0 window_end=10 count=1 max=1'],
      ['station=A window_start=0 window_end=10 count=2 max=5'],
      ['station=A window_start=10 window_end=20 count=1 max=2'],
      [],
      [],
    ]);
  });

  it('update: the last row per window equals the final row (property)', () => {
    fc.assert(
      fc.property(rowsArbitrary, cutsArbitrary, (input, cuts) => {
        const spec = windowSpec({ aggregates: allAggregates });
        const final = run(spec, input, 7).rows;
        const updates = run({ ...spec, emit: 'update' }, input, 7, cuts).rows;
        const lastPerWindow = new Map<string, Row>();
        for (const row of updates) lastPerWindow.set(`${row.station}@${(row.window_start as Date).getTime()}`, row);
        const sorted = [...lastPerWindow.values()].sort(
          (a, b) => (a.window_end as Date).getTime() - (b.window_end as Date).getTime() || (a.station as string).localeCompare(b.station as string),
        );
        assert.deepEqual(sorted, final);
      }),
      { numRuns: 60 },
    );
  });
});

// ---------------------------------------------------------------- sessions

describe('WindowOperator: sessions', () => {
  const sessionSpec = (overrides: Partial<WindowStepSpec> = {}): WindowStepSpec =>
    windowSpec({ window: { kind: 'session', gapMs: 5 }, ...overrides });

  it('a bridging record merges two sessions', () => {
    //  t:  0    4    8    13
    //      a--->   c--->           a at 0 -> [0, 5); c at 8 -> [8, 13)
    //          b--->               b at 4 bridges them: one session [0, 13) with 3 records
    const result = run(sessionSpec(), [r('A', 0, 1), r('A', 8, 3), r('A', 4, 2)], 100);
    assert.deepEqual(summary(result.rows), ['station=A window_start=0 window_end=13 count=3 max=3']);
  });

  it('a silence of the gap or more starts a new session; keys are separate', () => {
    //  t:  0    5    10   15
    //      a--->a--->               A: 0 and 5 are exactly gap apart: two sessions
    //        b--->                  B: its own session
    const result = run(sessionSpec(), [r('A', 0, 1), r('B', 2, 1), r('A', 5, 1)], 100);
    assert.deepEqual(summary(result.rows), [
      'station=A window_start=0 window_end=5 count=1 max=1',
      'station=B window_start=2 window_end=7 count=1 max=1',
      'station=A window_start=5 window_end=10 count=1 max=1',
    ]);
  });

  it('closes when watermark >= last event + gap + allowedLateness', () => {
    //  t:  0    5    10   15   20
    //      a-b--->                   session [0, 7): last event 2, gap 5, lateness 3 -> closes at 10
    //                x y             x at 9 (watermark 9: still open); y at 10 (watermark 10: closed)
    const spec = sessionSpec({ allowedLatenessMs: 3 });
    const result = run(spec, [r('A', 0, 1), r('A', 2, 1), r('B', 9, 1), r('B', 10, 1)], 0, [1, 2, 3, 4]);
    assert.deepEqual(result.perBatch.map((rows) => rows.map((row) => `${row.station}@${(row.window_start as Date).getTime()}`)), [
      [],
      [],
      [],
      ['A@0'],
      ['B@9'],
      [],
    ]);
  });

  it('a record whose session already closed is late, with that session as the window', () => {
    //  t:  0    5    10   15   20
    //      a--->                     A: [0, 5), closed once the watermark reaches 5
    //                     w          w (station B) at 14 moves the watermark to 14
    //        b--->                   b at 2: its would-be session [2, 7) is past the watermark: late
    //                c---->          c at 9: [9, 14) is past too: late
    const result = run(sessionSpec(), [r('A', 0, 1), r('B', 14, 1), r('A', 2, 1), r('A', 9, 1)], 0);
    assert.deepEqual(
      result.late.map((l) => [l.row.t, l.windowStart, l.windowEnd, l.watermark]),
      [
        [2, 2, 7, 14],
        [9, 9, 14, 14],
      ],
    );
    assert.equal(result.counters.late, 2);
  });

  it('a record that would reopen an emitted session is late even if its own window is not', () => {
    //  t:  0    5    10   15
    //      a--->                     A: [0, 5) closes at watermark 5 + 3 (lateness 3) = 8
    //               w                w (station B) at 8 moves the watermark to 8: A's session is emitted
    //          b--->                 b at 4 would open [4, 9) and merge with the emitted [0, 5): late
    const spec = sessionSpec({ allowedLatenessMs: 3 });
    const result = run(spec, [r('A', 0, 1), r('B', 8, 1), r('A', 4, 1)], 0, [2]);
    assert.deepEqual(result.late.map((l) => [l.row.t, l.windowStart, l.windowEnd]), [[4, 0, 5]]);
    assert.deepEqual(summary(result.perBatch[0]), ['station=A window_start=0 window_end=5 count=1 max=1']);
    assert.equal(result.rows.filter((row) => row.station === 'A').length, 1);
  });

  it('an out-of-order record merges into an open session instead of being late', () => {
    //  t:  0    5    10   15   20
    //           a---a---a---->       A: events 5, 9, 13 -> one session [5, 18)
    //         b--->                  b at 3 arrives with watermark 9: its own [3, 8) is past, but it
    //                                joins the open session, which is not: accepted, session [3, 18)
    const rows = [r('A', 5, 1), r('A', 9, 1), r('A', 13, 1), r('A', 3, 7)];
    const result = run(sessionSpec(), rows, 4);
    assert.deepEqual(result.late, []);
    assert.deepEqual(summary(result.rows), ['station=A window_start=3 window_end=18 count=4 max=7']);
  });
});

// ---------------------------------------------------------------- lunar day, aggregates

describe('WindowOperator: lunar day (the reference job)', () => {
  const lunarAggregates: AggregateSpec[] = [
    { name: 'high', fn: 'max', field: 'v' },
    { name: 'high_time', fn: 'time_of_max', field: 'v' },
    { name: 'low', fn: 'min', field: 'v' },
    { name: 'low_time', fn: 'time_of_min', field: 'v' },
    { name: 'range', fn: 'range', field: 'v' },
    { name: 'mean', fn: 'avg', field: 'v' },
    { name: 'count', fn: 'count', field: 'v' },
  ];
  const anchor = Date.parse('2020-09-24T00:00:00Z');
  const spec = windowSpec({ window: { kind: 'lunarDay', mode: 'mean', anchorMs: anchor }, aggregates: lunarAggregates });

  it('produces the reference fields; high_time is the earliest time of the high, whatever the arrival order', () => {
    //  t:  A - L                A                   A + L
    //       [-------w-1--------)[--------w0--------)
    //                   p       q1   q2   q3        p just before the anchor; q2 and q3 share the high
    const q1 = anchor + 3_600_000;
    const q2 = anchor + 7_200_000;
    const q3 = anchor + 10_800_000;
    const rows = [r('8454000', q3, 1.25), r('8454000', anchor - 1, 0.5), r('8454000', q1, -0.5), r('8454000', q2, 1.25)];
    for (const order of [rows, [...rows].reverse()]) {
      const result = run(spec, order, 6 * 3_600_000);
      assert.equal(result.rows.length, 2);
      const [before, day] = result.rows;
      assert.deepEqual(Object.keys(day), ['station', 'window_start', 'window_end', 'high', 'high_time', 'low', 'low_time', 'range', 'mean', 'count']);
      assert.deepEqual(before.window_start, new Date(anchor - LUNAR_DAY_MS));
      assert.deepEqual(before.window_end, new Date(anchor));
      assert.deepEqual(day, {
        station: '8454000',
        window_start: new Date(anchor),
        window_end: new Date(anchor + LUNAR_DAY_MS),
        high: 1.25,
        high_time: new Date(q2),
        low: -0.5,
        low_time: new Date(q1),
        range: 1.75,
        mean: 2 / 3,
        count: 3,
      });
    }
  });

  it('transit mode: windows per station position, bad positions are dead letters', () => {
    const transit = windowSpec({ window: { kind: 'lunarDay', mode: 'transit', lonField: 'lon', latField: 'lat' } });
    const t = Date.parse('2020-09-24T04:18:00Z');
    const rows: Row[] = [
      { station: '8452660', lon: -71.3267, lat: 41.505, t, v: 1 },
      { station: '1612340', lon: -157.867, lat: 21.3067, t, v: 2 },
      { station: 'nowhere', t, v: 3 },
    ];
    const result = run(transit, rows, 0);
    assert.equal(result.rows.length, 2);
    for (const row of result.rows) {
      const start = (row.window_start as Date).getTime();
      const end = (row.window_end as Date).getTime();
      assert.ok(start <= t && t < end && Math.abs(end - start - 89_400_000) < 3_600_000);
    }
    assert.notDeepEqual(result.rows[0].window_start, result.rows[1].window_start);
    assert.equal(result.deadLetters.length, 1);
    assert.match(result.deadLetters[0].reason, /longitude/);
  });
});

// ---------------------------------------------------------------- state

describe('WindowOperator: state', () => {
  it('stateKey changes with kind, size, anchor, gap, key and aggregates, not with lateness or emit mode', () => {
    const key = (overrides: Partial<WindowStepSpec>): string => new WindowOperator(windowSpec(overrides), 't').stateKey;
    const base = key({});
    const kinds: WindowKindSpec[] = [
      { kind: 'tumbling', sizeMs: 20, anchorMs: 0 },
      { kind: 'tumbling', sizeMs: 10, anchorMs: 1 },
      { kind: 'hopping', sizeMs: 10, slideMs: 10, anchorMs: 0 },
      { kind: 'session', gapMs: 10 },
      { kind: 'lunarDay', mode: 'mean', anchorMs: 0 },
    ];
    const changed = [
      ...kinds.map((window) => key({ window })),
      key({ key: ['name'] }),
      key({ key: [] }),
      key({ aggregates: [{ name: 'count', fn: 'count', field: 'v' }] }),
      key({ aggregates: [{ name: 'count', fn: 'count', field: 'v' }, { name: 'max', fn: 'min', field: 'v' }] }),
    ];
    assert.equal(new Set([base, ...changed]).size, changed.length + 1);
    assert.equal(key({ allowedLatenessMs: 99 }), base);
    assert.equal(key({ emit: 'update' }), base);
  });

  it('snapshot/restore mid-stream equals never stopping (through JSON, ±Infinity included)', () => {
    //  t:  0    10    20    30
    //      [-w0-)[-w1-)[-w2-)
    //      a b   c |   d          restart at "|": w1 is open with -Infinity in it
    const spec = windowSpec({
      aggregates: [
        { name: 'min', fn: 'min', field: 'v' },
        { name: 'sum', fn: 'sum', field: 'v' },
        { name: 'first', fn: 'first', field: 'v' },
      ],
    });
    const rows = [r('A', 1, 1), r('A', 2, Infinity), r('A', 11, -Infinity), r('A', 11, 4), r('B', 21, 1)];
    const straight = run(spec, rows, 0);
    const restarted = run(spec, rows, 0, [3], [3]);
    assert.deepEqual(restarted.rows, straight.rows);
    assert.deepEqual(summary(straight.rows)[1], 'station=A window_start=10 window_end=20 min=-Infinity sum=-Infinity first=-Infinity');
  });

  it('a different window has another state key (the runtime refuses its state); an unknown snapshot layout is refused', () => {
    const operator = new WindowOperator(windowSpec(), 't');
    const other = new WindowOperator(windowSpec({ window: { kind: 'tumbling', sizeMs: 20, anchorMs: 0 } }), 't');
    assert.notEqual(other.stateKey, operator.stateKey);
    assert.match(operator.stateKey, /^window\/v1:/);
    assert.throws(() => other.restore({ format: 99 }), (error: unknown) => error instanceof StateIncompatibleError && /unknown format/.test(error.message));
  });
});

// ---------------------------------------------------------------- properties

const allAggregates: AggregateSpec[] = [
  { name: 'count', fn: 'count', field: 'v' },
  { name: 'sum', fn: 'sum', field: 'v' },
  { name: 'avg', fn: 'avg', field: 'v' },
  { name: 'min', fn: 'min', field: 'v' },
  { name: 'max', fn: 'max', field: 'v' },
  { name: 'range', fn: 'range', field: 'v' },
  { name: 'first', fn: 'first', field: 'v' },
  { name: 'last', fn: 'last', field: 'v' },
  { name: 'stddev', fn: 'stddev', field: 'v' },
  { name: 'time_of_max', fn: 'time_of_max', field: 'v' },
  { name: 'time_of_min', fn: 'time_of_min', field: 'v' },
];

// Few stations, a narrow time range and repeated values, so that windows
// collide, ties happen and some records come late.
const rowsArbitrary = fc.array(
  fc.record({
    station: fc.constantFrom('A', 'B', 'C'),
    t: fc.integer({ min: -40, max: 60 }),
    v: fc.oneof(fc.constant(null), fc.integer({ min: -3, max: 3 }), fc.double({ min: -10, max: 10, noNaN: true })),
  }),
  { maxLength: 60 },
);
const cutsArbitrary = fc.array(fc.integer({ min: 1, max: 59 }), { maxLength: 8 });

describe('WindowOperator: output is identical for any batch split and restarts (property)', () => {
  const kinds: Array<[string, WindowKindSpec, number]> = [
    ['tumbling', { kind: 'tumbling', sizeMs: 10, anchorMs: 3 }, 0],
    ['hopping', { kind: 'hopping', sizeMs: 10, slideMs: 4, anchorMs: -1 }, 5],
    ['session', { kind: 'session', gapMs: 4 }, 2],
  ];
  for (const [name, window, allowedLatenessMs] of kinds) {
    it(name, () => {
      fc.assert(
        fc.property(rowsArbitrary, fc.integer({ min: 0, max: 15 }), cutsArbitrary, cutsArbitrary, (rows, maxOutOfOrder, cuts, restarts) => {
          const spec = windowSpec({ window, allowedLatenessMs, aggregates: allAggregates });
          const whole = run(spec, rows, maxOutOfOrder);
          const split = run(spec, rows, maxOutOfOrder, [...cuts, ...restarts], restarts);
          assert.deepEqual(split.rows, whole.rows);
          assert.deepEqual(split.late, whole.late);
          assert.deepEqual(split.counters, whole.counters);
          // Accounting: every record is a null reading, late, or in at least one window.
          const placed = new Set<Row>();
          for (const row of rows) if (row.v !== null && !whole.late.some((l) => l.row === row)) placed.add(row);
          assert.equal(whole.counters.nullReadings, rows.filter((row) => row.v === null).length);
          if (name !== 'hopping') {
            const counted = whole.rows.reduce((n, row) => n + (row.count as number), 0);
            assert.equal(counted, placed.size);
          }
        }),
        { numRuns: 150 },
      );
    });
  }
});
