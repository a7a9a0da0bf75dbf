/**
 * Field expressions: text from a job file -> a checked `Expression` tree.
 *
 * jsep does the tokenising and precedence climbing (it builds a tree and never
 * evaluates anything). Around it we add three things jsep does not give us:
 *
 * 1. character positions on nodes, via a small subclass, so every problem can
 *    be reported as `file:line:col`;
 * 2. stricter grouping and argument lists than jsep's defaults, which silently
 *    accept `f(a b)` as `f(a, b)` and `a, b` as a "compound" of two expressions;
 * 3. a whitelist walk (`toExpression`) that turns jsep's tree into ours and
 *    rejects everything outside the language: `this`, indexing, member calls,
 *    unknown functions, bitwise operators, chained comparisons...
 *
 * Error messages are written for the person editing the YAML: what is wrong,
 * at which character, and what to write instead.
 */

import jsep from 'jsep';
import { closest, distance } from 'fastest-levenshtein';
import type { ArithmeticOperator, ComparisonOperator, Expression, LiteralValue } from './ast';
import { FUNCTIONS, FUNCTION_NAMES, isFunctionName, LITERAL_ARGUMENT_FUNCTIONS, type FunctionName } from './functions';
import { isUnitlessNumber, parseDuration } from '../config/duration';
import { parseTimestamp } from '../config/timestamp';

export type ParseResult = { ok: true; expression: Expression } | { ok: false; message: string; index: number };

/** Deeper trees are refused: they would not be written by hand, and the bound keeps evaluation off the stack limit. */
export const MAX_EXPRESSION_DEPTH = 200;

// ------------------------------------------------------------ jsep set-up
//
// jsep keeps its operator tables in class statics, so this configuration is
// process-wide. Only this module uses jsep; anyone else who does gets these
// operators too (they are a superset of jsep's defaults, minus nothing).

jsep.addBinaryOp('or', 1);
jsep.addBinaryOp('and', 2);
// Same precedence as `<`: `x + 1 in [2, 3]` groups as `(x + 1) in [...]`.
jsep.addBinaryOp('in', 7);
jsep.addBinaryOp('not in', 7);
jsep.addUnaryOp('not');
// jsep's other default operators (`===`, `**`, `&`, `??`, `~`...) stay known to
// the parser on purpose: `toExpression` rejects them with a hint ("use pow(x, y)"),
// which reads better than a bare "unexpected '*'".

/** The part of a jsep node we read; positions are added by `PositionedParser`. */
interface JsepNode {
  type: string;
  start?: number;
  end?: number;
  /** Written inside `( )` — lets us tell `(not a) == b` from `not a == b`. */
  parenthesized?: boolean;
  [key: string]: unknown;
}

/** The instance side of jsep's parser class (`jsep.Jsep`), which its typings do not declare. */
interface JsepParserInstance {
  index: number;
  readonly expr: string;
  readonly code: number;
  gobbleSpaces(): void;
  gobbleExpression(): JsepNode | false | undefined;
  gobbleToken(): JsepNode | false | undefined;
  gobbleIdentifier(): JsepNode;
  gobbleStringLiteral(): JsepNode;
  gobbleGroup(): JsepNode | false | undefined;
  gobbleArguments(termination: number): Array<JsepNode | null>;
}
type JsepParserClass = new (text: string) => JsepParserInstance;
const JsepParser = (jsep as unknown as { Jsep: JsepParserClass }).Jsep;

/** A problem found while parsing, at a character offset. Internal: `parseExpression` returns it as a value. */
class ParseFailure {
  constructor(
    readonly message: string,
    readonly index: number,
  ) {}
}

const CLOSE_PAREN = 41;
const COMMA = 44;

class PositionedParser extends JsepParser {
  override gobbleToken(): JsepNode | false | undefined {
    this.gobbleSpaces();
    const start = this.index;
    const node = super.gobbleToken();
    if (node) {
      node.start ??= start;
      node.end ??= this.index;
    }
    return node;
  }

  override gobbleIdentifier(): JsepNode {
    const start = this.index;
    const node = super.gobbleIdentifier();
    node.start = start;
    node.end = this.index;
    return node;
  }

  override gobbleStringLiteral(): JsepNode {
    const start = this.index;
    try {
      return super.gobbleStringLiteral();
    } catch {
      // jsep reports the end of the text; the opening quote is what the user must look at.
      const quote = this.expr[start];
      throw new ParseFailure(`unclosed string: add the closing quote (${quote === "'" ? `"'"` : `'${quote}'`})`, start);
    }
  }

  /** Exactly one expression between the parentheses (jsep would accept `(a, b)` and `(a b)`). */
  override gobbleGroup(): JsepNode | false | undefined {
    const open = this.index;
    this.index++;
    const node = this.gobbleExpression();
    if (!node) throw expectedValue(this.expr, this.index, '(');
    this.gobbleSpaces();
    if (this.code !== CLOSE_PAREN) {
      if (this.index >= this.expr.length) {
        throw new ParseFailure(`the '(' at character ${open} is never closed; add ')'`, this.index);
      }
      throw new ParseFailure(`unexpected ${describeAt(this.expr, this.index)} — expected ')'`, this.index);
    }
    this.index++;
    node.parenthesized = true;
    return node;
  }

  /** Comma-separated values up to `)` or `]`; jsep's own version accepts `f(a b)` as `f(a, b)`. */
  override gobbleArguments(termination: number): JsepNode[] {
    const opener = this.index - 1;
    const closer = String.fromCharCode(termination);
    const args: JsepNode[] = [];
    this.gobbleSpaces();
    if (this.code === termination) {
      this.index++;
      return args;
    }
    for (;;) {
      const node = this.gobbleExpression();
      if (!node) throw expectedValue(this.expr, this.index, this.expr[opener] ?? '(');
      args.push(node);
      this.gobbleSpaces();
      if (this.code === COMMA) {
        this.index++;
        continue;
      }
      if (this.code === termination) {
        this.index++;
        return args;
      }
      if (this.index >= this.expr.length) {
        throw new ParseFailure(`the '${this.expr[opener]}' at character ${opener} is never closed; add '${closer}'`, this.index);
      }
      throw new ParseFailure(`unexpected ${describeAt(this.expr, this.index)} — expected ',' or '${closer}'`, this.index);
    }
  }
}

// ------------------------------------------------------------ messages

const WORD_OPERATORS = new Set(['and', 'or', 'not', 'in']);

function isWordChar(char: string | undefined): boolean {
  return char !== undefined && /[\p{L}\p{N}_$]/u.test(char);
}

/** `'x'` for the token at `index` (a whole word or number, else one character), or "the end of the expression". */
function describeAt(text: string, index: number): string {
  if (index >= text.length) return 'the end of the expression';
  let end = index;
  if (isWordChar(text[index])) {
    while (end < text.length && isWordChar(text[end])) end++;
  } else {
    end = index + (text.codePointAt(index)! > 0xffff ? 2 : 1);
  }
  const token = text.slice(index, end);
  return token === "'" ? `"'"` : `'${token}'`;
}

/** The token that ends just before `index` (skipping spaces): what a missing value was expected after. */
function tokenBefore(text: string, index: number): string {
  let end = index;
  while (end > 0 && /\s/.test(text[end - 1])) end--;
  let start = end - 1;
  if (start < 0) return '';
  if (isWordChar(text[start])) {
    while (start > 0 && isWordChar(text[start - 1])) start--;
  } else {
    while (start > 0 && '=!<>&|*?'.includes(text[start - 1]) && '=!<>&|*?'.includes(text[start])) start--;
  }
  return text.slice(start, end);
}

function expectedValue(text: string, index: number, after: string): ParseFailure {
  if (index >= text.length) return new ParseFailure(`expected a value after '${after}'`, index);
  return new ParseFailure(`unexpected ${describeAt(text, index)} — expected a value`, index);
}

/** jsep's own errors carry `index` and `description`; reword the ones still reachable. */
function fromJsepError(error: { index: number; description: string }, text: string): ParseFailure {
  const { index, description } = error;
  const after = tokenBefore(text, index);
  if (description.startsWith('Expected expression') || description === 'missing unaryOp argument') {
    return expectedValue(text, index, after);
  }
  if (description.startsWith('Variable names cannot start with a number')) {
    return new ParseFailure(`unexpected ${describeAt(text, index)} right after a number (names cannot start with a digit)`, index);
  }
  if (description.startsWith('Expected exponent')) {
    return new ParseFailure("malformed number: expected digits after the exponent 'e'", index);
  }
  if (description === 'Unexpected period') return new ParseFailure("unexpected '.' in a number", index);
  if (description === 'Expected :') {
    const found = index >= text.length ? '' : `unexpected ${describeAt(text, index)} — `;
    return new ParseFailure(`${found}expected ':' (a conditional reads 'test ? a : b')`, index);
  }
  if (description === 'Unclosed [') return new ParseFailure(`unexpected ${describeAt(text, index)} — expected ']'`, index);
  if (after.endsWith('.')) return new ParseFailure(`expected a field name after '.', found ${describeAt(text, index)}`, index);
  return new ParseFailure(`unexpected ${describeAt(text, index)}`, index);
}

/** What is left after a complete expression: say what the user probably meant. */
function trailingFailure(text: string, index: number): ParseFailure {
  const char = text[index];
  if (char === '=' && text[index + 1] !== '=') return new ParseFailure("'=' is assignment; use '==' to compare", index);
  if (char === ')') return new ParseFailure("unexpected ')' — there is no '(' to close", index);
  const word = /^[\p{L}\p{N}_$]+/u.exec(text.slice(index))?.[0];
  // jsep does not recognise a word operator at the very end (`v > 1 and`), so it lands here.
  if (word !== undefined && WORD_OPERATORS.has(word) && text.slice(index + word.length).trim() === '') {
    return new ParseFailure(`expected a value after '${word}'`, text.length);
  }
  if (word === 'not') return new ParseFailure("unexpected 'not' — write 'not in' with one space, or use 'and not'", index);
  return new ParseFailure(
    `unexpected ${describeAt(text, index)} — expected an operator (such as +, ==, and) or the end of the expression`,
    index,
  );
}

/** Functions people reach for by another name. */
const FUNCTION_ALIASES: Record<string, string> = {
  length: 'len',
  strlen: 'len',
  lowercase: 'lower',
  lcase: 'lower',
  tolowercase: 'lower',
  uppercase: 'upper',
  ucase: 'upper',
  touppercase: 'upper',
  power: 'pow',
  ifnull: 'coalesce',
  nvl: 'coalesce',
  isnull: 'is_null',
  ceiling: 'ceil',
  trunc: 'floor',
  least: 'min',
  greatest: 'max',
};

const AGGREGATES = new Set(['avg', 'mean', 'sum', 'count', 'stddev', 'first', 'last']);

/** Left out on purpose: a replay after a crash must compute the same rows. */
const NONDETERMINISTIC = new Set(['now', 'today', 'random', 'rand', 'uuid']);

function unknownFunction(name: string, index: number): ParseFailure {
  const lower = name.toLowerCase();
  if (AGGREGATES.has(lower)) {
    return new ParseFailure(`'${name}' is an aggregate, not a function: use it in a window step's 'aggregate'`, index);
  }
  if (NONDETERMINISTIC.has(lower)) {
    return new ParseFailure(
      `'${name}()' is not available: expressions must give the same result when a job is replayed; use the event-time field (e.g. t) instead`,
      index,
    );
  }
  const alias = Object.hasOwn(FUNCTION_ALIASES, lower) ? FUNCTION_ALIASES[lower] : undefined;
  let suggestion = alias ?? (isFunctionName(lower) ? lower : undefined);
  if (suggestion === undefined) {
    const nearest = closest(lower, FUNCTION_NAMES as string[]);
    // Within a third of the name's length: 'sqr' -> 'sqrt', but not 'foo' -> 'floor'.
    if (distance(lower, nearest) <= Math.max(1, Math.floor(lower.length / 3))) suggestion = nearest;
  }
  if (suggestion !== undefined) return new ParseFailure(`unknown function '${name}' (did you mean '${suggestion}'?)`, index);
  return new ParseFailure(`unknown function '${name}'; the functions are ${FUNCTION_NAMES.join(', ')}`, index);
}

/**
 * `timestamp('...')` and `duration('...')` take a quoted literal the job-file
 * rules accept (engine/config/timestamp.ts, duration.ts); anything else is
 * refused here, at the argument, with what to write.
 */
function checkLiteralArgument(name: FunctionName, literal: { what: string; example: string }, arg: JsepNode): void {
  const at = startOf(arg);
  if (arg.type !== 'Literal' || typeof arg.value !== 'string') {
    throw new ParseFailure(`${name}() takes a quoted literal, ${literal.what}: e.g. ${literal.example}`, at);
  }
  const text = arg.value;
  if (name === 'timestamp') {
    const parsed = parseTimestamp(text);
    if (parsed.ok) return;
    if (parsed.reason === 'no-timezone') {
      throw new ParseFailure(`'${text}' has no timezone (add Z for UTC, e.g. timestamp('${text.trim()}Z'))`, at);
    }
    throw new ParseFailure(`'${text}' is not an ISO-8601 timestamp (use e.g. ${literal.example}; a date alone is midnight UTC)`, at);
  }
  if (parseDuration(text) !== null) return;
  if (isUnitlessNumber(text)) throw new ParseFailure(`'${text}' needs a unit: ms, s, m, h or d (e.g. duration('${text.trim()}s'))`, at);
  throw new ParseFailure(`'${text}' is not a duration (use e.g. ${literal.example}, or 1h30m; units ms, s, m, h, d)`, at);
}

// ------------------------------------------------------------ positions

function startOf(node: JsepNode): number {
  // Iterative: a long `a + a + ...` chain is a deep left spine.
  let current = node;
  for (;;) {
    if (current.start !== undefined) return current.start;
    const next = (current.left ?? current.test ?? current.object ?? current.callee) as JsepNode | undefined;
    if (next === undefined) return 0;
    current = next;
  }
}

function endOf(node: JsepNode): number {
  let current = node;
  for (;;) {
    if (current.end !== undefined) return current.end;
    const next = (current.right ?? current.alternate) as JsepNode | undefined;
    if (next === undefined) return startOf(node);
    current = next;
  }
}

/** Where a binary operator was written: only spaces and ')' separate it from its left operand. */
function operatorIndex(text: string, node: JsepNode): number {
  const found = text.indexOf(node.operator as string, endOf(node.left as JsepNode));
  return found === -1 ? startOf(node) : found;
}

// ------------------------------------------------------------ whitelist walk

const ARITHMETIC = new Set<string>(['+', '-', '*', '/', '%']);
const COMPARISON = new Set<string>(['==', '!=', '<', '<=', '>', '>=']);

/** jsep operators we parse only to reject with a useful hint. */
const REJECTED_BINARY: Record<string, string> = {
  '===': "'===' is not needed; use '=='",
  '!==': "'!==' is not needed; use '!='",
  '**': "'**' is not supported; use pow(base, exponent)",
  '^': "'^' is not a power operator here; use pow(base, exponent)",
  '&': "bitwise '&' is not supported; did you mean 'and'?",
  '|': "bitwise '|' is not supported; did you mean 'or'?",
  '??': "'??' is not supported; use coalesce(a, b)",
  '<<': 'bit shifts are not supported',
  '>>': 'bit shifts are not supported',
  '>>>': 'bit shifts are not supported',
};

/**
 * jsep takes any non-ASCII character as part of a name, including a no-break
 * space or a typographic dash pasted from a document; such a "name" would
 * silently read as null, so names are held to letters, digits, `_` and `$`.
 */
function checkName(name: string, start: number): void {
  const bad = /[^\p{L}\p{M}\p{N}_$]/u.exec(name);
  if (bad !== null) {
    const code = bad[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0');
    throw new ParseFailure(`unexpected character U+${code} in the name '${name}' (names use letters, digits and _)`, start + bad.index);
  }
}

const NEAR_LITERALS: Record<string, string> = { null: 'null', true: 'true', false: 'false', none: 'null', nil: 'null' };

function toExpression(node: JsepNode, text: string, depth: number): Expression {
  if (depth > MAX_EXPRESSION_DEPTH) {
    throw new ParseFailure(`the expression is nested too deeply (more than ${MAX_EXPRESSION_DEPTH} levels)`, startOf(node));
  }
  const index = startOf(node);
  const child = (inner: unknown): Expression => toExpression(inner as JsepNode, text, depth + 1);

  switch (node.type) {
    case 'Literal': {
      const value = node.value;
      if (value === null || typeof value === 'number' || typeof value === 'string' || typeof value === 'boolean') {
        return { kind: 'literal', value: value as LiteralValue, index };
      }
      throw new ParseFailure('unsupported literal', index);
    }

    case 'Identifier': {
      const name = node.name as string;
      checkName(name, index);
      if (name === 'not') throw expectedValue(text, endOf(node), 'not');
      if (WORD_OPERATORS.has(name)) throw new ParseFailure(`unexpected '${name}' — expected a value`, index);
      const lower = name.toLowerCase();
      if (Object.hasOwn(NEAR_LITERALS, lower) && name !== lower) {
        // A field called `NULL` would silently read as null; far more likely a SQL habit.
        throw new ParseFailure(`'${name}' would be read as a field name; write ${NEAR_LITERALS[lower]} in lower case`, index);
      }
      return { kind: 'field', path: [name], index };
    }

    case 'ThisExpression':
      throw new ParseFailure("'this' is not available; refer to fields by name, e.g. 'v'", index);

    case 'MemberExpression': {
      const path: string[] = [];
      let current: JsepNode = node;
      /** The '.' right after `current`: where a misplaced member access is. */
      let dot = index;
      while (current.type === 'MemberExpression') {
        const object = current.object as JsepNode;
        if (current.computed) {
          throw new ParseFailure(
            "indexing with '[...]' is not supported; use a dotted path such as 'position.lat'",
            text.indexOf('[', endOf(object)),
          );
        }
        const property = current.property as JsepNode;
        checkName(property.name as string, startOf(property));
        path.unshift(property.name as string);
        dot = Math.max(0, text.lastIndexOf('.', startOf(property)));
        current = object;
      }
      if (current.type === 'CallExpression') {
        throw new ParseFailure("a function result has no fields; '.' cannot follow a call", dot);
      }
      if (current.type === 'ThisExpression') throw new ParseFailure("'this' is not available; refer to fields by name, e.g. 'v'", startOf(current));
      if (current.type !== 'Identifier') throw new ParseFailure("only fields have fields; '.' must follow a field name", dot);
      const root = toExpression(current, text, depth + 1);
      if (root.kind !== 'field') throw new ParseFailure("only fields have fields; '.' must follow a field name", index);
      return { kind: 'field', path: [...root.path, ...path], index };
    }

    case 'CallExpression': {
      const callee = node.callee as JsepNode;
      if (callee.type !== 'Identifier') {
        throw new ParseFailure('only built-in functions can be called, by name, e.g. abs(x)', startOf(callee));
      }
      const name = callee.name as string;
      const calleeIndex = startOf(callee);
      if (!isFunctionName(name)) throw unknownFunction(name, calleeIndex);
      const spec = FUNCTIONS[name];
      const args = node.arguments as JsepNode[];
      if (args.length < spec.minArgs || args.length > spec.maxArgs) {
        const expected =
          spec.maxArgs === Infinity
            ? `at least ${spec.minArgs} argument${spec.minArgs === 1 ? '' : 's'}`
            : spec.minArgs === spec.maxArgs
              ? `${spec.minArgs} argument${spec.minArgs === 1 ? '' : 's'}`
              : `${spec.minArgs} or ${spec.maxArgs} arguments`;
        throw new ParseFailure(`${name}() takes ${expected}, got ${args.length}: ${spec.signature}`, calleeIndex);
      }
      const literal = LITERAL_ARGUMENT_FUNCTIONS[name];
      if (literal !== undefined) checkLiteralArgument(name, literal, args[0]);
      return { kind: 'call', name, args: args.map(child), index: calleeIndex };
    }

    case 'UnaryExpression': {
      const operator = node.operator as string;
      const operand = child(node.argument);
      if (operator === 'not' || operator === '!') return { kind: 'not', operand, index };
      if (operator === '-') {
        // Fold `-5` so `x in [-1, 2]` stays a list of literals.
        if (operand.kind === 'literal' && typeof operand.value === 'number') {
          return { kind: 'literal', value: operand.value === 0 ? 0 : -operand.value, index };
        }
        return { kind: 'negate', operand, index };
      }
      if (operator === '+') {
        if (operand.kind === 'literal' && typeof operand.value === 'number') return { ...operand, index };
        throw new ParseFailure("unary '+' is only allowed before a number", index);
      }
      throw new ParseFailure(`'${operator}' is not supported${operator === '~' ? ' (no bitwise operators)' : ''}`, index);
    }

    case 'BinaryExpression': {
      const operator = node.operator as string;
      const at = operatorIndex(text, node);
      if (Object.hasOwn(REJECTED_BINARY, operator)) throw new ParseFailure(REJECTED_BINARY[operator], at);
      const leftNode = node.left as JsepNode;
      const rightNode = node.right as JsepNode;
      if (leftNode.type === 'UnaryExpression' && leftNode.operator === 'not' && !leftNode.parenthesized && operator !== 'and' && operator !== 'or' && operator !== '&&' && operator !== '||') {
        const operand = text.slice(startOf(leftNode.argument as JsepNode), endOf(leftNode.argument as JsepNode)).trim();
        const right = text.slice(startOf(rightNode), endOf(rightNode)).trim();
        throw new ParseFailure(
          ARITHMETIC.has(operator)
            ? `'not' applies only to '${operand}' here, so '${operator}' would act on true/false; put what 'not' should negate in parentheses`
            : `'not' applies only to '${operand}' here; write not (${operand} ${operator} ${right}) to negate the comparison`,
          startOf(leftNode),
        );
      }
      if (operator === 'in' || operator === 'not in') {
        if (rightNode.type !== 'ArrayExpression') {
          throw new ParseFailure(`'${operator}' needs a list: write q ${operator} ['p', 'v']`, startOf(rightNode));
        }
        const list = (rightNode.elements as JsepNode[]).map(child);
        return { kind: 'in', value: child(leftNode), list, negated: operator === 'not in', index: at };
      }
      if (COMPARISON.has(operator)) {
        for (const side of [leftNode, rightNode]) {
          if (side.type === 'BinaryExpression' && COMPARISON.has(side.operator as string) && !side.parenthesized) {
            throw new ParseFailure("comparisons cannot be chained; write 'a < x and x < b'", at);
          }
        }
        return { kind: 'comparison', operator: operator as ComparisonOperator, left: child(leftNode), right: child(rightNode), index: at };
      }
      if (ARITHMETIC.has(operator)) {
        return { kind: 'arithmetic', operator: operator as ArithmeticOperator, left: child(leftNode), right: child(rightNode), index: at };
      }
      if (operator === 'and' || operator === '&&' || operator === 'or' || operator === '||') {
        const logical = operator === 'and' || operator === '&&' ? 'and' : 'or';
        return { kind: 'logical', operator: logical, left: child(leftNode), right: child(rightNode), index: at };
      }
      throw new ParseFailure(`'${operator}' is not supported`, at);
    }

    case 'ConditionalExpression':
      return {
        kind: 'conditional',
        test: child(node.test),
        whenTrue: child(node.consequent),
        whenFalse: child(node.alternate),
        index,
      };

    case 'ArrayExpression':
      throw new ParseFailure("a list [...] is only allowed after 'in', e.g. q in ['p', 'v']", index);

    default:
      throw new ParseFailure(`unsupported syntax (${node.type})`, index);
  }
}

/**
 * Parses a field expression. Never throws: every problem comes back as a
 * message and the character offset in `text` it refers to, so the config
 * validator can report `file:line:col`.
 *
 * The language: field names (`v`, dotted `position.lat`), literals (`1.5`,
 * `'text'`, `true`, `null`), `+ - * / %`, `== != < <= > >=`, `and or not`
 * (also `&& || !`), `a ? b : c`, `x in [..]`, `x not in [..]`, and the
 * functions in `functions.ts`, among them the time literals
 * `timestamp('2019-01-01T00:00:00Z')` and `duration('30d')` (epoch and plain
 * milliseconds, so `t >= timestamp('2019-01-01') + duration('1h')` is arithmetic).
 *
 * @example
 * parseExpression("v != null and q in ['p', 'v']") // { ok: true, expression: {...} }
 * parseExpression('v = 1')   // { ok: false, message: "'=' is assignment; use '==' to compare", index: 2 }
 * parseExpression('sqr(v)')  // { ok: false, message: "unknown function 'sqr' (did you mean 'sqrt'?)", index: 0 }
 */
export function parseExpression(text: string): ParseResult {
  if (typeof text !== 'string') return { ok: false, message: 'an expression must be a string', index: 0 };
  try {
    const parser = new PositionedParser(text);
    parser.gobbleSpaces();
    if (parser.index >= text.length) return { ok: false, message: 'the expression is empty', index: 0 };
    const node = parser.gobbleExpression();
    if (!node) throw expectedValue(text, parser.index, '');
    const expression = toExpression(node, text, 0);
    if (parser.index < text.length) throw trailingFailure(text, parser.index);
    return { ok: true, expression };
  } catch (error) {
    if (error instanceof ParseFailure) return { ok: false, message: error.message, index: error.index };
    if (error instanceof RangeError) {
      // Thousands of nested parentheses exhaust the recursive-descent parser's stack.
      return { ok: false, message: `the expression is nested too deeply (more than ${MAX_EXPRESSION_DEPTH} levels)`, index: 0 };
    }
    if (isJsepError(error)) {
      const failure = fromJsepError(error, text);
      return { ok: false, message: failure.message, index: failure.index };
    }
    return { ok: false, message: `cannot parse the expression: ${String(error)}`, index: 0 };
  }
}

function isJsepError(error: unknown): error is { index: number; description: string } {
  return (
    error instanceof Error &&
    typeof (error as { index?: unknown }).index === 'number' &&
    typeof (error as { description?: unknown }).description === 'string'
  );
}
