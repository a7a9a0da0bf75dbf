import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import type { DedupeStepSpec } from '../config/job';
import type { RecordBatch, Row } from '../core/batch';
import { emptyCounters, type LateRecord, type OperatorContext } from '../core/operator';
import { keyIdOfRow } from '../core/row-keys';
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

// ---- two-level keys against the one key text per key they stand for (core/row-keys.ts)

/** Dedupe with one Map from keyIdOfRow text to first arrival: what the operator's two-level keys must equal. */
function keyTextReference(rows: Row[], sizes: number[], key: string[], maxOutOfOrder: number): { kept: Row[]; late: number; dups: number; texts: Array<[string, number]> } {
  return mapReference(rows, sizes, maxOutOfOrder, (row) => keyIdOfRow(row, key));
}

/** The operator as it was before its keys were core/row-keys.ts keys: `String(part)` joined by NUL. */
function oldTextReference(rows: Row[], sizes: number[], key: string[], maxOutOfOrder: number): { kept: Row[]; late: number; dups: number; texts: Array<[string, number]> } {
  return mapReference(rows, sizes, maxOutOfOrder, (row) => key.map((field) => String(row[field])).join('\u0000'));
}

function mapReference(rows: Row[], sizes: number[], maxOutOfOrder: number, textOf: (row: Row) => string) {
  const seen = new Map<string, number>();
  const kept: Row[] = [];
  let late = 0;
  let dups = 0;
  for (const batch of batches(rows, sizes, maxOutOfOrder)) {
    batch.rows.forEach((row, i) => {
      const t = row.t as number;
      if (t + spec.horizonMs <= batch.watermarks[i]) late++;
      else {
        const text = textOf(row);
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

/** Key parts of every kind that print alike or not: numeric texts, -0, NaN, separators and tags inside strings, null, absent, dates. */
const keyPart = fc.oneof(
  fc.constantFrom<unknown>('A', 'B', '5', '-0', '0', 'NaN', 'null', '', 'a\u001fb', '\u001f', 'b\u001f', '\u0000number:5', '\u0000null', '\u0000x', 'a\u0000b'),
  fc.constantFrom<unknown>(5, 0, -0, NaN, 1.5, 1e21, null, undefined, true, new Date(5), new Date(5)),
);
const keyedRow = fc.record({ s: keyPart, u: keyPart, t: fc.integer({ min: 0, max: 30 }).map((k) => k * 6 * 60_000) });
const keyFields = fc.constantFrom<string[]>(['s'], ['t'], ['s', 'u'], ['s', 't'], ['u', 's', 't'], ['t', 's'], ['u']);

/** Run `rows` in one batch, or cut after `cut` rows with a snapshot in between restored as `restore` says. */
function runCut(keyedSpec: DedupeStepSpec, rows: Row[], cut: number, restore: (first: DedupeOperator, head: Row[]) => unknown): Row[] {
  const first = new DedupeOperator(keyedSpec, 't');
  const all = batches(rows, cut > 0 && cut < rows.length ? [cut, rows.length - cut] : [rows.length || 1], 30 * 60_000);
  const head = cut > 0 ? rows.slice(0, cut) : [];
  const headKept = cut > 0 ? first.process(all[0], context().ctx).rows : [];
  const tailBatch = cut > 0 ? all[1] : all[0];
  const second = new DedupeOperator(keyedSpec, 't');
  second.restore(JSON.parse(JSON.stringify(restore(first, head))));
  const tailKept = tailBatch && cut < rows.length ? second.process(tailBatch, context().ctx).rows : [];
  return [...headKept, ...tailKept];
}

test('property: two-level keys drop exactly what one key text per key drops, and restore from their snapshot', () => {
  fc.assert(
    fc.property(fc.array(keyedRow, { maxLength: 120 }), keyFields, fc.nat(), (rows, key, cutAt) => {
      const keyedSpec: DedupeStepSpec = { ...spec, key };
      const reference = keyTextReference(rows, [rows.length || 1], key, 30 * 60_000);
      const op = new DedupeOperator(keyedSpec, 't');
      const { ctx, late } = context();
      const kept = batches(rows, [rows.length || 1], 30 * 60_000).flatMap((batch) => op.process(batch, ctx).rows);
      assert.deepEqual({ kept, late: late.length, dups: ctx.counters.duplicatesDropped }, { kept: reference.kept, late: reference.late, dups: reference.dups });
      // Nothing expires within 30 six-minute steps of a 2 h horizon... except what the sweep dropped: every entry left is one of the texts.
      const snapshot = op.snapshot() as { format: number; entries: Array<[string, number]> };
      assert.equal(snapshot.format, 2);
      const texts = new Map(reference.texts);
      for (const [text, t] of snapshot.entries) assert.equal(texts.get(text), t, `snapshot entry ${JSON.stringify(text)}`);
      assert.equal(op.size, snapshot.entries.length);

      // Stop after `cut` rows, go on from a snapshot: the operator's own, and one written as key texts.
      const cut = rows.length === 0 ? 0 : cutAt % (rows.length + 1);
      assert.deepEqual(runCut(keyedSpec, rows, cut, (first) => first.snapshot()), reference.kept);
      const fromTexts = (_first: DedupeOperator, head: Row[]) => ({ format: 2, entries: keyTextReference(head, [head.length || 1], key, 30 * 60_000).texts });
      assert.deepEqual(runCut(keyedSpec, rows, cut, fromTexts), reference.kept);
    }),
    { numRuns: 300 },
  );
});

/** Parts as a job's fields hold them: each field one type (strings, numbers or null), strings without NUL. */
const typedRow = fc.record({
  s: fc.constantFrom('A', 'B', '5', '0', 'NaN', 'null', '', 'a\u001fb', '8454000'),
  u: fc.constantFrom(5, 0, -0, NaN, 1.5, 8454000, null),
  t: fc.integer({ min: 0, max: 30 }).map((k) => k * 6 * 60_000),
});

test('property: a checkpoint written before keys were row keys restores: the same rows as the old operator never stopped', () => {
  fc.assert(
    fc.property(fc.array(typedRow, { maxLength: 120 }), keyFields, fc.nat(), (rows, key, cutAt) => {
      const keyedSpec: DedupeStepSpec = { ...spec, key };
      const old = oldTextReference(rows, [rows.length || 1], key, 30 * 60_000);
      const cut = rows.length === 0 ? 0 : cutAt % (rows.length + 1);
      // The old operator's snapshot: { entries: [String(part) joined by NUL, event time][] }, no format.
      const oldSnapshot = (_first: DedupeOperator, head: Row[]) => ({ entries: oldTextReference(head, [head.length || 1], key, 30 * 60_000).texts });
      assert.deepEqual(runCut(keyedSpec, rows, cut, oldSnapshot), old.kept);
      // ...and a checkpoint of the restored operator, taken before the old entries expired, restores too.
      const twice = (_first: DedupeOperator, head: Row[]) => {
        const restored = new DedupeOperator(keyedSpec, 't');
        restored.restore(oldSnapshot(_first, head));
        return restored.snapshot();
      };
      assert.deepEqual(runCut(keyedSpec, rows, cut, twice), old.kept);
    }),
    { numRuns: 300 },
  );
});

test('a checkpoint written by the operator before row keys (format 1) restores: its keys are still repeats, until they expire', () => {
  // Written by the dedupe operator before this change (same stateKey), after the first four rows below.
  const T0 = Date.UTC(2024, 0, 1);
  const M = 6 * 60_000;
  const saved = {
    entries: [
      ['8454000\u00001704067200000', 1704067200000],
      ['8454000\u00001704067560000', 1704067560000],
      ['9414290\u00001704067200000', 1704067200000],
    ],
  };
  const restored = new DedupeOperator(spec, 't');
  assert.equal(restored.stateKey, 'dedupe:v1:key=station,t:horizon=7200000:time=t', 'the state key the checkpoint was saved under');
  restored.restore(JSON.parse(JSON.stringify(saved)));
  assert.equal(restored.size, 3);
  const tail = [
    { station: '8454000', t: T0 + M, v: 1.2 }, // repeats
    { station: '9414290', t: T0, v: 2.1 },
    { station: '9414290', t: T0 + M, v: 2.2 }, // new
    { station: '9414290', t: T0 + M, v: 2.2 }, // repeat of the row before
  ];
  const { ctx } = context();
  const watermarks = new Float64Array(tail.length).fill(T0 - 30 * 60_000);
  const batch: RecordBatch = { rows: tail, watermarks, watermark: T0 - 30 * 60_000, offsets: new Float64Array(tail.length), source: { partition: 'p', fromOffset: 4, toOffset: 8 } };
  assert.deepEqual(restored.process(batch, ctx).rows, [tail[2]]);
  assert.equal(ctx.counters.duplicatesDropped, 3);
  // The old entries go with the new ones in the next snapshot, and are forgotten after the horizon like them.
  const next = restored.snapshot() as { format: number; entries: Array<[string, number]>; legacy?: Array<[string, number]> };
  assert.deepEqual(next.entries, [[keyIdOfRow(tail[2], spec.key), T0 + M]]);
  assert.deepEqual(next.legacy, saved.entries);
  restored.onWatermark(T0 + M + spec.horizonMs);
  assert.equal(restored.size, 0);
  assert.deepEqual(restored.snapshot(), { format: 2, entries: [] });
});

test('keys are typed: 5 and "5", null and "null" differ; an absent field is null; a date is its instant; separators inside parts are no collision', () => {
  const keyed = new DedupeOperator({ ...spec, key: ['s', 'u'] }, 't');
  const rows: Row[] = [
    { s: 'B', u: 5, t: 0 },
    { s: 'B', u: '5', t: 0 }, // a string, not the number before it
    { s: 'C', u: null, t: 0 },
    { s: 'C', u: 'null', t: 0 },
    { s: 'C', t: 0 }, // absent: the null two rows up
    { s: 'D', u: new Date(7), t: 0 },
    { s: 'D', u: new Date(7), t: 0 }, // another Date object, the same instant
    { s: 'A', u: 'a\u0000b', t: 0 },
    { s: 'A\u0000a', u: 'b', t: 0 }, // NUL is no separator
  ];
  const kept = [rows[0], rows[1], rows[2], rows[3], rows[5], rows[7], rows[8]];
  const [before, after] = batches([...rows, ...rows], [rows.length, rows.length], 0);
  assert.deepEqual(keyed.process(before, context().ctx).rows, kept);
  const restored = new DedupeOperator({ ...spec, key: ['s', 'u'] }, 't');
  restored.restore(JSON.parse(JSON.stringify(keyed.snapshot())));
  assert.deepEqual(restored.process(after, context().ctx).rows, []);
  assert.equal(restored.size, kept.length);
});
