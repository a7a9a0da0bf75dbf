/**
 * Checked expression tree -> evaluator, once per expression at job start.
 *
 * The evaluator is a tree of closures, one per node, each holding its children's
 * closures: no string is ever turned into code (no eval, Function or vm), and a
 * record costs one call per node with no tree walk or `switch` per record.
 *
 * Semantics (the README summarises them for users):
 * - A missing field, or a path through something that is not an object, reads
 *   as `null`. Only own properties are read (`Object.hasOwn`), so `constructor`
 *   or `__proto__` are ordinary field names that are usually absent.
 * - Arithmetic needs numbers (`+` also joins two strings); anything else,
 *   including a `null` operand, gives `null`. A non-finite result (x / 0) is `null`.
 * - `==` / `!=` compare without type coercion, and `null == null` is true, so
 *   `v == null` / `v != null` test for a missing value. `<`, `<=`, `>`, `>=`
 *   compare two numbers or two strings; any other pair (a `null` included) is false.
 *   Comparisons therefore always give `true` or `false`, never `null`.
 * - Timestamps are epoch milliseconds: `timestamp('2019-01-01')` is a number,
 *   `duration('1h')` too, and a Date in a row (window bounds, time_of_max)
 *   counts as its epoch milliseconds in arithmetic and comparisons. A timestamp
 *   compared with text is always false, which lint reports (types.ts).
 * - `and`, `or`, `not`, `? :` and filters treat only `null` and `false` as false.
 *   In particular a reading of 0 is "true": `when: v` keeps every row with a value.
 *   `and`/`or` give booleans, and `not null` is `true`.
 * - An evaluation error (a function given the wrong type, a throwing getter in
 *   a row) gives `null`; it never stops the job.
 */

import { ConfigError } from '../core/errors';
import type { ConfigProblem } from '../core/errors';
import type { Row } from '../core/batch';
import type { ArithmeticOperator, ComparisonOperator, Evaluator, Expression } from './ast';
import { FUNCTIONS } from './functions';
import { parseExpression } from './parse';

/**
 * Whether a value counts as true in `filter`, `route`, `and`/`or`/`not` and `? :`:
 * everything except `null` (and `undefined`) and `false`.
 *
 * @example
 * isTruthy(0)     // true  (a water level of 0 m is a reading)
 * isTruthy(null)  // false
 */
export function isTruthy(value: unknown): boolean {
  return value !== null && value !== undefined && value !== false;
}

function finiteOrNull(value: number): number | null {
  return Number.isFinite(value) ? value : null;
}

function readField(path: readonly string[]): Evaluator {
  if (path.length === 1) {
    const key = path[0];
    return (row) => {
      if (!Object.hasOwn(row, key)) return null;
      const value = row[key];
      // Functions are not data; `undefined` is how JavaScript spells a missing value.
      return value === undefined || typeof value === 'function' ? null : value;
    };
  }
  return (row) => {
    let current: unknown = row;
    for (let i = 0; i < path.length; i++) {
      if (current === null || typeof current !== 'object' || !Object.hasOwn(current, path[i])) return null;
      current = (current as Record<string, unknown>)[path[i]];
    }
    return current === undefined || typeof current === 'function' ? null : current;
  };
}

const ARITHMETIC: Record<Exclude<ArithmeticOperator, '+'>, (a: number, b: number) => number> = {
  '-': (a, b) => a - b,
  '*': (a, b) => a * b,
  '/': (a, b) => a / b,
  '%': (a, b) => a % b,
};

/**
 * Window bounds and time_of_max/min are Dates in rows; in arithmetic and
 * comparisons they count as the epoch milliseconds they stand for, like every
 * other timestamp in the engine (and what `timestamp('...')` gives).
 */
function timeOf(value: unknown): unknown {
  return value instanceof Date ? value.getTime() : value;
}

function arithmetic(operator: ArithmeticOperator, left: Evaluator, right: Evaluator): Evaluator {
  if (operator === '+') {
    return (row) => {
      const a = timeOf(left(row));
      const b = timeOf(right(row));
      if (typeof a === 'number' && typeof b === 'number') return finiteOrNull(a + b);
      if (typeof a === 'string' && typeof b === 'string') return a + b;
      return null;
    };
  }
  const apply = ARITHMETIC[operator];
  return (row) => {
    const a = timeOf(left(row));
    const b = timeOf(right(row));
    return typeof a === 'number' && typeof b === 'number' ? finiteOrNull(apply(a, b)) : null;
  };
}

/** Two numbers or two strings can be ordered; nothing else can. */
function orderable(a: unknown, b: unknown): boolean {
  const type = typeof a;
  return (type === 'number' || type === 'string') && typeof b === type;
}

function comparison(operator: ComparisonOperator, left: Evaluator, right: Evaluator): Evaluator {
  switch (operator) {
    case '==':
      return (row) => timeOf(left(row)) === timeOf(right(row));
    case '!=':
      return (row) => timeOf(left(row)) !== timeOf(right(row));
    case '<':
      return (row) => {
        const a = timeOf(left(row));
        const b = timeOf(right(row));
        return orderable(a, b) && (a as number) < (b as number);
      };
    case '<=':
      return (row) => {
        const a = timeOf(left(row));
        const b = timeOf(right(row));
        return orderable(a, b) && (a as number) <= (b as number);
      };
    case '>':
      return (row) => {
        const a = timeOf(left(row));
        const b = timeOf(right(row));
        return orderable(a, b) && (a as number) > (b as number);
      };
    case '>=':
      return (row) => {
        const a = timeOf(left(row));
        const b = timeOf(right(row));
        return orderable(a, b) && (a as number) >= (b as number);
      };
  }
}

function membership(value: Evaluator, list: Compiled[], negated: boolean): Evaluator {
  if (list.every((item) => item.constant)) {
    // A literal list is the common case (`q in ['p', 'v']`): one Set lookup per row.
    const members = new Set(list.map((item) => item.evaluate(EMPTY_ROW)));
    return negated ? (row) => !members.has(value(row)) : (row) => members.has(value(row));
  }
  const items = list.map((item) => item.evaluate);
  return (row) => {
    const candidate = value(row);
    for (const item of items) if (item(row) === candidate) return !negated;
    return negated;
  };
}

interface Compiled {
  evaluate: Evaluator;
  /** Reads no field, so it can be computed once now (every function is pure). */
  constant: boolean;
}

const EMPTY_ROW: Row = Object.freeze({}) as Row;

function build(node: Expression): Compiled {
  const compiled = buildNode(node);
  if (compiled.constant && node.kind !== 'literal') {
    const value = compiled.evaluate(EMPTY_ROW);
    return { evaluate: () => value, constant: true };
  }
  return compiled;
}

function buildNode(node: Expression): Compiled {
  switch (node.kind) {
    case 'literal': {
      const value = node.value;
      return { evaluate: () => value, constant: true };
    }
    case 'field':
      return { evaluate: readField(node.path), constant: false };
    case 'negate': {
      const operand = build(node.operand);
      const evaluate = operand.evaluate;
      return {
        evaluate: (row) => {
          const x = evaluate(row);
          return typeof x === 'number' && Number.isFinite(x) ? (x === 0 ? 0 : -x) : null;
        },
        constant: operand.constant,
      };
    }
    case 'not': {
      const operand = build(node.operand);
      const evaluate = operand.evaluate;
      return { evaluate: (row) => !isTruthy(evaluate(row)), constant: operand.constant };
    }
    case 'arithmetic': {
      const left = build(node.left);
      const right = build(node.right);
      return { evaluate: arithmetic(node.operator, left.evaluate, right.evaluate), constant: left.constant && right.constant };
    }
    case 'comparison': {
      const left = build(node.left);
      const right = build(node.right);
      return { evaluate: comparison(node.operator, left.evaluate, right.evaluate), constant: left.constant && right.constant };
    }
    case 'logical': {
      const left = build(node.left);
      const right = build(node.right);
      const l = left.evaluate;
      const r = right.evaluate;
      const evaluate: Evaluator =
        node.operator === 'and' ? (row) => isTruthy(l(row)) && isTruthy(r(row)) : (row) => isTruthy(l(row)) || isTruthy(r(row));
      return { evaluate, constant: left.constant && right.constant };
    }
    case 'conditional': {
      const test = build(node.test);
      const whenTrue = build(node.whenTrue);
      const whenFalse = build(node.whenFalse);
      const t = test.evaluate;
      const a = whenTrue.evaluate;
      const b = whenFalse.evaluate;
      return {
        evaluate: (row) => (isTruthy(t(row)) ? a(row) : b(row)),
        constant: test.constant && whenTrue.constant && whenFalse.constant,
      };
    }
    case 'in': {
      const value = build(node.value);
      const list = node.list.map(build);
      return {
        evaluate: membership(value.evaluate, list, node.negated),
        constant: value.constant && list.every((item) => item.constant),
      };
    }
    case 'call': {
      const args = node.args.map(build);
      return {
        evaluate: FUNCTIONS[node.name].build(args.map((arg) => arg.evaluate)),
        constant: args.every((arg) => arg.constant),
      };
    }
  }
}

/**
 * Compiles a checked expression into an evaluator. Call once per expression
 * (at job start) and reuse the evaluator for every row.
 *
 * @example
 * const parsed = parseExpression('round(v * 3.28084, 2)');
 * if (!parsed.ok) throw new Error(parsed.message);
 * const toFeet = compileExpression(parsed.expression);
 * toFeet({ v: 1.5 }) // 4.92
 * toFeet({ v: null }) // null
 */
export function compileExpression(expression: Expression): Evaluator {
  let evaluate: Evaluator;
  try {
    evaluate = build(expression).evaluate;
  } catch {
    // Constant folding runs functions at compile time; they never throw, but if
    // one did, the rule is the same as at run time: the value is null.
    return () => null;
  }
  return (row) => {
    try {
      return evaluate(row);
    } catch {
      return null;
    }
  };
}

/** Where an expression sits in a job, for the error thrown when it does not parse. */
export interface ExpressionSite {
  /** Step id and property, e.g. `filter-1` and `when`. */
  stepId: string;
  property: string;
  at: Pick<ConfigProblem, 'line' | 'col'>;
  /** The job file, when the caller knows it. */
  file?: string;
}

/**
 * Parses and compiles in one step, for operators built from a job spec. The
 * config validator normally reports bad expressions first (via
 * `parseExpression`); this is the backstop when a spec skipped validation.
 *
 * @throws ConfigError pointing at the step, with the expression's own message.
 * @example
 * const keep = compileStepExpression(spec.when, { stepId: spec.id, property: 'when', at: spec.at });
 */
export function compileStepExpression(text: string, site: ExpressionSite): Evaluator {
  const parsed = parseExpression(text);
  if (!parsed.ok) {
    throw new ConfigError([
      {
        file: site.file ?? '<job>',
        line: site.at.line,
        col: site.at.col,
        message: `step '${site.stepId}' ${site.property}: ${parsed.message} (at character ${parsed.index} of ${JSON.stringify(text)})`,
      },
    ]);
  }
  return compileExpression(parsed.expression);
}
