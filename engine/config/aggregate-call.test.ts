import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseAggregateCall } from './aggregate-call';

const USE = 'use one of count, sum, avg, min, max, range, first, last, stddev, time_of_max, time_of_min';

test('aggregate calls: fn(field), with the field and the function read exactly', () => {
  assert.deepEqual(parseAggregateCall('max(v)'), { ok: true, fn: 'max', field: 'v' });
  assert.deepEqual(parseAggregateCall('  time_of_min( v )'), { ok: true, fn: 'time_of_min', field: 'v' });
});

test('an unknown function: the closest spelling, or the aggregate another tool names so', () => {
  assert.deepEqual(parseAggregateCall('maxx(v)'), { ok: false, index: 0, message: `unknown aggregate function 'maxx' (did you mean 'max'?); ${USE}` });
  // By spelling alone 'mean' is closest to 'min'.
  assert.deepEqual(parseAggregateCall('mean(v)'), { ok: false, index: 0, message: `unknown aggregate function 'mean' (did you mean 'avg'?); ${USE}` });
  assert.deepEqual(parseAggregateCall(' Average(v)'), { ok: false, index: 1, message: `unknown aggregate function 'Average' (did you mean 'avg'?); ${USE}` });
  assert.deepEqual(parseAggregateCall('argmax(v)'), { ok: false, index: 0, message: `unknown aggregate function 'argmax' (did you mean 'time_of_max'?); ${USE}` });
  assert.deepEqual(parseAggregateCall('std(v)'), { ok: false, index: 0, message: `unknown aggregate function 'std' (did you mean 'stddev'?); ${USE}` });
  // An inherited property name is not an alias.
  assert.equal((parseAggregateCall('constructor(v)') as { message: string }).message.includes("did you mean 'function"), false);
});

test('malformed calls say what a call looks like', () => {
  assert.deepEqual(parseAggregateCall('max'), { ok: false, index: 0, message: 'aggregate must look like fn(field), e.g. max(v); got "max"' });
  assert.deepEqual(parseAggregateCall('max()'), { ok: false, index: 4, message: 'max() needs the field it reads, e.g. max(v)' });
  assert.deepEqual(parseAggregateCall('max(v + 1)'), { ok: false, index: 4, message: 'max(...) takes one field name (letters, digits, _), got "v + 1"' });
});
