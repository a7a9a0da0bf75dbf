import * as fs from 'node:fs';
import * as path from 'node:path';
import * as avro from 'avsc';
import type { Row } from '../core/batch';
import { UsageError } from '../core/errors';

/**
 * Loading Avro schemas the way the whole engine needs them.
 *
 * Logical types are deliberately not registered: avsc would then decode a
 * `timestamp-millis` long to a `Date`, while rows carry time as epoch-ms
 * numbers everywhere (batch.ts). Unregistered logical types fall back to
 * their underlying type, so `t` reads and writes as a plain number.
 */

/** Path of `schemas/tide_observation.avsc` in this checkout or installed package. */
export function tideObservationSchemaPath(): string {
  const candidates = [
    path.resolve(__dirname, '..', '..', '..', 'schemas', 'tide_observation.avsc'),
    path.resolve(__dirname, '..', '..', 'schemas', 'tide_observation.avsc'),
  ];
  for (const candidate of candidates) if (fs.existsSync(candidate)) return candidate;
  return candidates[0];
}

/**
 * Parse an `.avsc` file (JSON) into an avsc Type with timestamps as numbers.
 *
 * @example
 *   const type = loadAvroType(tideObservationSchemaPath());
 *   type.toBuffer({ station: '8454000', name: 'P', lat: 41.8, lon: -71.4, t: 0, v: null, s: null, f: null, q: null });
 */
export function loadAvroType(schemaPath: string): avro.Type {
  let schema: avro.Schema;
  try {
    schema = JSON.parse(fs.readFileSync(schemaPath, 'utf8')) as avro.Schema;
  } catch (error) {
    throw new UsageError(`cannot read Avro schema ${schemaPath}: ${(error as Error).message}`);
  }
  return parseAvroType(schema, schemaPath);
}

/** An avsc Type for a schema object or JSON text (timestamps as numbers). */
export function parseAvroType(schema: avro.Schema | string, where = 'schema'): avro.Type {
  try {
    return avro.Type.forSchema(typeof schema === 'string' ? (JSON.parse(schema) as avro.Schema) : schema);
  } catch (error) {
    throw new UsageError(`invalid Avro ${where}: ${(error as Error).message}`);
  }
}

/**
 * A function that copies a decoded avsc record into a plain object.
 *
 * avsc decodes records as instances of a generated class; rows must be
 * plain objects so that they compare, clone and spread like every other
 * row (`assert.deepStrictEqual` and structured clone look at prototypes).
 * Object spread is V8's fastest clone (it reuses the source's field layout;
 * measured ~2x faster than assigning fields from a precomputed name list),
 * and a decoded record's own enumerable properties are exactly its fields.
 *
 * @example
 *   const toPlain = createPlainRowCopier(type);
 *   const row = toPlain(type.decode(buffer, 0).value);
 */
export function createPlainRowCopier(type: avro.Type): (value: unknown) => Row {
  if (type.typeName !== 'record') return (value) => value as Row;
  return (value: unknown): Row => ({ ...(value as Row) });
}
