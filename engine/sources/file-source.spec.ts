import type { ComponentContext, JsonSchema, Reporter } from '../config/component';
import type { FileFormat, FileSourceSpec } from '../config/job';

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
  units?: 'm' | 'ft';
  batchSize?: number;
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
export function formatFromPath(path: string): FileFormat | undefined {
  const match = /(\.[A-Za-z0-9]+)$/.exec(path);
  return match === null ? undefined : FORMAT_BY_EXTENSION[match[1].toLowerCase()];
}

export const schema: JsonSchema = {
  title: 'file source',
  description: 'Reads a finite file of records.',
  type: 'object',
  required: ['path'],
  additionalProperties: false,
  properties: {
    path: { description: "File to read; relative to the job file's directory.", type: 'string', minLength: 1, examples: ['data/bundled/tides.avro'] },
    format: {
      description: 'Record encoding (default: from the extension: .jsonl/.ndjson/.json, .csv, .avro).',
      type: 'string',
      enum: ['jsonl', 'csv', 'avro'],
      examples: ['csv'],
    },
    station: { description: 'Station id for CSV files that do not name one.', type: 'string', minLength: 1, examples: ['8454000'] },
    units: {
      description: 'Water-level units of CSV layouts whose header does not say (CO-OPS API CSV); values are converted to metres. Default m.',
      type: 'string',
      enum: ['m', 'ft'],
      examples: ['ft'],
    },
    batchSize: { description: 'Rows per batch.', type: 'integer', minimum: 1, default: DEFAULT_BATCH_SIZE },
  },
};

/** Checks beyond the schema; runs on any input, so it looks before it trusts. */
export function check(raw: Partial<FileSourceConfig>, report: Reporter): void {
  if (raw.format === undefined && typeof raw.path === 'string' && raw.path.length > 0 && formatFromPath(raw.path) === undefined) {
    report.atValue(['path'], `cannot tell the format of '${raw.path}' from its extension; add format: jsonl, csv or avro`);
  }
}

/** Schema-validated YAML to the JobSpec form: defaults filled in, durations and timestamps in milliseconds. */
export function normalize(raw: FileSourceConfig, _context: ComponentContext): FileSourceSpec {
  const format = raw.format ?? formatFromPath(raw.path);
  return {
    path: raw.path,
    ...(format === undefined ? {} : { format }),
    ...(raw.station === undefined ? {} : { station: raw.station }),
    ...(raw.units === undefined ? {} : { units: raw.units }),
    batchSize: raw.batchSize ?? DEFAULT_BATCH_SIZE,
  };
}
