/**
 * The checked syntax tree of a field expression.
 *
 * `parseExpression` produces it from text (via jsep, then a whitelist check);
 * `compileExpression` turns it into a closure tree once, at job start. It is our
 * own small tree rather than jsep's so that nothing downstream ever sees a node
 * kind we did not allow (member calls, `this`, assignments...), and so every
 * node knows where it came from in the text (`index`, a character offset) for
 * `file:line:col` messages.
 */

import type { Row } from '../core/batch';

/**
 * A compiled expression: reads a row, returns a value. Never returns `undefined`
 * (a missing field reads as `null`) and never throws (a type error yields `null`).
 */
export type Evaluator = (row: Row) => unknown;

/** The functions an expression may call (implemented in functions.ts). */
export type FunctionName =
  | 'abs'
  | 'round'
  | 'floor'
  | 'ceil'
  | 'min'
  | 'max'
  | 'sqrt'
  | 'pow'
  | 'coalesce'
  | 'lower'
  | 'upper'
  | 'len'
  | 'is_null'
  | 'hour'
  | 'day'
  | 'timestamp'
  | 'duration';

/** A literal value written in the expression. */
export type LiteralValue = number | string | boolean | null;

export type ArithmeticOperator = '+' | '-' | '*' | '/' | '%';
export type ComparisonOperator = '==' | '!=' | '<' | '<=' | '>' | '>=';
export type LogicalOperator = 'and' | 'or';

export type Expression =
  | { kind: 'literal'; value: LiteralValue; index: number }
  /** A field of the row; `path` has more than one element for nested objects (`position.lat`). */
  | { kind: 'field'; path: string[]; index: number }
  | { kind: 'negate'; operand: Expression; index: number }
  | { kind: 'not'; operand: Expression; index: number }
  | { kind: 'arithmetic'; operator: ArithmeticOperator; left: Expression; right: Expression; index: number }
  | { kind: 'comparison'; operator: ComparisonOperator; left: Expression; right: Expression; index: number }
  | { kind: 'logical'; operator: LogicalOperator; left: Expression; right: Expression; index: number }
  | { kind: 'conditional'; test: Expression; whenTrue: Expression; whenFalse: Expression; index: number }
  /** `value in [a, b]`; `negated` for `value not in [a, b]`. */
  | { kind: 'in'; value: Expression; list: Expression[]; negated: boolean; index: number }
  | { kind: 'call'; name: FunctionName; args: Expression[]; index: number };

/**
 * The fields an expression reads, as dotted paths, in first-use order. Lets the
 * config validator warn about fields the input schema does not have.
 *
 * @example
 * referencedFields(parsed('coalesce(v, s) > position.lat')) // ['v', 's', 'position.lat']
 */
export function referencedFields(expression: Expression): string[] {
  const seen = new Set<string>();
  const visit = (node: Expression): void => {
    switch (node.kind) {
      case 'literal':
        return;
      case 'field':
        seen.add(node.path.join('.'));
        return;
      case 'negate':
      case 'not':
        return visit(node.operand);
      case 'arithmetic':
      case 'comparison':
      case 'logical':
        visit(node.left);
        return visit(node.right);
      case 'conditional':
        visit(node.test);
        visit(node.whenTrue);
        return visit(node.whenFalse);
      case 'in':
        visit(node.value);
        return node.list.forEach(visit);
      case 'call':
        return node.args.forEach(visit);
    }
  };
  visit(expression);
  return [...seen];
}
