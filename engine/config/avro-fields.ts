import { closeSync, existsSync, openSync, readFileSync, readSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';

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
}

export type SchemaReadResult = { ok: true; record: RecordFields } | { ok: false; message: string };

/**
 * Read an .avsc file (relative paths against `cwd`, as the runtime resolves
 * them). `jobFile`, when given, is where a missing relative path is also
 * looked for (its directory and the ones above), to say where to run from.
 */
export function readAvscFields(path: string, cwd: string, jobFile?: string): SchemaReadResult {
  let text: string;
  try {
    text = readFileSync(resolve(cwd, path), 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && !isAbsolute(path)) {
      return { ok: false, message: `cannot read reader schema '${path}': no such file (${whereElse(path, cwd, jobFile)})` };
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
 * The hint for a relative path missing from the working directory: where it
 * is, when the job file's directory or one above it has it (a job run from
 * elsewhere, `tideflow run ~/project/jobs/x.yaml`), else the rule.
 */
function whereElse(path: string, cwd: string, jobFile: string | undefined): string {
  const rule = 'relative paths start at the working directory, not at the job file';
  if (jobFile === undefined) return rule;
  for (let dir = dirname(resolve(cwd, jobFile)); ; dir = dirname(dir)) {
    const candidate = resolve(dir, path);
    if (existsSync(candidate)) return `${rule}; it is in ${dir}: run from there, or give the path as ${candidate}`;
    if (dirname(dir) === dir) return rule;
  }
}

/**
 * The writer schema of an Avro object container file, or `undefined` when the
 * file is missing or not an Avro container (the runtime reports that when it
 * opens the file; lint should not fail for data that is not there yet).
 */
export function readContainerFields(path: string, cwd: string): RecordFields | undefined {
  let fd: number;
  try {
    fd = openSync(resolve(cwd, path), 'r');
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
  const fields = record.fields
    .map((field: unknown) => (field !== null && typeof field === 'object' ? (field as { name?: unknown }).name : undefined))
    .filter((field): field is string => typeof field === 'string');
  return { ok: true, record: { name: fullName, fields } };
}

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
