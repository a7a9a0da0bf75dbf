import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { referencedFields, type Expression } from './ast';
import { compileExpression } from './compile';
import { MAX_EXPRESSION_DEPTH, parseExpression } from './parse';

function parsed(text: string): Expression {
  const result = parseExpression(text);
  if (!result.ok) assert.fail(`${JSON.stringify(text)} should parse, got: ${result.message} at ${result.index}`);
  return result.expression;
}

/** The tree without positions, as a compact prefix string: precedence is easy to read this way. */
function shape(node: Expression): string {
  switch (node.kind) {
    case 'literal':
      return JSON.stringify(node.value);
    case 'field':
      return node.path.join('.');
    case 'negate':
      return `(neg ${shape(node.operand)})`;
    case 'not':
      return `(not ${shape(node.operand)})`;
    case 'arithmetic':
    case 'comparison':
    case 'logical':
      return `(${node.operator} ${shape(node.left)} ${shape(node.right)})`;
    case 'conditional':
      return `(? ${shape(node.test)} ${shape(node.whenTrue)} ${shape(node.whenFalse)})`;
    case 'in':
      return `(${node.negated ? 'not in' : 'in'} ${shape(node.value)} [${node.list.map(shape).join(' ')}])`;
    case 'call':
      return `(${node.name} ${node.args.map(shape).join(' ')})`;
  }
}

test('precedence and associativity', () => {
  const cases: Array<[string, string]> = [
    ['1 + 2 * 3', '(+ 1 (* 2 3))'],
    ['(1 + 2) * 3', '(* (+ 1 2) 3)'],
    ['a - b - c', '(- (- a b) c)'],
    ['a / b % c', '(% (/ a b) c)'],
    ['-a * b', '(* (neg a) b)'],
    ['a + 1 > b * 2', '(> (+ a 1) (* b 2))'],
    ['a > 1 and b < 2 or c', '(or (and (> a 1) (< b 2)) c)'],
    ['a or b and c', '(or a (and b c))'],
    ['a || b && c', '(or a (and b c))'],
    ['not a and b', '(and (not a) b)'],
    ['!a or b', '(or (not a) b)'],
    ['not (a == 1)', '(not (== a 1))'],
    ['a == 1 ? b : c', '(? (== a 1) b c)'],
    ['a ? b : c ? d : e', '(? a b (? c d e))'],
    ['a or b ? 1 : 2', '(? (or a b) 1 2)'],
    ["q in ['p', 'v'] and v > 0", '(and (in q ["p" "v"]) (> v 0))'],
    ['x + 1 in [2, -3]', '(in (+ x 1) [2 -3])'],
    ["q not in ['x']", '(not in q ["x"])'],
    ['position.lat >= -90.5', '(>= position.lat -90.5)'],
    ['round(v * 3.28084, 2)', '(round (* v 3.28084) 2)'],
    ['coalesce(v, s, 0)', '(coalesce v s 0)'],
    ['min()'.replace('()', '(a)'), '(min a)'],
    ['v != null', '(!= v null)'],
    ["'it\\'s' + \"x\"", '(+ "it\'s" "x")'],
    ['true and false', '(and true false)'],
    ['+5', '5'],
    ['.5 + 1e3', '(+ 0.5 1000)'],
    ['  v  ', 'v'],
    ['a?.b', 'a.b'],
    ['android and order', '(and android order)'],
    ['index in [1]', '(in index [1])'],
    ['café > 1', '(> café 1)'],
    ['$x + _y', '(+ $x _y)'],
    ['constructor == __proto__', '(== constructor __proto__)'],
  ];
  for (const [text, expected] of cases) assert.equal(shape(parsed(text)), expected, text);
});

test('nodes carry the character offset they came from', () => {
  const expression = parsed('v > 1 and sqrt(s) < 2');
  assert.equal(expression.kind, 'logical');
  if (expression.kind !== 'logical') return;
  assert.equal(expression.index, 6);
  assert.equal(expression.left.index, 2);
  const right = expression.right;
  assert.equal(right.kind === 'comparison' && right.left.index, 10);
});

test('rejections: message and index for each', () => {
  const cases: Array<[string, string, number]> = [
    ['', 'the expression is empty', 0],
    ['   ', 'the expression is empty', 0],
    ['v > )', "unexpected ')' — expected a value", 4],
    ['(v + )', "unexpected ')' — expected a value", 5],
    [')', "unexpected ')' — expected a value", 0],
    ['v +', "expected a value after '+'", 3],
    ['v >= ', "expected a value after '>='", 5],
    ['v and', "expected a value after 'and'", 5],
    ['v > 1 or', "expected a value after 'or'", 8],
    ['not', "expected a value after 'not'", 3],
    ['-', "expected a value after '-'", 1],
    ['and v', "unexpected 'and' — expected a value", 0],
    ['v = 1', "'=' is assignment; use '==' to compare", 2],
    ['sqr(v)', "unknown function 'sqr' (did you mean 'sqrt'?)", 0],
    ['v + ABS(v)', "unknown function 'ABS' (did you mean 'abs'?)", 4],
    ['length(q)', "unknown function 'length' (did you mean 'len'?)", 0],
    ['now()', "'now()' is not available: expressions must give the same result when a job is replayed; use the event-time field (e.g. t) instead", 0],
    ['hypot(a, b)', "unknown function 'hypot'; the functions are abs, round, floor, ceil, min, max, sqrt, pow, coalesce, lower, upper, len, is_null, hour, day, timestamp, duration", 0],
    ['eval(q)', "unknown function 'eval'; the functions are abs, round, floor, ceil, min, max, sqrt, pow, coalesce, lower, upper, len, is_null, hour, day, timestamp, duration", 0],
    ['avg(v)', "'avg' is an aggregate, not a function: use it in a window step's 'aggregate'", 0],
    ['round(v, 1, 2)', 'round() takes 1 or 2 arguments, got 3: round(x, digits?)', 0],
    ['abs()', 'abs() takes 1 argument, got 0: abs(x)', 0],
    ['pow(2)', 'pow() takes 2 arguments, got 1: pow(base, exponent)', 0],
    ['coalesce()', 'coalesce() takes at least 1 argument, got 0: coalesce(a, b, ...)', 0],
    ['Math.abs(v)', 'only built-in functions can be called, by name, e.g. abs(x)', 0],
    ['v.toString()', 'only built-in functions can be called, by name, e.g. abs(x)', 0],
    ['abs(v)(1)', 'only built-in functions can be called, by name, e.g. abs(x)', 0],
    ['abs(v).x', "a function result has no fields; '.' cannot follow a call", 6],
    ["'a'.length", "only fields have fields; '.' must follow a field name", 3],
    ['this', "'this' is not available; refer to fields by name, e.g. 'v'", 0],
    ['this.v > 1', "'this' is not available; refer to fields by name, e.g. 'v'", 0],
    ['a[0]', "indexing with '[...]' is not supported; use a dotted path such as 'position.lat'", 1],
    ["row['constructor']", "indexing with '[...]' is not supported; use a dotted path such as 'position.lat'", 3],
    ['a.', "expected a field name after '.', found the end of the expression", 2],
    ['[1, 2]', "a list [...] is only allowed after 'in', e.g. q in ['p', 'v']", 0],
    ['q in r', "'in' needs a list: write q in ['p', 'v']", 5],
    ['x in [1,,2]', "unexpected ',' — expected a value", 8],
    ['x in [1, 2', "the '[' at character 5 is never closed; add ']'", 10],
    ['f(a b)'.replace('f', 'abs'), "unexpected 'b' — expected ',' or ')'", 6],
    ['abs(v', "the '(' at character 3 is never closed; add ')'", 5],
    ['min(a,)', "unexpected ')' — expected a value", 6],
    ['(v', "the '(' at character 0 is never closed; add ')'", 2],
    ['(a, b)', "unexpected ',' — expected ')'", 2],
    ['()', "unexpected ')' — expected a value", 1],
    ['a, b', "unexpected ',' — expected an operator (such as +, ==, and) or the end of the expression", 1],
    ['a; b', "unexpected ';' — expected an operator (such as +, ==, and) or the end of the expression", 1],
    ['a b', "unexpected 'b' — expected an operator (such as +, ==, and) or the end of the expression", 2],
    ['v > 1)', "unexpected ')' — there is no '(' to close", 5],
    ["'abc", 'unclosed string: add the closing quote ("\'")', 0],
    ['v == "abc', "unclosed string: add the closing quote ('\"')", 5],
    ['1 < v < 2', "comparisons cannot be chained; write 'a < x and x < b'", 6],
    ['a == b == c', "comparisons cannot be chained; write 'a < x and x < b'", 7],
    ['not v == 1', "'not' applies only to 'v' here; write not (v == 1) to negate the comparison", 0],
    ['not v + 1', "'not' applies only to 'v' here, so '+' would act on true/false; put what 'not' should negate in parentheses", 0],
    ['v ** 2', "'**' is not supported; use pow(base, exponent)", 2],
    ['v ^ 2', "'^' is not a power operator here; use pow(base, exponent)", 2],
    ['v === 1', "'===' is not needed; use '=='", 2],
    ['v !== 1', "'!==' is not needed; use '!='", 2],
    ['a & b', "bitwise '&' is not supported; did you mean 'and'?", 2],
    ['a | b', "bitwise '|' is not supported; did you mean 'or'?", 2],
    ['a ?? b', "'??' is not supported; use coalesce(a, b)", 2],
    ['a << 2', 'bit shifts are not supported', 2],
    ['~a', "'~' is not supported (no bitwise operators)", 0],
    ['+v', "unary '+' is only allowed before a number", 0],
    ['v == NULL', "'NULL' would be read as a field name; write null in lower case", 5],
    ['True', "'True' would be read as a field name; write true in lower case", 0],
    ['v ? 1', "expected ':' (a conditional reads 'test ? a : b')", 5],
    ['v ? : 1', "unexpected ':' — expected a value", 4],
    ['0x10', "unexpected 'x10' right after a number (names cannot start with a digit)", 1],
    ['1e', "malformed number: expected digits after the exponent 'e'", 2],
    ['1.2.3', "unexpected '.' in a number", 3],
    ['v\u00a0> 1', "unexpected character U+00A0 in the name 'v\u00a0' (names use letters, digits and _)", 1],
    ['position.la\u2014t', "unexpected character U+2014 in the name 'la\u2014t' (names use letters, digits and _)", 11],
    ['q not x', "unexpected 'not' — write 'not in' with one space, or use 'and not'", 2],
  ];
  for (const [text, message, index] of cases) {
    assert.deepEqual(parseExpression(text), { ok: false, message, index }, text);
  }
});

test("timestamp() and duration() take a quoted literal they can read, checked at parse time", () => {
  assert.equal(shape(parsed("t >= timestamp('2019-01-01') + duration('1h')")), '(>= t (+ (timestamp "2019-01-01") (duration "1h")))');
  assert.ok(parseExpression("timestamp('2019-01-01T00:00:00.250+02:00')").ok);
  assert.ok(parseExpression("duration('24h50m28.329s')").ok);
  const cases: Array<[string, string, number]> = [
    ["t > timestamp('2019-01-01T00:00')", "'2019-01-01T00:00' has no timezone (add Z for UTC, e.g. timestamp('2019-01-01T00:00Z'))", 14],
    ["t > timestamp('2019-02-30')", "'2019-02-30' is not an ISO-8601 timestamp (use e.g. timestamp('2019-01-01T00:00:00Z'); a date alone is midnight UTC)", 14],
    ["t > timestamp('yesterday')", "'yesterday' is not an ISO-8601 timestamp (use e.g. timestamp('2019-01-01T00:00:00Z'); a date alone is midnight UTC)", 14],
    ['t > timestamp(start)', "timestamp() takes a quoted literal, an ISO-8601 date or date-time with a zone: e.g. timestamp('2019-01-01T00:00:00Z')", 14],
    ['t > timestamp(1546300800000)', "timestamp() takes a quoted literal, an ISO-8601 date or date-time with a zone: e.g. timestamp('2019-01-01T00:00:00Z')", 14],
    ['timestamp()', "timestamp() takes 1 argument, got 0: timestamp('2019-01-01T00:00:00Z')", 0],
    ["t - duration('30')", "'30' needs a unit: ms, s, m, h or d (e.g. duration('30s'))", 13],
    ["t - duration('30 days')", "'30 days' is not a duration (use e.g. duration('30d'), or 1h30m; units ms, s, m, h, d)", 13],
    ["t - duration(v)", "duration() takes a quoted literal, a duration with units (ms, s, m, h, d): e.g. duration('30d')", 13],
  ];
  for (const [text, message, index] of cases) {
    assert.deepEqual(parseExpression(text), { ok: false, message, index }, text);
  }
});

test('nesting deeper than the limit is refused, with no stack overflow', () => {
  const deepParens = '('.repeat(MAX_EXPRESSION_DEPTH + 5) + 'v' + ')'.repeat(MAX_EXPRESSION_DEPTH + 5);
  assert.equal(parseExpression(deepParens).ok, true, 'parentheses alone add no tree depth');
  const deepNot = 'not '.repeat(MAX_EXPRESSION_DEPTH + 5) + 'v';
  const result = parseExpression(deepNot);
  assert.equal(result.ok, false);
  assert.match(!result.ok ? result.message : '', /nested too deeply/);
  const longChain = Array.from({ length: 50_000 }, (_, i) => `f${i}`).join(' + ');
  assert.match((parseExpression(longChain) as { message: string }).message, /nested too deeply/);
  assert.match((parseExpression('('.repeat(100_000)) as { message: string }).message, /nested too deeply|never closed/);
  assert.ok(parseExpression(Array.from({ length: MAX_EXPRESSION_DEPTH }, (_, i) => `f${i}`).join(' + ')).ok);
});

test('referencedFields lists dotted paths once, in first-use order', () => {
  assert.deepEqual(referencedFields(parsed("coalesce(v, s) > position.lat and v != null ? q : lower(f)")), ['v', 's', 'position.lat', 'q', 'f']);
  assert.deepEqual(referencedFields(parsed('1 + 2')), []);
});

// ------------------------------------------------------------ properties

/** Fragments that make random text likelier to reach deep into the parser, including hostile names. */
const FRAGMENTS = [
  'v', 'q', 'a.b', 'constructor', '__proto__', 'prototype', 'this', 'toString', 'valueOf', 'eval', 'Function',
  'process', 'require', 'global', 'globalThis', 'abs', 'round', 'min', 'coalesce', 'lower', 'len', 'hour',
  '(', ')', '[', ']', ',', '.', '?', ':', '?.', ';', '=', '==', '!=', '<', '<=', '>', '>=', '+', '-', '*', '/',
  '%', '**', '!', '~', '&&', '||', 'and', 'or', 'not', 'in', 'not in', 'null', 'true', 'false', '0', '1.5',
  '1e3', "'s'", '"t"', "'", '"', '\\', ' ', '`', '${x}', '=>', 'new', 'x.constructor.constructor',
];

const hostileText = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.array(fc.constantFrom(...FRAGMENTS), { maxLength: 25 }).map((parts) => parts.join(' ')),
  fc.array(fc.constantFrom(...FRAGMENTS), { maxLength: 25 }).map((parts) => parts.join('')),
);

const SAFE_TYPES = new Set(['number', 'string', 'boolean']);

test('property: parseExpression never throws; errors point inside the text', () => {
  fc.assert(
    fc.property(hostileText, (text) => {
      const result = parseExpression(text);
      if (result.ok) return;
      assert.equal(typeof result.message, 'string');
      assert.ok(result.message.length > 0);
      assert.ok(Number.isInteger(result.index) && result.index >= 0 && result.index <= text.length, `${result.index} in ${JSON.stringify(text)}`);
    }),
    { numRuns: 5000 },
  );
});

test('property: whatever parses evaluates to plain data, never throws, never touches prototypes', () => {
  const prototypeKeys = Object.getOwnPropertyNames(Object.prototype).sort();
  const row = { v: 1.5, q: 'p', a: { b: 2 }, s: null, t: 1_600_000_000_000 };
  const rowValues = new Set<unknown>([row.a]);
  fc.assert(
    fc.property(hostileText, (text) => {
      const result = parseExpression(text);
      if (!result.ok) return;
      const evaluate = compileExpression(result.expression);
      for (const input of [row, {}, Object.create(null) as Record<string, unknown>]) {
        const value = evaluate(input);
        assert.ok(value === null || SAFE_TYPES.has(typeof value) || rowValues.has(value), `${JSON.stringify(text)} gave ${String(value)}`);
      }
    }),
    { numRuns: 5000 },
  );
  assert.deepEqual(Object.getOwnPropertyNames(Object.prototype).sort(), prototypeKeys);
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
});
