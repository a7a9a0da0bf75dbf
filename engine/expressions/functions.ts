/**
 * The whitelist of functions an expression may call. Nothing else is callable:
 * the parser rejects any other name, so a job file can never reach a JavaScript
 * function. Every function is pure and deterministic (no `now()`, no random),
 * which is what lets a replay after a crash produce the same rows.
 *
 * Timestamps are epoch milliseconds (UTC) inside the engine, and durations are
 * milliseconds, so `timestamp('2019-01-01') + duration('1h')` is plain
 * arithmetic on numbers.
 *
 * Shared conventions, so each function stays a few lines:
 * - a `null` argument gives `null` (except `coalesce`, `is_null`, `min`, `max`);
 * - an argument of the wrong type (e.g. `sqrt('a')`) gives `null`, never an error;
 * - a result that is not a finite number (`sqrt(-1)`, `pow(10, 400)`) gives `null`,
 *   because JSON and Cassandra cannot carry NaN/Infinity faithfully.
 */

import type { Evaluator, FunctionName } from './ast';
import { parseDuration } from '../config/duration';
import { parseTimestamp } from '../config/timestamp';

export type { FunctionName } from './ast';

export interface FunctionSpec {
  /** What it returns, for the job-file reference (docs/reference.md). */
  description: string;
  /** A call the reference shows with its result (computed when the reference is generated). */
  example: string;
  minArgs: number;
  /** `Infinity` for variadic functions. */
  maxArgs: number;
  /** How it reads in an error message, e.g. `round(x, digits?)`. */
  signature: string;
  /** Builds the evaluator once, from the argument evaluators. */
  build(args: Evaluator[]): Evaluator;
}

const MS_PER_HOUR = 3_600_000;
const MS_PER_DAY = 86_400_000;

function finiteOrNull(value: number): number | null {
  return Number.isFinite(value) ? value : null;
}

/** A one-number-in, one-number-out function with the shared null/type rules. */
function numeric(fn: (x: number) => number): (args: Evaluator[]) => Evaluator {
  return ([arg]) =>
    (row) => {
      const x = arg(row);
      return typeof x === 'number' ? finiteOrNull(fn(x)) : null;
    };
}

function text(fn: (s: string) => unknown): (args: Evaluator[]) => Evaluator {
  return ([arg]) =>
    (row) => {
      const s = arg(row);
      return typeof s === 'string' ? fn(s) : null;
    };
}

/** Shifts a number's decimal exponent by text, so 1.005 shifted by 2 is exactly 100.5 (not 100.49999...). */
function shiftDecimal(value: number, places: number): number {
  const [mantissa, exponent] = String(value).split('e');
  return Number(`${mantissa}e${Number(exponent ?? 0) + places}`);
}

/**
 * The exact (slow) rounding of a non-negative number: shift the decimal point
 * by text, round, shift back. The reference the fast path is tested against.
 *
 * @example
 * roundMagnitudeByDecimalShift(1.005, 2) // 1.01
 */
export function roundMagnitudeByDecimalShift(magnitude: number, digits: number): number {
  return shiftDecimal(Math.round(shiftDecimal(magnitude, digits)), -digits);
}

const POWERS_OF_TEN = Array.from({ length: 16 }, (_, i) => 10 ** i);

/**
 * Rounds half away from zero at `digits` decimal places (SQL's ROUND), on the
 * number as written in decimal: `round(1.005, 2)` is 1.01, `round(-2.5)` is -3.
 *
 * Fast path in plain arithmetic; only when the scaled value lies within a few
 * ulps of a .5 tie (where binary error could flip the direction) does it fall
 * back to the exact decimal shift, which costs string conversions.
 *
 * @example
 * roundHalfAwayFromZero(1.005, 2) // 1.01
 */
export function roundHalfAwayFromZero(x: number, digits: number): number | null {
  if (!Number.isFinite(x) || !Number.isInteger(digits) || Math.abs(digits) > 300) return null;
  const magnitude = Math.abs(x);
  let rounded: number | undefined;
  if (digits >= 0 && digits <= 15) {
    const factor = POWERS_OF_TEN[digits];
    const scaled = magnitude * factor;
    if (scaled < 2 ** 52) {
      const whole = Math.floor(scaled);
      const fraction = scaled - whole;
      // Integers and 10^digits are exact, so the division is the correctly rounded decimal.
      if (Math.abs(fraction - 0.5) > scaled * 2e-15 + 1e-12) rounded = (fraction > 0.5 ? whole + 1 : whole) / factor;
    }
  }
  rounded ??= roundMagnitudeByDecimalShift(magnitude, digits);
  if (!Number.isFinite(rounded)) return null;
  // Avoid -0: it prints as 0 in JSON but compares oddly with Object.is.
  return rounded === 0 ? 0 : x < 0 ? -rounded : rounded;
}

/** Unicode code points, so `len('café')` is 4 whatever the normalisation of the surrogate pairs. */
function codePointLength(s: string): number {
  let count = 0;
  for (let i = 0; i < s.length; i++) {
    const unit = s.charCodeAt(i);
    // A low surrogate continues the code point its high surrogate started.
    if (unit < 0xdc00 || unit > 0xdfff) count++;
  }
  return count;
}

/** `min`/`max`: nulls are skipped (like SQL's LEAST/GREATEST in PostgreSQL); all-null gives null. */
function extreme(pickSecond: (best: number, candidate: number) => boolean): (args: Evaluator[]) => Evaluator {
  return (args) =>
    (row) => {
      let best: number | null = null;
      for (const arg of args) {
        const value = arg(row);
        if (value === null) continue;
        if (typeof value !== 'number' || Number.isNaN(value)) return null;
        if (best === null || pickSecond(best, value)) best = value;
      }
      return best;
    };
}

export const FUNCTIONS: Readonly<Record<FunctionName, FunctionSpec>> = {
  abs: {
    description: 'Absolute value.',
    example: 'abs(-0.42)',
    minArgs: 1,
    maxArgs: 1,
    signature: 'abs(x)',
    build: numeric(Math.abs),
  },
  round: {
    description: "Rounds half away from zero (SQL's ROUND) at `digits` decimal places (default 0), on the number as written in decimal.",
    example: 'round(1.005, 2)',
    minArgs: 1,
    maxArgs: 2,
    signature: 'round(x, digits?)',
    build: ([valueOf, digitsOf]) =>
      (row) => {
        const x = valueOf(row);
        const digits = digitsOf === undefined ? 0 : digitsOf(row);
        return typeof x === 'number' && typeof digits === 'number' ? roundHalfAwayFromZero(x, digits) : null;
      },
  },
  floor: {
    description: 'Largest whole number not above `x`.',
    example: 'floor(-2.5)',
    minArgs: 1,
    maxArgs: 1,
    signature: 'floor(x)',
    build: numeric(Math.floor),
  },
  ceil: {
    description: 'Smallest whole number not below `x`.',
    example: 'ceil(2.1)',
    minArgs: 1,
    maxArgs: 1,
    signature: 'ceil(x)',
    build: numeric(Math.ceil),
  },
  min: {
    description: 'Smallest of the arguments; null arguments are skipped, all null gives null.',
    example: 'min(3, null, 1.5)',
    minArgs: 1,
    maxArgs: Infinity,
    signature: 'min(a, b, ...)',
    build: extreme((best, candidate) => candidate < best),
  },
  max: {
    description: 'Largest of the arguments; null arguments are skipped, all null gives null.',
    example: 'max(3, null, 1.5)',
    minArgs: 1,
    maxArgs: Infinity,
    signature: 'max(a, b, ...)',
    build: extreme((best, candidate) => candidate > best),
  },
  sqrt: {
    description: 'Square root; null for a negative number.',
    example: 'sqrt(2.25)',
    minArgs: 1,
    maxArgs: 1,
    signature: 'sqrt(x)',
    build: numeric(Math.sqrt),
  },
  pow: {
    description: '`base` to the power `exponent`; null when the result is not a finite number.',
    example: 'pow(2, 10)',
    minArgs: 2,
    maxArgs: 2,
    signature: 'pow(base, exponent)',
    build: ([baseOf, exponentOf]) =>
      (row) => {
        const base = baseOf(row);
        const exponent = exponentOf(row);
        return typeof base === 'number' && typeof exponent === 'number' ? finiteOrNull(base ** exponent) : null;
      },
  },
  coalesce: {
    description: 'The first argument that is not null (later arguments are evaluated only when needed).',
    example: 'coalesce(null, 0)',
    minArgs: 1,
    maxArgs: Infinity,
    signature: 'coalesce(a, b, ...)',
    // Lazy on purpose: later arguments are only evaluated when needed, as in SQL.
    build: (args) =>
      (row) => {
        for (const arg of args) {
          const value = arg(row);
          if (value !== null) return value;
        }
        return null;
      },
  },
  lower: {
    description: 'Text in lower case.',
    example: "lower('Boston')",
    minArgs: 1,
    maxArgs: 1,
    signature: 'lower(s)',
    build: text((s) => s.toLowerCase()),
  },
  upper: {
    description: 'Text in upper case.',
    example: "upper('mllw')",
    minArgs: 1,
    maxArgs: 1,
    signature: 'upper(s)',
    build: text((s) => s.toUpperCase()),
  },
  len: {
    description: 'Length of a text in Unicode code points, or of a list.',
    example: "len('café')",
    minArgs: 1,
    maxArgs: 1,
    signature: 'len(s)',
    build: ([arg]) =>
      (row) => {
        const value = arg(row);
        if (typeof value === 'string') return codePointLength(value);
        return Array.isArray(value) ? value.length : null;
      },
  },
  is_null: {
    description: 'Whether `x` is null (a missing field reads as null).',
    example: 'is_null(null)',
    minArgs: 1,
    maxArgs: 1,
    signature: 'is_null(x)',
    build: ([arg]) =>
      (row) =>
        arg(row) === null,
  },
  // Timestamps in the engine are epoch milliseconds (UTC), so these are plain arithmetic.
  hour: {
    description: 'Hour of the day (0-23, UTC) of an epoch-millisecond timestamp.',
    example: "hour(timestamp('2020-09-24T04:18:00Z'))",
    minArgs: 1,
    maxArgs: 1,
    signature: 'hour(t)',
    build: numeric((t) => Math.floor((((t % MS_PER_DAY) + MS_PER_DAY) % MS_PER_DAY) / MS_PER_HOUR)),
  },
  day: {
    description: 'Day of the month (1-31, UTC) of an epoch-millisecond timestamp.',
    example: "day(timestamp('2020-09-24T04:18:00Z'))",
    minArgs: 1,
    maxArgs: 1,
    signature: 'day(t)',
    // Day of the month, 1-31, UTC. NaN for dates out of range becomes null.
    build: numeric((t) => new Date(t).getUTCDate()),
  },
  // Literals for event time, written as in job files: the parser only lets a quoted literal it
  // can read through (LITERAL_ARGUMENT_FUNCTIONS), so these never see anything else.
  timestamp: {
    description: 'Epoch milliseconds of a quoted ISO-8601 date (midnight UTC) or date-time with a zone; checked by lint.',
    example: "timestamp('2019-01-01')",
    minArgs: 1,
    maxArgs: 1,
    signature: "timestamp('2019-01-01T00:00:00Z')",
    build: text((s) => {
      const parsed = parseTimestamp(s);
      return parsed.ok ? parsed.ms : null;
    }),
  },
  duration: {
    description: 'Milliseconds of a quoted duration (units ms, s, m, h, d; `1h30m`); checked by lint.',
    example: "duration('1h30m')",
    minArgs: 1,
    maxArgs: 1,
    signature: "duration('30d')",
    build: text((s) => parseDuration(s)),
  },
};

/**
 * Functions whose one argument must be a quoted literal, checked when the
 * expression is parsed (so a typo is a lint error at its character, not a
 * null at run time): what it must be, and an example.
 */
export const LITERAL_ARGUMENT_FUNCTIONS: Readonly<Partial<Record<FunctionName, { what: string; example: string }>>> = {
  timestamp: { what: 'an ISO-8601 date or date-time with a zone', example: "timestamp('2019-01-01T00:00:00Z')" },
  duration: { what: 'a duration with units (ms, s, m, h, d)', example: "duration('30d')" },
};

export const FUNCTION_NAMES: readonly FunctionName[] = Object.keys(FUNCTIONS) as FunctionName[];

/** Whether `name` is on the whitelist (own keys only, so `constructor` is not). */
export function isFunctionName(name: string): name is FunctionName {
  return Object.hasOwn(FUNCTIONS, name);
}
