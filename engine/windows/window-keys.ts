import type { Row } from '../core/batch';

/**
 * Composite keys of the window step are strings. A string key part is used
 * as it is (the common case: station ids); other types get a NUL-prefixed
 * type tag so the number 1 and the string "1" stay different keys. The
 * window operator and the partial aggregates built on worker threads
 * (window-partials.ts) must agree on them exactly, hence one definition.
 *
 * @example
 *   keyIdOfRow({ station: '8454000', t: 0 }, ['station']) // '8454000'
 *   keyIdOfValues(['8454000', 1])                          // '8454000\u001f\u0000number:1'
 */
const KEY_SEPARATOR = '\u001f';

function keyPart(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value === null || value === undefined) return '\u0000null';
  if (value instanceof Date) return `\u0000date:${value.getTime()}`;
  return `\u0000${typeof value}:${String(value)}`;
}

/** The key of `row` over `fields`. */
export function keyIdOfRow(row: Row, fields: readonly string[]): string {
  if (fields.length === 1) return keyPart(row[fields[0]]);
  let id = '';
  for (let k = 0; k < fields.length; k++) id += (k === 0 ? '' : KEY_SEPARATOR) + keyPart(row[fields[k]]);
  return id;
}

/** The key of a key's original values (restored state, partial aggregates). */
export function keyIdOfValues(values: readonly unknown[]): string {
  let id = '';
  for (let k = 0; k < values.length; k++) id += (k === 0 ? '' : KEY_SEPARATOR) + keyPart(values[k]);
  return id;
}

/** The original key values of `row` (null where absent), as output rows carry them. */
export function keyValuesOfRow(row: Row, fields: readonly string[]): unknown[] {
  const values = new Array<unknown>(fields.length);
  for (let k = 0; k < values.length; k++) values[k] = row[fields[k]] ?? null;
  return values;
}
