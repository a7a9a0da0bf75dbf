import * as fs from 'node:fs';
import * as path from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import type * as avro from 'avsc';
import type { FileFormat, FileSourceSpec } from '../config/job';
import type { RawBatch, Row } from '../core/batch';
import type { DeadLetter } from '../core/operator';
import { DecodeError, UsageError } from '../core/errors';
import { readAvroContainerBlocks } from '../codecs/avro-container';
import type { CsvOptions, LengthUnit } from '../codecs/csv';
import { createCsvDecoder, stationNotUsed } from '../codecs/csv';
import { hasUnclosedQuote } from '../codecs/csv-line';
import type { LineDecoder } from '../codecs/decoded';
import { createJsonlDecoder } from '../codecs/jsonl';
import { isNoaaAnswer, NoaaApiError, type NoaaStation, parseNoaaJson, splitSavedAnswers } from '../codecs/noaa-api';
import { loadStationTable } from '../codecs/station-table';
import { findStation } from '../codecs/stations';
import { parseStationOption } from '../codecs/station-table';
import type { ComponentContext, JsonSchema, Reporter } from '../config/component';

/**
 * A data file as a source: JSONL, CSV (NOAA layouts included) or an Avro
 * object container file, streamed (never loaded whole) and decoded into
 * batches of `spec.batchSize` records; or answers of NOAA's CO-OPS API saved
 * as JSON (a file, or a directory of them), read whole.
 *
 * Offsets are positions in the file that do not depend on batch size or on
 * which records decode, so a checkpointed offset always resumes at the same
 * record:
 *
 *   JSONL  offset = 0-based line index (blank lines use up an index, yield nothing)
 *   CSV    offset = 0-based index of the data line after the header (a record
 *          quoted across several lines has the index of its first line)
 *   Avro   offset = 0-based record index in the file
 *   NOAA   offset = index in the input's order: the answers and elements that
 *          could not be read first (file by file), then every observation by
 *          event time (ties in file order)
 *
 * Records that cannot be decoded are dead letters at their own offset; they
 * count towards the batch size like rows do.
 */

export interface FileSourceOptions {
  /** First offset to deliver; earlier records are skipped (resume after a checkpoint). */
  fromOffset: number;
  /**
   * Station facts and units, overriding the spec's (`units`, `stationInfo`,
   * and the table loaded from `stations`).
   */
  csv?: Pick<CsvOptions, 'units' | 'stationInfo' | 'stations'>;
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
  // One extension table, below with the config schema (the validator uses it too).
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
  if (!Number.isInteger(spec.batchSize) || spec.batchSize < 1) throw new UsageError(`batchSize must be a whole number >= 1, got ${spec.batchSize}`);
  if (!Number.isInteger(options.fromOffset) || options.fromOffset < 0) throw new UsageError(`fromOffset must be a whole number >= 0, got ${options.fromOffset}`);
  if (!fs.existsSync(spec.path)) throw new UsageError(`input file not found: ${spec.path}`);
  const directory = fs.statSync(spec.path).isDirectory();
  let format = spec.format ?? (directory ? 'noaa-json' : formatFromPath(spec.path));
  // A .json file may be records (JSONL) or an answer saved from NOAA's API: its content says.
  if (spec.format === undefined && format === 'jsonl') format = jsonFileKind(spec.path);
  if (directory && format !== 'noaa-json') throw new UsageError(`${spec.path} is a directory: a directory input holds answers saved from NOAA's CO-OPS API (.json files); give a ${format} file on its own`);
  // Only CSV files and NOAA's predictions may lack station ids; anywhere else the option would be
  // ignored, and a user who meant it as a filter would get every station without a word.
  if (format === 'avro' || format === 'jsonl') {
    const kind = `${spec.path} is ${format === 'avro' ? 'an Avro' : 'a JSONL'} file`;
    if (spec.station !== undefined) throw new UsageError(stationNotUsed(spec.station, `${kind}: its records name their own stations`));
    if (spec.stations !== undefined) throw new UsageError(`the stations file ${spec.stations} (--stations, or stations: in the file source) gives names and positions to CSV files and NOAA answers; ${kind}: its records carry their own`);
  }
  const facts: FileFacts = {
    units: spec.units,
    stationInfo: spec.stationInfo,
    // Loaded before the first read, so a bad stations file is a usage error before any output.
    stations: spec.stations === undefined ? undefined : loadStationTable(spec.stations),
    ...definedOnly(options.csv ?? {}),
  };
  // An empty file holds no records in any format (an Avro container would need its header); the run's summary says it was empty.
  if (!directory && fs.statSync(spec.path).size === 0) return noBatches();
  switch (format) {
    case 'avro':
      return avroBatches(spec, options);
    case 'jsonl':
    case 'csv':
      return textBatches(spec, format, options, facts);
    case 'noaa-json':
      return noaaAnswerBatches(spec, options, facts, directory ? answerFilesIn(spec.path) : [spec.path]);
    default:
      throw new UsageError(`unknown file format ${String(format)}`);
  }
}

/** What files do not say and the user does: units, station name and position. */
type FileFacts = Pick<CsvOptions, 'units' | 'stationInfo' | 'stations'>;

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** How much of a .json file is read to tell records from a NOAA answer by its first line. */
const SNIFF_BYTES = 1 << 20;
/** Larger than any answer NOAA sends (a year of hourly heights is about 1 MB): a file this big is not parsed whole to find out. */
const MAX_ANSWER_BYTES = 64 << 20;

/**
 * Whether a .json/.jsonl file holds records (JSONL) or answers saved from
 * NOAA's API (one document, possibly pretty-printed, or one answer per line).
 */
function jsonFileKind(filePath: string): 'jsonl' | 'noaa-json' {
  const fd = fs.openSync(filePath, 'r');
  let head: string;
  try {
    const buffer = Buffer.alloc(SNIFF_BYTES);
    head = buffer.toString('utf8', 0, fs.readSync(fd, buffer, 0, SNIFF_BYTES, 0)).replace(/^\ufeff/, '');
  } finally {
    fs.closeSync(fd);
  }
  const firstLine = head.split('\n').find((line) => line.trim() !== '')?.trim();
  if (firstLine === undefined) return 'jsonl';
  // An HTML page saved in place of an answer (NOAA's maintenance page): reported as such.
  if (firstLine.startsWith('<')) return 'noaa-json';
  try {
    return isNoaaAnswer(JSON.parse(firstLine)) ? 'noaa-json' : 'jsonl';
  } catch {
    // Not a record on one line: perhaps one pretty-printed document.
  }
  if (!firstLine.startsWith('{') || fs.statSync(filePath).size > MAX_ANSWER_BYTES) return 'jsonl';
  try {
    return isNoaaAnswer(JSON.parse(fs.readFileSync(filePath, 'utf8').replace(/^\ufeff/, ''))) ? 'noaa-json' : 'jsonl';
  } catch {
    return 'jsonl';
  }
}

/** The answer files of a directory input, in name order; other data files are refused, anything else ignored. */
function answerFilesIn(directory: string): string[] {
  const files: string[] = [];
  for (const name of fs.readdirSync(directory).sort()) {
    const file = path.join(directory, name);
    if (name.startsWith('.') || !fs.statSync(file).isFile()) continue;
    const format = formatImpliedBy(name);
    if (format === undefined) continue;
    if (format !== 'jsonl' || jsonFileKind(file) !== 'noaa-json') {
      throw new UsageError(`${directory} holds ${name}, which is not an answer saved from NOAA's API: a directory input holds only those; give other data files one at a time`);
    }
    files.push(file);
  }
  if (files.length === 0) throw new UsageError(`${directory} holds no answers saved from NOAA's API (.json files)`);
  return files;
}

async function* noBatches(): AsyncGenerator<RawBatch> {}

/** Collects rows and dead letters into RawBatches of `batchSize` records. */
class BatchBuilder {
  private rows: Row[] = [];
  private offsets: number[] = [];
  /** Text files: the text each row was decoded from, aligned with `rows`. */
  private texts: string[] = [];
  private deadLetters: DeadLetter[] = [];
  private start: number;
  /** Offset after the last record taken (the resume position once this batch is durable). */
  private next: number;

  /** `lineOfOffsetZero`: for text files, the 1-based line number of offset 0 (dead letters give lines). */
  constructor(
    private readonly partition: string,
    private readonly batchSize: number,
    fromOffset: number,
    private readonly lineOfOffsetZero?: number,
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

  /** `text`: what the row was decoded from (give it for every row or none), remembered for the dead letters. */
  row(row: Row, offset: number, text?: string): void {
    this.rows.push(row);
    this.offsets.push(offset);
    if (text !== undefined) this.texts.push(text);
    this.next = offset + 1;
  }

  deadLetter(payload: DeadLetter['payload'], reason: string, offset: number): void {
    const letter: DeadLetter = { payload, reason, partition: this.partition, offset, stage: 'decode' };
    // People read dead letters of text files in an editor: give them the line.
    if (this.lineOfOffsetZero !== undefined) letter.line = offset + this.lineOfOffsetZero;
    this.deadLetters.push(letter);
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
    if (this.texts.length > 0) {
      // A row rejected later (validation, a step) is dead-lettered as the text it was read from.
      batch.received = this.texts;
      batch.lineOfOffsetZero = this.lineOfOffsetZero;
      this.texts = [];
    }
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

async function* textBatches(spec: FileSourceSpec, format: 'jsonl' | 'csv', options: FileSourceOptions, facts: FileFacts): AsyncGenerator<RawBatch> {
  const partition = `file:${spec.path}`;
  // CSV offsets count data lines, so the header sits at -1 (and is line 1).
  const builder = new BatchBuilder(partition, spec.batchSize, options.fromOffset, format === 'csv' ? 2 : 1);
  let decoder: LineDecoder | undefined = format === 'jsonl' ? createJsonlDecoder({ timeField: options.timeField }) : undefined;
  let lineOffset = format === 'csv' ? -1 : 0;
  let pending: string | undefined;
  let pendingOffset = 0;

  const decodeRecord = (record: string, offset: number): void => {
    try {
      builder.row(decoder!.decode(record), offset, record);
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
        decoder = createCsvDecoder(line, { station: spec.station, fileName: spec.path, ...facts });
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

/** One observation of a NOAA answer input, with the element it was read from. */
interface AnswerObservation {
  row: Row;
  t: number;
  /** The element as NOAA sent it (numbers as strings), for the dead letters. */
  item: string;
}

/** Something of a NOAA answer input that could not be read: a whole answer, or one element. */
interface AnswerProblem {
  payload: string;
  reason: string;
}

/**
 * Answers saved from NOAA's CO-OPS API (`--input answer.json`, or a directory
 * of them): their metadata names the station, their numbers are strings,
 * their units are what the request asked for (so they must be given). The
 * input is read whole (NOAA caps an answer at 31 days of 6-minute data or a
 * year of hourly heights) and its observations are delivered in event-time
 * order, so answers saved in any order, for any stations, are never late.
 *
 * An answer NOAA refused (`{"error":...}`) is a dead letter with NOAA's
 * message; a file holding nothing but one such answer is refused instead
 * (UsageError), since there is nothing to run on.
 */
function noaaAnswerBatches(spec: FileSourceSpec, options: FileSourceOptions, facts: FileFacts, files: string[]): AsyncGenerator<RawBatch> {
  if (facts.units === undefined) {
    throw new UsageError(
      `${spec.path}: answers of NOAA's API do not say the units of their water levels: they are what the request asked for ` +
        "(units=metric: metres, units=english: feet). Say which: --units m or --units ft (units: in the job's file source)",
    );
  }
  return readNoaaAnswers(spec, options, { ...facts, units: facts.units }, files);
}

async function* readNoaaAnswers(spec: FileSourceSpec, options: FileSourceOptions, facts: FileFacts & { units: LengthUnit }, files: string[]): AsyncGenerator<RawBatch> {
  const parseOptions = { units: facts.units, station: spec.station, stationInfo: askedStation(spec.station, facts) };
  const observations: AnswerObservation[] = [];
  const problems: AnswerProblem[] = [];
  for (const file of files) {
    const answers = splitSavedAnswers(fs.readFileSync(file, 'utf8'));
    for (const answer of answers) {
      // Where it is, for the reason: the file (a directory has many), the line (a file of one answer per line).
      const place = [files.length > 1 ? path.basename(file) : '', answers.length > 1 ? `line ${answer.line}` : ''].filter((part) => part !== '').join(' ');
      const where = place === '' ? '' : `${place}: `;
      let parsed;
      try {
        parsed = parseNoaaJson(answer.text, parseOptions);
      } catch (error) {
        if (!(error instanceof DecodeError)) throw error;
        if (files.length === 1 && answers.length === 1) {
          // Nothing but a refusal or something that is no answer: there is nothing to run on.
          throw new UsageError(`${file} ${error instanceof NoaaApiError ? "is NOAA's error answer, not observations" : "cannot be read as an answer of NOAA's API"}: ${error.message}`);
        }
        problems.push({ payload: answer.text.trim(), reason: `${where}${error.message}` });
        continue;
      }
      for (const rejected of parsed.rejected) {
        problems.push({ payload: JSON.stringify(rejected.item), reason: `${where}element ${rejected.index} of the answer: ${rejected.reason}` });
      }
      parsed.rows.forEach((row, i) => observations.push({ row, t: row.t as number, item: JSON.stringify(parsed.items[i]) }));
    }
  }
  // Answers come in whatever order they were saved; their observations go out in event-time order (a stable sort).
  observations.sort((a, b) => a.t - b.t);

  const partition = `file:${spec.path}`;
  const builder = new BatchBuilder(partition, spec.batchSize, options.fromOffset);
  let offset = 0;
  for (const problem of problems) {
    if (offset >= options.fromOffset) builder.deadLetter(problem.payload, problem.reason, offset);
    offset++;
    if (builder.full) yield builder.take();
  }
  for (const observation of observations) {
    if (offset >= options.fromOffset) builder.row(observation.row, offset, observation.item);
    offset++;
    if (builder.full) yield builder.take();
  }
  if (!builder.empty) yield builder.take();
}

/**
 * The station a user named (`--station`), with its name and position, for
 * answers that carry no metadata (predictions); answers with metadata use theirs.
 */
function askedStation(station: string | undefined, facts: FileFacts): NoaaStation | undefined {
  if (station === undefined) return undefined;
  const known = facts.stationInfo ?? facts.stations?.get(station) ?? findStation(station);
  if (known === undefined) return undefined;
  return { id: station, name: known.name, lat: known.lat, lon: known.lon };
}

// ---------------------------------------------------------------- job-file configuration

/**
 * File source: a finite input (JSONL, CSV such as NOAA CO-OPS exports, or an
 * Avro object container file). At its end the watermark jumps to +infinity.
 *
 * @example
 * source:
 *   file: { path: data/bundled/tides.avro }
 */

export interface FileSourceConfig {
  path: string;
  format?: FileFormat;
  station?: string;
  stations?: string;
  units?: 'm' | 'ft';
  batchSize?: number;
  strict?: boolean;
}

export const DEFAULT_BATCH_SIZE = 4096;

const FORMAT_BY_EXTENSION: Record<string, FileFormat> = {
  '.jsonl': 'jsonl',
  '.ndjson': 'jsonl',
  '.json': 'jsonl',
  '.csv': 'csv',
  '.avro': 'avro',
};

/** The format a file name implies, if its extension is one we know. */
export function formatImpliedBy(path: string): FileFormat | undefined {
  const match = /(\.[A-Za-z0-9]+)$/.exec(path);
  return match === null ? undefined : FORMAT_BY_EXTENSION[match[1].toLowerCase()];
}

export const schema: JsonSchema = {
  title: 'file source',
  description: 'Reads a finite file of records.',
  examples: [{ path: '../data/bundled/tides.avro' }, { path: 'downloads/8454000.csv', units: 'ft', station: '8454000' }],
  type: 'object',
  required: ['path'],
  additionalProperties: false,
  properties: {
    path: {
      description: "File to read, or a directory of answers saved from NOAA's CO-OPS API (.json); relative to the job file's directory.",
      type: 'string',
      minLength: 1,
      examples: ['data/bundled/tides.avro'],
    },
    format: {
      description:
        'Record encoding (default: from the extension: .jsonl/.ndjson/.json, .csv, .avro; a .json file holding an answer saved from NOAA\'s API, and a directory, are noaa-json).',
      type: 'string',
      enum: ['jsonl', 'csv', 'avro', 'noaa-json'],
      examples: ['csv'],
    },
    station: {
      description:
        'Station of a CSV file that names none (or of NOAA predictions, which have no metadata): its id, or id,name,lat,lon (a line of CO-OPS\' station metadata CSV) for a station no table knows.',
      type: 'string',
      minLength: 1,
      examples: ['8454000', '9454460,Columbia Glacier,61.0233,-147.085'],
    },
    stations: {
      description:
        'Stations file giving names and positions, consulted before the bundled table: CSV with the columns id,name,lat,lon (CO-OPS station metadata), or JSON [{id, name, lat, lon}].',
      type: 'string',
      minLength: 1,
      examples: ['stations.csv'],
    },
    units: {
      description:
        'Water-level units where the file does not say (CO-OPS API CSV, t,v,s, NOAA JSON answers: what the request asked for); values are converted to metres. Required for those; other layouts say their units or are tideflow records, in metres.',
      type: 'string',
      enum: ['m', 'ft'],
      examples: ['ft'],
    },
    batchSize: { description: 'Rows per batch.', type: 'integer', minimum: 1, default: DEFAULT_BATCH_SIZE },
    strict: {
      description:
        'Exit 1 when any record went to the dead letters (a torn Avro tail, an unreadable line, an invalid record), after writing everything and printing the summary; the same as `run --strict`. Default false: dead letters are counted and the run exits 0.',
      type: 'boolean',
      default: false,
    },
  },
};

/** Checks beyond the schema; runs on any input, so it looks before it trusts. */
export function check(raw: Partial<FileSourceConfig>, report: Reporter): void {
  if (raw.format === undefined && typeof raw.path === 'string' && raw.path.length > 0 && formatImpliedBy(raw.path) === undefined && !isDirectory(raw.path)) {
    report.atValue(['path'], `cannot tell the format of '${raw.path}' from its extension; add format: jsonl, csv, avro or noaa-json`);
  }
  if (typeof raw.station === 'string' && raw.station.length > 0) {
    try {
      parseStationOption(raw.station);
    } catch (error) {
      report.atValue(['station'], (error as Error).message);
    }
  }
}

function isDirectory(path: string): boolean {
  try {
    return fs.statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** Schema-validated YAML to the JobSpec form: defaults filled in, durations and timestamps in milliseconds. */
export function normalize(raw: FileSourceConfig, _context: ComponentContext): FileSourceSpec {
  // A .json/.jsonl file holds records or answers saved from NOAA's API: unless the job says, its content decides.
  const implied = formatImpliedBy(raw.path);
  const format = raw.format ?? (implied === 'jsonl' ? undefined : implied);
  const station = raw.station === undefined ? undefined : parseStationOption(raw.station);
  return {
    path: raw.path,
    ...(format === undefined ? {} : { format }),
    ...(station === undefined ? {} : { station: station.id }),
    ...(station?.facts === undefined ? {} : { stationInfo: station.facts }),
    ...(raw.stations === undefined ? {} : { stations: raw.stations }),
    ...(raw.units === undefined ? {} : { units: raw.units }),
    batchSize: raw.batchSize ?? DEFAULT_BATCH_SIZE,
    ...(raw.strict === true ? { strict: true } : {}),
  };
}
