import * as fs from 'node:fs';
import { parseStationOption } from '../codecs/station-table';
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
  if (raw.format === undefined && typeof raw.path === 'string' && raw.path.length > 0 && formatFromPath(raw.path) === undefined && !isDirectory(raw.path)) {
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
  const implied = formatFromPath(raw.path);
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
