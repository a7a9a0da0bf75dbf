import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { ConfigError } from '../core/errors';
import type { Row } from '../core/batch';
import { compileExpression, compileStepExpression, isTruthy } from './compile';
import { roundHalfAwayFromZero, roundMagnitudeByDecimalShift } from './functions';
import { parseExpression } from './parse';

const ROW: Row = {
  station: '8454000',
  v: 1.5,
  s: null,
  zero: 0,
  neg: -2.5,
  q: 'p',
  f: 'ABC',
  empty: '',
  yes: true,
  no: false,
  t: Date.UTC(2020, 8, 24, 4, 18), // 2020-09-24T04:18Z
  position: { lat: 41.8, lon: -71.4, deep: { x: 7 } },
  list: [1, 2, 3],
};

function evaluate(text: string, row: Row = ROW): unknown {
  const parsed = parseExpression(text);
  if (!parsed.ok) assert.fail(`${JSON.stringify(text)} should parse: ${parsed.message}`);
  return compileExpression(parsed.expression)(row);
}

function check(cases: Array<[string, unknown]>, row: Row = ROW): void {
  for (const [text, expected] of cases) assert.deepEqual(evaluate(text, row), expected, text);
}

test('literals and fields', () => {
  check([
    ['42', 42],
    ['-0', 0],
    ["'text'", 'text'],
    ['"a\\nb"', 'a\nb'],
    ['true', true],
    ['null', null],
    ['v', 1.5],
    ['station', '8454000'],
    ['missing', null],
    ['position.lat', 41.8],
    ['position.deep.x', 7],
    ['position.missing.x', null],
    ['station.length', null],
    ['v.x', null],
    ['s.x', null],
  ]);
});

test('fields read own properties only', () => {
  check([
    ['constructor', null],
    ['__proto__', null],
    ['prototype', null],
    ['toString', null],
    ['hasOwnProperty', null],
    ['position.constructor', null],
    ['position.__proto__', null],
    ['list.constructor', null],
  ]);
  const own = JSON.parse('{"__proto__": 5, "constructor": "c"}') as Row;
  check([['__proto__ + 1', 6], ["constructor == 'c'", true]], own);
  check([['v', 3]], Object.assign(Object.create(null) as Row, { v: 3 }));
  check([['f', null]], { f: () => 1 });
  check([['u', null]], { u: undefined });
});

test('arithmetic', () => {
  check([
    ['v + 1', 2.5],
    ['v - 2', -0.5],
    ['v * 2', 3],
    ['v / 2', 0.75],
    ['7 % 3', 1],
    ['-7 % 3', -1],
    ['-v', -1.5],
    ['- -v', 1.5],
    ['1 + 2 * 3', 7],
    ['(1 + 2) * 3', 9],
    ['10 - 4 - 3', 3],
    ['station + \'/\' + q', '8454000/p'],
    // Division by zero and overflow give null rather than Infinity/NaN.
    ['v / 0', null],
    ['v % 0', null],
    ['1e308 * 10', null],
    ['-zero', 0],
  ]);
});

test('arithmetic with null or the wrong type is null', () => {
  check([
    ['s + 1', null],
    ['missing * 2', null],
    ['-s', null],
    ['-q', null],
    ["v + '1'", null],
    ['q - 1', null],
    ['yes + 1', null],
    ['position + 1', null],
  ]);
});

test('comparisons: no coercion, null-safe equality, ordering with null is false', () => {
  check([
    ['v == 1.5', true],
    ['v != 1.5', false],
    ['v < 2', true],
    ['v <= 1.5', true],
    ['v > 1.5', false],
    ['v >= 1.5', true],
    ["q == 'p'", true],
    ["q < 'q'", true],
    ["station == 8454000", false],
    ["'1' == 1", false],
    ['yes == 1', false],
    ['s == null', true],
    ['s != null', false],
    ['missing == null', true],
    ['v == null', false],
    ['v != null', true],
    ['null == null', true],
    ['s == missing', true],
    ['s < 1', false],
    ['s >= 1', false],
    ['s <= s', false],
    ["v < 'a'", false],
    ['yes > no', false],
    ['not (s > 1)', true],
    ['position == position', true],
    ['zero == -0', true],
  ]);
});

test('logic: only null and false are false; results are booleans', () => {
  check([
    ['yes and v', true],
    ['yes and s', false],
    ['no or v', true],
    ['no or s', false],
    ['zero and empty', true],
    ['not null', true],
    ['not s', true],
    ['not zero', false],
    ["not ''", false],
    ['not no', true],
    ['!yes', false],
    ['yes && no', false],
    ['no || yes', true],
  ]);
  assert.deepEqual([null, undefined, false, 0, '', Number.NaN, {}, true].map(isTruthy), [false, false, false, true, true, true, true, true]);
});

test('logic short-circuits', () => {
  let reads = 0;
  const row = new Proxy({} as Row, {
    getOwnPropertyDescriptor(_target, key) {
      reads++;
      return { value: key === 'a', writable: true, enumerable: true, configurable: true };
    },
    get(_target, key) {
      return key === 'a';
    },
  });
  reads = 0;
  assert.equal(evaluate('b and a', row), false);
  assert.equal(reads, 1);
  reads = 0;
  assert.equal(evaluate('a or b', row), true);
  assert.equal(reads, 1);
});

test('conditional', () => {
  check([
    ["v > 1 ? 'high' : 'low'", 'high'],
    ["s ? 'set' : 'unset'", 'unset'],
    ["zero ? 'z' : 'nz'", 'z'],
    ['v < 0 ? -1 : v == 0 ? 0 : 1', 1],
  ]);
});

test('in and not in', () => {
  check([
    ["q in ['p', 'v']", true],
    ["q in ['x']", false],
    ["q not in ['x']", true],
    ['v in [1, 1.5]', true],
    ["v in ['1.5']", false],
    ['s in [null]', true],
    ['s in [1]', false],
    ['s not in [1]', true],
    ['neg in [-2.5]', true],
    ['v in [zero, v]', true],
    ['v in [zero, s]', false],
    ['v not in [zero, v]', false],
    ['v + 1 in [2.5]', true],
  ]);
});

test('functions', () => {
  check([
    ['abs(neg)', 2.5],
    ['round(v)', 2],
    ['round(neg)', -3],
    ['round(2.5)', 3],
    ['round(-0.4)', 0],
    ['round(1.005, 2)', 1.01],
    ['round(1.0049, 2)', 1],
    ['round(1234.5678, -2)', 1200],
    ['round(v, 1.5)', null],
    ["round(v, 'a')", null],
    ['floor(neg)', -3],
    ['ceil(neg)', -2],
    ['min(3, v, 2)', 1.5],
    ['max(3, v, 2)', 3],
    ['min(s, v, missing)', 1.5],
    ['max(s, missing)', null],
    ["max(v, 'a')", null],
    ['sqrt(4)', 2],
    ['sqrt(-1)', null],
    ['pow(2, 10)', 1024],
    ['pow(10, 400)', null],
    ['coalesce(s, missing, v, 0)', 1.5],
    ['coalesce(s, missing)', null],
    ['lower(f)', 'abc'],
    ["upper('straße')", 'STRASSE'],
    ['len(f)', 3],
    ["len('café😀')", 5],
    ['len(list)', 3],
    ['len(v)', null],
    ['is_null(s)', true],
    ['is_null(v)', false],
    ['hour(t)', 4],
    ['day(t)', 24],
    ['hour(-1)', 23],
    ['day(1e20)', null],
  ]);
});

test('timestamps and durations are epoch and plain milliseconds; Dates in rows count as theirs', () => {
  assert.equal(evaluate("timestamp('2020-09-24T04:18:00Z')"), ROW.t);
  assert.equal(evaluate("timestamp('2020-09-24')"), Date.UTC(2020, 8, 24), 'a date alone is midnight UTC');
  assert.equal(evaluate("timestamp('2020-09-24T06:18:00+02:00')"), ROW.t);
  assert.equal(evaluate("duration('24h50m28.329s')"), 89_428_329);
  assert.equal(evaluate("t >= timestamp('2020-09-24') + duration('4h18m')"), true);
  assert.equal(evaluate("t > timestamp('2020-09-24') + duration('4h18m')"), false);
  assert.equal(evaluate("t - timestamp('2020-09-24')"), 4 * 3_600_000 + 18 * 60_000);
  assert.equal(evaluate("(t - timestamp('2020-09-24')) / duration('1m')"), 258);
  assert.equal(evaluate("hour(timestamp('2020-09-24T23:59:59Z'))"), 23);
  // Window bounds and time_of_max are Dates in rows.
  const window = { window_start: new Date(Date.UTC(2019, 0, 1)), window_end: new Date(Date.UTC(2019, 0, 1, 0, 30)), high_time: new Date(Date.UTC(2019, 0, 1, 0, 12)) };
  assert.equal(evaluate("window_start >= timestamp('2019-01-01')", window), true);
  assert.equal(evaluate("window_start == timestamp('2019-01-01')", window), true);
  assert.equal(evaluate("window_start != timestamp('2019-01-01')", window), false);
  assert.equal(evaluate("window_start < timestamp('2019-01-01')", window), false);
  assert.equal(evaluate('window_end - window_start', window), 1_800_000);
  assert.equal(evaluate("high_time - window_start < duration('15m')", window), true);
  assert.equal(evaluate("window_start + duration('1d') > timestamp('2019-01-01T23:59:59Z')", window), true);
  // Text is still never a timestamp: what lint reports (types.ts).
  assert.equal(evaluate("t > '2019-01-01'"), false);
});

test('a function given the wrong type yields null instead of failing', () => {
  check([
    ["sqrt('x')", null],
    ['abs(q)', null],
    ['lower(v)', null],
    ['upper(s)', null],
    ['hour(station)', null],
    ['abs(position)', null],
    ["sqrt('x') > 1", false],
    ["coalesce(sqrt('x'), -1)", -1],
  ]);
});

test('roundHalfAwayFromZero rounds the decimal written, not its binary approximation', () => {
  assert.equal(roundHalfAwayFromZero(0.125, 2), 0.13);
  assert.equal(roundHalfAwayFromZero(-0.125, 2), -0.13);
  assert.equal(roundHalfAwayFromZero(1e-7, 7), 1e-7);
  assert.equal(roundHalfAwayFromZero(1.5e-7, 7), 2e-7);
  assert.equal(roundHalfAwayFromZero(1e21, 2), 1e21);
  assert.equal(roundHalfAwayFromZero(Number.NaN, 2), null);
  assert.equal(roundHalfAwayFromZero(1, 301), null);
  assert.equal(roundHalfAwayFromZero(2.675, 2), 2.68);
  assert.equal(roundHalfAwayFromZero(1.45, 1), 1.5);
  assert.equal(roundHalfAwayFromZero(-1.45, 1), -1.5);
  assert.equal(roundHalfAwayFromZero(8.345, 2), 8.35);
  assert.equal(roundHalfAwayFromZero(0.49999999999999994, 0), 0);
});

test('property: the fast rounding path agrees with the exact decimal shift', () => {
  fc.assert(
    fc.property(
      fc.oneof(fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e6, max: 1e6 }), fc.integer({ min: -1e6, max: 1e6 }).map((n) => n / 1000 + 0.0005)),
      fc.integer({ min: 0, max: 15 }),
      (x, digits) => {
        const exact = roundMagnitudeByDecimalShift(Math.abs(x), digits);
        const expected = exact === 0 ? 0 : x < 0 ? -exact : exact;
        assert.equal(roundHalfAwayFromZero(x, digits), Number.isFinite(expected) ? expected : null);
      },
    ),
    { numRuns: 20_000 },
  );
});

test('a getter that throws in a row gives null, not an exception', () => {
  const row = Object.defineProperty({} as Row, 'v', {
    enumerable: true,
    get() {
      throw new Error('boom');
    },
  });
  assert.equal(evaluate('v + 1', row), null);
  assert.equal(evaluate('v == 1', row), null);
});

test('constant sub-expressions are computed once, at compile time', () => {
  // pow(2, 10) is folded; the evaluator only reads `v` per row.
  const parsed = parseExpression('v * pow(2, 10) + round(1.005, 2)');
  assert.ok(parsed.ok);
  const evaluator = compileExpression(parsed.expression);
  assert.equal(evaluator({ v: 1 }), 1025.01);
  assert.equal(evaluator({ v: null }), null);
});

test('compileStepExpression throws a ConfigError pointing at the step', () => {
  assert.equal(compileStepExpression('v > 1', { stepId: 'f', property: 'when', at: { line: 1, col: 1 } })({ v: 2 }), true);
  assert.throws(
    () => compileStepExpression('v = 1', { stepId: 'keep-valid', property: 'when', at: { line: 7, col: 5 }, file: 'jobs/x.yaml' }),
    (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.deepEqual(error.problems, [
        {
          file: 'jobs/x.yaml',
          line: 7,
          col: 5,
          message: `step 'keep-valid' when: '=' is assignment; use '==' to compare (at character 2 of "v = 1")`,
        },
      ]);
      return true;
    },
  );
});

test('property: arithmetic matches JavaScript on finite numbers, null otherwise', () => {
  const operators = ['+', '-', '*', '/', '%'] as const;
  const apply = { '+': (a: number, b: number) => a + b, '-': (a: number, b: number) => a - b, '*': (a: number, b: number) => a * b, '/': (a: number, b: number) => a / b, '%': (a: number, b: number) => a % b };
  const evaluators = operators.map((operator) => {
    const parsed = parseExpression(`a ${operator} b`);
    assert.ok(parsed.ok);
    return compileExpression(parsed.expression);
  });
  fc.assert(
    fc.property(fc.double(), fc.double(), fc.integer({ min: 0, max: 4 }), (a, b, which) => {
      const expected = apply[operators[which]](a, b);
      assert.deepEqual(evaluators[which]({ a, b }), Number.isFinite(expected) ? expected : null);
    }),
  );
});
