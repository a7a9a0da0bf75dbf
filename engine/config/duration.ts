/**
 * Durations as job files write them: a number with a unit, optionally
 * compound (`24h50m28.329s`). A bare number is refused because `30` could mean
 * seconds or milliseconds, and a wrong guess silently shifts every window.
 */

const UNIT_MS: Record<string, number> = {
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

// `ms` must be tried before `m` and `s`, hence the alternation order.
const PART = /(\d+(?:\.\d+)?|\.\d+)(ms|s|m|h|d)/y;

/**
 * Parse a duration into milliseconds, or return `null` when the text is not one.
 *
 * @example
 * parseDuration('500ms');          // 500
 * parseDuration('24h50m28.329s');  // 89428329
 * parseDuration('30');             // null: add a unit
 */
export function parseDuration(text: string): number | null {
  if (text.length === 0) return null;
  let total = 0;
  PART.lastIndex = 0;
  while (PART.lastIndex < text.length) {
    const start = PART.lastIndex;
    const match = PART.exec(text);
    if (match === null || match.index !== start) return null;
    // Round to microseconds so decimal fractions like 28.329s land on whole milliseconds.
    total += Math.round(Number(match[1]) * UNIT_MS[match[2]] * 1000) / 1000;
  }
  return Number.isFinite(total) ? total : null;
}

/** Whether text is a plain number, i.e. a duration that only lacks its unit. */
export function isUnitlessNumber(text: string): boolean {
  return /^\s*-?(\d+(\.\d*)?|\.\d+)\s*$/.test(text);
}
