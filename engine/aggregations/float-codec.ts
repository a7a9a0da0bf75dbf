/**
 * JSON has no spelling for NaN, ±Infinity or -0, but accumulator slots hold
 * all of them (an empty min starts at +Infinity, a sum of +Inf and -Inf is
 * NaN). Snapshots therefore write those values as strings and read them back
 * exactly, so a restored operator continues bit-for-bit where it stopped.
 */

/** A number as JSON can carry it: finite numbers as they are, the rest as a string. */
export type EncodedNumber = number | 'NaN' | 'Infinity' | '-Infinity' | '-0';

/**
 * Encode one number for JSON.
 *
 * @example
 * encodeNumber(Infinity); // 'Infinity'
 * encodeNumber(1.5);      // 1.5
 */
export function encodeNumber(value: number): EncodedNumber {
  if (Number.isFinite(value)) return Object.is(value, -0) ? '-0' : value;
  if (Number.isNaN(value)) return 'NaN';
  return value > 0 ? 'Infinity' : '-Infinity';
}

/**
 * Decode what {@link encodeNumber} wrote; anything else is a corrupt snapshot.
 *
 * @example
 * decodeNumber('-Infinity'); // -Infinity
 */
export function decodeNumber(value: unknown): number {
  if (typeof value === 'number') return value;
  switch (value) {
    case 'NaN':
      return NaN;
    case 'Infinity':
      return Infinity;
    case '-Infinity':
      return -Infinity;
    case '-0':
      return -0;
    default:
      throw new TypeError(`not an encoded number: ${JSON.stringify(value)}`);
  }
}

/**
 * Encode a slot array for JSON.
 *
 * @example
 * encodeFloats(Float64Array.of(1, Infinity)); // [1, 'Infinity']
 */
export function encodeFloats(values: Float64Array): EncodedNumber[] {
  const out: EncodedNumber[] = new Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = encodeNumber(values[i]);
  return out;
}

/**
 * Decode a slot array written by {@link encodeFloats}.
 *
 * @example
 * decodeFloats([1, 'NaN']); // Float64Array [1, NaN]
 */
export function decodeFloats(values: unknown): Float64Array {
  if (!Array.isArray(values)) throw new TypeError('encoded slots must be an array');
  const out = new Float64Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = decodeNumber(values[i]);
  return out;
}
