import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Command } from 'commander';
import type { GeneratorSourceSpec } from '../config/job';
import { parseDuration } from '../config/duration';
import { UsageError } from '../core/errors';
import { AvroContainerWriter } from '../codecs/avro-container';
import { loadAvroType, tideObservationSchemaPath } from '../codecs/avro-schema';
import { encodeCsvLine, TIDE_CSV_HEADER } from '../codecs/csv';
import { encodeJsonLine } from '../codecs/jsonl';
import { loadStations } from '../codecs/stations';
import { parseIsoTimestamp } from '../codecs/timestamps';
import type { Row } from '../core/batch';
import { checkGeneratorSpec, generateRecords } from '../sources/generator-source';

/**
 * `tideflow generate`: synthetic tide observations (harmonic model, see
 * engine/sources/generator-source.ts) with duplicates, bounded disorder,
 * late records and null readings, written as JSONL, CSV or Avro.
 */

/** Options as commander hands them over (all text, so every check and message is ours). */
export interface GenerateCommandOptions {
  stations?: string;
  start: string;
  days?: string;
  count?: string;
  interval: string;
  duplicates: string;
  disorder: string;
  late: string;
  nulls: string;
  seed: string;
  output: string;
  quiet?: boolean;
}

export interface GenerateSummary {
  rows: number;
  duplicates: number;
  late: number;
  nulls: number;
  bytes: number;
  seconds: number;
  output: string;
}

const DEFAULT_START = '2024-01-01T00:00:00Z';
const DAY_MS = 86_400_000;

/**
 * Add `generate` to the CLI.
 *
 * @example
 *   registerGenerate(program);
 *   // tideflow generate --stations 8454000,9414290 --days 30 --output out/tides.avro
 */
export function registerGenerate(program: Command): void {
  program
    .command('generate')
    .description('write synthetic tide observations (harmonic model of real stations) with duplicates, disorder, late records and null readings')
    .option('--stations <ids>', 'comma-separated station ids (default: every bundled station with NOAA harmonics; unknown ids get invented constituents)')
    .option('--start <iso>', 'event time of the first observation (ISO-8601)', DEFAULT_START)
    .option('--days <n>', 'days of observations per station (default 7)')
    .option('--count <n>', 'observations per station (instead of --days)')
    .option('--interval <duration>', 'time between observations of a station', '6m')
    .option('--duplicates <rate>', 'probability that a record is delivered a second time', '0.05')
    .option('--disorder <duration>', 'largest arrival delay of a regular record (bounds the disorder)', '5m')
    .option('--late <rate>', 'probability that a record is delayed far beyond --disorder', '0.001')
    .option('--nulls <rate>', 'probability that a reading is missing (v = null)', '0.01')
    .option('--seed <n>', 'random seed; the same seed gives the same output', '1')
    .option('--output <file>', "output file, format by extension (.jsonl, .csv, .avro); '-' for JSONL on stdout", '-')
    .option('--quiet', 'no progress line or summary')
    .action(async (options: GenerateCommandOptions) => {
      const summary = await runGenerate(options);
      if (!options.quiet) process.stderr.write(formatGenerateSummary(summary) + '\n');
    });
}

function parseRate(name: string, text: string, problems: string[]): number {
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value) || value < 0 || value > 1) problems.push(`--${name} must be a probability between 0 and 1 (e.g. 0.05), got "${text}"`);
  return value;
}

function parseWhole(name: string, text: string, problems: string[], min: number): number {
  const value = Number(text);
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(value) || value < min) problems.push(`--${name} must be a whole number >= ${min}, got "${text}"`);
  return value;
}

function parseDurationOption(name: string, text: string, problems: string[], min: number): number {
  const value = parseDuration(text.trim());
  if (value === null || !Number.isInteger(value) || value < min) {
    problems.push(`--${name} must be a duration such as 6m, 30s or 1h${min > 0 ? ' (more than 0)' : ''}, got "${text}"`);
    return 0;
  }
  return value;
}

/**
 * Turn CLI options into a generator spec. Collects every problem and throws
 * one UsageError listing them all (exit code 2).
 *
 * @example
 *   generatorSpecFromOptions({ stations: '8454000', start: '2024-01-01T00:00:00Z', count: '10', interval: '6m',
 *     duplicates: '0', disorder: '0s', late: '0', nulls: '0', seed: '1', output: '-' });
 */
export function generatorSpecFromOptions(options: GenerateCommandOptions): GeneratorSourceSpec {
  const problems: string[] = [];
  const stations = options.stations !== undefined
    ? options.stations.split(',').map((id) => id.trim()).filter((id) => id !== '')
    : [...loadStations().values()].filter((station) => station.constituents !== undefined).map((station) => station.id);
  if (stations.length === 0) problems.push('--stations must name at least one station id');
  // parseIsoTimestamp, not Date.parse: a time without a zone is UTC, never the machine's local time.
  const startMs = parseIsoTimestamp(options.start.trim()) ?? Number.NaN;
  if (!Number.isFinite(startMs)) problems.push(`--start must be an ISO-8601 time such as ${DEFAULT_START}, got "${options.start}"`);
  const intervalMs = parseDurationOption('interval', options.interval, problems, 1);
  let count: number;
  if (options.days !== undefined && options.count !== undefined) {
    problems.push('give --days or --count, not both');
    count = 0;
  } else if (options.count !== undefined) {
    count = parseWhole('count', options.count, problems, 1);
  } else {
    const days = Number(options.days ?? '7');
    if (!Number.isFinite(days) || days <= 0) problems.push(`--days must be a number of days > 0, got "${options.days}"`);
    count = intervalMs > 0 ? Math.max(1, Math.round((days * DAY_MS) / intervalMs)) : 0;
  }
  const spec: GeneratorSourceSpec = {
    stations,
    startMs,
    count,
    intervalMs,
    duplicateRate: parseRate('duplicates', options.duplicates, problems),
    disorderMs: parseDurationOption('disorder', options.disorder, problems, 0),
    lateRate: parseRate('late', options.late, problems),
    nullRate: parseRate('nulls', options.nulls, problems),
    seed: parseWhole('seed', options.seed, problems, 0),
    batchSize: 4096,
  };
  if (problems.length === 0) problems.push(...checkGeneratorSpec(spec));
  if (problems.length > 0) throw new UsageError(problems.join('\n'));
  return spec;
}

/** Where generated rows go: text (JSONL, CSV) in ~1 MiB writes, or an Avro container. */
interface RowWriter {
  write(row: Row): void | Promise<void>;
  close(): Promise<number>;
  /** True once the reader went away (stdout pipe closed): stop generating. */
  readonly closedByReader?: boolean;
}

/** Wait until a stream can take more, or is gone (a closed pipe never drains). */
function drainOrClose(stream: NodeJS.WritableStream): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = () => {
      stream.off('drain', done);
      stream.off('close', done);
      stream.off('error', done);
      resolve();
    };
    stream.once('drain', done);
    stream.once('close', done);
    stream.once('error', done);
  });
}

function textWriter(output: string, encode: (row: Row) => string, header?: string): RowWriter {
  const toStdout = output === '-';
  const fd = toStdout ? -1 : fs.openSync(output, 'w');
  let parts: string[] = header === undefined ? [] : [header];
  let size = header === undefined ? 0 : header.length;
  let bytes = 0;
  let broken = false;
  if (toStdout) {
    // `tideflow generate | head`: a closed pipe ends the output, it is not a failure.
    process.stdout.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EPIPE') broken = true;
      else throw error;
    });
  }
  const flush = async (): Promise<void> => {
    if (parts.length === 0) return;
    const chunk = Buffer.from(parts.join('\n') + '\n');
    parts = [];
    size = 0;
    bytes += chunk.length;
    if (toStdout) {
      if (broken) return;
      if (!process.stdout.write(chunk)) await drainOrClose(process.stdout);
    } else {
      let written = 0;
      while (written < chunk.length) written += fs.writeSync(fd, chunk, written, chunk.length - written);
    }
  };
  return {
    get closedByReader() {
      return broken;
    },
    write(row) {
      const line = encode(row);
      parts.push(line);
      size += line.length;
      if (size >= 1 << 20) return flush();
    },
    async close() {
      await flush();
      if (!toStdout) fs.closeSync(fd);
      return bytes;
    },
  };
}

function openWriter(output: string): RowWriter {
  if (output === '-') return textWriter(output, (row) => encodeJsonLine(row));
  const extension = path.extname(output).toLowerCase();
  const directory = path.dirname(path.resolve(output));
  if (!fs.existsSync(directory)) throw new UsageError(`--output: the directory ${directory} does not exist`);
  switch (extension) {
    case '.jsonl':
    case '.ndjson':
      return textWriter(output, (row) => encodeJsonLine(row));
    case '.csv':
      return textWriter(output, encodeCsvLine, TIDE_CSV_HEADER);
    case '.avro': {
      const writer = new AvroContainerWriter(output, loadAvroType(tideObservationSchemaPath()), {
        codec: 'deflate',
        // Level 3 deflates about 3x faster than the default 6 for ~10% more bytes: generated data is big and disposable.
        compressionLevel: 3,
      });
      return {
        write: (row) => writer.append(row),
        close: async () => writer.close().bytes,
      };
    }
    default:
      throw new UsageError(`--output: cannot tell the format of ${output}; use a .jsonl, .csv or .avro file, or '-' for JSONL on stdout`);
  }
}

/**
 * Generate to the output the options name and return what was written.
 *
 * @example
 *   const summary = await runGenerate({ ...defaults, count: '1000', output: 'out/tides.jsonl', quiet: true });
 *   summary.rows; // 12 stations x 1000 observations + duplicates
 */
export async function runGenerate(options: GenerateCommandOptions): Promise<GenerateSummary> {
  const spec = generatorSpecFromOptions(options);
  const writer = openWriter(options.output);
  const started = Date.now();
  const expected = spec.count * spec.stations.length * (1 + spec.duplicateRate);
  const showProgress = !options.quiet && expected >= 200_000;
  const progressEveryMs = process.stderr.isTTY ? 500 : 5000;
  let lastProgress = started;
  const summary: GenerateSummary = { rows: 0, duplicates: 0, late: 0, nulls: 0, bytes: 0, seconds: 0, output: options.output };
  for (const record of generateRecords(spec)) {
    summary.rows++;
    if (record.duplicate) summary.duplicates++;
    if (record.late) summary.late++;
    if (record.row.v === null) summary.nulls++;
    const pending = writer.write(record.row);
    if (pending !== undefined) {
      await pending;
      if (writer.closedByReader === true) break;
    }
    // Check the clock only every 64 Ki rows: cheap enough to leave on.
    if (showProgress && (summary.rows & 0xffff) === 0) {
      const now = Date.now();
      if (now - lastProgress >= progressEveryMs) {
        lastProgress = now;
        const line = `generate: ${summary.rows.toLocaleString('en-US')} / ~${Math.round(expected).toLocaleString('en-US')} rows (${Math.round((100 * summary.rows) / expected)}%)`;
        process.stderr.write(process.stderr.isTTY ? `\r\x1b[2K${line}` : `${line}\n`);
      }
    }
  }
  summary.bytes = await writer.close();
  summary.seconds = (Date.now() - started) / 1000;
  if (showProgress && process.stderr.isTTY) process.stderr.write('\r\x1b[2K');
  return summary;
}

/** The closing line(s) of `tideflow generate`. */
export function formatGenerateSummary(summary: GenerateSummary): string {
  const n = (x: number) => x.toLocaleString('en-US');
  const where = summary.output === '-' ? 'stdout' : summary.output;
  return (
    `generate: ${n(summary.rows)} rows (${n(summary.duplicates)} duplicates, ${n(summary.late)} late, ${n(summary.nulls)} null readings), ` +
    `${n(summary.bytes)} bytes to ${where} in ${summary.seconds.toFixed(2)} s (${n(Math.round(summary.rows / Math.max(summary.seconds, 1e-3)))} rows/s)`
  );
}
