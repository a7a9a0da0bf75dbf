import { types } from 'cassandra-driver';
import type { Row } from '../core/batch';
import { qualifiedName, quoteIdentifier } from '../clients/cassandra';

/**
 * The Cassandra sink's tables: CQL text for them, and the mapping from row
 * values (JS types) to CQL types. Free of I/O, so the rules can be unit-tested.
 */

export interface PrimaryKey {
  partition: string[];
  clustering: string[];
}

/** One table column and its CQL type. */
export interface ColumnDefinition {
  name: string;
  type: string;
}

/**
 * CREATE TABLE IF NOT EXISTS with primary key `((partition...), clustering...)`.
 *
 * @example
 *   createTableCql('tides', 'avg_30m', [{ name: 'station', type: 'text' }, { name: 'window_start', type: 'timestamp' }],
 *     { partition: ['station'], clustering: ['window_start'] });
 *   // CREATE TABLE IF NOT EXISTS "tides"."avg_30m" ("station" text, "window_start" timestamp,
 *   //   PRIMARY KEY (("station"), "window_start"))
 */
export function createTableCql(keyspace: string, table: string, columns: ColumnDefinition[], primaryKey: PrimaryKey): string {
  const names = new Set(columns.map((column) => column.name));
  for (const key of [...primaryKey.partition, ...primaryKey.clustering]) {
    if (!names.has(key)) throw new Error(`primary key column '${key}' is not among the columns of ${keyspace}.${table}`);
  }
  const definitions = columns.map((column) => `${quoteIdentifier(column.name)} ${column.type}`).join(', ');
  const partition = `(${primaryKey.partition.map(quoteIdentifier).join(', ')})`;
  const key = [partition, ...primaryKey.clustering.map(quoteIdentifier)].join(', ');
  return `CREATE TABLE IF NOT EXISTS ${qualifiedName(keyspace, table)} (${definitions}, PRIMARY KEY (${key}))`;
}

/**
 * The sink's prepared upsert. The write time is a bound parameter (the last
 * one) so the sink fixes it when a row is queued: a retried write keeps its
 * original time, and a later update of the same key always wins even if an
 * older write is retried after it.
 */
export function insertCql(keyspace: string, table: string, columns: string[]): string {
  const names = columns.map(quoteIdentifier).join(', ');
  const markers = columns.map(() => '?').join(', ');
  return `INSERT INTO ${qualifiedName(keyspace, table)} (${names}) VALUES (${markers}) USING TIMESTAMP ?`;
}

// ---------------------------------------------------------------- types

/**
 * The CQL type for one column from sample values (all rows of the first write).
 *
 * The first non-null value decides: a Date, or a number in a field listed as a
 * timestamp field, is `timestamp`; other numbers are `double` (an integer
 * column could not take a later 0.5, a double takes both); strings `text`,
 * booleans `boolean`, bigints `bigint`, Buffers `blob`, and other objects or
 * arrays `text` (written as JSON). A column with only nulls in the sample is
 * `double` — the common case for nullable measurements — and reported through
 * `fromNullsOnly` so the caller can log it; pass explicit column types when
 * that guess is wrong.
 *
 * @example
 *   inferColumnType([null, 1.25], false)          // { type: 'double', fromNullsOnly: false }
 *   inferColumnType([1_600_000_000_000], true)   // { type: 'timestamp', fromNullsOnly: false }
 */
export function inferColumnType(values: Iterable<unknown>, isTimestampField: boolean): { type: string; fromNullsOnly: boolean } {
  for (const value of values) {
    if (value === null || value === undefined) continue;
    return { type: cqlTypeOfValue(value, isTimestampField), fromNullsOnly: false };
  }
  return { type: isTimestampField ? 'timestamp' : 'double', fromNullsOnly: true };
}

function cqlTypeOfValue(value: unknown, isTimestampField: boolean): string {
  if (value instanceof Date) return 'timestamp';
  switch (typeof value) {
    case 'number':
      return isTimestampField ? 'timestamp' : 'double';
    case 'string':
      return 'text';
    case 'boolean':
      return 'boolean';
    case 'bigint':
      return 'bigint';
    default:
      if (value instanceof Uint8Array) return 'blob';
      return 'text';
  }
}

/** Which row field feeds which column. */
export interface ColumnBinding {
  column: string;
  field: string;
}

/**
 * The column list of the upsert.
 *
 * - `columns` given (column -> field): those, plus any primary-key column
 *   it leaves out (fed by the field of the same name).
 * - otherwise, a table that already exists: all its columns, each from the
 *   field of the same name (a row without that field leaves the column unset).
 * - otherwise (the sink creates the table): every field seen in the sample
 *   rows, primary-key columns first, the rest in first-seen order.
 */
export function resolveColumns(
  columns: Record<string, string>,
  primaryKey: PrimaryKey,
  existingColumns: string[] | null,
  sampleRows: readonly Row[],
): ColumnBinding[] {
  const keyColumns = [...primaryKey.partition, ...primaryKey.clustering];
  const mapped = Object.entries(columns);
  if (mapped.length > 0) {
    const bindings = mapped.map(([column, field]) => ({ column, field }));
    for (const key of keyColumns) if (!(key in columns)) bindings.push({ column: key, field: key });
    return orderKeysFirst(bindings, keyColumns);
  }
  if (existingColumns) return existingColumns.map((column) => ({ column, field: column }));
  const seen = new Set<string>(keyColumns);
  const names = [...keyColumns];
  for (const row of sampleRows) {
    for (const field in row) {
      if (!seen.has(field)) {
        seen.add(field);
        names.push(field);
      }
    }
  }
  return names.map((name) => ({ column: name, field: name }));
}

function orderKeysFirst(bindings: ColumnBinding[], keyColumns: string[]): ColumnBinding[] {
  const keys = keyColumns.map((key) => bindings.find((binding) => binding.column === key)!);
  return [...keys, ...bindings.filter((binding) => !keyColumns.includes(binding.column))];
}

/**
 * Column definitions for a table the sink creates: explicit types where the
 * caller gave them, inferred from the sample rows otherwise.
 */
export function inferColumnDefinitions(
  bindings: ColumnBinding[],
  sampleRows: readonly Row[],
  timestampFields: ReadonlySet<string>,
  explicitTypes: Record<string, string> = {},
): { columns: ColumnDefinition[]; guessedFromNulls: string[] } {
  const guessedFromNulls: string[] = [];
  const columns = bindings.map(({ column, field }) => {
    const explicit = explicitTypes[column];
    if (explicit) return { name: column, type: explicit };
    const inferred = inferColumnType(
      sampleRows.map((row) => row[field]),
      timestampFields.has(field),
    );
    if (inferred.fromNullsOnly) guessedFromNulls.push(column);
    return { name: column, type: inferred.type };
  });
  return { columns, guessedFromNulls };
}

/** A value that cannot go into its column; the sink turns it into a non-retriable error naming table and column. */
export class ColumnValueError extends Error {
  constructor(
    readonly column: string,
    readonly field: string,
    readonly columnType: string,
    readonly value: unknown,
    reason: string,
  ) {
    super(`column '${column}' (${columnType}, from field '${field}') ${reason}`);
    this.name = 'ColumnValueError';
  }
}

/** Turns a row value into the bound parameter for one column; throws ColumnValueError when it does not fit. */
export type ValueConverter = (value: unknown) => unknown;

const INT_RANGES: Record<string, [number, number]> = {
  int: [-2147483648, 2147483647],
  smallint: [-32768, 32767],
  tinyint: [-128, 127],
};

/**
 * A converter for one column, chosen once per column so the per-row work is a
 * couple of `typeof` checks. Checking here (rather than letting the driver's
 * encoder throw) is what lets the error name the column and the field.
 *
 * - `undefined` (the row has no such field) becomes `unset`: the column keeps
 *   whatever it had, and no tombstone is written.
 * - `null` is written as null (read back as null); a null key column is an error.
 * - numbers go into timestamp columns as epoch milliseconds — stored exactly as
 *   `new Date(ms)` would be, without allocating a Date per value.
 * - objects and arrays go into text columns as JSON; timestamps (Dates, or
 *   numbers in a timestamp field) as ISO-8601 strings, as in the JSONL sink.
 * - types this function does not know (collections, uuid, ...) pass through
 *   and the driver validates them.
 */
export function valueConverter(binding: ColumnBinding, columnType: string, isKey: boolean, isTimestampField = false): ValueConverter {
  const { column, field } = binding;
  const fail = (value: unknown, reason: string): never => {
    throw new ColumnValueError(column, field, columnType, value, reason);
  };
  const missing = (value: unknown): unknown => {
    if (isKey) fail(value, value === null ? 'is a primary key column and cannot be null' : 'is a primary key column but the row has no such field');
    return value === null ? null : types.unset;
  };
  const got = (value: unknown): string => `cannot take ${describeValue(value)}`;
  switch (columnType) {
    case 'text':
    case 'varchar':
    case 'ascii':
      return (value) => {
        if (typeof value === 'string') return value;
        if (value === null || value === undefined) return missing(value);
        // Same rendering as the JSONL sink: event times as ISO-8601 UTC.
        if (isTimestampField && typeof value === 'number' && Number.isFinite(value)) return new Date(value).toISOString();
        if (value instanceof Date && Number.isFinite(value.getTime())) return value.toISOString();
        if (typeof value === 'object' && !(value instanceof Date) && !(value instanceof Uint8Array)) return JSON.stringify(value);
        return fail(value, got(value));
      };
    case 'double':
    case 'float':
      return (value) => {
        if (typeof value === 'number') return value;
        if (value === null || value === undefined) return missing(value);
        return fail(value, got(value));
      };
    case 'int':
    case 'smallint':
    case 'tinyint': {
      const [low, high] = INT_RANGES[columnType];
      return (value) => {
        if (typeof value === 'number' && Number.isInteger(value) && value >= low && value <= high) return value;
        if (value === null || value === undefined) return missing(value);
        return fail(value, got(value));
      };
    }
    case 'bigint':
    case 'counter':
      return (value) => {
        if (typeof value === 'bigint') return value;
        if (typeof value === 'number' && Number.isSafeInteger(value)) return BigInt(value);
        if (value === null || value === undefined) return missing(value);
        return fail(value, got(value));
      };
    case 'timestamp':
      return (value) => {
        // Truncated like `new Date(ms)` does: the driver (with bigint longs) rejects fractions.
        if (typeof value === 'number' && Number.isFinite(value)) return Number.isInteger(value) ? value : Math.trunc(value);
        if (value instanceof Date && Number.isFinite(value.getTime())) return value;
        if (typeof value === 'string' && Number.isFinite(Date.parse(value))) return new Date(value);
        if (value === null || value === undefined) return missing(value);
        return fail(value, got(value));
      };
    case 'boolean':
      return (value) => {
        if (typeof value === 'boolean') return value;
        if (value === null || value === undefined) return missing(value);
        return fail(value, got(value));
      };
    case 'blob':
      return (value) => {
        if (Buffer.isBuffer(value)) return value;
        if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
        if (typeof value === 'string') return Buffer.from(value, 'utf8');
        if (value === null || value === undefined) return missing(value);
        return fail(value, got(value));
      };
    default:
      return (value) => (value === null || value === undefined ? missing(value) : value);
  }
}

function describeValue(value: unknown): string {
  if (value instanceof Date) return `a Date (${Number.isFinite(value.getTime()) ? value.toISOString() : 'invalid'})`;
  const type = Array.isArray(value) ? 'an array' : `a ${typeof value}`;
  let text: string;
  try {
    text = typeof value === 'bigint' ? `${value}n` : (JSON.stringify(value) ?? String(value));
  } catch {
    text = String(value);
  }
  if (text.length > 60) text = `${text.slice(0, 57)}...`;
  if (typeof value === 'number' && !Number.isInteger(value)) return `${type} with a fraction (${text})`;
  return `${type} (${text})`;
}

// ---------------------------------------------------------------- write times

/**
 * Write times in microseconds that never go backwards and never repeat within
 * a process (Cassandra resolves two writes of one cell by their write time).
 * Counted in a number: µs since the epoch stay exact integers in a double
 * until the year 2255 (the sink writes them as 64-bit integers itself, cassandra-wire.ts).
 */
export class WriteClock {
  private last = 0;
  /** The wall clock (ms) the write times follow; a caller stamping many rows at once reads it once and passes the reading to `nextMicros`. */
  constructor(readonly nowMs: () => number = Date.now) {}

  /** The next write time. */
  nextMicros(nowMs = this.nowMs()): number {
    const now = nowMs * 1000;
    this.last = now > this.last ? now : this.last + 1;
    return this.last;
  }
}
