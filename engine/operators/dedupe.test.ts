import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import type { DedupeStepSpec } from '../config/job';
import type { RecordBatch, Row } from '../runtime/batch';
import { emptyCounters, type LateRecord, type OperatorContext } from '../runtime/operator';
import { DedupeOperator } from './dedupe';

const HOUR = 3_600_000;
const spec: DedupeStepSpec = { kind: 'dedupe', id: 'dedupe', key: ['station', 't'], horizonMs: 2 * HOUR, at: { line: 1, col: 1 } };

function context() {
  const late: LateRecord[] = [];
  const ctx: OperatorContext = { counters: emptyCounters(), late: (r) => late.push(r), deadLetter: () => {}, emitTo: () => {} };
  return { ctx, late };
}

/** Batches with per-row watermarks = max(t before) - maxOutOfOrder, as the runtime assigns them. */
function batches(rows: Row[], sizes: number[], maxOutOfOrder: number): RecordBatch[] {
  const out: RecordBatch[] = [];
  let max = -Infinity;
  let i = 0;
  for (const size of sizes) {
    const part = rows.slice(i, i + size);
    const watermarks = new Float64Array(part.length);
    part.forEach((row, k) => {
      watermarks[k] = max - maxOutOfOrder;
      max = Math.max(max, row.t as number);
    });
    out.push({ rows: part, watermarks, watermark: max - maxOutOfOrder, offsets: new Float64Array(part.length), source: { partition: 'p', fromOffset: i, toOffset: i + part.length } });
    i += size;
  }
  return out;
}

function run(rows: Row[], sizes: number[], maxOutOfOrder = 0): { kept: Row[]; late: number; dups: number } {
  const op = new DedupeOperator(spec, 't');
  const { ctx, late } = context();
  const kept: Row[] = [];
  for (const batch of batches(rows, sizes, maxOutOfOrder)) kept.push(...op.process(batch, ctx).rows);
  return { kept, late: late.length, dups: ctx.counters.duplicatesDropped };
}

test('first arrival wins; repeats of (station, t) are dropped and counted', () => {
  const rows = [
    { station: 'A', t: 0, v: 1 },
    { station: 'B', t: 0, v: 2 },
    { station: 'A', t: 0, v: 99 }, // repeat: dropped even though v differs
    { station: 'A', t: 6, v: 3 },
  ];
  const result = run(rows, [4]);
  assert.deepEqual(result.kept, [rows[0], rows[1], rows[3]]);
  assert.equal(result.dups, 1);
});

test('a record older than the horizon behind the watermark goes to the late output, not through', () => {
  //  t:   0 ............ 3h ...
  //  wm after t=3h: 3h; horizon 2h -> a record at t=0 is 3h behind: cannot be judged
  const rows = [
    { station: 'A', t: 0 },
    { station: 'A', t: 3 * HOUR },
    { station: 'A', t: 0 },
    { station: 'A', t: 30 * 60_000 },
  ];
  const result = run(rows, [1, 1, 1, 1]);
  assert.deepEqual(result.kept, [rows[0], rows[1]]);
  assert.equal(result.late, 2);
  assert.equal(result.dups, 0);
});

test('snapshot/restore mid-stream equals never stopping', () => {
  const rows = [{ station: 'A', t: 0 }, { station: 'A', t: 60_000 }, { station: 'A', t: 0 }, { station: 'A', t: 60_000 }];
  const first = new DedupeOperator(spec, 't');
  const { ctx } = context();
  const [b1, b2] = batches(rows, [2, 2], 0);
  first.process(b1, ctx);
  const second = new DedupeOperator(spec, 't');
  second.restore(JSON.parse(JSON.stringify(first.snapshot())));
  assert.deepEqual(second.process(b2, ctx).rows, []);
});

const observation = fc.record({ station: fc.constantFrom('A', 'B', 'C'), t: fc.integer({ min: 0, max: 40 }).map((k) => k * 6 * 60_000) });

test('property: same output for any batch split', () => {
  fc.assert(
    fc.property(fc.array(observation, { maxLength: 200 }), fc.array(fc.integer({ min: 1, max: 50 }), { minLength: 1 }), (rows, cuts) => {
      const sizes: number[] = [];
      let left = rows.length;
      for (let k = 0; left > 0; k++) {
        const size = Math.min(cuts[k % cuts.length], left);
        sizes.push(size);
        left -= size;
      }
      assert.deepEqual(run(rows, sizes, 30 * 60_000), run(rows, [rows.length || 1], 30 * 60_000));
    }),
  );
});

test('property: dedupe is idempotent (feeding its output back in changes nothing)', () => {
  fc.assert(
    fc.property(fc.array(observation, { maxLength: 200 }), (rows) => {
      const once = run(rows, [rows.length || 1], 30 * 60_000).kept;
      const twice = run(once, [once.length || 1], 30 * 60_000).kept;
      assert.deepEqual(twice, once);
      const keys = new Set(once.map((r) => `${r.station}|${r.t}`));
      assert.equal(keys.size, once.length);
    }),
  );
});
