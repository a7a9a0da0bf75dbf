import type { Row } from './batch';

/**
 * The key of a row over its key fields (window and dedupe steps, partial
 * aggregates built on worker threads): one text per key, so steps, threads
 * and checkpoints agree on it exactly. A string part is used as it is (the
 * common case: station ids); other values get a NUL-prefixed type tag, so
 * the number 1 and the string "1" stay different keys, as do null and
 * "null"; an absent field is null; a Date is its epoch milliseconds. Parts
 * are joined by U+001F (unit separator).
 *
 * @example
 *   keyIdOfRow({ station: '8454000', t: 0 }, ['station']) // '8454000'
 *   keyIdOfValues(['8454000', 1])                          // '8454000\u001f\u0000number:1'
 */
export const KEY_SEPARATOR = '\u001f';
const NUMBER_TAG = '\u0000number:';

function keyPart(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number') return NUMBER_TAG + String(value);
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

/**
 * The same keys in two levels, for a map on the hot path that would
 * otherwise build one text per row: the key text up to its last separator
 * (`prefix`) and the last part, held as the number it is when it is a
 * number (a timestamp: no text printed) and as text otherwise. It is a split
 * of the key text, one to one: two rows have equal keys exactly when their
 * prefixes are equal and their last parts are the same Map key.
 *
 * @example
 *   const keys = new KeySplitter(['station', 't']);
 *   keys.split({ station: '8454000', t: 1_600_000_000_000 }); // 1600000000000, keys.prefix === '8454000'
 *   keys.join(keys.prefix, 1_600_000_000_000);               // keyIdOfRow of that row
 */
export class KeySplitter {
  /** The outer level of the key `split` or `splitText` read last. */
  prefix = '';
  private readonly whole: boolean;

  constructor(private readonly fields: readonly string[]) {
    this.whole = fields.length === 1;
  }

  /** The last part of `row`'s key; its prefix goes to `this.prefix`. */
  split(row: Row): number | string {
    const fields = this.fields;
    const parts = fields.length;
    let prefix = '';
    for (let k = 0; k < parts - 1; k++) prefix += (k === 0 ? '' : KEY_SEPARATOR) + keyPart(row[fields[k]]);
    const value = row[fields[parts - 1]];
    if (typeof value === 'number') {
      this.prefix = prefix;
      return value;
    }
    // A string is its own text unless it could read as a tag or hold the separator: those go the long way.
    if (typeof value === 'string' && value.charCodeAt(0) !== 0 && (this.whole || value.indexOf(KEY_SEPARATOR) < 0)) {
      this.prefix = prefix;
      return value;
    }
    return this.splitText(this.whole ? keyPart(value) : prefix + KEY_SEPARATOR + keyPart(value));
  }

  /** The last part of a key text (keyIdOfRow); its prefix goes to `this.prefix`. */
  splitText(text: string): number | string {
    let last = text;
    if (this.whole) this.prefix = '';
    else {
      const at = text.lastIndexOf(KEY_SEPARATOR);
      this.prefix = text.slice(0, at);
      last = text.slice(at + 1);
    }
    if (last.startsWith(NUMBER_TAG)) {
      const digits = last.slice(NUMBER_TAG.length);
      const number = Number(digits);
      if (String(number) === digits) return number;
    }
    return last;
  }

  /** The key text of a prefix and last part (the inverse of `splitText`). */
  join(prefix: string, last: number | string): string {
    const text = typeof last === 'number' ? NUMBER_TAG + String(last) : last;
    return this.whole ? text : prefix + KEY_SEPARATOR + text;
  }
}
