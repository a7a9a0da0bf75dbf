/**
 * Timestamp parsing shared by the text codecs. Everything returns epoch
 * milliseconds (UTC) or `undefined` for text that is not a valid time; the
 * caller turns `undefined` into a dead-letter reason that quotes the text.
 *
 * Times without a zone are taken as UTC: every NOAA layout we read is GMT
 * (see data/bundled/README.md), and `Date.parse` would silently use the
 * machine's local zone instead.
 */

const ISO = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?(Z|z|[+-]\d{2}(?::?\d{2})?)?$/;
const SLASHED_YMD = /^(\d{4})\/(\d{1,2})\/(\d{1,2})$/;
const SLASHED_MDY_TIME = /^(\d{1,2})\/(\d{1,2})\/(\d{4})[ T](\d{1,2}):(\d{2})(?::(\d{2}))?$/;
const CLOCK = /^(\d{1,2}):(\d{2})(?::(\d{2}))?$/;

function daysInMonth(year: number, month: number): number {
  // Day 0 of the next month is the last day of this one.
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

/** Date.UTC with range checks, because Date.UTC quietly rolls 2019-02-30 over to March. */
function utc(year: number, month: number, day: number, hour: number, minute: number, second: number, ms: number): number | undefined {
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return undefined;
  if (hour > 23 || minute > 59 || second > 59) return undefined;
  return Date.UTC(year, month - 1, day, hour, minute, second, ms);
}

/**
 * ISO-8601 date-time (`2005-09-01T01:00:00Z`, `2018-09-09 00:00`, with an
 * optional offset) to epoch ms.
 *
 * @example
 *   parseIsoTimestamp('2020-09-24T04:18:00.000Z'); // 1600921080000
 */
export function parseIsoTimestamp(text: string): number | undefined {
  const m = ISO.exec(text);
  if (m === null) return undefined;
  const fraction = m[7] === undefined ? 0 : Math.floor(Number(`0.${m[7]}`) * 1000);
  const base = utc(+m[1], +m[2], +m[3], m[4] === undefined ? 0 : +m[4], m[5] === undefined ? 0 : +m[5], m[6] === undefined ? 0 : +m[6], fraction);
  if (base === undefined) return undefined;
  const zone = m[8];
  if (zone === undefined || zone === 'Z' || zone === 'z') return base;
  const sign = zone[0] === '-' ? -1 : 1;
  const digits = zone.slice(1).replace(':', '');
  const offsetMinutes = +digits.slice(0, 2) * 60 + (digits.length > 2 ? +digits.slice(2) : 0);
  return base - sign * offsetMinutes * 60_000;
}

/**
 * A NOAA web-export date (`2019/01/31`) and clock (`23:54`) column pair, UTC.
 *
 * @example
 *   parseSlashedDateAndClock('2019/01/01', '00:06'); // 1546301160000
 */
export function parseSlashedDateAndClock(date: string, clock: string): number | undefined {
  const d = SLASHED_YMD.exec(date);
  const c = CLOCK.exec(clock);
  if (d === null || c === null) return undefined;
  return utc(+d[1], +d[2], +d[3], +c[1], +c[2], c[3] === undefined ? 0 : +c[3], 0);
}

/**
 * The TADC layout's US-style `M/D/YYYY H:MM` (no zero padding), UTC.
 *
 * @example
 *   parseMonthDayYearTime('10/1/2016 0:06'); // 1475280360000
 */
export function parseMonthDayYearTime(text: string): number | undefined {
  const m = SLASHED_MDY_TIME.exec(text);
  if (m === null) return undefined;
  return utc(+m[3], +m[1], +m[2], +m[4], +m[5], m[6] === undefined ? 0 : +m[6], 0);
}

/** Epoch ms given as a number, a string of digits, or ISO-8601 text. */
export function parseTimestampValue(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
  if (typeof value !== 'string') return undefined;
  if (/^-?\d+$/.test(value)) return Number(value);
  return parseIsoTimestamp(value);
}
