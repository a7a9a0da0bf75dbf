import { DecodeError } from '../core/errors';

/**
 * Split one CSV record into fields: RFC 4180 quoting (`"a,b"`, `""` for a
 * quote), `\r` before the newline tolerated. Fields are not trimmed.
 *
 * @example
 *   splitCsvLine('"2019/01/01","00:00","1.548","-","1.42"'); // ['2019/01/01', '00:00', '1.548', '-', '1.42']
 */
export function splitCsvLine(line: string): string[] {
  const end = line.length > 0 && line.charCodeAt(line.length - 1) === 13 ? line.length - 1 : line.length;
  // Fast path: most NOAA API files have no quotes at all.
  if (line.indexOf('"') === -1) return (end === line.length ? line : line.slice(0, end)).split(',');
  const fields: string[] = [];
  let i = 0;
  for (;;) {
    if (i < end && line.charCodeAt(i) === 34 /* " */) {
      let value = '';
      let start = ++i;
      for (;;) {
        const quote = line.indexOf('"', i);
        if (quote === -1 || quote >= end) throw new DecodeError('unterminated quoted field');
        if (quote + 1 < end && line.charCodeAt(quote + 1) === 34) {
          value += line.slice(start, quote + 1);
          i = start = quote + 2;
          continue;
        }
        value += line.slice(start, quote);
        i = quote + 1;
        break;
      }
      fields.push(value);
      if (i >= end) return fields;
      if (line.charCodeAt(i) !== 44 /* , */) throw new DecodeError(`unexpected text after a quoted field at column ${i + 1}`);
      i++;
    } else {
      const comma = line.indexOf(',', i);
      if (comma === -1 || comma >= end) {
        fields.push(line.slice(i, end));
        return fields;
      }
      fields.push(line.slice(i, comma));
      i = comma + 1;
    }
  }
}

/**
 * Whether `text` ends inside a quoted field, i.e. the CSV record continues on
 * the next line. Line readers use it to join multi-line records.
 */
export function hasUnclosedQuote(text: string): boolean {
  let count = 0;
  for (let i = text.indexOf('"'); i !== -1; i = text.indexOf('"', i + 1)) count++;
  return (count & 1) === 1;
}
