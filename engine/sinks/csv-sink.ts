import { mkdir, open, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { ComponentContext, JsonSchema } from '../config/component';
import { ExternalError, UsageError } from '../core/errors';
import type { Row } from '../core/batch';
import type { Sink, SinkOptions } from '../core/sink';

/**
 * CSV sink: a header row, then one line per row (RFC 4180: fields holding a
 * comma, a double quote or a line break are quoted, quotes doubled; lines end
 * with CRLF). Timestamps are ISO-8601 UTC with milliseconds, as the JSONL sink
 * writes them; a null is an empty field.
 *
 * @example
 * sink:
 *   csv: { path: out/lunar-day.csv }
 */

export interface CsvSinkConfig {
  path: string;
}

export const schema: JsonSchema = {
  title: 'csv sink',
  description: 'Writes rows to a CSV file with a header row (RFC 4180).',
  examples: [{ path: 'out/lunar-day.csv' }],
  type: 'object',
  required: ['path'],
  additionalProperties: false,
  properties: {
    path: { description: "Output file; relative to the job file's directory.", type: 'string', minLength: 1, examples: ['out/lunar-day.csv'] },
  },
};

/** Schema-validated YAML to the JobSpec form. */
export function normalize(raw: CsvSinkConfig, _context: ComponentContext): { path: string } {
  return { path: raw.path };
}

/** Where a CSV file stands in a checkpoint: its length, and the columns its header named (none yet: no header). */
interface CsvPosition {
  length: number;
  columns?: string[];
}

/**
 * Writes rows as CSV. The columns are the fields of the rows written before
 * the header (the first rows, in the order their fields first appear); a row
 * with a field outside them cannot be written (a CSV file has one header) and
 * stops the run with a UsageError naming it.
 *
 * Like the JSONL sink it takes part in checkpoints with the file's length
 * (and the header's columns): on restart the file is truncated back to the
 * last checkpoint and the replayed epoch writes the same lines again, so a
 * crash never duplicates a line.
 *
 * @example
 * const sink = new CsvSink('out/averages.csv', { timestampFields: new Set(['t']) });
 * await sink.open();
 * await sink.write([{ station: '8454000', window_start: new Date(0), avg: 1.25 }]);
 * await sink.close(); // station,window_start,avg\r\n8454000,1970-01-01T00:00:00.000Z,1.25\r\n
 */
export class CsvSink implements Sink {
  readonly description: string;
  private file: FileHandle | null = null;
  private pending: Row[] = [];
  private columns: string[] | null = null;
  private length = 0;
  private rowsWritten = 0;

  constructor(
    private readonly path: string,
    private readonly options: SinkOptions,
  ) {
    this.description = `CSV file ${path}`;
  }

  async open(resume?: unknown): Promise<void> {
    await mkdir(dirname(this.path), { recursive: true });
    const position = typeof resume === 'object' && resume !== null ? (resume as CsvPosition) : undefined;
    try {
      if (position === undefined || typeof position.length !== 'number') {
        this.file = await open(this.path, 'w');
        this.length = 0;
        this.columns = null;
      } else {
        this.file = await open(this.path, 'r+').catch(() => open(this.path, 'w+'));
        await this.file.truncate(position.length);
        this.length = position.length;
        this.columns = position.columns ?? null;
      }
    } catch (error) {
      throw new ExternalError(`cannot open ${this.path} for writing: ${(error as Error).message}`, { retriable: false, cause: error });
    }
  }

  async write(rows: Row[]): Promise<void> {
    for (let i = 0; i < rows.length; i++) this.pending.push(rows[i]);
    this.rowsWritten += rows.length;
    // Bound memory between checkpoints: write through (without fsync) past 20,000 rows.
    if (this.pending.length > 20_000) await this.writePending();
  }

  async flush(): Promise<void> {
    await this.writePending();
    await this.file?.sync();
  }

  position(): CsvPosition {
    return this.columns === null ? { length: this.length } : { length: this.length, columns: this.columns };
  }

  get rows(): number {
    return this.rowsWritten;
  }

  async close(): Promise<void> {
    await this.flush();
    await this.file?.close();
    this.file = null;
  }

  private async writePending(): Promise<void> {
    if (this.pending.length === 0 || !this.file) return;
    const rows = this.pending;
    this.pending = [];
    let text = '';
    if (this.columns === null) {
      this.columns = columnsOf(rows);
      text += csvLine(this.columns) + '\r\n';
    }
    const columns = this.columns;
    const known = new Set(columns);
    const timestamps = this.options.timestampFields;
    for (const row of rows) {
      for (const field in row) {
        // An undefined value is an absent field, as in JSON.
        if (Object.hasOwn(row, field) && !known.has(field) && row[field] !== undefined) {
          throw new UsageError(
            `csv sink ${this.path}: a row has the field '${field}', which is not among the columns of its header (${columns.join(', ')}); ` +
              'a CSV file has one header, so rows whose fields vary need JSONL (.jsonl)',
          );
        }
      }
      text += csvLine(columns.map((column) => cell(row[column], timestamps.has(column)))) + '\r\n';
    }
    const buffer = Buffer.from(text, 'utf8');
    await this.file.write(buffer, 0, buffer.length, this.length);
    this.length += buffer.length;
  }
}

/** The fields of `rows` in the order they first appear (undefined ones are absent, as in JSON). */
function columnsOf(rows: Row[]): string[] {
  const seen = new Set<string>();
  for (const row of rows) for (const field in row) if (Object.hasOwn(row, field) && row[field] !== undefined) seen.add(field);
  return [...seen];
}

/**
 * A value as CSV text: empty for null, ISO-8601 for Dates and for epoch-ms
 * numbers of timestamp fields, numbers as JSON writes them (NaN and
 * infinities, which JSON cannot hold, empty), objects as JSON.
 */
function cell(value: unknown, isTimestamp: boolean): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) return '';
    return isTimestamp ? new Date(value).toISOString() : String(value);
  }
  if (typeof value === 'string') return value;
  if (value instanceof Date) return Number.isFinite(value.getTime()) ? value.toISOString() : '';
  if (typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  return JSON.stringify(value) ?? '';
}

/** One CSV line (without its line break): RFC 4180 quoting where a field needs it. */
export function csvLine(fields: readonly string[]): string {
  let line = '';
  for (let i = 0; i < fields.length; i++) {
    const field = fields[i];
    if (i > 0) line += ',';
    line += /[",\r\n]/.test(field) ? `"${field.replace(/"/g, '""')}"` : field;
  }
  return line;
}
