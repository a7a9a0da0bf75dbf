import * as fs from 'node:fs';
import { randomBytes } from 'node:crypto';
import * as zlib from 'node:zlib';
import * as avro from 'avsc';
import type { Row } from '../core/batch';
import { DecodeError, UsageError } from '../core/errors';
import { createPlainRowCopier } from './avro-schema';

/**
 * Avro object container files (Avro 1.x spec, "Object Container Files"):
 *
 *   'Obj' 0x01 | metadata map<bytes> (avro.schema, avro.codec) | 16-byte sync marker
 *   then blocks: record count (long) | byte size (long) | data | sync marker
 *
 * We parse the framing ourselves (avsc decodes the records) because that lets
 * a resumed run skip whole blocks before its start offset without inflating
 * them, and lets a corrupt block become dead letters for exactly its records
 * while the rest of the file is still read. Files we write are readable by
 * avsc's `createFileDecoder` and by every other Avro implementation (the
 * tests check both directions against avsc).
 *
 * Timestamps: schemas are loaded without logical types, so a
 * `timestamp-millis` long decodes to an epoch-ms number, the engine's one
 * representation of time.
 */

const MAGIC = Buffer.from([0x4f, 0x62, 0x6a, 0x01]); // 'Obj' 1
const SYNC_SIZE = 16;

export type AvroCodec = 'null' | 'deflate';

// ---------------------------------------------------------------- varints

/** Position after the last `readLong`; module-level so reading a long allocates nothing. */
let cursor = 0;

/** Zig-zag varint at `pos`; NaN when the buffer ends first. Sets `cursor` past it. */
function readLong(buf: Buffer, pos: number): number {
  let magnitude = 0;
  let multiplier = 1;
  let byte: number;
  do {
    if (pos >= buf.length) return Number.NaN;
    byte = buf[pos++];
    magnitude += (byte & 0x7f) * multiplier;
    multiplier *= 128;
  } while ((byte & 0x80) !== 0 && multiplier < 2 ** 63);
  cursor = pos;
  return magnitude % 2 === 1 ? -(magnitude + 1) / 2 : magnitude / 2;
}

function encodeLong(value: number): Buffer {
  const bytes: number[] = [];
  let n = value >= 0 ? value * 2 : -value * 2 - 1;
  while (n >= 128) {
    bytes.push((n % 128) | 0x80);
    n = Math.floor(n / 128);
  }
  bytes.push(n);
  return Buffer.from(bytes);
}

// ---------------------------------------------------------------- reading

/** The parsed header of a container file. */
export interface ContainerHeader {
  /** The writer schema, as stored in the file. */
  schema: avro.Schema;
  codec: AvroCodec;
  sync: Buffer;
  /** Other metadata entries (user metadata), as UTF-8 text. */
  metadata: Record<string, string>;
  /** Bytes the header occupies. */
  size: number;
}

/** Parse a header at the start of `buf`; `undefined` when `buf` is too short to hold it all. */
function parseHeader(buf: Buffer): ContainerHeader | undefined {
  if (buf.length < MAGIC.length) return undefined;
  if (!buf.subarray(0, MAGIC.length).equals(MAGIC)) throw new UsageError('not an Avro object container file (bad magic bytes)');
  const entries: Record<string, Buffer> = {};
  let pos = MAGIC.length;
  for (;;) {
    let count = readLong(buf, pos);
    if (Number.isNaN(count)) return undefined;
    pos = cursor;
    if (count === 0) break;
    if (count < 0) {
      // A negative count is followed by the block's byte size, which we do not need.
      count = -count;
      if (Number.isNaN(readLong(buf, pos))) return undefined;
      pos = cursor;
    }
    for (let i = 0; i < count; i++) {
      const keyLength = readLong(buf, pos);
      if (Number.isNaN(keyLength) || cursor + keyLength > buf.length) return undefined;
      const key = buf.toString('utf8', cursor, cursor + keyLength);
      pos = cursor + keyLength;
      const valueLength = readLong(buf, pos);
      if (Number.isNaN(valueLength) || cursor + valueLength > buf.length) return undefined;
      entries[key] = buf.subarray(cursor, cursor + valueLength);
      pos = cursor + valueLength;
    }
  }
  if (pos + SYNC_SIZE > buf.length) return undefined;
  const schemaBytes = entries['avro.schema'];
  if (schemaBytes === undefined) throw new UsageError('the Avro container file has no avro.schema in its header');
  const codec = (entries['avro.codec'] ?? Buffer.from('null')).toString('utf8');
  if (codec !== 'null' && codec !== 'deflate') throw new UsageError(`the Avro container file uses the ${codec} codec; tideflow reads null and deflate`);
  const metadata: Record<string, string> = {};
  for (const [key, value] of Object.entries(entries)) if (!key.startsWith('avro.')) metadata[key] = value.toString('utf8');
  return {
    schema: JSON.parse(schemaBytes.toString('utf8')) as avro.Schema,
    codec,
    sync: Buffer.from(buf.subarray(pos, pos + SYNC_SIZE)),
    metadata,
    size: pos + SYNC_SIZE,
  };
}

/** One block of a container file, decoded (or not, when it lies before the start offset). */
export interface ContainerBlock {
  /** Index of the block's first record in the file. */
  firstIndex: number;
  count: number;
  /** Decoded rows in file order; empty when the block was skipped. Rows before `corruptFrom` only. */
  rows: Row[];
  /** Set when records from this index (relative to the block) on could not be decoded. */
  corruptFrom?: number;
  /** Why they could not. */
  reason?: string;
  /**
   * Set on the last "block" of a file cut short: the bytes after the last whole
   * block, [fromByte, toByte) in the file. It counts as one record (`count` 1,
   * `corruptFrom` 0): how many records it held is unknown, since the count it
   * claims may itself be cut.
   */
  torn?: { fromByte: number; toByte: number };
}

export interface ReadContainerOptions {
  /** Reader schema (records are resolved from the file's writer schema); default: the writer schema. */
  readerType?: avro.Type;
  /** Blocks that end at or before this record index are skipped without decoding. */
  skipBefore?: number;
  /** Called once with the header, before any block. */
  onHeader?: (header: ContainerHeader, writerType: avro.Type) => void;
}

/**
 * Read the blocks of a container file from a byte stream (e.g.
 * `fs.createReadStream(path)`), holding at most one block in memory.
 *
 * @example
 *   for await (const block of readAvroContainerBlocks(fs.createReadStream('data/bundled/tides.avro'))) {
 *     console.log(block.firstIndex, block.rows.length);
 *   }
 */
export async function* readAvroContainerBlocks(
  chunks: AsyncIterable<Buffer | string>,
  options: ReadContainerOptions = {},
): AsyncGenerator<ContainerBlock> {
  let pending: Buffer = Buffer.alloc(0);
  let header: ContainerHeader | undefined;
  let decodeBlock: ((data: Buffer, count: number, firstIndex: number) => ContainerBlock) | undefined;
  let index = 0;
  /** File position of `pending[0]`. */
  let consumedBytes = 0;
  const skipBefore = options.skipBefore ?? 0;
  for await (const chunk of chunks) {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    pending = pending.length === 0 ? bytes : Buffer.concat([pending, bytes]);
    if (header === undefined) {
      header = parseHeader(pending);
      if (header === undefined) continue;
      const writerType = loadWriterType(header.schema);
      options.onHeader?.(header, writerType);
      decodeBlock = createBlockDecoder(header.codec, writerType, options.readerType);
      pending = pending.subarray(header.size);
      consumedBytes = header.size;
    }
    // Consume every complete block in `pending`.
    let pos = 0;
    for (;;) {
      const count = readLong(pending, pos);
      if (Number.isNaN(count)) break;
      const size = readLong(pending, cursor);
      if (Number.isNaN(size)) break;
      const dataStart = cursor;
      if (count < 0 || size < 0) throw new DecodeError(`corrupt Avro container: negative block count or size at record ${index}`);
      if (dataStart + size + SYNC_SIZE > pending.length) break;
      if (!pending.subarray(dataStart + size, dataStart + size + SYNC_SIZE).equals(header.sync)) {
        // Without a matching sync marker we cannot trust any later framing either.
        throw new DecodeError(`corrupt Avro container: sync marker mismatch after the block starting at record ${index}`);
      }
      if (index + count <= skipBefore) {
        yield { firstIndex: index, count, rows: [] };
      } else {
        yield decodeBlock!(pending.subarray(dataStart, dataStart + size), count, index);
      }
      index += count;
      pos = dataStart + size + SYNC_SIZE;
    }
    // Copy the remainder so the (possibly large) chunk it points into can be freed.
    consumedBytes += pos;
    pending = pos === 0 ? pending : Buffer.from(pending.subarray(pos));
  }
  if (header === undefined) throw new DecodeError('truncated Avro container: the file ends inside its header');
  if (pending.length > 0) {
    // A file cut short (a copy or a download that stopped): every whole block was read; the tail is reported, not fatal.
    yield tornTail(pending, index, consumedBytes);
  }
}

/** The last, incomplete block of a truncated file, as a one-record block with its byte range. */
function tornTail(tail: Buffer, index: number, fromByte: number): ContainerBlock {
  const toByte = fromByte + tail.length;
  const claimed = readLong(tail, 0);
  const claim = Number.isInteger(claimed) && claimed > 0 ? ` (a block of ${claimed} records by its count)` : '';
  return {
    firstIndex: index,
    count: 1,
    rows: [],
    corruptFrom: 0,
    reason:
      `truncated Avro container: the file ends inside a block${claim}: bytes ${fromByte} to ${toByte} (the last ${tail.length} bytes) ` +
      `do not form a whole block; the ${index} records before them were read`,
    torn: { fromByte, toByte },
  };
}

/** The file's writer schema as an avsc Type (no logical types: timestamps stay numbers). */
function loadWriterType(schema: avro.Schema): avro.Type {
  try {
    return avro.Type.forSchema(schema);
  } catch (error) {
    throw new UsageError(`the Avro container file's schema is not valid: ${(error as Error).message}`);
  }
}

function createBlockDecoder(codec: AvroCodec, writerType: avro.Type, readerType: avro.Type | undefined) {
  let resolver: avro.Resolver | undefined;
  let type = writerType;
  if (readerType !== undefined && !readerType.equals(writerType)) {
    try {
      resolver = readerType.createResolver(writerType);
    } catch (error) {
      throw new UsageError(`the Avro file's schema cannot be read with the job's reader schema: ${(error as Error).message}`);
    }
    type = readerType;
  }
  const toPlain = createPlainRowCopier(type);
  return (data: Buffer, count: number, firstIndex: number): ContainerBlock => {
    let raw: Buffer;
    try {
      raw = codec === 'deflate' ? zlib.inflateRawSync(data) : data;
    } catch (error) {
      return { firstIndex, count, rows: [], corruptFrom: 0, reason: `corrupt Avro block (deflate): ${(error as Error).message}` };
    }
    const rows: Row[] = new Array(count);
    let pos = 0;
    for (let i = 0; i < count; i++) {
      let decoded: { value: unknown; offset: number };
      try {
        decoded = type.decode(raw, pos, resolver);
      } catch (error) {
        rows.length = i;
        return { firstIndex, count, rows, corruptFrom: i, reason: `corrupt Avro record: ${(error as Error).message}` };
      }
      if (decoded.offset < 0) {
        rows.length = i;
        return { firstIndex, count, rows, corruptFrom: i, reason: 'corrupt Avro block: it ends inside a record' };
      }
      rows[i] = toPlain(decoded.value);
      pos = decoded.offset;
    }
    if (pos !== raw.length) {
      // Every record decoded, yet bytes are left over: the count or the data is wrong; the rows are suspect but readable.
      return { firstIndex, count, rows, corruptFrom: count, reason: `corrupt Avro block: ${raw.length - pos} bytes after its last record` };
    }
    return { firstIndex, count, rows };
  };
}

/**
 * Decode a whole container file held in memory (small files, tests).
 *
 * @example
 *   const { rows } = await readAvroContainerFile('data/bundled/tides.avro');
 */
export async function readAvroContainerFile(path: string, options: ReadContainerOptions = {}): Promise<{ rows: Row[]; schema: avro.Schema }> {
  const rows: Row[] = [];
  let schema: avro.Schema | undefined;
  const userOnHeader = options.onHeader;
  for await (const block of readAvroContainerBlocks(fs.createReadStream(path, { highWaterMark: 1 << 20 }), {
    ...options,
    onHeader: (header, writerType) => {
      schema = header.schema;
      userOnHeader?.(header, writerType);
    },
  })) {
    if (block.reason !== undefined) throw new DecodeError(`${path}: ${block.reason} (records ${block.firstIndex + block.corruptFrom!}..)`);
    for (const row of block.rows) rows.push(row);
  }
  return { rows, schema: schema! };
}

// ---------------------------------------------------------------- writing

export interface ContainerWriterOptions {
  codec?: AvroCodec;
  /** Uncompressed bytes per block before it is flushed (default 64 KiB). */
  blockBytes?: number;
  /** zlib level for deflate, 1 (fast) to 9 (small); default 6. */
  compressionLevel?: number;
  /**
   * The 16-byte sync marker. Default: random. Pass a fixed one to make the
   * output byte-for-byte reproducible (the bundled data does).
   */
  syncMarker?: Buffer;
  /** Extra header metadata (keys must not start with `avro.`). */
  metadata?: Record<string, string>;
}

/**
 * Writes an Avro object container file, synchronously, one block at a time.
 *
 * @example
 *   const type = loadAvroType('schemas/tide_observation.avsc');
 *   const writer = new AvroContainerWriter('out.avro', type, { codec: 'deflate' });
 *   writer.append({ station: '8454000', name: 'Providence', lat: 41.8, lon: -71.4, t: 0, v: 1.2, s: null, f: null, q: null });
 *   const { records, bytes } = writer.close();
 */
export class AvroContainerWriter {
  private readonly fd: number;
  private readonly type: avro.Type;
  private readonly codec: AvroCodec;
  private readonly blockBytes: number;
  private readonly compressionLevel: number;
  private readonly sync: Buffer;
  private buffer: Buffer;
  private used = 0;
  private blockCount = 0;
  private records = 0;
  private bytes = 0;
  private closed = false;

  constructor(path: string, type: avro.Type, options: ContainerWriterOptions = {}) {
    this.type = type;
    this.codec = options.codec ?? 'deflate';
    this.blockBytes = options.blockBytes ?? 64 * 1024;
    this.compressionLevel = options.compressionLevel ?? 6;
    this.sync = options.syncMarker ?? randomBytes(SYNC_SIZE);
    if (this.sync.length !== SYNC_SIZE) throw new UsageError('an Avro sync marker is 16 bytes');
    this.buffer = Buffer.alloc(this.blockBytes + 1024);
    this.fd = fs.openSync(path, 'w');
    this.writeBytes(this.headerBytes(options.metadata ?? {}));
  }

  private headerBytes(extra: Record<string, string>): Buffer {
    const entries: Array<[string, Buffer]> = [
      ['avro.schema', Buffer.from(JSON.stringify(this.type.schema()))],
      ['avro.codec', Buffer.from(this.codec)],
      ...Object.entries(extra).map(([key, value]): [string, Buffer] => [key, Buffer.from(value)]),
    ];
    const parts: Buffer[] = [MAGIC, encodeLong(entries.length)];
    for (const [key, value] of entries) {
      const keyBytes = Buffer.from(key);
      parts.push(encodeLong(keyBytes.length), keyBytes, encodeLong(value.length), value);
    }
    parts.push(encodeLong(0), this.sync);
    return Buffer.concat(parts);
  }

  /** Append one record (must be valid for the type: avsc throws on a wrong field type). */
  append(row: Row): void {
    if (this.closed) throw new Error('AvroContainerWriter: append after close');
    let end = this.type.encode(row, this.buffer, this.used);
    while (end < 0) {
      // Too small: `end` is minus the bytes missing. Grow and re-encode from the same position.
      const grown = Buffer.alloc(Math.max(this.buffer.length * 2, this.used - end + 1024));
      this.buffer.copy(grown, 0, 0, this.used);
      this.buffer = grown;
      end = this.type.encode(row, this.buffer, this.used);
    }
    this.used = end;
    this.blockCount++;
    this.records++;
    if (this.used >= this.blockBytes) this.flushBlock();
  }

  private flushBlock(): void {
    if (this.blockCount === 0) return;
    const raw = this.buffer.subarray(0, this.used);
    const data = this.codec === 'deflate' ? zlib.deflateRawSync(raw, { level: this.compressionLevel }) : Buffer.from(raw);
    this.writeBytes(Buffer.concat([encodeLong(this.blockCount), encodeLong(data.length), data, this.sync]));
    this.used = 0;
    this.blockCount = 0;
  }

  private writeBytes(bytes: Buffer): void {
    let written = 0;
    while (written < bytes.length) written += fs.writeSync(this.fd, bytes, written, bytes.length - written);
    this.bytes += bytes.length;
  }

  /** Bytes written to the file so far (complete blocks only). */
  get bytesWritten(): number {
    return this.bytes;
  }

  /** Flush the last block and close the file. */
  close(): { records: number; bytes: number } {
    if (!this.closed) {
      this.flushBlock();
      fs.closeSync(this.fd);
      this.closed = true;
    }
    return { records: this.records, bytes: this.bytes };
  }
}
