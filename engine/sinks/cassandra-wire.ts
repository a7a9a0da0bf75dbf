/**
 * Bound values in the CQL native protocol's wire format, written by the sink
 * instead of the driver. cassandra-driver sends a Buffer parameter as it is
 * and encodes anything else itself, one freshly allocated Buffer per value
 * (plus UTF-8 encoding of every string, and a BigInt per timestamp). Written
 * here, numbers go into a shared slab and strings that repeat (station ids
 * and names: every row of a request shares its partition) are encoded once.
 * In a profile of tides-dedupe end to end before this, the driver's
 * encoding of batch requests took a quarter of the engine process's samples.
 *
 * Only types whose encoding is unambiguous are written here; every other
 * value (null, unset, collections, uuids, decimals, ...) is passed through
 * for the driver to encode exactly as before. The bytes are those the
 * driver's own Encoder produces (cassandra-wire.test.ts checks that).
 */

/** Turns a value already checked by its column's converter into its wire bytes, or returns it unchanged for the driver. */
export type WireEncoder = (value: unknown) => unknown;

/** Bytes per slab: thousands of numbers, so one allocation serves many requests. */
const SLAB_BYTES = 64 * 1024;
/** Strings longer than this (UTF-16 units) are not cached: ids and names repeat, free text does not. */
const CACHED_STRING_MAX = 64;
/** Distinct strings a column caches before it starts over (bounds memory on high-cardinality columns). */
const CACHE_ENTRIES = 4096;
/** A column whose strings hit the cache less than this often over a round of lookups stops caching. */
const CACHE_MIN_HIT_RATE = 0.25;
const CACHE_ROUND = 8192;
const TWO_TO_32 = 4294967296;

/**
 * Hands out pieces of large Buffers. A piece is never written again once
 * handed out (a request may be retried with it long after), so a full slab
 * is simply dropped and garbage-collected when its last piece is.
 */
export class WireSlab {
  private slab = Buffer.allocUnsafeSlow(SLAB_BYTES);
  private used = 0;

  /** Where in the current slab `bytes` free bytes start (a new slab when they do not fit; at most 3 x CACHED_STRING_MAX). */
  private reserve(bytes: number): number {
    if (this.used + bytes > SLAB_BYTES) {
      this.slab = Buffer.allocUnsafeSlow(SLAB_BYTES);
      this.used = 0;
    }
    return this.used;
  }

  /** A fresh piece of `bytes` bytes. */
  private take(bytes: number): Buffer {
    const at = this.reserve(bytes);
    this.used = at + bytes;
    return this.slab.subarray(at, at + bytes);
  }

  double(value: number): Buffer {
    const piece = this.take(8);
    piece.writeDoubleBE(value, 0);
    return piece;
  }

  float(value: number): Buffer {
    const piece = this.take(4);
    piece.writeFloatBE(value, 0);
    return piece;
  }

  int32(value: number): Buffer {
    const piece = this.take(4);
    piece.writeInt32BE(value, 0);
    return piece;
  }

  int16(value: number): Buffer {
    const piece = this.take(2);
    piece.writeInt16BE(value, 0);
    return piece;
  }

  int8(value: number): Buffer {
    const piece = this.take(1);
    piece.writeInt8(value, 0);
    return piece;
  }

  /** A signed 64-bit integer given as a safe integer (epoch milliseconds, write times in µs). */
  int64(value: number): Buffer {
    const piece = this.take(8);
    const high = Math.floor(value / TWO_TO_32);
    piece.writeInt32BE(high, 0);
    piece.writeUInt32BE(value - high * TWO_TO_32, 4);
    return piece;
  }

  bigint64(value: bigint): Buffer {
    const piece = this.take(8);
    piece.writeBigInt64BE(value, 0);
    return piece;
  }

  boolean(value: boolean): Buffer {
    const piece = this.take(1);
    piece[0] = value ? 1 : 0;
    return piece;
  }

  /** UTF-8 bytes of a string; long strings get a Buffer of their own. */
  utf8(value: string): Buffer {
    if (value.length > CACHED_STRING_MAX) return Buffer.from(value, 'utf8');
    // A UTF-16 unit is at most 3 UTF-8 bytes (a surrogate pair, 2 units, is 4): reserve the most, keep what was written.
    const at = this.reserve(3 * value.length);
    const written = this.slab.write(value, at, 3 * value.length, 'utf8');
    this.used = at + written;
    return this.slab.subarray(at, at + written);
  }
}

/** Encoded strings of one column, for values that repeat; gives up on a column whose values do not. */
class StringCache {
  private readonly entries = new Map<string, Buffer>();
  private lookups = 0;
  private hits = 0;
  private enabled = true;

  constructor(private readonly slab: WireSlab) {}

  /** The last string encoded and its bytes: consecutive rows often repeat a value (flags, a station's rows together). */
  private lastValue = '';
  private lastBytes: Buffer | null = null;

  encode(value: string): Buffer {
    if (value === this.lastValue && this.lastBytes !== null) return this.lastBytes;
    const bytes = this.lookUp(value);
    this.lastValue = value;
    this.lastBytes = bytes;
    return bytes;
  }

  private lookUp(value: string): Buffer {
    if (!this.enabled || value.length > CACHED_STRING_MAX) return this.slab.utf8(value);
    const cached = this.entries.get(value);
    this.lookups++;
    if (cached !== undefined) {
      this.hits++;
      return cached;
    }
    if (this.lookups >= CACHE_ROUND) {
      this.enabled = this.hits >= CACHE_MIN_HIT_RATE * this.lookups;
      this.lookups = 0;
      this.hits = 0;
      if (!this.enabled) this.entries.clear();
    }
    const encoded = this.slab.utf8(value);
    if (this.enabled) {
      if (this.entries.size >= CACHE_ENTRIES) this.entries.clear();
      this.entries.set(value, encoded);
    }
    return encoded;
  }
}

/**
 * The encoder for a column of this CQL type, or null when the driver should
 * encode its values. Values of an unexpected JavaScript type (null, the
 * driver's `unset`, anything the converter let through) pass unchanged.
 *
 * @example
 *   const slab = new WireSlab();
 *   const encode = wireEncoder('double', slab)!;
 *   encode(1.5);   // <Buffer 3f f8 00 00 00 00 00 00>
 *   encode(null);  // null: the driver writes it
 */
export function wireEncoder(columnType: string, slab: WireSlab): WireEncoder | null {
  switch (columnType) {
    case 'text':
    case 'varchar': {
      const cache = new StringCache(slab);
      return (value) => (typeof value === 'string' ? cache.encode(value) : value);
    }
    case 'double':
      return (value) => (typeof value === 'number' ? slab.double(value) : value);
    case 'float':
      return (value) => (typeof value === 'number' ? slab.float(value) : value);
    // The converters (valueConverter) only let through integers in the column's range.
    case 'int':
      return (value) => (typeof value === 'number' ? slab.int32(value) : value);
    case 'smallint':
      return (value) => (typeof value === 'number' ? slab.int16(value) : value);
    case 'tinyint':
      return (value) => (typeof value === 'number' ? slab.int8(value) : value);
    case 'bigint':
      return (value) => (typeof value === 'bigint' ? slab.bigint64(value) : value);
    case 'timestamp':
      // Whole milliseconds (the converter truncates), or a valid Date.
      return (value) => {
        if (typeof value === 'number' && Number.isSafeInteger(value)) return slab.int64(value);
        if (value instanceof Date) return slab.int64(value.getTime());
        return value;
      };
    case 'boolean':
      return (value) => (typeof value === 'boolean' ? slab.boolean(value) : value);
    default:
      return null;
  }
}
