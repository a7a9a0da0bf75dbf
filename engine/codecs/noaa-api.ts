import type { Row } from '../core/batch';
import { DecodeError } from '../core/errors';
import type { LengthUnit } from './csv';
import { feetToMetres } from './csv';
import { splitCsvLine } from './csv-line';
import { quoteForReason } from './decoded';
import { parseIsoTimestamp } from './timestamps';

/**
 * Answers of NOAA CO-OPS' data API (`/api/prod/datagetter`) as rows of
 * `schemas/tide_observation.avsc` (station, name, lat, lon, t, v, s, f, q).
 *
 *   product         JSON answer                                              CSV header
 *   water_level     {"metadata":{id,name,lat,lon},"data":[{t,v,s,f,q}]}      Date Time, Water Level, Sigma, O or I (for verified), F, R, L, Quality
 *   hourly_height   {"metadata":{...},"data":[{t,v,s,f}]}                    Date Time, Water Level, Sigma, I, L
 *   predictions     {"predictions":[{t,v}]}  (no metadata)                   Date Time, Prediction
 *   any, failing    {"error":{"message":" No data was found. ..."}}          Error: No data was found. ...
 *
 * NOAA sends every number as a string ("0.850", "" for a missing value) and
 * times as `YYYY-MM-DD HH:MM` without a zone: in the zone the request named,
 * so callers ask with `time_zone=gmt` and times are read as UTC. Errors come
 * with HTTP 200, so the body decides, never the status.
 *
 * Units are not in the answer either: they are what the request asked for
 * (`units=metric` or `english`), and the caller must say which; feet become
 * metres (the schema's unit) with the same exact conversion as the CSV codec.
 * The station comes from the answer's metadata; answers without any
 * (predictions, CSV) need the caller's station facts.
 */

/** A station's identity as NOAA's metadata gives it. */
export interface NoaaStation {
  id: string;
  name: string;
  lat: number;
  lon: number;
}

export interface NoaaParseOptions {
  /** Units the request asked for: `m` for `units=metric`, `ft` for `units=english`. Required: the answer does not say. */
  units: LengthUnit;
  /** The station the request named: an answer about another station is refused. */
  station?: string;
  /** Name and position for answers without metadata (predictions, CSV). The answer's metadata wins when it has some. */
  stationInfo?: NoaaStation;
}

/** One element of the answer's array that could not be read (it becomes a dead letter, the rest of the answer is kept). */
export interface NoaaRejectedItem {
  /** Index in the answer's `data`/`predictions` array (CSV: data line, 0-based after the header). */
  index: number;
  /** The element as NOAA sent it (object or CSV line). */
  item: unknown;
  reason: string;
}

export interface NoaaParsed {
  /** The station the rows belong to. */
  station: NoaaStation;
  rows: Row[];
  /** The element of the answer each row was read from (an object, or a CSV line), aligned with `rows`. */
  items: unknown[];
  rejected: NoaaRejectedItem[];
}

/**
 * NOAA answered with an error body (`{"error":{"message":...}}`, or `Error: ...`
 * in CSV). Carries NOAA's own words; never retriable: asking again the same
 * way gets the same answer.
 */
export class NoaaApiError extends DecodeError {
  /** NOAA's message, trimmed (NOAA pads it with spaces and blank lines). */
  readonly noaaMessage: string;
  /** NOAA's "No data was found" answer: the range holds nothing (rather than the request being wrong). */
  readonly noData: boolean;
  constructor(noaaMessage: string) {
    super(`NOAA CO-OPS API error: ${noaaMessage}`);
    this.noaaMessage = noaaMessage;
    this.noData = isNoDataMessage(noaaMessage);
  }
}

/**
 * Whether NOAA's message says the requested range holds no data (as opposed
 * to a wrong station, datum or range).
 *
 * @example
 *   isNoDataMessage('No data was found. This product may not be offered at this station at the requested time.'); // true
 */
export function isNoDataMessage(message: string): boolean {
  return /^no (\w+ )?data was found/i.test(message.trim());
}

/**
 * NOAA's `YYYY-MM-DD HH:MM` (read as UTC: ask with `time_zone=gmt`), to epoch ms.
 *
 * @example
 *   parseNoaaTime('2019-01-01 00:06'); // 1546301160000
 */
export function parseNoaaTime(text: string): number | undefined {
  if (!/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}$/.test(text)) return undefined;
  return parseIsoTimestamp(text);
}

const NUMBER = /^[+-]?(?:\d+\.?\d*|\.\d+)$/;

/** NOAA's number strings: `""` (and an absent field) is no value; anything else must be a plain decimal. */
function numberField(value: unknown, label: string, units: LengthUnit): number | null {
  if (value === undefined || value === null || value === '') return null;
  if (typeof value !== 'string') throw new DecodeError(`${label} should be NOAA's number string, got ${JSON.stringify(value)}`);
  const text = value.trim();
  if (text === '') return null;
  if (!NUMBER.test(text)) throw new DecodeError(`${label} is not a number: ${quoteForReason(value)}`);
  const number = Number(text);
  return units === 'ft' ? feetToMetres(number) : number;
}

function textField(value: unknown, field: string): string | null {
  if (value === undefined || value === null || value === '') return null;
  if (typeof value !== 'string') throw new DecodeError(`field "${field}" should be a string, got ${JSON.stringify(value)}`);
  return value;
}

function coordinate(value: unknown, field: string, limit: number): number {
  const number = typeof value === 'number' ? value : typeof value === 'string' && NUMBER.test(value.trim()) ? Number(value) : Number.NaN;
  if (!(Math.abs(number) <= limit)) throw new DecodeError(`the answer's metadata has no usable ${field}: ${JSON.stringify(value)}`);
  return number;
}

function stationFromMetadata(metadata: unknown): NoaaStation {
  if (metadata === null || typeof metadata !== 'object' || Array.isArray(metadata)) throw new DecodeError(`the answer's "metadata" is not an object: ${JSON.stringify(metadata)}`);
  const { id, name, lat, lon } = metadata as Record<string, unknown>;
  if (typeof id !== 'string' || id.trim() === '') throw new DecodeError(`the answer's metadata has no station id: ${JSON.stringify(metadata)}`);
  return { id: id.trim(), name: typeof name === 'string' ? name : id.trim(), lat: coordinate(lat, 'lat', 90), lon: coordinate(lon, 'lon', 180) };
}

function resolveStation(fromAnswer: NoaaStation | undefined, options: NoaaParseOptions): NoaaStation {
  const station = fromAnswer ?? options.stationInfo;
  if (station === undefined) {
    throw new DecodeError(
      `the answer names no station (NOAA sends no metadata with predictions or CSV)${options.station === undefined ? '' : ` for station ${options.station}`}: give the station's name, lat and lon`,
    );
  }
  if (options.station !== undefined && station.id !== options.station) {
    throw new DecodeError(`the answer is about station ${station.id}, but station ${options.station} was asked for`);
  }
  return station;
}

/** The start of a body for a reason, on one line. */
function bodyStart(text: string): string {
  return quoteForReason(text.trim().replace(/\s+/g, ' '), 80);
}

/**
 * Parse a datagetter JSON answer. Throws NoaaApiError for NOAA's error body
 * and DecodeError for anything that is not an answer (HTML, truncated or
 * malformed JSON, no data array, metadata for another station); elements of
 * the array that cannot be read are returned in `rejected`, the others as rows.
 *
 * @example
 *   parseNoaaJson('{"metadata":{"id":"8454000","name":"Providence","lat":"41.8072","lon":"-71.4007"},' +
 *     '"data":[{"t":"2019-01-01 00:00","v":"0.850","s":"0.003","f":"0,0,0,0","q":"v"}]}', { units: 'm' }).rows;
 *   // [{ station: '8454000', name: 'Providence', lat: 41.8072, lon: -71.4007, t: 1546300800000, v: 0.85, s: 0.003, f: '0,0,0,0', q: 'v' }]
 */
export function parseNoaaJson(text: string, options: NoaaParseOptions): NoaaParsed {
  const trimmed = text.trim();
  if (trimmed === '') throw new DecodeError('the answer is empty');
  if (trimmed.startsWith('<')) throw new DecodeError(`the answer is HTML or XML, not JSON (a maintenance or error page?): ${bodyStart(trimmed)}`);
  let answer: unknown;
  try {
    answer = JSON.parse(trimmed);
  } catch (error) {
    throw new DecodeError(`the answer is truncated or malformed JSON (${(error as Error).message}): ${bodyStart(trimmed)}`);
  }
  if (answer === null || typeof answer !== 'object' || Array.isArray(answer)) throw new DecodeError(`the answer is not a JSON object: ${bodyStart(trimmed)}`);
  const body = answer as Record<string, unknown>;
  if (body.error !== undefined) {
    const error = body.error as { message?: unknown } | null;
    const message = error !== null && typeof error === 'object' && typeof error.message === 'string' ? error.message.trim() : JSON.stringify(body.error);
    throw new NoaaApiError(message);
  }
  const items = Array.isArray(body.data) ? body.data : Array.isArray(body.predictions) ? body.predictions : undefined;
  if (items === undefined) throw new DecodeError(`the answer has neither a "data" nor a "predictions" array: ${bodyStart(trimmed)}`);
  const station = resolveStation(body.metadata === undefined ? undefined : stationFromMetadata(body.metadata), options);
  const rows: Row[] = [];
  const rowItems: unknown[] = [];
  const rejected: NoaaRejectedItem[] = [];
  for (let index = 0; index < items.length; index++) {
    const item = items[index];
    try {
      rows.push(rowFromItem(item, station, options.units));
      rowItems.push(item);
    } catch (error) {
      if (!(error instanceof DecodeError)) throw error;
      rejected.push({ index, item, reason: error.message });
    }
  }
  return { station, rows, items: rowItems, rejected };
}

function rowFromItem(item: unknown, station: NoaaStation, units: LengthUnit): Row {
  if (item === null || typeof item !== 'object' || Array.isArray(item)) throw new DecodeError(`expected an object, got ${JSON.stringify(item)}`);
  const fields = item as Record<string, unknown>;
  const t = typeof fields.t === 'string' ? parseNoaaTime(fields.t) : undefined;
  if (t === undefined) throw new DecodeError(`field "t" is not a NOAA time (YYYY-MM-DD HH:MM): ${JSON.stringify(fields.t)}`);
  return {
    station: station.id,
    name: station.name,
    lat: station.lat,
    lon: station.lon,
    t,
    v: numberField(fields.v, 'field "v"', units),
    s: numberField(fields.s, 'field "s"', units),
    f: textField(fields.f, 'f'),
    q: textField(fields.q, 'q'),
  };
}

/**
 * Parse a datagetter CSV answer (`format=csv`). NOAA's CSV has no metadata,
 * so `stationInfo` must name the station. Errors as in `parseNoaaJson`; NOAA's
 * CSV error answer is a line `Error: <message>`.
 *
 * @example
 *   parseNoaaCsv('Date Time, Water Level, Sigma, I, L \n2018-09-09 00:00,1.160,0.075,0,0\n',
 *     { units: 'ft', stationInfo: { id: '8443970', name: 'BOSTON', lat: 42.3539, lon: -71.0503 } }).rows;
 *   // [{ station: '8443970', name: 'BOSTON', lat: 42.3539, lon: -71.0503, t: 1536451200000, v: 0.353568, s: 0.02286, f: '0,0', q: null }]
 */
export function parseNoaaCsv(text: string, options: NoaaParseOptions): NoaaParsed {
  const trimmed = text.trim();
  if (trimmed === '') throw new DecodeError('the answer is empty');
  if (/^error\b/i.test(trimmed)) throw new NoaaApiError(trimmed.replace(/^error\s*:?\s*/i, '').trim());
  if (trimmed.startsWith('<')) throw new DecodeError(`the answer is HTML or XML, not CSV (a maintenance or error page?): ${bodyStart(trimmed)}`);
  const lines = trimmed.split(/\r?\n/);
  const header = splitCsvLine(lines[0].replace(/^\ufeff/, '')).map((name) => name.trim());
  const names = header.map((name) => name.toLowerCase());
  const timeIndex = names.indexOf('date time');
  const valueIndex = names.findIndex((name) => name === 'water level' || name === 'prediction');
  if (timeIndex === -1 || valueIndex === -1) throw new DecodeError(`the answer is not a CO-OPS CSV (no "Date Time" and "Water Level"/"Prediction" columns): ${bodyStart(lines[0])}`);
  const sigmaIndex = names.indexOf('sigma');
  const qualityIndex = names.indexOf('quality');
  const flagIndexes = names.map((_, index) => index).filter((index) => ![timeIndex, valueIndex, sigmaIndex, qualityIndex].includes(index));
  const station = resolveStation(undefined, options);
  const rows: Row[] = [];
  const rowItems: unknown[] = [];
  const rejected: NoaaRejectedItem[] = [];
  for (let index = 0; index + 1 < lines.length; index++) {
    const line = lines[index + 1];
    if (line.trim() === '') continue;
    try {
      const fields = splitCsvLine(line);
      if (fields.length !== names.length) throw new DecodeError(`expected ${names.length} fields, got ${fields.length}`);
      const t = parseNoaaTime(fields[timeIndex].trim());
      if (t === undefined) throw new DecodeError(`column "Date Time" is not a NOAA time (YYYY-MM-DD HH:MM): ${quoteForReason(fields[timeIndex])}`);
      const flags = flagIndexes.map((k) => fields[k].trim());
      const quality = qualityIndex === -1 ? '' : fields[qualityIndex].trim();
      rows.push({
        station: station.id,
        name: station.name,
        lat: station.lat,
        lon: station.lon,
        t,
        v: numberField(fields[valueIndex], `column "${header[valueIndex]}"`, options.units),
        s: sigmaIndex === -1 ? null : numberField(fields[sigmaIndex], `column "${header[sigmaIndex]}"`, options.units),
        f: flags.length === 0 || flags.every((flag) => flag === '') ? null : flags.join(','),
        q: quality === '' ? null : quality,
      });
      rowItems.push(line);
    } catch (error) {
      if (!(error instanceof DecodeError)) throw error;
      rejected.push({ index, item: line, reason: error.message });
    }
  }
  return { station, rows, items: rowItems, rejected };
}

/**
 * Parse an answer in the format it was asked for.
 *
 * @example
 *   parseNoaaAnswer(body, 'json', { units: 'm', station: '8454000' });
 */
export function parseNoaaAnswer(text: string, format: 'json' | 'csv', options: NoaaParseOptions): NoaaParsed {
  return format === 'csv' ? parseNoaaCsv(text, options) : parseNoaaJson(text, options);
}

/**
 * Whether a parsed JSON value has the shape of a datagetter answer: a `data`
 * or `predictions` array, or NOAA's `error`. Observation records never do.
 *
 * @example
 *   isNoaaAnswer({ error: { message: 'No data was found.' } }); // true
 *   isNoaaAnswer({ station: '8454000', t: 0, v: 1 });           // false
 */
export function isNoaaAnswer(value: unknown): boolean {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const body = value as Record<string, unknown>;
  return (body.error !== undefined && body.error !== null) || Array.isArray(body.data) || Array.isArray(body.predictions);
}

/** One answer of a saved file, with the line it starts on. */
export interface SavedAnswer {
  text: string;
  line: number;
}

/**
 * The answers a saved file holds: one JSON document, as saved from the API
 * (on one line or pretty-printed), or one answer per line (a poller's log).
 * Anything else is returned as a single answer, for `parseNoaaJson` to say
 * what is wrong with it.
 *
 * @example
 *   splitSavedAnswers('{"error":{"message":"No data was found."}}\n{"metadata":{},"data":[]}\n');
 *   // [{ text: '{"error":{"message":"No data was found."}}', line: 1 }, { text: '{"metadata":{},"data":[]}', line: 2 }]
 */
export function splitSavedAnswers(text: string): SavedAnswer[] {
  const body = text.replace(/^\ufeff/, '');
  const lines = body.split('\n');
  const first = lines.findIndex((line) => line.trim() !== '');
  if (first === -1) return [{ text: body, line: 1 }];
  try {
    JSON.parse(body);
    return [{ text: body, line: first + 1 }];
  } catch {
    // Not one document: one answer per line, if its first line is an answer on its own.
  }
  try {
    JSON.parse(lines[first]);
  } catch {
    return [{ text: body, line: first + 1 }];
  }
  const answers: SavedAnswer[] = [];
  lines.forEach((line, index) => {
    if (line.trim() !== '') answers.push({ text: line, line: index + 1 });
  });
  return answers;
}
