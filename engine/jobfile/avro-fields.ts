import { closeSync, existsSync, openSync, readFileSync, readSync } from 'node:fs';
import { isAbsolute, relative, resolve } from 'node:path';
import type { ValueType } from '../expressions/types';

/**
 * Field names of the records a source produces, read from an Avro schema:
 * a reader schema file (.avsc), or the writer schema in an Avro object
 * container file's header. Only top-level record fields matter for
 * checking the names a job uses.
 */

export interface RecordFields {
  /** Full record name, e.g. `noaa.coops.TideObservation`. */
  name: string;
  fields: string[];
  /** What each field holds once decoded, where expressions care (nullable unions as their other branch). */
  types: Record<string, ValueType>;
}

export type SchemaReadResult = { ok: true; record: RecordFields } | { ok: false; message: string };

/**
 * Read an .avsc file (a relative path against `jobDir`, the job file's
 * directory, as the runtime resolves it). `cwd`, when given, is where a
 * missing relative path is also looked for: a job file written when paths
 * started at the working directory gets told how to write it now.
 */
export function readAvscFields(path: string, jobDir: string, cwd?: string): SchemaReadResult {
  let text: string;
  try {
    text = readFileSync(resolve(jobDir, path), 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && !isAbsolute(path)) {
      return { ok: false, message: `cannot read reader schema '${path}': no such file (${whereElse(path, jobDir, cwd)})` };
    }
    const reason = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a directory' : (error as Error).message;
    return { ok: false, message: `cannot read reader schema '${path}': ${reason}` };
  }
  let schema: unknown;
  try {
    schema = JSON.parse(text);
  } catch (error) {
    return { ok: false, message: `reader schema '${path}' is not valid JSON: ${(error as Error).message}` };
  }
  return recordFields(schema, `reader schema '${path}'`);
}

/**
 * The hint for a relative path missing from the job file's directory: the
 * rule, and the path to write when the working directory has the file (a job
 * file from when paths started there). Directories are shown relative to the
 * working directory, as the user typed the job file's name.
 */
function whereElse(path: string, jobDir: string, cwd: string | undefined): string {
  const inside = cwd === undefined ? '..' : relative(cwd, jobDir);
  const shown = inside === '' ? '.' : inside.startsWith('..') || isAbsolute(inside) ? jobDir : inside;
  const rule = `relative paths in a job file start at the job file's directory, ${shown}`;
  if (cwd === undefined || !existsSync(resolve(cwd, path))) return rule;
  return `${rule}; the working directory has '${path}': write it as ${relative(jobDir, resolve(cwd, path))}`;
}

/**
 * The writer schema of an Avro object container file, or `undefined` when the
 * file is missing or not an Avro container (the runtime reports that when it
 * opens the file; lint should not fail for data that is not there yet).
 */
export function readContainerFields(path: string, jobDir: string): RecordFields | undefined {
  let fd: number;
  try {
    fd = openSync(resolve(jobDir, path), 'r');
  } catch {
    return undefined;
  }
  try {
    // Headers hold the schema plus a little metadata; 1 MiB covers any realistic schema.
    const buffer = Buffer.alloc(1 << 20);
    const length = readSync(fd, buffer, 0, buffer.length, 0);
    const schemaJson = containerSchema(buffer.subarray(0, length));
    if (schemaJson === undefined) return undefined;
    const result = recordFields(JSON.parse(schemaJson), 'container schema');
    return result.ok ? result.record : undefined;
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}

function recordFields(schema: unknown, what: string): SchemaReadResult {
  const record = schema as { type?: unknown; name?: unknown; namespace?: unknown; fields?: unknown };
  if (record === null || typeof record !== 'object' || record.type !== 'record' || !Array.isArray(record.fields)) {
    return { ok: false, message: `${what} must be an Avro record schema ({"type": "record", "fields": [...]})` };
  }
  const name = typeof record.name === 'string' ? record.name : 'record';
  const fullName = typeof record.namespace === 'string' && !name.includes('.') ? `${record.namespace}.${name}` : name;
  const fields: string[] = [];
  const types: Record<string, ValueType> = {};
  for (const field of record.fields as unknown[]) {
    if (field === null || typeof field !== 'object') continue;
    const { name: fieldName, type } = field as { name?: unknown; type?: unknown };
    if (typeof fieldName !== 'string') continue;
    fields.push(fieldName);
    types[fieldName] = valueType(type);
  }
  return { ok: true, record: { name: fullName, fields, types } };
}

/**
 * The expression type of an Avro field type: `timestamp-millis` longs are
 * timestamps (epoch ms, as the engine holds them), other numbers numbers,
 * `["null", T]` is T; anything else is not known.
 */
function valueType(type: unknown): ValueType {
  if (Array.isArray(type)) {
    const branches = type.filter((branch) => branch !== 'null');
    return branches.length === 1 ? valueType(branches[0]) : 'unknown';
  }
  if (type !== null && typeof type === 'object') {
    const { type: inner, logicalType } = type as { type?: unknown; logicalType?: unknown };
    if (logicalType === 'timestamp-millis' && inner === 'long') return 'timestamp';
    if (logicalType !== undefined) return 'unknown';
    return inner === 'enum' ? 'string' : primitiveType(inner);
  }
  return primitiveType(type);
}

function primitiveType(name: unknown): ValueType {
  return typeof name === 'string' && Object.hasOwn(PRIMITIVE_TYPES, name) ? PRIMITIVE_TYPES[name] : 'unknown';
}

const PRIMITIVE_TYPES: Record<string, ValueType> = { string: 'string', int: 'number', long: 'number', float: 'number', double: 'number', boolean: 'boolean' };

/** `avro.schema` from an object container header: magic `Obj\x01`, then a map<string, bytes> of metadata. */
function containerSchema(bytes: Buffer): string | undefined {
  if (bytes.length < 4 || bytes.toString('latin1', 0, 4) !== 'Obj\x01') return undefined;
  let position = 4;
  const readLong = (): number => {
    let result = 0;
    let shift = 1;
    for (;;) {
      if (position >= bytes.length) throw new Error('truncated header');
      const byte = bytes[position++];
      result += (byte & 0x7f) * shift;
      shift *= 128;
      if ((byte & 0x80) === 0) break;
    }
    // Zig-zag decoding without 32-bit bit operations, so large values stay exact.
    return result % 2 === 0 ? result / 2 : -(result + 1) / 2;
  };
  const readBytes = (): Buffer => {
    const length = readLong();
    if (length < 0 || position + length > bytes.length) throw new Error('truncated header');
    const slice = bytes.subarray(position, position + length);
    position += length;
    return slice;
  };
  for (;;) {
    let count = readLong();
    if (count === 0) return undefined;
    if (count < 0) {
      count = -count;
      readLong(); // block size in bytes, not needed when reading every entry
    }
    for (let i = 0; i < count; i++) {
      const key = readBytes().toString('utf8');
      const value = readBytes();
      if (key === 'avro.schema') return value.toString('utf8');
    }
  }
}
