import * as fs from 'node:fs';
import { UsageError } from '../core/errors';
import { splitCsvLine } from './csv-line';

/**
 * Station facts a user gives for files that do not carry them (CSV exports
 * name no station position, NOAA's CSV answers name nothing at all): one
 * station on the command line, or a table of them in a file. They come before
 * the bundled table (`data/bundled/stations.json`), which knows only the
 * stations of the bundled data.
 *
 *   --station 9454460                                     the id alone (name and position from a table)
 *   --station "9454460,Columbia Glacier,61.0233,-147.085" id,name,lat,lon: a line of a station table
 *   --stations stations.csv                               a station table:
 *
 *     CSV   a header naming the columns, e.g. CO-OPS' station metadata
 *           `id,name,lat,lon`; also `station`/`station_id` for the id,
 *           `latitude`, `longitude`/`lng`
 *     JSON  an array of {id, name, lat, lon} objects, or {"stations": [...]}
 *           as NOAA's metadata API and the bundled table write it (`lng` too)
 */

/** A station's name and position (decimal degrees, north and east positive). */
export interface StationFacts {
  name: string;
  lat: number;
  lon: number;
}

/** Stations by id. */
export type StationTable = ReadonlyMap<string, StationFacts>;

/** A `--station` option (or `station:` of a file source): the id, and the facts when given. */
export interface StationOption {
  id: string;
  facts?: StationFacts;
}

const ID_COLUMNS = ['id', 'station', 'station_id', 'stationid'];
const NAME_COLUMNS = ['name', 'station_name', 'stationname'];
const LAT_COLUMNS = ['lat', 'latitude'];
const LON_COLUMNS = ['lon', 'lng', 'long', 'longitude'];
const NUMBER = /^[+-]?(?:\d+\.?\d*|\.\d+)$/;

function coordinate(text: unknown, what: 'lat' | 'lon'): number | string {
  const value = typeof text === 'number' ? text : typeof text === 'string' && NUMBER.test(text.trim()) ? Number(text) : Number.NaN;
  const limit = what === 'lat' ? 90 : 180;
  if (!(Math.abs(value) <= limit)) return `${what} must be a number of degrees from -${limit} to ${limit}, got ${JSON.stringify(text)}`;
  return value;
}

/** Facts from name/lat/lon values, or why they are not facts. */
function factsFrom(name: unknown, lat: unknown, lon: unknown): StationFacts | string {
  if (typeof name !== 'string' || name.trim() === '') return `the name is empty`;
  const latitude = coordinate(lat, 'lat');
  if (typeof latitude === 'string') return latitude;
  const longitude = coordinate(lon, 'lon');
  if (typeof longitude === 'string') return longitude;
  return { name: name.trim(), lat: latitude, lon: longitude };
}

/**
 * Read a `--station` value: `ID`, or `ID,NAME,LAT,LON` (CSV quoting for a
 * name with a comma). Throws UsageError saying what is wrong.
 *
 * @example
 *   parseStationOption('9454460,Columbia Glacier,61.0233,-147.085');
 *   // { id: '9454460', facts: { name: 'Columbia Glacier', lat: 61.0233, lon: -147.085 } }
 */
export function parseStationOption(text: string): StationOption {
  const fields = splitCsvLine(text.trim()).map((field) => field.trim());
  const usage = 'give the station id, or id,name,lat,lon (e.g. "9454460,Columbia Glacier,61.0233,-147.085")';
  if (fields[0] === '') throw new UsageError(`station ${JSON.stringify(text)}: the id is empty; ${usage}`);
  if (fields.length === 1) return { id: fields[0] };
  if (fields.length !== 4) throw new UsageError(`station ${JSON.stringify(text)} has ${fields.length} fields; ${usage}`);
  const facts = factsFrom(fields[1], fields[2], fields[3]);
  if (typeof facts === 'string') throw new UsageError(`station ${JSON.stringify(text)}: ${facts}; ${usage}`);
  return { id: fields[0], facts };
}

/**
 * Load a station table (CSV or JSON, see the module comment). Throws
 * UsageError naming the file and line of the first problem.
 *
 * @example
 *   loadStationTable('test/fixtures/noaa/9454460_9454240_9454050_station_metadata.csv').get('9454240');
 *   // { name: 'Valdez', lat: 61.125, lon: -146.362 }
 */
export function loadStationTable(path: string): StationTable {
  let text: string;
  try {
    text = fs.readFileSync(path, 'utf8');
  } catch (error) {
    throw new UsageError(`cannot read the stations file ${path}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message}`);
  }
  const body = text.replace(/^\ufeff/, '');
  const first = body.trimStart()[0];
  return first === '[' || first === '{' ? tableFromJson(path, body) : tableFromCsv(path, body);
}

function tableFromCsv(path: string, text: string): StationTable {
  const lines = text.split(/\r?\n/);
  const header = splitCsvLine(lines[0] ?? '').map((name) => name.trim().toLowerCase());
  const column = (names: string[]) => header.findIndex((name) => names.includes(name));
  const id = column(ID_COLUMNS);
  const name = column(NAME_COLUMNS);
  const lat = column(LAT_COLUMNS);
  const lon = column(LON_COLUMNS);
  if (id === -1 || name === -1 || lat === -1 || lon === -1) {
    throw new UsageError(`${path}:1: a stations CSV needs a header with columns id, name, lat and lon (CO-OPS station metadata: id,name,lat,lon); this one has ${lines[0]}`);
  }
  const table = new Map<string, StationFacts>();
  for (let i = 1; i < lines.length; i++) {
    if (lines[i].trim() === '') continue;
    let fields: string[];
    try {
      fields = splitCsvLine(lines[i]);
    } catch (error) {
      throw new UsageError(`${path}:${i + 1}: ${(error as Error).message}`);
    }
    if (fields.length !== header.length) throw new UsageError(`${path}:${i + 1}: expected ${header.length} fields, got ${fields.length}`);
    add(table, path, i + 1, fields[id].trim(), factsFrom(fields[name], fields[lat], fields[lon]));
  }
  if (table.size === 0) throw new UsageError(`${path}: the stations file lists no station`);
  return table;
}

function tableFromJson(path: string, text: string): StationTable {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new UsageError(`${path}: the stations file is not valid JSON: ${(error as Error).message}`);
  }
  const list = Array.isArray(parsed) ? parsed : parsed !== null && typeof parsed === 'object' ? (parsed as { stations?: unknown }).stations : undefined;
  if (!Array.isArray(list)) throw new UsageError(`${path}: a stations JSON file is an array of {id, name, lat, lon}, or {"stations": [...]}`);
  const table = new Map<string, StationFacts>();
  list.forEach((entry, index) => {
    const where = `entry ${index + 1}`;
    if (entry === null || typeof entry !== 'object') throw new UsageError(`${path}: ${where} is not an object`);
    const fields = entry as Record<string, unknown>;
    const id = fields.id ?? fields.station;
    add(table, path, where, typeof id === 'number' ? String(id) : typeof id === 'string' ? id.trim() : '', factsFrom(fields.name, fields.lat, fields.lon ?? fields.lng));
  });
  if (table.size === 0) throw new UsageError(`${path}: the stations file lists no station`);
  return table;
}

function add(table: Map<string, StationFacts>, path: string, where: number | string, id: string, facts: StationFacts | string): void {
  const at = typeof where === 'number' ? `${path}:${where}` : `${path}: ${where}`;
  if (id === '') throw new UsageError(`${at}: the station id is empty`);
  if (typeof facts === 'string') throw new UsageError(`${at}: station ${id}: ${facts}`);
  if (table.has(id)) throw new UsageError(`${at}: station ${id} is listed twice`);
  table.set(id, facts);
}
