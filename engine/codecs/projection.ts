import type * as avro from 'avsc';
import { parseAvroType } from './avro-schema';
import { CONFLUENT_HEADER_SIZE } from './confluent-avro';
import { MAX_STRING_LENGTH } from './validate';
import type { JobSpec } from '../config/job';
import { referencedFields } from '../expressions/ast';
import { parseExpression } from '../expressions/parse';

/**
 * The input fields a job actually reads, or null when it needs them all.
 *
 * A job whose results are window aggregates only reads the fields its steps
 * name up to and including its first window (event time, keys, aggregate
 * inputs, expression references); everything after works on window rows.
 * Decoding just those fields skips building strings nobody reads, which
 * roughly doubles Avro decoding speed for the tide schema. A job that passes
 * input rows to a sink (no window, or a `route` before the window) needs every
 * field.
 *
 * @example
 *   inputFieldsUsed(lunarDayJob) // Set { 't', 'station', 'v' }
 */
export function inputFieldsUsed(job: JobSpec): Set<string> | null {
  const used = new Set<string>([job.eventTime.field]);
  // Fields a `map` step computed are not input fields.
  const produced = new Set<string>();
  const need = (field: string) => {
    const top = field.split('.')[0];
    if (!produced.has(top)) used.add(top);
  };
  const needExpression = (text: string) => {
    const parsed = parseExpression(text);
    if (!parsed.ok) return false;
    for (const field of referencedFields(parsed.expression)) need(field);
    return true;
  };
  for (const step of job.steps) {
    switch (step.kind) {
      case 'filter':
        if (!needExpression(step.when)) return null;
        break;
      case 'map':
        for (const expression of Object.values(step.set)) if (!needExpression(expression)) return null;
        for (const field of Object.keys(step.set)) produced.add(field);
        break;
      case 'dedupe':
        step.key.forEach(need);
        break;
      case 'route':
        // Input rows leave the job here, whole.
        return null;
      case 'repartition':
        // Rows go on to the job's second stage, whole.
        return null;
      case 'code':
        // What a step written in code reads is not known: read everything.
        return null;
      case 'window':
        step.key.forEach(need);
        for (const aggregate of step.aggregates) need(aggregate.field);
        if (step.window.kind === 'lunarDay' && step.window.mode === 'transit') {
          need(step.window.lonField);
          need(step.window.latField);
        }
        return used;
    }
  }
  return null;
}

/**
 * The reader schema narrowed to `fields` (in the schema's own order). Avro
 * schema resolution then skips the other fields of every writer version
 * without materialising them. Returns the reader unchanged when nothing can be dropped.
 */
export function projectReaderType(reader: avro.Type, fields: Set<string> | null, forSchema: (schema: avro.Schema) => avro.Type): avro.Type {
  if (fields === null) return reader;
  const schema = reader.schema({ exportAttrs: true }) as avro.schema.RecordType;
  if (schema.type !== 'record') return reader;
  const kept = schema.fields.filter((field) => fields.has(field.name));
  if (kept.length === schema.fields.length) return reader;
  return forSchema({ ...schema, fields: kept });
}

/**
 * The fields of `reader` a job never reads that are worth not decoding:
 * strings (`string` or `["null", "string"]`), whose UTF-8 decoding is most of
 * the cost of reading a tide record. Numbers, booleans and the rest are kept
 * even when unused: they cost little, and row validation then still sees
 * them (a NaN sigma is a dead letter whether or not the job reads sigma).
 *
 * @example
 *   skippableFields(tideReader, new Set(['station', 't', 'v'])) // ['name', 'f', 'q']
 */
export function skippableFields(reader: avro.Type, used: Set<string> | null): string[] {
  if (used === null) return [];
  const fields = (reader as unknown as { fields?: ReadonlyArray<{ name: string; type: avro.Type }> }).fields ?? [];
  const isString = (type: avro.Type): boolean => {
    if (type.typeName === 'string') return true;
    const branches = (type as unknown as { types?: avro.Type[] }).types;
    return type.typeName.startsWith('union') && branches !== undefined && branches.every((branch) => branch.typeName === 'null' || branch.typeName === 'string');
  };
  return fields.filter((field) => !used.has(field.name) && isString(field.type)).map((field) => field.name);
}

/** What a decoder needs to read only part of each record, and how exactness is kept. */
export interface DecodeProjection {
  /** The reader schema without the skipped fields. */
  type: avro.Type;
  /** The fields it leaves out (for validation: they may be absent). */
  skipped: string[];
  /**
   * Records longer than this (bytes, Confluent header included) are decoded
   * whole: a skipped string could be over the validator's length limit only
   * in a record at least that long, so validation stays exact.
   */
  wholeAboveBytes: number;
}

/**
 * The projection for a job over `reader`, or null when the job needs every
 * field or no field is worth skipping.
 *
 * @example
 *   const projection = decodeProjection(job, readerType); // lunar-day: skips name, f, q
 */
export function decodeProjection(job: JobSpec, reader: avro.Type): DecodeProjection | null {
  const used = inputFieldsUsed(job);
  // A map step copies rows before the window: a late row could not be traced back to its record to be written whole.
  const firstWindow = job.steps.findIndex((step) => step.kind === 'window');
  if (job.steps.slice(0, firstWindow < 0 ? job.steps.length : firstWindow).some((step) => step.kind === 'map')) return null;
  const fields = (reader as unknown as { fields: ReadonlyArray<{ name: string; defaultValue(): unknown }> }).fields;
  // A default fills the field without bytes in the record: one over the length limit must still be seen by validation.
  const defaultTooLong = new Set(fields.filter((field) => {
    const value = field.defaultValue();
    return typeof value === 'string' && value.length > MAX_STRING_LENGTH;
  }).map((field) => field.name));
  const skipped = skippableFields(reader, used).filter((name) => !defaultTooLong.has(name));
  if (skipped.length === 0) return null;
  const kept = new Set(fields.map((field) => field.name).filter((name) => !skipped.includes(name)));
  return {
    type: projectReaderType(reader, kept, (schema) => parseAvroType(schema, 'projected reader schema')),
    skipped,
    // A JavaScript string never has more UTF-16 units than its UTF-8 bytes.
    wholeAboveBytes: CONFLUENT_HEADER_SIZE + MAX_STRING_LENGTH,
  };
}
