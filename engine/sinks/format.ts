import type { Row } from '../core/batch';

/**
 * One JSON line for a result row: timestamps as ISO-8601 UTC with milliseconds
 * (`Date` values, and epoch-ms numbers in `timestampFields`), numbers as JSON
 * numbers; NaN and infinities (which JSON cannot hold) as null.
 */
export function toJsonLine(row: Row, timestampFields: ReadonlySet<string>): string {
  return JSON.stringify(row, (key, value) => {
    if (typeof value === 'number') {
      if (key !== '' && timestampFields.has(key) && Number.isFinite(value)) return new Date(value).toISOString();
      return Number.isFinite(value) ? value : null;
    }
    return value;
  });
}
