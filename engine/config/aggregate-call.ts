import type { AggregateFunction } from './job';
import { didYouMean } from './did-you-mean';

/** Every aggregate a window can compute, as written in job files. */
export const AGGREGATE_FUNCTIONS: readonly AggregateFunction[] = [
  'count',
  'sum',
  'avg',
  'min',
  'max',
  'range',
  'first',
  'last',
  'stddev',
  'time_of_max',
  'time_of_min',
];

/**
 * What each aggregate gives, for the job-file reference (docs/reference.md).
 * Every aggregate skips records whose field is null and gives null for a
 * window without a value (SQL semantics).
 */
export const AGGREGATE_DESCRIPTIONS: Readonly<Record<AggregateFunction, string>> = {
  count: 'How many records had a value (not null) in the field; a whole number.',
  sum: 'Sum of the values.',
  avg: 'Arithmetic mean of the values.',
  min: 'Smallest value.',
  max: 'Largest value.',
  range: '`max - min`.',
  first: 'The value with the earliest event time (of equal times, the first to arrive).',
  last: 'The value with the latest event time (of equal times, the first to arrive).',
  stddev: 'Sample standard deviation (divides by n - 1, as SQL `STDDEV`); null for fewer than two values.',
  time_of_max: 'Earliest event time at which the largest value occurs; a timestamp.',
  time_of_min: 'Earliest event time at which the smallest value occurs; a timestamp.',
};

/**
 * What other tools call some of them (SQL, Spark, pandas): spelling alone
 * would suggest `min` for `mean`, so these name the aggregate meant.
 */
const OTHER_NAMES: Readonly<Record<string, AggregateFunction>> = {
  mean: 'avg',
  average: 'avg',
  total: 'sum',
  minimum: 'min',
  maximum: 'max',
  std: 'stddev',
  stdev: 'stddev',
  stddev_samp: 'stddev',
  argmax: 'time_of_max',
  argmin: 'time_of_min',
};

export type AggregateCallResult =
  | { ok: true; fn: AggregateFunction; field: string }
  | { ok: false; message: string; /** Offset in the text the message is about. */ index: number };

const CALL = /^(\s*)([A-Za-z_][A-Za-z0-9_]*)(\s*)\((\s*)([^()]*?)(\s*)\)\s*$/;
const FIELD = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Parse an aggregate written as `fn(field)`.
 *
 * @example
 * parseAggregateCall('max(v)');  // { ok: true, fn: 'max', field: 'v' }
 * parseAggregateCall('maxx(v)'); // { ok: false, message: "unknown aggregate function 'maxx' (did you mean 'max'?)...", index: 0 }
 */
export function parseAggregateCall(text: string): AggregateCallResult {
  const match = CALL.exec(text);
  if (match === null) {
    return { ok: false, index: 0, message: `aggregate must look like fn(field), e.g. max(v); got ${JSON.stringify(text)}` };
  }
  const [, lead, name, space, innerLead, field] = match;
  const fn = name as AggregateFunction;
  if (!AGGREGATE_FUNCTIONS.includes(fn)) {
    return {
      ok: false,
      index: lead.length,
      message: `unknown aggregate function '${name}'${meant(name)}; use one of ${AGGREGATE_FUNCTIONS.join(', ')}`,
    };
  }
  const fieldIndex = lead.length + name.length + space.length + 1 + innerLead.length;
  if (field === '') return { ok: false, index: fieldIndex, message: `${name}() needs the field it reads, e.g. ${name}(v)` };
  if (!FIELD.test(field)) {
    return { ok: false, index: fieldIndex, message: `${name}(...) takes one field name (letters, digits, _), got ${JSON.stringify(field)}` };
  }
  return { ok: true, fn, field };
}

/** ` (did you mean 'avg'?)` for a name another tool uses, else the closest spelling. */
function meant(name: string): string {
  const other = Object.prototype.hasOwnProperty.call(OTHER_NAMES, name.toLowerCase()) ? OTHER_NAMES[name.toLowerCase()] : undefined;
  return other !== undefined ? ` (did you mean '${other}'?)` : didYouMean(name, AGGREGATE_FUNCTIONS);
}
