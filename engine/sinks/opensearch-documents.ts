import { createHash } from 'node:crypto';
import type { Row } from '../core/batch';
import type { GeoPointSpec } from './opensearch-mapping';

/**
 * Rows as OpenSearch documents, and bulk responses read item by item.
 * Free of I/O, so the rules can be unit-tested.
 */

// ---------------------------------------------------------------- document ids

/** OpenSearch refuses `_id`s longer than this many bytes. */
const MAX_ID_BYTES = 512;

/**
 * The document id of a row: its values of `idFields`, so the same result
 * (same key, same window) always lands on the same document and a replay
 * overwrites instead of duplicating. Values are joined with `|`; in strings
 * `%` and `|` are percent-escaped so no value can imitate a separator, and
 * an absent value is `%00` (which no escaped string can be). Timestamps
 * (Dates, and numbers in `timestampFields`) are ISO-8601 UTC. An id over
 * 512 bytes becomes `sha256:` + the hex digest of that text.
 * A field name with a dot reaches into an object (`record.station` of a late row).
 *
 * @example
 *   documentId({ station: '8454000', window_start: new Date(0) }, ['station', 'window_start'], new Set());
 *   // '8454000|1970-01-01T00:00:00.000Z'
 */
export function documentId(row: Row, idFields: readonly string[], timestampFields: ReadonlySet<string>): string {
  let id = '';
  for (let i = 0; i < idFields.length; i++) {
    if (i > 0) id += '|';
    const field = idFields[i];
    id += idPart(valueAt(row, field), timestampFields.has(field));
  }
  if (Buffer.byteLength(id, 'utf8') <= MAX_ID_BYTES) return id;
  return `sha256:${createHash('sha256').update(id, 'utf8').digest('hex')}`;
}

function idPart(value: unknown, isTimestamp: boolean): string {
  if (value === null || value === undefined) return '%00';
  if (value instanceof Date) return Number.isFinite(value.getTime()) ? value.toISOString() : '%00';
  if (typeof value === 'number') {
    if (isTimestamp && Number.isFinite(value) && Math.abs(value) <= 8.64e15) return new Date(value).toISOString();
    return String(value);
  }
  if (typeof value === 'string') return value.replace(/%/g, '%25').replace(/\|/g, '%7C');
  if (typeof value === 'bigint' || typeof value === 'boolean') return String(value);
  return JSON.stringify(value).replace(/%/g, '%25').replace(/\|/g, '%7C');
}

/** `row[field]`, or for `a.b` (when the row has no field of that very name) `row.a.b`. */
export function valueAt(row: Row, field: string): unknown {
  if (field in row || !field.includes('.')) return row[field];
  let value: unknown = row;
  for (const part of field.split('.')) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}

// ---------------------------------------------------------------- document bodies

/**
 * A row as a document's `_source` JSON: timestamps (Dates, and numbers in
 * `timestampFields`) as ISO-8601 UTC with milliseconds, NaN and infinities as
 * null (JSON has no such numbers), Buffers as base64, and, when `geoPoint` is
 * given and both coordinates are finite numbers, the geo_point as
 * `{ lat, lon }` under its field name.
 *
 * @example
 *   documentSource({ station: 'a', lat: 41.5, lon: -71.3, t: 0 }, new Set(['t']), { field: 'location', lat: 'lat', lon: 'lon' });
 *   // '{"station":"a","lat":41.5,"lon":-71.3,"t":"1970-01-01T00:00:00.000Z","location":{"lat":41.5,"lon":-71.3}}'
 */
export function documentSource(row: Row, timestampFields: ReadonlySet<string>, geoPoint: GeoPointSpec | null): string {
  // Written field by field rather than through JSON.stringify with a replacer: a third of the time per row.
  let json = '{';
  for (const field in row) {
    const value = jsonValue(row[field], timestampFields.has(field));
    if (value === undefined || (geoPoint !== null && field === geoPoint.field)) continue;
    json += `${json.length > 1 ? ',' : ''}${quotedName(field)}:${value}`;
  }
  if (geoPoint) {
    const lat = row[geoPoint.lat];
    const lon = row[geoPoint.lon];
    if (typeof lat === 'number' && typeof lon === 'number' && Number.isFinite(lat) && Number.isFinite(lon)) {
      json += `${json.length > 1 ? ',' : ''}${quotedName(geoPoint.field)}:{"lat":${lat},"lon":${lon}}`;
    } else if (geoPoint.field in row) {
      const value = jsonValue(row[geoPoint.field], false);
      if (value !== undefined) json += `${json.length > 1 ? ',' : ''}${quotedName(geoPoint.field)}:${value}`;
    }
  }
  return `${json}}`;
}

const quotedNames = new Map<string, string>();

function quotedName(field: string): string {
  let quoted = quotedNames.get(field);
  if (quoted === undefined) {
    quoted = JSON.stringify(field);
    if (quotedNames.size < 10_000) quotedNames.set(field, quoted);
  }
  return quoted;
}

/** One top-level value as JSON text; undefined for what JSON leaves out (undefined, functions). */
function jsonValue(value: unknown, isTimestamp: boolean): string | undefined {
  switch (typeof value) {
    case 'number':
      if (!Number.isFinite(value)) return 'null';
      return isTimestamp && Math.abs(value) <= 8.64e15 ? `"${new Date(value).toISOString()}"` : String(value);
    case 'string':
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'bigint':
      return `"${value}"`;
    case 'undefined':
    case 'function':
    case 'symbol':
      return undefined;
  }
  if (value === null) return 'null';
  if (value instanceof Date) return Number.isFinite(value.getTime()) ? `"${value.toISOString()}"` : 'null';
  if (Buffer.isBuffer(value)) return `"${value.toString('base64')}"`;
  // Nested objects (a late row's record): as JSON has them, Buffers inside as base64.
  return JSON.stringify(value, (_key, inner: unknown) => {
    if (typeof inner === 'bigint') return inner.toString();
    if (inner !== null && typeof inner === 'object' && (inner as { type?: unknown }).type === 'Buffer' && Array.isArray((inner as { data?: unknown }).data)) {
      return Buffer.from((inner as { data: number[] }).data).toString('base64');
    }
    return inner;
  });
}

/**
 * The action line of one document in a bulk request. `version` with
 * `version_type: external` makes a write of an older version of the same
 * document lose to a newer one whatever the order they reach the server in
 * (a retried item, two requests in flight): the sink stamps each document
 * with a version from a clock when it is queued, like the Cassandra sink's
 * write times.
 *
 * @example
 *   bulkActionLine('tides', '8454000|1970-01-01T00:00:00.000Z', 1700000000000000);
 *   // '{"index":{"_index":"tides","_id":"8454000|1970-01-01T00:00:00.000Z","version":1700000000000000,"version_type":"external"}}'
 */
export function bulkActionLine(index: string, id: string, version: number): string {
  return `{"index":{"_index":${JSON.stringify(index)},"_id":${JSON.stringify(id)},"version":${version},"version_type":"external"}}`;
}

// ---------------------------------------------------------------- bulk responses

/** What became of one document of a bulk request. */
export type ItemOutcome =
  /** Stored (or a newer version of it already was: a 409 on an external version). */
  | { kind: 'indexed' }
  /** Refused for now (429 queue full, 503 shard unavailable): send this document again, alone with the others like it. */
  | { kind: 'retry'; status: number; reason: string }
  /** Refused for good (mapping conflict, too large, invalid): a dead letter with the server's reason. */
  | { kind: 'rejected'; status: number; reason: string };

/** The statuses of an item (or a whole request) that waiting can fix. */
export function isRetriableStatus(status: number): boolean {
  return status === 429 || status === 502 || status === 503 || status === 504;
}

interface BulkItemError {
  type?: string;
  reason?: string;
  caused_by?: BulkItemError;
}

interface BulkItem {
  status?: number;
  error?: BulkItemError | string;
}

/** A bulk response body whose items do not line up with the request. */
export class MalformedBulkResponse extends Error {}

/**
 * Each item of a bulk response, in request order, as indexed / retry /
 * rejected. `expected` is the number of documents the request carried.
 *
 * @example
 *   readBulkItems({ errors: true, items: [
 *     { index: { status: 201 } },
 *     { index: { status: 400, error: { type: 'mapper_parsing_exception', reason: 'failed to parse field [high]' } } },
 *     { index: { status: 429, error: { type: 'es_rejected_execution_exception', reason: 'queue full' } } },
 *   ] }, 3);
 *   // [{ kind: 'indexed' }, { kind: 'rejected', status: 400, ... }, { kind: 'retry', status: 429, ... }]
 */
export function readBulkItems(body: unknown, expected: number): ItemOutcome[] {
  const items = (body as { items?: unknown } | null)?.items;
  if (!Array.isArray(items) || items.length !== expected) {
    throw new MalformedBulkResponse(`bulk response has ${Array.isArray(items) ? items.length : 'no'} items for ${expected} documents`);
  }
  const outcomes: ItemOutcome[] = new Array(expected);
  for (let i = 0; i < expected; i++) {
    const entry = items[i] as Record<string, BulkItem> | null;
    const item = entry === null || typeof entry !== 'object' ? undefined : (entry.index ?? entry.create ?? Object.values(entry)[0]);
    const status = typeof item?.status === 'number' ? item.status : 0;
    if (status >= 200 && status < 300) outcomes[i] = { kind: 'indexed' };
    else if (status === 409 && errorType(item?.error) === 'version_conflict_engine_exception') outcomes[i] = { kind: 'indexed' };
    else if (isRetriableStatus(status)) outcomes[i] = { kind: 'retry', status, reason: describeItemError(status, item?.error) };
    else outcomes[i] = { kind: 'rejected', status, reason: describeItemError(status, item?.error) };
  }
  return outcomes;
}

function errorType(error: BulkItemError | string | undefined): string | undefined {
  return typeof error === 'object' && error !== null ? error.type : undefined;
}

/**
 * The server's reason for an item, with what caused it:
 * `400 mapper_parsing_exception: failed to parse field [high] of type [double] ... (caused by number_format_exception: For input string: "x")`.
 */
export function describeItemError(status: number, error: BulkItemError | string | undefined): string {
  if (error === undefined) return `${status} (no reason given)`;
  if (typeof error === 'string') return `${status} ${error}`;
  let text = `${status} ${error.type ?? 'error'}: ${error.reason ?? ''}`.trimEnd();
  for (let cause = error.caused_by, depth = 0; cause && depth < 4; cause = cause.caused_by, depth++) {
    text += ` (caused by ${cause.type ?? 'error'}: ${cause.reason ?? ''})`;
  }
  return text;
}
