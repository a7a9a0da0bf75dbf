import type * as avro from 'avsc';
import type { Row } from '../core/batch';

/**
 * Index mappings for the OpenSearch sink, derived from the job's output
 * fields before the first document is written, so no field is ever typed by
 * OpenSearch's guess from a first value (every string a `text` + `keyword`
 * pair, timestamps as text, lat/lon as two unrelated numbers).
 *
 * Also: which existing mapping conflicts with the job's fields, and index
 * names templated on a timestamp field (`tides-{window_start:yyyy.MM}`).
 * Free of I/O, so the rules can be unit-tested.
 */

// ---------------------------------------------------------------- field types

/**
 * What a result field holds, as the sink needs to know it:
 * - `timestamp`: epoch ms or a Date, indexed as `date`
 * - `double`, `long` (counts), `boolean`
 * - `keyword`: a string matched whole (station ids, flags), aggregatable
 * - `text`: a string searched by words, with a `.keyword` sub-field for aggregations
 * - `object`: kept in the document as it is, not indexed (a late record's `record`)
 */
export type SearchFieldType = 'timestamp' | 'double' | 'long' | 'boolean' | 'keyword' | 'text' | 'object';

export const SEARCH_FIELD_TYPES: readonly SearchFieldType[] = ['timestamp', 'double', 'long', 'boolean', 'keyword', 'text', 'object'];

/** One output field of a job and its type. */
export interface SearchField {
  name: string;
  type: SearchFieldType;
}

/** A `geo_point` field built from two numeric fields of each row. */
export interface GeoPointSpec {
  /** The geo_point field's name in the index. */
  field: string;
  lat: string;
  lon: string;
}

export const DEFAULT_GEO_POINT: GeoPointSpec = { field: 'location', lat: 'lat', lon: 'lon' };

/** An OpenSearch field mapping (the part of it this sink writes and compares). */
export interface FieldMapping {
  type?: string;
  enabled?: boolean;
  properties?: Record<string, FieldMapping>;
  fields?: Record<string, FieldMapping>;
  ignore_above?: number;
  [other: string]: unknown;
}

/** The mapping of an index this sink creates. */
export interface IndexMapping {
  /** `false`: a field the job did not declare is kept in `_source` but not indexed, so it never gets a guessed type. */
  dynamic: 'false';
  properties: Record<string, FieldMapping>;
}

/** Longest `.keyword` value a `text` field's sub-field indexes (the usual default; longer ones stay searchable by words). */
const TEXT_KEYWORD_IGNORE_ABOVE = 256;

/**
 * The mapping of one field type.
 *
 * @example
 *   fieldMapping('timestamp'); // { type: 'date' }
 *   fieldMapping('text');      // { type: 'text', fields: { keyword: { type: 'keyword', ignore_above: 256 } } }
 */
export function fieldMapping(type: SearchFieldType): FieldMapping {
  switch (type) {
    case 'timestamp':
      // The default date format takes both ISO-8601 (what the sink sends) and epoch milliseconds.
      return { type: 'date' };
    case 'double':
    case 'long':
    case 'boolean':
    case 'keyword':
      return { type };
    case 'text':
      return { type: 'text', fields: { keyword: { type: 'keyword', ignore_above: TEXT_KEYWORD_IGNORE_ABOVE } } };
    case 'object':
      return { type: 'object', enabled: false };
  }
}

/**
 * The fields the sink writes: the job's fields with `overrides` applied
 * (a type changed, or a field added), in the job's order, then the added ones.
 *
 * @example
 *   applyFieldTypes([{ name: 'name', type: 'keyword' }], { name: 'text' }); // [{ name: 'name', type: 'text' }]
 */
export function applyFieldTypes(fields: readonly SearchField[], overrides: Readonly<Record<string, SearchFieldType>>): SearchField[] {
  const result = fields.map((field) => (field.name in overrides ? { name: field.name, type: overrides[field.name] } : { ...field }));
  for (const [name, type] of Object.entries(overrides)) if (!result.some((field) => field.name === name)) result.push({ name, type });
  return result;
}

/**
 * Whether the rows get a geo_point: when `geoPoint` is given, always;
 * by default when the fields have both `lat` and `lon` as numbers.
 * Null: no geo_point.
 */
export function resolveGeoPoint(fields: readonly SearchField[], geoPoint: GeoPointSpec | false | undefined): GeoPointSpec | null {
  if (geoPoint === false) return null;
  if (geoPoint !== undefined) return geoPoint;
  const numeric = (name: string) => fields.some((field) => field.name === name && (field.type === 'double' || field.type === 'long'));
  return numeric(DEFAULT_GEO_POINT.lat) && numeric(DEFAULT_GEO_POINT.lon) ? DEFAULT_GEO_POINT : null;
}

/**
 * The mapping for an index holding these fields (and the geo_point, if any).
 *
 * @example
 *   indexMapping([{ name: 'station', type: 'keyword' }, { name: 'lat', type: 'double' }, { name: 'lon', type: 'double' }], DEFAULT_GEO_POINT);
 *   // { dynamic: 'false', properties: { station: { type: 'keyword' }, lat: { type: 'double' }, lon: { type: 'double' }, location: { type: 'geo_point' } } }
 */
export function indexMapping(fields: readonly SearchField[], geoPoint: GeoPointSpec | null): IndexMapping {
  const properties: Record<string, FieldMapping> = {};
  for (const field of fields) properties[field.name] = fieldMapping(field.type);
  if (geoPoint) properties[geoPoint.field] = { type: 'geo_point' };
  return { dynamic: 'false', properties };
}

/** A field whose mapping in an existing index differs from what the sink would write. */
export interface MappingConflict {
  field: string;
  /** Its type in the index (`object` for a field with sub-fields). */
  existing: string;
  wanted: string;
}

/**
 * Fields of `wanted` that an existing mapping types differently; fields it
 * lacks are not conflicts (they can be added). Only the type is compared:
 * a date format or a `text` field's sub-fields may differ.
 *
 * @example
 *   mappingConflicts({ high: { type: 'keyword' } }, { high: { type: 'double' } }); // [{ field: 'high', existing: 'keyword', wanted: 'double' }]
 */
export function mappingConflicts(existing: Readonly<Record<string, FieldMapping>>, wanted: Readonly<Record<string, FieldMapping>>): MappingConflict[] {
  const conflicts: MappingConflict[] = [];
  for (const [field, mapping] of Object.entries(wanted)) {
    const current = existing[field];
    if (current === undefined) continue;
    const existingType = current.type ?? 'object';
    const wantedType = mapping.type ?? 'object';
    if (existingType !== wantedType) conflicts.push({ field, existing: existingType, wanted: wantedType });
  }
  return conflicts;
}

/** Fields of `wanted` an existing mapping does not have yet (to add with a mapping update). */
export function missingFields(existing: Readonly<Record<string, FieldMapping>>, wanted: Readonly<Record<string, FieldMapping>>): Record<string, FieldMapping> {
  const missing: Record<string, FieldMapping> = {};
  for (const [field, mapping] of Object.entries(wanted)) if (existing[field] === undefined) missing[field] = mapping;
  return missing;
}

// ---------------------------------------------------------------- where fields come from

/**
 * The search fields of an Avro record type: for jobs whose results are input
 * records (dedupe, filter), typed by the reader schema rather than by a guess
 * from the first rows. `["null", X]` counts as X; the event-time field and
 * `timestamp-millis`/`timestamp-micros` longs are timestamps; strings and
 * enums keywords; other types (records, arrays, maps, bytes) objects.
 *
 * @example
 *   searchFieldsOfRecord(avro.Type.forSchema(tideObservationSchema), 't');
 *   // [{ name: 'station', type: 'keyword' }, { name: 'name', type: 'keyword' }, { name: 'lat', type: 'double' }, ...,
 *   //  { name: 't', type: 'timestamp' }, { name: 'v', type: 'double' }, ...]
 */
export function searchFieldsOfRecord(type: avro.Type, eventTimeField: string): SearchField[] {
  const fields = (type as unknown as { fields?: ReadonlyArray<{ name: string; type: avro.Type }> }).fields ?? [];
  return fields.map((field) => ({ name: field.name, type: searchTypeOfAvro(field.type, field.name === eventTimeField) }));
}

function searchTypeOfAvro(type: avro.Type, isEventTime: boolean): SearchFieldType {
  const branches = (type as unknown as { types?: avro.Type[] }).types;
  if (branches !== undefined) {
    const nonNull = branches.filter((branch) => branch.typeName !== 'null');
    return nonNull.length === 1 ? searchTypeOfAvro(nonNull[0], isEventTime) : 'object';
  }
  const logical = (type as unknown as { underlyingType?: avro.Type }).underlyingType;
  const logicalName = type.typeName.startsWith('logical:') ? type.typeName.slice('logical:'.length) : null;
  if (logicalName === 'timestamp-millis' || logicalName === 'timestamp-micros') return 'timestamp';
  const name = logical ? logical.typeName : type.typeName;
  if (isEventTime && (name === 'long' || name === 'int' || name === 'double')) return 'timestamp';
  switch (name) {
    case 'string':
    case 'enum':
      return 'keyword';
    case 'double':
    case 'float':
      return 'double';
    case 'int':
    case 'long':
      return 'long';
    case 'boolean':
      return 'boolean';
    default:
      return 'object';
  }
}

/**
 * Field types guessed from rows, for a sink given no field list (dead letters,
 * late records): Dates and `timestampFields` are timestamps, numbers doubles,
 * strings keywords; a field null in every row is left out (it stays in
 * `_source`, unindexed, under the index's `dynamic: false`).
 *
 * @example
 *   inferSearchFields([{ station: 'a', t: 5, v: 1.5 }], new Set(['t'])); // station keyword, t timestamp, v double
 */
export function inferSearchFields(rows: readonly Row[], timestampFields: ReadonlySet<string>): SearchField[] {
  const types = new Map<string, SearchFieldType>();
  for (const row of rows) {
    for (const [name, value] of Object.entries(row)) {
      if (types.has(name) || value === null || value === undefined) continue;
      if (value instanceof Date || (typeof value === 'number' && timestampFields.has(name))) types.set(name, 'timestamp');
      else if (typeof value === 'number') types.set(name, 'double');
      else if (typeof value === 'bigint') types.set(name, 'long');
      else if (typeof value === 'boolean') types.set(name, 'boolean');
      else if (typeof value === 'string') types.set(name, 'keyword');
      else types.set(name, 'object');
    }
  }
  return [...types].map(([name, type]) => ({ name, type }));
}

// ---------------------------------------------------------------- index names

/**
 * An index name, fixed (`tides-lunar-day`) or templated on a timestamp field
 * of each row (`tides-{window_start:yyyy.MM}` -> `tides-2019.01`, in UTC), for
 * time-based indices that can be dropped whole when they age out.
 * Format letters: `yyyy`, `MM`, `dd`, `HH`; `.`, `-` and `_` between them.
 */
export interface IndexName {
  /** The text as configured. */
  readonly text: string;
  /** The timestamp field the name depends on; null for a fixed name. */
  readonly field: string | null;
  /** Every index this name can produce, as an index pattern (`tides-*`); the name itself when fixed. */
  readonly pattern: string;
  /** The index for a row; null when the row has no usable timestamp in `field`. */
  indexOf(row: Row): string | null;
}

/** Lowercase letters, digits and `._+-` outside placeholders (what OpenSearch allows); no leading `-`, `_` or `+`. */
export const INDEX_NAME_PATTERN = '^(?![-_+])(?:[a-z0-9._+-]|\\{[A-Za-z_][A-Za-z0-9_]*:(?:yyyy|MM|dd|HH|[-._])+\\})+$';

const PLACEHOLDER = /\{([A-Za-z_][A-Za-z0-9_]*):((?:yyyy|MM|dd|HH|[-._])+)\}/g;

/**
 * Parses an index name (already checked against INDEX_NAME_PATTERN); every
 * placeholder must name the same field.
 *
 * @example
 *   const name = parseIndexName('tides-{window_start:yyyy.MM}');
 *   name.pattern;                                                   // 'tides-*'
 *   name.indexOf({ window_start: new Date('2019-01-31T23:00:00Z') }); // 'tides-2019.01'
 */
export function parseIndexName(text: string): IndexName {
  const parts: Array<string | { format: string }> = [];
  const fields = new Set<string>();
  let last = 0;
  for (const match of text.matchAll(PLACEHOLDER)) {
    if (match.index > last) parts.push(text.slice(last, match.index));
    parts.push({ format: match[2] });
    fields.add(match[1]);
    last = match.index + match[0].length;
  }
  if (last < text.length) parts.push(text.slice(last));
  if (fields.size > 1) throw new Error(`index name '${text}' uses more than one field (${[...fields].join(', ')}); use one timestamp field`);
  const field = fields.size === 1 ? [...fields][0] : null;
  if (field === null) return { text, field: null, pattern: text, indexOf: () => text };
  const pattern = parts.map((part) => (typeof part === 'string' ? part : '*')).join('').replace(/\*+/g, '*');
  return {
    text,
    field,
    pattern,
    indexOf(row: Row): string | null {
      const ms = epochMsOf(row[field]);
      if (ms === null) return null;
      const date = new Date(ms);
      let name = '';
      for (const part of parts) name += typeof part === 'string' ? part : formatUtc(date, part.format);
      return name;
    },
  };
}

/** Epoch ms of a Date, a number or an ISO-8601 string; null for anything else. */
export function epochMsOf(value: unknown): number | null {
  let ms: number;
  if (value instanceof Date) ms = value.getTime();
  else if (typeof value === 'number') ms = value;
  else if (typeof value === 'string') ms = Date.parse(value);
  else return null;
  return Number.isFinite(ms) && Math.abs(ms) <= 8.64e15 ? ms : null;
}

function formatUtc(date: Date, format: string): string {
  return format.replace(/yyyy|MM|dd|HH/g, (token) => {
    switch (token) {
      case 'yyyy':
        return String(date.getUTCFullYear()).padStart(4, '0');
      case 'MM':
        return String(date.getUTCMonth() + 1).padStart(2, '0');
      case 'dd':
        return String(date.getUTCDate()).padStart(2, '0');
      default:
        return String(date.getUTCHours()).padStart(2, '0');
    }
  });
}
