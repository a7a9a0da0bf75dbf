/**
 * ISO-8601 timestamps in job files (window anchors, generator start). A time
 * without a zone is refused: read as local time it would move every window
 * boundary by the machine's UTC offset.
 */

export type TimestampResult = { ok: true; ms: number } | { ok: false; reason: 'invalid' | 'no-timezone' };

const ISO =
  /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(?:([Zz])|([+-])(\d{2}):?(\d{2}))?)?$/;

/**
 * Parse an ISO-8601 date or date-time with a zone into epoch milliseconds.
 * A bare date means midnight UTC.
 *
 * @example
 * parseTimestamp('1970-01-01T00:00:00Z'); // { ok: true, ms: 0 }
 * parseTimestamp('2024-01-01T00:00:00');  // { ok: false, reason: 'no-timezone' }
 */
export function parseTimestamp(text: string): TimestampResult {
  const match = ISO.exec(text.trim());
  if (match === null) return { ok: false, reason: 'invalid' };
  const [, year, month, day, hour, minute, second, fraction, zulu, sign, offsetHours, offsetMinutes] = match;
  const hasTime = hour !== undefined;
  if (hasTime && zulu === undefined && sign === undefined) return { ok: false, reason: 'no-timezone' };
  const fields = [Number(year), Number(month) - 1, Number(day), Number(hour ?? 0), Number(minute ?? 0), Number(second ?? 0)];
  const utc = Date.UTC(fields[0], fields[1], fields[2], fields[3], fields[4], fields[5]);
  // Date.UTC rolls 2024-02-30 over to March; compare back to catch impossible dates.
  const check = new Date(utc);
  if (
    check.getUTCFullYear() !== fields[0] ||
    check.getUTCMonth() !== fields[1] ||
    check.getUTCDate() !== fields[2] ||
    check.getUTCHours() !== fields[3] ||
    check.getUTCMinutes() !== fields[4] ||
    check.getUTCSeconds() !== fields[5]
  ) {
    return { ok: false, reason: 'invalid' };
  }
  const millis = fraction === undefined ? 0 : Number(fraction.slice(0, 3).padEnd(3, '0'));
  let offsetMs = 0;
  if (sign !== undefined) {
    const hours = Number(offsetHours);
    const minutes = Number(offsetMinutes);
    if (hours > 23 || minutes > 59) return { ok: false, reason: 'invalid' };
    offsetMs = (sign === '-' ? -1 : 1) * (hours * 60 + minutes) * 60_000;
  }
  return { ok: true, ms: utc + millis - offsetMs };
}
