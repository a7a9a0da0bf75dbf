/**
 * The operators of the expression language as the job-file reference
 * (docs/reference.md) documents them, tightest-binding first. Their rules
 * live in parse.ts (grouping) and compile.ts (values); this is what users
 * read, and syntax.test.ts holds it to both: every example parses, the
 * groups follow the parser's precedence, and every operator the syntax tree
 * knows is listed.
 */

export interface OperatorDoc {
  /** As written in an expression, e.g. `not in`. */
  operator: string;
  /** Other spellings the parser accepts for it. */
  aliases?: string[];
  meaning: string;
  /** An expression using it; the reference shows its result on {@link SAMPLE_ROW}. */
  example: string;
}

/** Operators that bind equally tightly. */
export interface OperatorGroup {
  /** What holds for the whole group. */
  note?: string;
  operators: OperatorDoc[];
}

/**
 * The row the reference evaluates examples on (a tide observation).
 *
 * @example
 * compileExpression(parsed("q in ['p', 'v']"))(SAMPLE_ROW); // true
 */
export const SAMPLE_ROW: Readonly<Record<string, unknown>> = {
  station: '8454000',
  name: 'Providence',
  t: Date.UTC(2020, 8, 24, 4, 18),
  v: 1.27,
  s: null,
  q: 'p',
};

export const OPERATOR_GROUPS: readonly OperatorGroup[] = [
  {
    operators: [
      { operator: '-x', meaning: 'Negation.', example: '-v' },
      {
        operator: 'not x',
        aliases: ['!x'],
        meaning: 'True when `x` is null or false. Binds tightest: write `not (v > 1)` to negate a comparison.',
        example: 'not (v > 1)',
      },
    ],
  },
  {
    operators: [
      { operator: '*', meaning: 'Multiplication.', example: 'v * 3.28084' },
      { operator: '/', meaning: 'Division; dividing by zero gives null.', example: 'v / 0' },
      { operator: '%', meaning: 'Remainder, with the sign of the left operand.', example: '7 % 4' },
    ],
  },
  {
    operators: [
      { operator: '+', meaning: 'Addition; joins two texts.', example: "station + '-' + q" },
      { operator: '-', meaning: 'Subtraction; timestamps and durations are milliseconds, so they subtract too.', example: "t - timestamp('2020-09-24')" },
    ],
  },
  {
    note: 'Comparisons cannot be chained: write `a < x and x < b`.',
    operators: [
      { operator: '==', meaning: 'Equal, without type coercion; `v == null` tests for a missing value.', example: 's == null' },
      { operator: '!=', meaning: 'Not equal.', example: "station != '8454000'" },
      { operator: '<', meaning: 'Less than: two numbers or two texts; any other pair (null included) is false.', example: 'v < 2' },
      { operator: '<=', meaning: 'At most.', example: 'v <= 1.27' },
      { operator: '>', meaning: 'Greater than.', example: "t > timestamp('2020-09-24')" },
      { operator: '>=', meaning: 'At least.', example: 's >= 0' },
      { operator: 'in', meaning: 'Equal to one of the listed values.', example: "q in ['p', 'v']" },
      { operator: 'not in', meaning: 'Equal to none of the listed values.', example: "q not in ['p', 'v']" },
    ],
  },
  { operators: [{ operator: 'and', aliases: ['&&'], meaning: 'Both are true (only null and false count as false).', example: 'v != null and v > 1' }] },
  { operators: [{ operator: 'or', aliases: ['||'], meaning: 'Either is true.', example: "q == 'v' or v > 1" }] },
  { operators: [{ operator: 'a ? b : c', meaning: '`b` when `a` is true, else `c`.', example: "v > 1 ? 'high' : 'low'" }] },
];
