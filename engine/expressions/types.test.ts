import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Expression } from './ast';
import { parseExpression } from './parse';
import { checkExpressionTypes, type ValueType } from './types';

const FIELDS: Record<string, ValueType> = { t: 'timestamp', window_start: 'timestamp', v: 'number', q: 'string', station: 'string' };

function check(text: string): { type: ValueType; problems: Array<{ message: string; index: number }> } {
  const parsed = parseExpression(text);
  if (!parsed.ok) assert.fail(`${text}: ${parsed.message}`);
  return checkExpressionTypes(parsed.expression as Expression, (name) => FIELDS[name] ?? 'unknown');
}

test('a timestamp compared with text is reported at the text, with the timestamp() to write', () => {
  assert.deepEqual(check("t > '2019-01-01'").problems, [
    {
      index: 4,
      message: "'t' is a timestamp (epoch milliseconds) and '2019-01-01' is text: they never compare, so '>' is always false; write timestamp('2019-01-01') instead of '2019-01-01'",
    },
  ]);
  // Either side, any comparison; != is always true; a time without a zone gets its Z.
  assert.deepEqual(check("'2019-01-01T00:00' != window_start").problems, [
    {
      index: 0,
      message:
        "'window_start' is a timestamp (epoch milliseconds) and '2019-01-01T00:00' is text: they never compare, so '!=' is always true; write timestamp('2019-01-01T00:00Z') instead of '2019-01-01T00:00'",
    },
  ]);
  assert.equal(check("t in ['2019-01-01', 5]").problems.length, 1);
  assert.deepEqual(check('t == q').problems, [
    {
      index: 2,
      message: "'t' is a timestamp (epoch milliseconds) and 'q' is text: they never compare, so '==' is always false; compare with timestamp('2019-01-01T00:00:00Z') or epoch milliseconds",
    },
  ]);
});

test('text next to a timestamp in arithmetic: the duration() or timestamp() meant', () => {
  assert.deepEqual(check("t > t - '30d'").problems, [{ index: 8, message: "'30d' is text, so the arithmetic gives null; write duration('30d') instead of '30d'" }]);
  assert.deepEqual(check("t - '2019-01-01' > 0").problems, [
    { index: 4, message: "'2019-01-01' is text, so the arithmetic gives null; write timestamp('2019-01-01') instead of '2019-01-01'" },
  ]);
});

test('what is right passes, and types follow the arithmetic', () => {
  for (const text of ["t > timestamp('2019-01-01')", "t >= timestamp('2019-01-01') + duration('1h')", 't > 1546300800000', "q == 'v'", 't != null', "station + '-' + q == 'x'"]) {
    assert.deepEqual(check(text).problems, [], text);
  }
  const cases: Array<[string, ValueType]> = [
    ["timestamp('2019-01-01') + duration('1h')", 'timestamp'],
    ["duration('1h') + t", 'timestamp'],
    ["t - timestamp('2019-01-01')", 'duration'],
    ["t - duration('1h')", 'timestamp'],
    ["duration('1h') * 2", 'duration'],
    ['coalesce(t, window_start)', 'timestamp'],
    ['max(t, window_start)', 'timestamp'],
    ['hour(t)', 'number'],
    ['upper(q)', 'string'],
    ['v > 1 ? t : null', 'timestamp'],
    ['v > 1 ? t : q', 'unknown'],
    ['position.t', 'unknown'],
  ];
  for (const [text, type] of cases) assert.equal(check(text).type, type, text);
});
