import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import type { DedupeStepSpec } from '../config/job';
import type { RecordBatch, Row } from '../core/batch';
import { emptyCounters, type LateRecord, type OperatorContext } from '../core/operator';
import { DedupeOperator } from './dedupe';

const HOUR = 3_600_000;
const spec: DedupeStepSpec = { kind: 'dedupe', id: 'dedupe', key: ['station', 't'], horizonMs: 2 * HOUR, at: { line: 1, col: 1 } };

function context() {
  const late: LateRecord[] = [];
  const ctx: OperatorContext = { counters: emptyCounters(), late: (r) => late.push(r), deadLetter: () => {}, emitTo: () => {}, now: () => 0, setTimer: () => {} };
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

// ---- two-level keys against the key texts they replace

/** The operator as it was written before keys went two-level: one text per key, `String(part)` joined by NUL. */
function textKeyReference(rows: Row[], sizes: number[], key: string[], maxOutOfOrder: number): { kept: Row[]; late: number; dups: number; texts: Array<[string, number]> } {
  const seen = new Map<string, number>();
  const kept: Row[] = [];
  let late = 0;
  let dups = 0;
  for (const batch of batches(rows, sizes, maxOutOfOrder)) {
    batch.rows.forEach((row, i) => {
      const t = row.t as number;
      if (t + spec.horizonMs <= batch.watermarks[i]) late++;
      else {
        const text = key.map((field) => String(row[field])).join('\u0000');
        const first = seen.get(text);
        // Remembered until the row's watermark passes the first arrival's event time + horizon.
        if (first !== undefined && first + spec.horizonMs > batch.watermarks[i]) dups++;
        else {
          seen.set(text, t);
          kept.push(row);
        }
      }
    });
  }
  return { kept, late, dups, texts: Array.from(seen) };
}

/** Key parts of every kind that print alike or not: numeric texts, -0, NaN, NULs inside, null. */
const keyPart = fc.oneof(
  fc.constantFrom<unknown>('A', 'B', '5', '-0', '0', 'NaN', '1e+21', 'a\u0000b', '\u0000', 'b\u0000', ''),
  fc.constantFrom<unknown>(5, 0, -0, NaN, 1.5, 1e21, null),
);
const keyedRow = fc.record({ s: keyPart, u: keyPart, t: fc.integer({ min: 0, max: 30 }).map((k) => k * 6 * 60_000) });
const keyFields = fc.constantFrom<string[]>(['s'], ['t'], ['s', 'u'], ['s', 't'], ['u', 's', 't'], ['t', 's']);

test('property: two-level keys drop exactly what one text per key drops, and restore from either kind of snapshot', () => {
  fc.assert(
    fc.property(fc.array(keyedRow, { maxLength: 120 }), keyFields, fc.nat(), (rows, key, cutAt) => {
      const keyedSpec: DedupeStepSpec = { ...spec, key };
      const reference = textKeyReference(rows, [rows.length || 1], key, 30 * 60_000);
      const whole = (() => {
        const op = new DedupeOperator(keyedSpec, 't');
        const { ctx, late } = context();
        const kept = batches(rows, [rows.length || 1], 30 * 60_000).flatMap((batch) => op.process(batch, ctx).rows);
        return { kept, late: late.length, dups: ctx.counters.duplicatesDropped, size: op.size, entries: (op.snapshot() as { entries: Array<[string, number]> }).entries };
      })();
      assert.deepEqual({ kept: whole.kept, late: whole.late, dups: whole.dups }, { kept: reference.kept, late: reference.late, dups: reference.dups });
      // Nothing expires within 30 six-minute steps of a 2 h horizon... except what the sweep dropped: every entry left is one of the texts.
      const texts = new Map(reference.texts);
      for (const [text, t] of whole.entries) assert.equal(texts.get(text), t, `snapshot entry ${JSON.stringify(text)}`);
      assert.equal(whole.size, whole.entries.length);

      // Stop after `cut` rows, go on from a snapshot (the operator's own, and one written with texts, as before).
      const cut = rows.length === 0 ? 0 : cutAt % (rows.length + 1);
      const [head, tail] = [rows.slice(0, cut), rows.slice(cut)];
      const first = new DedupeOperator(keyedSpec, 't');
      const { ctx } = context();
      const all = batches(rows, cut > 0 && cut < rows.length ? [cut, rows.length - cut] : [rows.length || 1], 30 * 60_000);
      const headKept = cut > 0 ? first.process(all[0], ctx).rows : [];
      const tailBatch = cut > 0 ? all[1] : all[0];
      const fromOwn = new DedupeOperator(keyedSpec, 't');
      fromOwn.restore(JSON.parse(JSON.stringify(first.snapshot())));
      const fromTexts = new DedupeOperator(keyedSpec, 't');
      fromTexts.restore({ entries: textKeyReference(head, [head.length || 1], key, 30 * 60_000).texts });
      for (const restored of [fromOwn, fromTexts]) {
        const kept = tailBatch && tail.length > 0 ? restored.process(tailBatch, context().ctx).rows : [];
        assert.deepEqual([...headKept, ...kept], reference.kept);
      }
    }),
    { numRuns: 300 },
  );
});

test('a key part holding NUL or printing like a number is the same key after a restore', () => {
  const keyed = new DedupeOperator({ ...spec, key: ['s', 'u'] }, 't');
  const rows = [
    { s: 'A', u: 'a\u0000b', t: 0 },
    { s: 'A\u0000a', u: 'b', t: 0 }, // the same key text as the row before: one key, as it always was
    { s: 'B', u: 5, t: 0 },
    { s: 'B', u: '5', t: 0 }, // prints as the number before it
  ];
  const [before, after] = batches([...rows, ...rows], [4, 4], 0);
  assert.deepEqual(keyed.process(before, context().ctx).rows, [rows[0], rows[2]]);
  const restored = new DedupeOperator({ ...spec, key: ['s', 'u'] }, 't');
  restored.restore(JSON.parse(JSON.stringify(keyed.snapshot())));
  assert.deepEqual(restored.process(after, context().ctx).rows, []);
  assert.equal(restored.size, 2);
});
