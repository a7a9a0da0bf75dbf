/**
 * What kind of value an expression gives, as far as the fields' types are
 * known, and the mistakes that shows before a run: a timestamp compared with
 * text (`t > '2019-01-01'`) is always false at run time, so a filter written
 * that way silently drops every record. Lint reports it with the fix.
 *
 * Timestamps are epoch milliseconds and durations plain milliseconds, so both
 * are numbers at run time; the types only tell them apart for messages.
 */

import type { ComparisonOperator, Expression } from './ast';
import { parseDuration } from '../config/duration';
import { parseTimestamp } from '../config/timestamp';

export type ValueType = 'timestamp' | 'duration' | 'number' | 'string' | 'boolean' | 'null' | 'unknown';

/** A mistake at a character offset of the expression, with what to write instead. */
export interface TypeProblem {
  message: string;
  index: number;
}

/**
 * The type of `expression` and its type mistakes. `fieldType` gives the type
 * of a top-level field ('unknown' when it is not known).
 *
 * @example
 * const parsed = parseExpression("t > '2019-01-01'");
 * checkExpressionTypes(parsed.expression, (name) => (name === 't' ? 'timestamp' : 'unknown'));
 * // { type: 'boolean', problems: [{ index: 4, message: "'t' is a timestamp and '2019-01-01' is text: ... write timestamp('2019-01-01') instead of '2019-01-01'" }] }
 */
export function checkExpressionTypes(expression: Expression, fieldType: (name: string) => ValueType): { type: ValueType; problems: TypeProblem[] } {
  const problems: TypeProblem[] = [];
  const type = typeOf(expression, fieldType, problems);
  return { type, problems };
}

function typeOf(node: Expression, fieldType: (name: string) => ValueType, problems: TypeProblem[]): ValueType {
  const of = (inner: Expression) => typeOf(inner, fieldType, problems);
  switch (node.kind) {
    case 'literal':
      return node.value === null ? 'null' : (typeof node.value as 'number' | 'string' | 'boolean');
    case 'field':
      return node.path.length === 1 ? fieldType(node.path[0]) : 'unknown';
    case 'negate': {
      const operand = of(node.operand);
      return operand === 'duration' ? 'duration' : 'number';
    }
    case 'not':
    case 'logical':
      if (node.kind === 'logical') {
        of(node.left);
        of(node.right);
      } else of(node.operand);
      return 'boolean';
    case 'comparison': {
      const left = of(node.left);
      const right = of(node.right);
      compareTimeWithText(node.left, left, node.right, right, node.operator, problems, node.index);
      compareTimeWithText(node.right, right, node.left, left, node.operator, problems, node.index);
      return 'boolean';
    }
    case 'in': {
      const value = of(node.value);
      for (const item of node.list) {
        const itemType = of(item);
        compareTimeWithText(node.value, value, item, itemType, node.negated ? '!=' : '==', problems, node.index);
      }
      return 'boolean';
    }
    case 'arithmetic': {
      const left = of(node.left);
      const right = of(node.right);
      textInTimeArithmetic(node.left, left, problems);
      textInTimeArithmetic(node.right, right, problems);
      return arithmeticType(node.operator, left, right);
    }
    case 'conditional': {
      of(node.test);
      return common([of(node.whenTrue), of(node.whenFalse)]);
    }
    case 'call': {
      const args = node.args.map(of);
      switch (node.name) {
        case 'timestamp':
          return 'timestamp';
        case 'duration':
          return 'duration';
        case 'lower':
        case 'upper':
          return 'string';
        case 'is_null':
          return 'boolean';
        case 'coalesce':
        case 'min':
        case 'max':
          return common(args);
        default:
          return 'number';
      }
    }
  }
}

/** One type for values that may each be the result (null aside), else unknown. */
function common(types: ValueType[]): ValueType {
  const known = types.filter((type) => type !== 'null');
  if (known.length === 0) return 'null';
  return known.every((type) => type === known[0]) ? known[0] : 'unknown';
}

function arithmeticType(operator: string, left: ValueType, right: ValueType): ValueType {
  const numeric = (type: ValueType) => type === 'number' || type === 'duration';
  if (operator === '+' && left === 'string' && right === 'string') return 'string';
  if (operator === '+' || operator === '-') {
    if (left === 'timestamp' && numeric(right)) return 'timestamp';
    if (operator === '+' && numeric(left) && right === 'timestamp') return 'timestamp';
    if (operator === '-' && left === 'timestamp' && right === 'timestamp') return 'duration';
    if (left === 'duration' && right === 'duration') return 'duration';
  }
  if ((operator === '*' || operator === '/') && left === 'duration' && right === 'number') return 'duration';
  if (operator === '*' && left === 'number' && right === 'duration') return 'duration';
  if (numeric(left) && numeric(right)) return 'number';
  return 'unknown';
}

/** How a node reads in a message: a field by name, else what it is. */
function describe(node: Expression, type: ValueType): string {
  const kind = type === 'string' ? 'text' : `a ${type}`;
  if (node.kind === 'field') return `'${node.path.join('.')}' is ${kind}`;
  if (node.kind === 'call') return `${node.name}(...) is ${kind}`;
  return `the value is ${kind}`;
}

/** What to write for a text that was meant as a timestamp. */
function timestampFor(text: string): string {
  const parsed = parseTimestamp(text);
  if (parsed.ok) return `timestamp('${text}')`;
  if (parsed.reason === 'no-timezone') return `timestamp('${text.trim()}Z')`;
  return "timestamp('2019-01-01T00:00:00Z')";
}

function compareTimeWithText(
  time: Expression,
  timeType: ValueType,
  other: Expression,
  otherType: ValueType,
  operator: ComparisonOperator,
  problems: TypeProblem[],
  operatorIndex: number,
): void {
  if (timeType !== 'timestamp' || otherType !== 'string') return;
  const never = `they never compare, so '${operator}' is always ${operator === '!=' ? 'true' : 'false'}`;
  if (other.kind === 'literal' && typeof other.value === 'string') {
    problems.push({
      index: other.index,
      message: `${describe(time, timeType)} (epoch milliseconds) and '${other.value}' is text: ${never}; write ${timestampFor(other.value)} instead of '${other.value}'`,
    });
  } else {
    problems.push({
      index: operatorIndex,
      message: `${describe(time, timeType)} (epoch milliseconds) and ${describe(other, otherType)}: ${never}; compare with timestamp('2019-01-01T00:00:00Z') or epoch milliseconds`,
    });
  }
}

/** Text that reads as a duration or a date in `+ - * / %` gives null at run time; say which function was meant. */
function textInTimeArithmetic(text: Expression, textType: ValueType, problems: TypeProblem[]): void {
  if (textType !== 'string' || text.kind !== 'literal' || typeof text.value !== 'string') return;
  const value = text.value;
  const meant = parseDuration(value) !== null ? `duration('${value}')` : /^\s*\d{4}-\d{2}-\d{2}/.test(value) ? timestampFor(value) : null;
  if (meant !== null) problems.push({ index: text.index, message: `'${value}' is text, so the arithmetic gives null; write ${meant} instead of '${value}'` });
}
