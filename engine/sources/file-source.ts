import * as fs from 'node:fs';
import { StringDecoder } from 'node:string_decoder';
import type * as avro from 'avsc';
import type { FileFormat, FileSourceSpec } from '../config/job';
import type { RawBatch, Row } from '../core/batch';
import type { DeadLetter } from '../core/operator';
import { DecodeError, UsageError } from '../core/errors';
import { readAvroContainerBlocks } from '../codecs/avro-container';
import type { CsvOptions } from '../codecs/csv';
import { createCsvDecoder, hasUnclosedQuote, stationNotUsed } from '../codecs/csv';
import type { LineDecoder } from '../codecs/decoded';
import { createJsonlDecoder } from '../codecs/jsonl';
import { formatFromPath as formatImpliedBy } from './file-source.spec';

/**
 * A data file as a source: JSONL, CSV (NOAA layouts included) or an Avro
 * object container file, streamed (never loaded whole) and decoded into
 * batches of `spec.batchSize` records.
 *
 * Offsets are positions in the file that do not depend on batch size or on
 * which records decode, so a checkpointed offset always resumes at the same
 * record:
 *
 *   JSONL  offset = 0-based line index (blank lines use up an index, yield nothing)
 *   CSV    offset = 0-based index of the data line after the header (a record
 *          quoted across several lines has the index of its first line)
 *   Avro   offset = 0-based record index in the file
 *
 * Records that cannot be decoded are dead letters at their own offset; they
 * count towards the batch size like rows do.
 */

export interface FileSourceOptions {
  /** First offset to deliver; earlier records are skipped (resume after a checkpoint). */
  fromOffset: number;
  /**
   * CSV details the spec has no place for yet: water-level units for layouts
   * whose header does not say (CO-OPS API CSV; default metres), and the
   * position of a station missing from the bundled table.
   */
  csv?: Pick<CsvOptions, 'units' | 'stationInfo'>;
  /** Reader schema for Avro files (default: the file's own schema). */
  readerType?: avro.Type;
  /** Event-time field of JSONL records (default `t`). */
  timeField?: string;
}

/**
 * The format a file name implies, or a UsageError that says how to choose.
 *
 * @example
 *   formatFromPath('data/bundled/tides.avro'); // 'avro'
 */
export function formatFromPath(filePath: string): FileFormat {
  // One extension table, in the component's config spec (the validator uses it too).
  const format = formatImpliedBy(filePath);
  if (format === undefined) {
    throw new UsageError(`cannot tell the format of ${filePath} from its extension: use .jsonl, .ndjson, .json, .csv or .avro, or set \`format\` in the file source`);
  }
  return format;
}

/**
 * Stream a file as decoded batches, starting at `options.fromOffset`.
 *
 * @example
 *   const spec = { path: 'data/bundled/tides.avro', batchSize: 4096 };
 *   for await (const batch of openFileSource(spec, { fromOffset: 0 })) {
 *     console.log(batch.source.fromOffset, batch.rows!.length, batch.deadLetters!.length);
 *   }
 */
export function openFileSource(spec: FileSourceSpec, options: FileSourceOptions): AsyncIterable<RawBatch> {
  const format = spec.format ?? formatFromPath(spec.path);
  if (!Number.isInteger(spec.batchSize) || spec.batchSize < 1) throw new UsageError(`batchSize must be a whole number >= 1, got ${spec.batchSize}`);
  if (!Number.isInteger(options.fromOffset) || options.fromOffset < 0) throw new UsageError(`fromOffset must be a whole number >= 0, got ${options.fromOffset}`);
  if (!fs.existsSync(spec.path)) throw new UsageError(`input file not found: ${spec.path}`);
  // Only a CSV file may lack station ids; anywhere else the option would be ignored, and a
  // user who meant it as a filter would get every station without a word.
  if (spec.station !== undefined && format !== 'csv') throw new UsageError(stationNotUsed(spec.station, `${spec.path} is ${format === 'avro' ? 'an Avro' : 'a JSONL'} file: its records name their own stations`));
  // An empty file holds no records in any format (an Avro container would need its header); the run's summary says it was empty.
  if (fs.statSync(spec.path).size === 0) return noBatches();
  switch (format) {
    case 'avro':
      return avroBatches(spec, options);
    case 'jsonl':
    case 'csv':
      return textBatches(spec, format, options);
    default:
      throw new UsageError(`unknown file format ${String(format)}`);
  }
}

async function* noBatches(): AsyncGenerator<RawBatch> {}

/** Collects rows and dead letters into RawBatches of `batchSize` records. */
class BatchBuilder {
  private rows: Row[] = [];
  private offsets: number[] = [];
  private deadLetters: DeadLetter[] = [];
  private start: number;
  /** Offset after the last record taken (the resume position once this batch is durable). */
  private next: number;

  constructor(
    private readonly partition: string,
    private readonly batchSize: number,
    fromOffset: number,
  ) {
    this.start = fromOffset;
    this.next = fromOffset;
  }

  get full(): boolean {
    return this.rows.length + this.deadLetters.length >= this.batchSize;
  }

  get empty(): boolean {
    return this.rows.length + this.deadLetters.length === 0;
  }

  row(row: Row, offset: number): void {
    this.rows.push(row);
    this.offsets.push(offset);
    this.next = offset + 1;
  }

  deadLetter(payload: DeadLetter['payload'], reason: string, offset: number): void {
    this.deadLetters.push({ payload, reason, partition: this.partition, offset, stage: 'decode' });
    this.next = offset + 1;
  }

  /** Offsets up to `offset` were consumed without a record (blank lines). */
  skipTo(offset: number): void {
    if (offset > this.next) this.next = offset;
  }

  take(): RawBatch {
    const batch: RawBatch = {
      rows: this.rows,
      offsets: Float64Array.from(this.offsets),
      deadLetters: this.deadLetters,
      source: { partition: this.partition, fromOffset: this.start, toOffset: this.next },
    };
    this.rows = [];
    this.offsets = [];
    this.deadLetters = [];
    this.start = this.next;
    return batch;
  }
}

/**
 * The file's lines, a chunk at a time (one await per ~1 MiB, not per line).
 * `\r\n` endings are accepted; a last line without a newline is still a line.
 */
async function* readLineChunks(filePath: string): AsyncGenerator<string[]> {
  const decoder = new StringDecoder('utf8');
  let carry = '';
  for await (const chunk of fs.createReadStream(filePath, { highWaterMark: 1 << 20 })) {
    const text = carry + decoder.write(chunk as Buffer);
    const lines = text.split('\n');
    carry = lines.pop()!;
    if (lines.length > 0) yield lines;
  }
  const rest = carry + decoder.end();
  if (rest.length > 0) yield [rest];
}

function stripCarriageReturn(line: string): string {
  return line.length > 0 && line.charCodeAt(line.length - 1) === 13 ? line.slice(0, -1) : line;
}

async function* textBatches(spec: FileSourceSpec, format: 'jsonl' | 'csv', options: FileSourceOptions): AsyncGenerator<RawBatch> {
  const partition = `file:${spec.path}`;
  const builder = new BatchBuilder(partition, spec.batchSize, options.fromOffset);
  let decoder: LineDecoder | undefined = format === 'jsonl' ? createJsonlDecoder({ timeField: options.timeField }) : undefined;
  // CSV offsets count data lines, so the header sits at -1.
  let lineOffset = format === 'csv' ? -1 : 0;
  let pending: string | undefined;
  let pendingOffset = 0;

  const decodeRecord = (record: string, offset: number): void => {
    try {
      builder.row(decoder!.decode(record), offset);
    } catch (error) {
      if (!(error instanceof DecodeError)) throw error;
      builder.deadLetter(record, error.message, offset);
    }
  };

  for await (const lines of readLineChunks(spec.path)) {
    for (let i = 0; i < lines.length; i++, lineOffset++) {
      const line = stripCarriageReturn(lines[i]);
      if (decoder === undefined) {
        // First line of a CSV: the header picks the layout (and may refuse the file).
        if (line.trim() === '') throw new UsageError(`${spec.path}: the CSV file starts with a blank line instead of a header`);
        decoder = createCsvDecoder(line, { station: spec.station, fileName: spec.path, ...options.csv });
        continue;
      }
      if (pending !== undefined) {
        // Inside a quoted CSV field that spans lines.
        pending += `\n${line}`;
        if (hasUnclosedQuote(pending)) continue;
        if (pendingOffset >= options.fromOffset) decodeRecord(pending, pendingOffset);
        pending = undefined;
      } else if (line.trim() === '') {
        if (lineOffset >= options.fromOffset) builder.skipTo(lineOffset + 1);
        continue;
      } else if (format === 'csv' && line.indexOf('"') !== -1 && hasUnclosedQuote(line)) {
        pending = line;
        pendingOffset = lineOffset;
        continue;
      } else if (lineOffset >= options.fromOffset) {
        decodeRecord(line, lineOffset);
      } else {
        continue;
      }
      if (builder.full) yield builder.take();
    }
  }
  if (pending !== undefined && pendingOffset >= options.fromOffset) {
    builder.deadLetter(pending, 'unterminated quoted field at the end of the file', pendingOffset);
  }
  if (!builder.empty) yield builder.take();
}

async function* avroBatches(spec: FileSourceSpec, options: FileSourceOptions): AsyncGenerator<RawBatch> {
  const partition = `file:${spec.path}`;
  const builder = new BatchBuilder(partition, spec.batchSize, options.fromOffset);
  const from = options.fromOffset;
  const stream = fs.createReadStream(spec.path, { highWaterMark: 1 << 20 });
  for await (const block of readAvroContainerBlocks(stream as AsyncIterable<Buffer>, { readerType: options.readerType, skipBefore: from })) {
    const end = block.firstIndex + block.count;
    if (end <= from) continue;
    const good = block.corruptFrom ?? block.count;
    for (let i = Math.max(0, from - block.firstIndex); i < block.count; i++) {
      const offset = block.firstIndex + i;
      if (i < good) builder.row(block.rows[i], offset);
      else builder.deadLetter(null, block.reason!, offset);
      if (builder.full) yield builder.take();
    }
  }
  if (!builder.empty) yield builder.take();
}
