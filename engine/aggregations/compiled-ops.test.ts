import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { AggregateFunction } from '../config/job';
import { compileAccumulatorOps } from './compiled-ops';
import { aggregateFunctions, createAggregation } from './create-aggregation';

/** The plain loop the compiled operations replace: the reference they must match bit for bit. */
function loopOps(fns: AggregateFunction[], fieldOf: number[], values: Float64Array) {
  const aggregations = fns.map(createAggregation);
  const offsets: number[] = [];
  let slots = 0;
  for (const aggregation of aggregations) {
    offsets.push(slots);
    slots += aggregation.slots;
  }
  return {
    aggregations,
    offsets,
    slots,
    add(state: Float64Array, eventTime: number, arrival: number, base = 0) {
      aggregations.forEach((aggregation, i) => {
        const value = values[fieldOf[i]];
        if (value === value) aggregation.add(state, base + offsets[i], value, eventTime, arrival);
      });
    },
    merge(into: Float64Array, from: Float64Array, fromBase = 0) {
      aggregations.forEach((aggregation, i) => aggregation.merge(into, offsets[i], from, fromBase + offsets[i]));
    },
    reset(state: Float64Array, base = 0) {
      aggregations.forEach((aggregation, i) => aggregation.init(state, base + offsets[i]));
      return state;
    },
  };
}

const reading = fc.oneof(fc.constant(Number.NaN), fc.double({ min: -1e9, max: 1e9, noNaN: true }), fc.integer({ min: -5, max: 5 }));

describe('compileAccumulatorOps', () => {
  it('adds, merges and resets exactly as the loop over the aggregations does, at any base (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ fn: fc.constantFrom(...aggregateFunctions), field: fc.integer({ min: 0, max: 2 }) }), { minLength: 1, maxLength: 6 }),
        fc.array(fc.tuple(reading, reading, reading, fc.integer({ min: 0, max: 1e12 })), { maxLength: 12 }),
        fc.integer({ min: 0, max: 3 }),
        fc.integer({ min: 0, max: 11 }),
        (specs, rows, base, split) => {
          const values = new Float64Array(3);
          const fns = specs.map((spec) => spec.fn);
          const fieldOf = specs.map((spec) => spec.field);
          const reference = loopOps(fns, fieldOf, values);
          const compiled = compileAccumulatorOps(reference.aggregations, reference.offsets, fieldOf, values);
          const at = base * reference.slots;
          const size = (base + 1) * reference.slots;
          // Two accumulators each, filled from the two halves of the rows, then merged.
          const [expectedA, expectedB, actualA, actualB] = [0, 1, 2, 3].map(() => new Float64Array(size).fill(7));
          reference.reset(expectedA, at);
          reference.reset(expectedB, at);
          compiled.reset(actualA, at);
          compiled.reset(actualB, at);
          assert.deepEqual(actualA, expectedA);
          rows.forEach(([v0, v1, v2, t], i) => {
            values.set([v0, v1, v2]);
            reference.add(i < split ? expectedA : expectedB, t, i, at);
            compiled.add(i < split ? actualA : actualB, t, i, at);
          });
          assert.deepEqual(actualA, expectedA);
          assert.deepEqual(actualB, expectedB);
          const expectedMerged = reference.reset(new Float64Array(reference.slots));
          const actualMerged = compiled.reset(new Float64Array(reference.slots));
          reference.merge(expectedMerged, expectedA, at);
          reference.merge(expectedMerged, expectedB, at);
          compiled.merge(actualMerged, actualA, at);
          compiled.merge(actualMerged, actualB, at);
          assert.deepEqual(actualMerged, expectedMerged);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('defaults base to 0', () => {
    const values = new Float64Array([2.5]);
    const max = createAggregation('max');
    const ops = compileAccumulatorOps([max], [0], [0], values);
    const acc = ops.reset(new Float64Array(max.slots));
    ops.add(acc, 0, 0);
    assert.equal(max.result(acc, 0), 2.5);
  });
});
