import { Module } from 'node:module';
import { dirname } from 'node:path';
import { applyDependencyPatch, type DependencyPatchState } from './dependency-patch';

/**
 * A faster reader of Kafka record batches for kafkajs 2.2.4, in place of its
 * own `protocol/recordBatch/v0/decoder.js`, answering exactly what that
 * module answers.
 *
 * Why: kafkajs spends most of a consumer's CPU turning each record's offset
 * and timestamp into decimal text through its 64-bit `Long` class, one
 * batch-wide base parsed from text again for every record (profiled on the
 * bench's tide topic: decoding record batches was 77% of kafkajs' time, the
 * `Long` work about half of that). Here the bases are read once per batch,
 * and a record's offset and timestamp are added as plain numbers whenever
 * the result is an exact integer below 2^53 (offsets and millisecond
 * timestamps always are in practice), giving the same text. Each record is
 * read in place, without a decoder object and a slice per record.
 *
 * Anything unusual about a record (headers, a length or varint that does not
 * fit, a timestamp delta of 2^48 or more) is handed to kafkajs' own record
 * decoder, so the answer stays kafkajs' own in every case; the batch header,
 * compression codecs (including ones an application registered) and errors
 * are kafkajs' code. A property test compares both readers on generated
 * batches; the Kafka integration tests run through it.
 *
 * kafkajs binds its record-batch decoder when it first reads a fetch
 * response, so `installRecordBatchReader` must run before any consumer has
 * fetched; the Kafka source calls it when it is loaded. Any other kafkajs
 * version, or `TIDEFLOW_KAFKAJS_RECORD_READER=kafkajs`, leaves kafkajs as is.
 */

/** The kafkajs version whose record-batch decoder this one stands in for. */
export const KAFKAJS_VERSION = '2.2.4';

/** kafkajs' protocol decoder (protocol/decoder.js), the parts used here. */
interface KafkaDecoder {
  buffer: Buffer;
  offset: number;
  readInt8(): number;
  readInt16(): number;
  readInt32(): number;
  readInt64(): { toString(): string };
  readVarInt(): number;
  readVarIntBytes(): Buffer | null;
  readAll(): Buffer;
  slice(size: number): KafkaDecoder;
  forward(size: number): void;
}
type DecoderClass = new (buffer: Buffer) => KafkaDecoder;
interface LongValue {
  add(other: LongValue): LongValue;
  toString(): string;
}
interface LongClass {
  fromValue(value: string | number): LongValue;
  fromNumber(value: number): LongValue;
}
/** What kafkajs' record decoder returns for one record. */
export interface KafkaRecord {
  magicByte: number;
  attributes: number;
  timestamp: string;
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, unknown>;
  isControlRecord: boolean;
  batchContext: BatchContext;
}
interface BatchContext {
  firstOffset: string;
  firstTimestamp: string;
  partitionLeaderEpoch: number;
  inTransaction: boolean;
  isControlBatch: boolean;
  lastOffsetDelta: number;
  producerId: string;
  producerEpoch: number;
  firstSequence: number;
  maxTimestamp: string;
  timestampType: number;
  magicByte: number;
}
interface Codec {
  decompress(buffer: Buffer): Promise<Buffer>;
}

const KAFKAJS_SOURCE = 'kafkajs/src/protocol';
const Decoder = require(`${KAFKAJS_SOURCE}/decoder`) as DecoderClass;
const Long = require('kafkajs/src/utils/long') as LongClass;
const { KafkaJSPartialMessageError } = require('kafkajs/src/errors') as { KafkaJSPartialMessageError: new (message: string) => Error };
const { lookupCodecByAttributes } = require(`${KAFKAJS_SOURCE}/message/compression`) as { lookupCodecByAttributes(attributes: number): Codec | null };
const kafkajsRecordDecoder = require(`${KAFKAJS_SOURCE}/recordBatch/record/v0/decoder`) as (decoder: KafkaDecoder, context: BatchContext) => KafkaRecord;
const TimestampTypes = require(`${KAFKAJS_SOURCE}/timestampTypes`) as { LOG_APPEND_TIME: number; CREATE_TIME: number };

const TIMESTAMP_TYPE_FLAG_MASK = 0x8;
const TRANSACTIONAL_FLAG_MASK = 0x10;
const CONTROL_FLAG_MASK = 0x20;

/**
 * One record batch from `fetchDecoder` (RecordBatch v0..v2, magic 2), as
 * kafkajs' `recordBatch/v0/decoder.js` reads it: the batch header fields
 * and its records.
 */
export async function readRecordBatch(fetchDecoder: KafkaDecoder): Promise<Omit<BatchContext, 'magicByte'> & { records: KafkaRecord[] }> {
  const firstOffset = fetchDecoder.readInt64().toString();
  const length = fetchDecoder.readInt32();
  const decoder = fetchDecoder.slice(length);
  fetchDecoder.forward(length);
  const remainingBytes = Buffer.byteLength(decoder.buffer);
  if (remainingBytes < length) {
    throw new KafkaJSPartialMessageError(`Tried to decode a partial record batch: remainingBytes(${remainingBytes}) < recordBatchLength(${length})`);
  }
  const partitionLeaderEpoch = decoder.readInt32();
  const magicByte = decoder.readInt8();
  decoder.readInt32(); // CRC: kafkajs does not check it either
  const attributes = decoder.readInt16();
  const lastOffsetDelta = decoder.readInt32();
  const firstTimestamp = decoder.readInt64().toString();
  const maxTimestamp = decoder.readInt64().toString();
  const producerId = decoder.readInt64().toString();
  const producerEpoch = decoder.readInt16();
  const firstSequence = decoder.readInt32();
  const recordContext = {
    firstOffset,
    firstTimestamp,
    partitionLeaderEpoch,
    inTransaction: (attributes & TRANSACTIONAL_FLAG_MASK) > 0,
    isControlBatch: (attributes & CONTROL_FLAG_MASK) > 0,
    lastOffsetDelta,
    producerId,
    producerEpoch,
    firstSequence,
    maxTimestamp,
    timestampType: (attributes & TIMESTAMP_TYPE_FLAG_MASK) > 0 ? TimestampTypes.LOG_APPEND_TIME : TimestampTypes.CREATE_TIME,
  };
  const context: BatchContext = { ...recordContext, magicByte };
  const codec = lookupCodecByAttributes(attributes);
  let records: KafkaRecord[];
  if (!codec) {
    records = readRecords(decoder, decoder.readInt32(), context);
  } else {
    const count = decoder.readInt32();
    if (count <= 0) records = [];
    else records = readRecords(new Decoder(await codec.decompress(decoder.readAll())), count, context);
  }
  return { ...recordContext, records };
}

/**
 * `count` records from `decoder` (-1: none, as kafkajs' readArray has it).
 * Each is read in place; one this reader does not take is read by kafkajs.
 */
function readRecords(decoder: KafkaDecoder, count: number, context: BatchContext): KafkaRecord[] {
  if (count === -1) return [];
  const records = new Array<KafkaRecord>(count);
  const buffer = decoder.buffer;
  // The batch's bases as numbers, when exact; NaN makes every record take the Long path.
  const firstOffset = safeNumber(context.firstOffset);
  const firstTimestamp = safeNumber(context.firstTimestamp);
  const appendTime = context.timestampType === TimestampTypes.LOG_APPEND_TIME && context.maxTimestamp ? context.maxTimestamp : null;
  const reader = new RecordReader(buffer);
  for (let i = 0; i < count; i++) {
    const start = decoder.offset;
    const record = reader.read(start, firstOffset, firstTimestamp, appendTime, context);
    if (record !== null) {
      records[i] = record;
      decoder.offset = reader.next;
    } else {
      // kafkajs' own way (recordBatch/v0/decoder.js, decodeRecord), from the record's first byte.
      decoder.offset = start;
      records[i] = kafkajsRecordDecoder(new Decoder(decoder.readVarIntBytes() as Buffer), context);
    }
  }
  return records;
}

/** The number a decimal integer text stands for, when it is exactly representable; else NaN. */
function safeNumber(text: string): number {
  const value = Number(text);
  return Number.isSafeInteger(value) ? value : Number.NaN;
}

/**
 * Reads one record (Record v0: length, attributes, timestamp delta, offset
 * delta, key, value, headers) from a buffer, or declines with null.
 */
class RecordReader {
  /** Where the record just read ends (its length prefix included). */
  next = 0;
  private p = 0;
  private end = 0;

  constructor(private readonly buffer: Buffer) {}

  read(start: number, firstOffset: number, firstTimestamp: number, appendTime: string | null, context: BatchContext): KafkaRecord | null {
    const buffer = this.buffer;
    this.p = start;
    this.end = buffer.length;
    const length = this.varint();
    // A record needs at least its attributes byte; a length past the data is kafkajs' to handle.
    if (!(length >= 1) || this.p + length > buffer.length) return null;
    const recordEnd = this.p + length;
    this.end = recordEnd;
    const attributes = buffer.readInt8(this.p++);
    const timestampDelta = this.varlong();
    const offsetDelta = this.varint();
    if (Number.isNaN(timestampDelta) || Number.isNaN(offsetDelta)) return null;
    const key = this.bytes();
    if (key === undefined) return null;
    const value = this.bytes();
    if (value === undefined) return null;
    const headerCount = this.varint();
    // Headers (rare here) are kafkajs' to read: it folds repeated keys into arrays.
    if (headerCount !== 0 && headerCount !== -1) return null;

    let timestamp: string;
    if (appendTime !== null) timestamp = appendTime;
    else {
      const sum = firstTimestamp + timestampDelta;
      timestamp = Number.isSafeInteger(sum) ? String(sum) : Long.fromValue(context.firstTimestamp).add(Long.fromNumber(timestampDelta)).toString();
    }
    const offsetSum = firstOffset + offsetDelta;
    const offset = Number.isSafeInteger(offsetSum) ? String(offsetSum) : Long.fromValue(context.firstOffset).add(Long.fromNumber(offsetDelta)).toString();
    this.next = recordEnd;
    return {
      magicByte: context.magicByte,
      attributes,
      timestamp,
      offset,
      key,
      value,
      headers: {},
      isControlRecord: context.isControlBatch,
      batchContext: context,
    };
  }

  /** A zigzag varint of at most 5 bytes (kafkajs' readVarInt), or NaN when it does not fit before the end. */
  private varint(): number {
    const buffer = this.buffer;
    let result = 0;
    let shift = 0;
    for (;;) {
      if (this.p >= this.end || shift > 28) return Number.NaN;
      const byte = buffer[this.p++];
      // `+=` as kafkajs adds them (same bits as `|=` within 5 bytes).
      result += (byte & 0x7f) << shift;
      if (byte < 0x80) break;
      shift += 7;
    }
    return (result >>> 1) ^ -(result & 1);
  }

  /** A zigzag varlong below 2^48 in magnitude (at most 7 bytes), or NaN: larger ones take kafkajs' Long path. */
  private varlong(): number {
    const buffer = this.buffer;
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 7; i++) {
      if (this.p >= this.end) return Number.NaN;
      const byte = buffer[this.p++];
      result += (byte & 0x7f) * scale;
      if (byte < 0x80) return result % 2 === 0 ? result / 2 : -(result + 1) / 2;
      scale *= 128;
    }
    return Number.NaN;
  }

  /** Varint-length bytes: a view like kafkajs' `buffer.slice`, null for -1, undefined to decline. */
  private bytes(): Buffer | null | undefined {
    const length = this.varint();
    if (length === -1) return null;
    if (!(length >= 0) || this.p + length > this.end) return undefined;
    const bytes = this.buffer.subarray(this.p, this.p + length);
    this.p += length;
    return bytes;
  }
}

/** Whether tideflow's reader is what kafkajs uses, and if not, why. */
export type RecordBatchReaderState = DependencyPatchState;

let state: RecordBatchReaderState | null = null;

/**
 * Make kafkajs read record batches with `readRecordBatch` (see the file
 * comment). Idempotent; returns whether it is in use and why not.
 */
export function installRecordBatchReader(): RecordBatchReaderState {
  state ??= applyDependencyPatch({
    dependency: 'kafkajs',
    version: KAFKAJS_VERSION,
    replaces: 'record-batch decoder',
    otherwise: 'kafkajs reads record batches itself',
    offSwitch: { variable: 'TIDEFLOW_KAFKAJS_RECORD_READER', value: 'kafkajs' },
    install: () => {
      const path = require.resolve(`${KAFKAJS_SOURCE}/recordBatch/v0/decoder`);
      const loaded = require.cache[path];
      if (loaded !== undefined) {
        return loaded.exports === readRecordBatch
          ? { active: true, reason: 'installed' }
          : { active: false, reason: 'kafkajs had already loaded its record-batch decoder: kafkajs reads record batches itself' };
      }
      // What `require` would have made of the file, with this reader as its exports.
      const replacement = new Module(path, module);
      replacement.filename = path;
      replacement.paths = (Module as unknown as { _nodeModulePaths(from: string): string[] })._nodeModulePaths(dirname(path));
      replacement.exports = readRecordBatch;
      replacement.loaded = true;
      require.cache[path] = replacement;
      return { active: true, reason: 'installed' };
    },
  });
  return state;
}

/** The state `installRecordBatchReader` left (null before it ran). */
export function recordBatchReaderState(): RecordBatchReaderState | null {
  return state;
}
