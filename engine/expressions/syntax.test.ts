import assert from 'node:assert/strict';
import { test } from 'node:test';
import jsep from 'jsep';
import type { Expression } from './ast';
import { compileExpression } from './compile';
import { FUNCTIONS, FUNCTION_NAMES } from './functions';
import { parseExpression } from './parse';
import { OPERATOR_GROUPS, SAMPLE_ROW } from './syntax';

function parsed(text: string): Expression {
  const result = parseExpression(text);
  if (!result.ok) assert.fail(`${JSON.stringify(text)} should parse, got: ${result.message} at ${result.index}`);
  return result.expression;
}

/** Every operator a tree uses, named as the reference writes them. */
function operatorsOf(node: Expression, found = new Set<string>()): Set<string> {
  switch (node.kind) {
    case 'literal':
    case 'field':
      break;
    case 'negate':
      found.add('-x');
      operatorsOf(node.operand, found);
      break;
    case 'not':
      found.add('not x');
      operatorsOf(node.operand, found);
      break;
    case 'arithmetic':
    case 'comparison':
    case 'logical':
      found.add(node.operator);
      operatorsOf(node.left, found);
      operatorsOf(node.right, found);
      break;
    case 'conditional':
      found.add('a ? b : c');
      [node.test, node.whenTrue, node.whenFalse].forEach((child) => operatorsOf(child, found));
      break;
    case 'in':
      found.add(node.negated ? 'not in' : 'in');
      operatorsOf(node.value, found);
      node.list.forEach((child) => operatorsOf(child, found));
      break;
    case 'call':
      node.args.forEach((child) => operatorsOf(child, found));
      break;
  }
  return found;
}

const documented = OPERATOR_GROUPS.flatMap((group) => group.operators);

test('every documented operator example parses, uses its operator and gives a value on the sample row', () => {
  for (const doc of documented) {
    const expression = parsed(doc.example);
    assert.ok(operatorsOf(expression).has(doc.operator), `${doc.example} does not use ${doc.operator}`);
    assert.notEqual(compileExpression(expression)(SAMPLE_ROW), undefined);
  }
  // A few results pinned, so the sample row and the examples cannot drift apart unnoticed.
  const result = (text: string) => compileExpression(parsed(text))(SAMPLE_ROW);
  assert.equal(result('7 % 4'), 3);
  assert.equal(result("q in ['p', 'v']"), true);
  assert.equal(result('v / 0'), null);
  assert.equal(result("t - timestamp('2020-09-24')"), 4 * 3_600_000 + 18 * 60_000);
});

test('aliases parse to the operator they stand for', () => {
  for (const doc of documented) {
    for (const alias of doc.aliases ?? []) {
      const text = doc.example.replace(doc.operator.replace(' x', ''), alias.replace('x', ''));
      assert.notEqual(text, doc.example, `alias ${alias} not substituted into ${doc.example}`);
      assert.deepEqual(operatorsOf(parsed(text)), operatorsOf(parsed(doc.example)), text);
    }
  }
});

test('every operator of the syntax tree is documented, once', () => {
  const seen = new Set<string>();
  for (const doc of documented) {
    assert.ok(!seen.has(doc.operator), `${doc.operator} documented twice`);
    seen.add(doc.operator);
  }
  const all = ['-x', 'not x', '*', '/', '%', '+', '-', '==', '!=', '<', '<=', '>', '>=', 'in', 'not in', 'and', 'or', 'a ? b : c'];
  assert.deepEqual([...seen].sort(), all.sort());
  // And the parser accepts nothing else: each of these is a known operator of jsep's that tideflow refuses.
  for (const refused of ['1 === 1', '2 ** 3', '1 & 2', '1 | 2', '1 ^ 2', '1 << 2', 'v ?? 0', '~1']) {
    assert.equal(parseExpression(refused).ok, false, refused);
  }
});

test('operator groups are listed tightest-binding first, as the parser groups them', () => {
  const binary = (jsep as unknown as { binary_ops: Record<string, number> }).binary_ops;
  const precedences = OPERATOR_GROUPS.map((group) =>
    group.operators.map((doc) => binary[doc.operator]).filter((precedence): precedence is number => precedence !== undefined),
  );
  // First the unary operators (no binary precedence: they bind tighter than any), last the conditional.
  assert.deepEqual(precedences[0], []);
  assert.deepEqual(precedences[precedences.length - 1], []);
  const middle = precedences.slice(1, -1);
  for (let i = 1; i < middle.length; i++) {
    assert.ok(Math.min(...middle[i - 1]) > Math.max(...middle[i]), `group ${i + 1} binds tighter than group ${i}`);
  }
  assert.equal(parsed('1 + 2 * 3 > 6 and not false or false ? 1 : 0').kind, 'conditional');
});

test('every function has a description and an example that calls it and gives a value', () => {
  for (const name of FUNCTION_NAMES) {
    const spec = FUNCTIONS[name];
    assert.ok(spec.description.length > 0, name);
    const expression = parsed(spec.example);
    assert.equal(expression.kind === 'call' && expression.name, name, `example of ${name} calls ${spec.example}`);
    assert.notEqual(compileExpression(expression)(SAMPLE_ROW), null, `example of ${name} gives null`);
  }
});
