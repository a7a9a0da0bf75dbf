import type { Row } from '../core/batch';
import { DecodeError, UsageError } from '../core/errors';
import type { LineDecoder } from './decoded';
import { quoteForReason } from './decoded';
import { splitCsvLine } from './csv-line';
import type { StationFacts, StationTable } from './station-table';
import { findStation, stationIdFromFileName } from './stations';
import { parseIsoTimestamp, parseMonthDayYearTime, parseSlashedDateAndClock, parseTimestampValue } from './timestamps';

/**
 * CSV with a header row. Besides plain CSV whose columns are named like the
 * record fields, the NOAA CO-OPS layouts described in the shared data folder's
 * SOURCES.md (section 3) are recognised from their header:
 *
 *   layout             header (names trimmed)                          time
 *   noaa-web-export    Date, Time (GMT), Predicted|Preliminary|Verified (ft|m)  2019/01/31 + 23:54
 *   noaa-api-csv       Date Time, Water Level, Sigma, <flags...>, [Quality]    2018-09-09 00:00
 *   noaa-api-fields    t, v, s (the API's JSON field names)                    2005-09-01T01:00:00Z
 *   noaa-tadc          datetime, water_level_<DATUM>_meters|feet               10/1/2016 0:06
 *   generic            station, name, lat, lon, t, v, s, f, q (any subset)    epoch ms or ISO-8601
 *
 * Every NOAA layout yields rows shaped like `schemas/tide_observation.avsc`
 * (station, name, lat, lon, t, v, s, f, q), in metres. A data row without a
 * value is a real observation with a null reading (`v: null`), not a dead
 * letter; a row that cannot be read at all (bad time, text where a number
 * belongs, wrong field count) throws DecodeError.
 *
 * Feet are converted with the exact factor 0.3048 and the product is rounded
 * to 7 decimals. NOAA publishes at most 3 decimals of a foot, and
 * 0.001 ft = 0.0003048 m, so 7 decimals keep the conversion exact and only
 * remove binary floating-point noise (1.42 ft -> 0.432816 m, not 0.43281600000000004).
 */

export type LengthUnit = 'm' | 'ft';

export interface CsvOptions {
  /** Station id for files without a station column (wins over the file name). */
  station?: string;
  /** The file's path: a NOAA-style name (`9414290_...csv`) supplies the station id. */
  fileName?: string;
  /**
   * Units of the water level where the header does not say. NOAA's CO-OPS API
   * CSV and `t,v,s` layouts need them (the API answers in the units the request
   * asked for, and the file does not say which); the generic layout is
   * tideflow's own record layout, in metres unless this says otherwise. The
   * web export and TADC headers name their units, which then win.
   */
  units?: LengthUnit;
  /** Name and position of `station` (or of the file's station): wins over every table. */
  stationInfo?: StationFacts;
  /** Stations the user gave (`--stations`): consulted before the bundled table. */
  stations?: StationTable;
}

const FEET_TO_METRES = 0.3048;

/** Feet to metres, rounded to 7 decimals (exact for NOAA's 3-decimal feet; see the module comment). */
export function feetToMetres(feet: number): number {
  return Math.round(feet * FEET_TO_METRES * 1e7) / 1e7;
}

const NUMBER = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

/** `''` and `'-'` (NOAA's "no value") are null; anything else must be a decimal number. */
function parseNullableNumber(text: string, column: string): number | null {
  if (text === '' || text === '-') return null;
  if (!NUMBER.test(text)) throw new DecodeError(`column "${column}" is not a number: ${quoteForReason(text)}`);
  return Number(text);
}

function inMetres(value: number | null, units: LengthUnit): number | null {
  return value === null || units === 'm' ? value : feetToMetres(value);
}

interface StationFields {
  station: string;
  name: string;
  lat: number;
  lon: number;
}

function resolveFileStation(options: CsvOptions, layout: string): StationFields {
  const id = options.station ?? (options.fileName === undefined ? undefined : stationIdFromFileName(options.fileName));
  if (id === undefined) {
    throw new UsageError(
      `the CSV file${options.fileName === undefined ? '' : ` ${options.fileName}`} (${layout} layout) names no station: ` +
        'set `station` in the job\'s file source (or pass --station), or name the file after the station id (e.g. 9414290_levels.csv)',
    );
  }
  return resolveStationById(id, options);
}

function resolveStationById(id: string, options: CsvOptions): StationFields {
  // What the user said wins over what is bundled.
  if (options.stationInfo !== undefined && (options.station === undefined || options.station === id)) {
    return { station: id, ...options.stationInfo };
  }
  const known = options.stations?.get(id) ?? findStation(id);
  if (known !== undefined) return { station: id, name: known.name, lat: known.lat, lon: known.lon };
  throw new UsageError(unknownStation(id, options.stations !== undefined));
}

/** Why a station's name and position are unknown, and the ways to give them. */
export function unknownStation(id: string, hadTable: boolean): string {
  return (
    `station ${id} is not in ${hadTable ? 'the stations file given nor in ' : ''}data/bundled/stations.json, so its name and position are unknown: ` +
    `give them with --station "${id},NAME,LAT,LON" (station: in the job's file source), or list the station in a stations file ` +
    `(--stations stations.csv, stations: in the file source) with the columns id,name,lat,lon of CO-OPS' station metadata`
  );
}

/**
 * Why a layout whose header does not say its units cannot be read without
 * being told them: NOAA's API answers in whatever the request asked for.
 */
function unitsNeeded(options: CsvOptions, layout: string, header: string): string {
  return (
    `${options.fileName ?? 'the CSV file'}: its header (${layout} layout: ${JSON.stringify(header)}) does not say the units of its water levels, ` +
    'and NOAA answers in the units the request asked for (units=metric: metres, units=english: feet). ' +
    'Say which: --units m or --units ft (units: in the job\'s file source)'
  );
}

function normaliseHeader(headerLine: string): string[] {
  const names = splitCsvLine(headerLine.charCodeAt(0) === 0xfeff ? headerLine.slice(1) : headerLine);
  return names.map((name) => name.trim());
}

function checkFieldCount(fields: string[], expected: number): void {
  if (fields.length !== expected) throw new DecodeError(`expected ${expected} fields, got ${fields.length}`);
}

// ---------------------------------------------------------------- NOAA web export

const VALUE_COLUMN = /^(predicted|preliminary|verified)\s*\((ft|m)\)$/i;
const TIME_COLUMN = /^time\s*\((.+)\)$/i;

function webExportDecoder(names: string[], options: CsvOptions): LineDecoder | undefined {
  const lower = names.map((n) => n.toLowerCase());
  const dateIndex = lower.indexOf('date');
  const timeIndex = lower.findIndex((n) => TIME_COLUMN.test(n));
  if (dateIndex === -1 || timeIndex === -1) return undefined;
  const zone = TIME_COLUMN.exec(names[timeIndex])![1].trim().toUpperCase();
  if (zone !== 'GMT' && zone !== 'UTC') {
    throw new UsageError(`the CSV export's times are in ${zone}, which is not UTC: export it again with Time Zone = GMT`);
  }
  let verified = -1;
  let preliminary = -1;
  let verifiedUnits: LengthUnit = 'm';
  let preliminaryUnits: LengthUnit = 'm';
  names.forEach((name, index) => {
    const m = VALUE_COLUMN.exec(name);
    if (m === null) return;
    const kind = m[1].toLowerCase();
    const units = m[2].toLowerCase() as LengthUnit;
    // Predicted values are a model, not an observation: never used.
    if (kind === 'verified') [verified, verifiedUnits] = [index, units];
    if (kind === 'preliminary') [preliminary, preliminaryUnits] = [index, units];
  });
  if (verified === -1 && preliminary === -1) {
    throw new UsageError('the NOAA CSV export has neither a "Verified" nor a "Preliminary" column (only observed values are read, never "Predicted")');
  }
  const station = resolveFileStation(options, 'noaa-web-export');
  const width = names.length;
  const dateName = names[dateIndex];
  const timeName = names[timeIndex];
  return {
    layout: 'noaa-web-export',
    decode(line: string): Row {
      const fields = splitCsvLine(line);
      checkFieldCount(fields, width);
      const t = parseSlashedDateAndClock(fields[dateIndex], fields[timeIndex]);
      if (t === undefined) throw new DecodeError(`columns "${dateName}", "${timeName}" are not a date and time: ${quoteForReason(`${fields[dateIndex]} ${fields[timeIndex]}`)}`);
      // Verified wins; preliminary fills in until NOAA has verified the month (9414290 2019-07).
      let v: number | null = null;
      let q: string | null = null;
      if (verified !== -1) {
        v = inMetres(parseNullableNumber(fields[verified], names[verified]), verifiedUnits);
        if (v !== null) q = 'v';
      }
      if (v === null && preliminary !== -1) {
        v = inMetres(parseNullableNumber(fields[preliminary], names[preliminary]), preliminaryUnits);
        if (v !== null) q = 'p';
      }
      return { station: station.station, name: station.name, lat: station.lat, lon: station.lon, t, v, s: null, f: null, q };
    },
  };
}

// ---------------------------------------------------------------- CO-OPS API CSV

function apiCsvDecoder(names: string[], options: CsvOptions): LineDecoder | undefined {
  const lower = names.map((n) => n.toLowerCase());
  const timeIndex = lower.indexOf('date time');
  const valueIndex = lower.indexOf('water level');
  if (timeIndex === -1 || valueIndex === -1) return undefined;
  const sigmaIndex = lower.indexOf('sigma');
  const qualityIndex = lower.indexOf('quality');
  // Every other column is a data flag (O, F, R, L, I...), kept in file order like the API's `f`.
  const flagIndexes: number[] = [];
  lower.forEach((name, index) => {
    if (index !== timeIndex && index !== valueIndex && index !== sigmaIndex && index !== qualityIndex) flagIndexes.push(index);
  });
  if (options.units === undefined) throw new UsageError(unitsNeeded(options, 'noaa-api-csv', names.join(', ')));
  const units = options.units;
  const station = resolveFileStation(options, 'noaa-api-csv');
  const width = names.length;
  return {
    layout: 'noaa-api-csv',
    decode(line: string): Row {
      const fields = splitCsvLine(line);
      checkFieldCount(fields, width);
      const t = parseIsoTimestamp(fields[timeIndex]);
      if (t === undefined) throw new DecodeError(`column "${names[timeIndex]}" is not a date and time: ${quoteForReason(fields[timeIndex])}`);
      const v = inMetres(parseNullableNumber(fields[valueIndex], names[valueIndex]), units);
      const s = sigmaIndex === -1 ? null : inMetres(parseNullableNumber(fields[sigmaIndex], names[sigmaIndex]), units);
      let f: string | null = null;
      if (flagIndexes.length > 0) {
        f = fields[flagIndexes[0]];
        for (let k = 1; k < flagIndexes.length; k++) f += `,${fields[flagIndexes[k]]}`;
      }
      const quality = qualityIndex === -1 ? '' : fields[qualityIndex].trim();
      return { station: station.station, name: station.name, lat: station.lat, lon: station.lon, t, v, s, f, q: quality === '' ? null : quality };
    },
  };
}

// ---------------------------------------------------------------- TADC

const TADC_VALUE = /^water_level_([a-z0-9]+)_(meters|metres|feet)$/i;

function tadcDecoder(names: string[], options: CsvOptions): LineDecoder | undefined {
  if (names.length !== 2 || names[0].toLowerCase() !== 'datetime') return undefined;
  const m = TADC_VALUE.exec(names[1]);
  if (m === null) return undefined;
  const units: LengthUnit = m[2].toLowerCase() === 'feet' ? 'ft' : 'm';
  const station = resolveFileStation(options, 'noaa-tadc');
  return {
    layout: 'noaa-tadc',
    decode(line: string): Row {
      const fields = splitCsvLine(line);
      checkFieldCount(fields, 2);
      const t = parseMonthDayYearTime(fields[0]);
      if (t === undefined) throw new DecodeError(`column "datetime" is not a M/D/YYYY H:MM time: ${quoteForReason(fields[0])}`);
      const v = inMetres(parseNullableNumber(fields[1], names[1]), units);
      return { station: station.station, name: station.name, lat: station.lat, lon: station.lon, t, v, s: null, f: null, q: null };
    },
  };
}

// ---------------------------------------------------------------- generic (and t,v,s)

/** Columns read as numbers; the rest stay text. */
const NUMERIC_COLUMNS = new Set(['lat', 'lon', 'v', 's']);
/** Columns in the engine's water-level units (converted when the file is in feet). */
const LENGTH_COLUMNS = new Set(['v', 's']);

/**
 * Why a station option (`station:` of a file source, `--station`) is refused:
 * it names the station of a CSV file that has none, and is not a filter.
 */
export function stationNotUsed(station: string, why: string): string {
  return (
    `station ${station} (--station, or station: in the file source) names the station of a CSV file that has none; ${why}. ` +
    `To keep one station, add a step: - filter: { when: "station == '${station}'" }`
  );
}

function genericDecoder(names: string[], options: CsvOptions): LineDecoder {
  if (new Set(names).size !== names.length) throw new UsageError(`the CSV header names a column twice: ${names.join(',')}`);
  const hasStation = names.includes('station');
  if (hasStation && options.station !== undefined) throw new UsageError(stationNotUsed(options.station, `${options.fileName ?? 'this CSV file'} has a station column`));
  const isApiFields = !hasStation && names.includes('t') && names.includes('v') && names.every((n) => ['t', 'v', 's', 'f', 'q'].includes(n));
  const layout = isApiFields ? 'noaa-api-fields' : 'generic';
  if (isApiFields && options.units === undefined) throw new UsageError(unitsNeeded(options, layout, names.join(',')));
  // Without a station column the whole file is one station (the t,v,s layout); fill its identity in.
  const fileStation = hasStation ? undefined : resolveFileStation(options, layout);
  const hasName = names.includes('name');
  const hasPosition = names.includes('lat') && names.includes('lon');
  const units = options.units ?? 'm';
  const kinds = names.map((name) => (name === 't' ? 2 : NUMERIC_COLUMNS.has(name) ? (LENGTH_COLUMNS.has(name) && units === 'ft' ? 3 : 1) : 0));
  const width = names.length;
  const stationCache = new Map<string, StationFields>();
  return {
    layout,
    decode(line: string): Row {
      const fields = splitCsvLine(line);
      checkFieldCount(fields, width);
      // A single-station file is a tide observation for sure: give it every field of the schema, nullable ones null.
      const row: Row = fileStation === undefined
        ? {}
        : { station: fileStation.station, name: fileStation.name, lat: fileStation.lat, lon: fileStation.lon, t: undefined, v: null, s: null, f: null, q: null };
      for (let i = 0; i < width; i++) {
        const text = fields[i];
        switch (kinds[i]) {
          case 0:
            row[names[i]] = text === '' || text === '-' ? null : text;
            break;
          case 1:
            row[names[i]] = parseNullableNumber(text, names[i]);
            break;
          case 2: {
            const t = parseTimestampValue(text);
            if (t === undefined) throw new DecodeError(`column "t" is not a timestamp (epoch ms or ISO-8601): ${quoteForReason(text)}`);
            row.t = t;
            break;
          }
          default:
            row[names[i]] = inMetres(parseNullableNumber(text, names[i]), 'ft');
        }
      }
      // A station column without name/position: complete it from the bundled table.
      if (hasStation && (!hasName || !hasPosition) && typeof row.station === 'string') {
        let known = stationCache.get(row.station);
        if (known === undefined) {
          const info = options.stations?.get(row.station) ?? findStation(row.station);
          if (info === undefined) {
            throw new DecodeError(
              `station ${quoteForReason(row.station)} is not in ${options.stations === undefined ? 'the bundled station table' : 'the stations file given nor in the bundled table'} and the file gives no name/lat/lon (a stations file gives them: --stations)`,
            );
          }
          known = { station: row.station, name: info.name, lat: info.lat, lon: info.lon };
          stationCache.set(row.station, known);
        }
        if (!hasName) row.name = known.name;
        if (!hasPosition) {
          row.lat = known.lat;
          row.lon = known.lon;
        }
      }
      return row;
    },
  };
}

/**
 * Recognise the layout from the header line and return a decoder for the
 * data lines. Throws UsageError when the file cannot be read at all (no
 * station known, local-time export...): that is a job problem, not a bad row.
 *
 * @example
 *   const decoder = createCsvDecoder('Date Time, Water Level, Sigma, I, L ', { station: '8443970', units: 'ft' });
 *   decoder.layout; // 'noaa-api-csv'
 *   decoder.decode('2018-09-09 00:00,1.160,0.075,0,0');
 *   // { station: '8443970', name: 'BOSTON', lat: 42.3539, lon: -71.0503, t: 1536451200000,
 *   //   v: 0.353568, s: 0.02286, f: '0,0', q: null }
 */
export function createCsvDecoder(headerLine: string, options: CsvOptions = {}): LineDecoder {
  // NOAA's CSV answer to a request it refused is one line, `Error: <message>`: it holds no data to read.
  const refusal = /^\ufeff?\s*error\s*:(.*)$/i.exec(headerLine);
  if (refusal !== null) {
    throw new UsageError(`${options.fileName ?? 'the CSV file'} is NOAA's error answer, not observations: NOAA CO-OPS API error: ${refusal[1].trim()}`);
  }
  const names = normaliseHeader(headerLine);
  if (names.length === 0 || (names.length === 1 && names[0] === '')) throw new UsageError('the CSV file has an empty header line');
  return webExportDecoder(names, options) ?? apiCsvDecoder(names, options) ?? tadcDecoder(names, options) ?? genericDecoder(names, options);
}

const CSV_COLUMNS = ['station', 'name', 'lat', 'lon', 't', 'v', 's', 'f', 'q'] as const;

/** The header `encodeCsvLine` writes under. */
export const TIDE_CSV_HEADER = CSV_COLUMNS.join(',');

function csvField(value: unknown): string {
  if (value === null || value === undefined) return '';
  const text = String(value);
  return /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/**
 * One tide observation as a CSV line under `TIDE_CSV_HEADER` (t as ISO-8601,
 * null as an empty field); `createCsvDecoder` reads it back (generic layout).
 *
 * @example
 *   encodeCsvLine({ station: '8454000', name: 'Providence, State Pier no.1', lat: 41.8072, lon: -71.4007, t: 0, v: 1.2, s: null, f: null, q: 'p' });
 *   // '8454000,"Providence, State Pier no.1",41.8072,-71.4007,1970-01-01T00:00:00.000Z,1.2,,,p'
 */
export function encodeCsvLine(row: Row): string {
  const t = row.t;
  return [
    csvField(row.station),
    csvField(row.name),
    csvField(row.lat),
    csvField(row.lon),
    typeof t === 'number' ? new Date(t).toISOString() : csvField(t),
    csvField(row.v),
    csvField(row.s),
    csvField(row.f),
    csvField(row.q),
  ].join(',');
}
