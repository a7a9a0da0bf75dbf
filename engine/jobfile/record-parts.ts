import { readFileSync } from 'node:fs';
import * as avro from 'avsc';
import type { JobSpec } from '../config/job';
import { ConfigError, UsageError } from '../core/errors';
import { createKafkaAvroDecoder } from '../codecs/kafka-avro-decoder';
import { EnvelopeDecoder } from '../codecs/repartition-envelope';
import { createRowValidator } from '../codecs/validate';
import { preAggregationPlan } from '../codecs/pre-aggregation';
import { decodeProjection } from '../codecs/projection';
import type { Decoder } from '../codecs/decoder';
import type { RowValidator } from '../runtime/run-job';

/** What a job knows of its records from the reader schema: how to decode and check them, and their column types. */
export interface RecordParts {
  readerType?: avro.Type;
  /** Kafka sources: Avro from the registry, decoded (and pre-aggregated where the job allows). */
  decoder?: Decoder;
  validator?: RowValidator;
  /** Column types of the job's results where known (counts are whole numbers, records keep their schema's types). */
  columnTypes: Record<string, string>;
}

/** Loads an Avro reader schema file; a missing or invalid file is a config problem. */
export function loadReaderSchema(path: string): avro.Type {
  try {
    return avro.Type.forSchema(JSON.parse(readFileSync(path, 'utf8')));
  } catch (error) {
    throw new ConfigError([{ file: path, line: 1, col: 1, message: `cannot load Avro reader schema: ${(error as Error).message}` }]);
  }
}

export function createRecordParts(job: JobSpec, readerSchemaPath?: string, log: (line: string) => void = () => {}, workers = 1): RecordParts {
  const readerType = readerSchemaPath ? loadReaderSchema(readerSchemaPath) : undefined;
  // Kafka Avro is read without the string fields the job never reads (exact: see projection.ts).
  const projection = readerType && job.source.kind === 'kafka' ? decodeProjection(job, readerType) : null;
  // One instant for every validator of the run (this thread's and the workers'), so they agree on every record.
  const validatorNow = Date.now();
  const validator = readerType ? createRowValidator(readerType, job.eventTime.field, { mayBeAbsent: projection?.skipped, now: validatorNow }) : undefined;
  let decoder: Decoder | undefined;
  if (job.source.kind === 'kafka' && job.source.kafka.repartitioned) {
    // The second stage of a job with a repartition step: envelopes of rows the first stage decoded and validated.
    return { readerType, decoder: new EnvelopeDecoder(), validator: undefined, columnTypes: columnTypesOf(job, readerType) };
  }
  if (job.source.kind === 'kafka') {
    if (!readerType) throw new UsageError(`job ${job.job}: a Kafka source needs format.avro.readerSchema`);
    // A job starting with a window is pre-aggregated as it is decoded (on every worker thread there is).
    const plan = preAggregationPlan(job, readerType, projection, validatorNow);
    decoder = createKafkaAvroDecoder(job.source.kafka.format, readerType, { log, workers, projection, plan });
  }
  return { readerType, decoder, validator, columnTypes: columnTypesOf(job, readerType) };
}

function columnTypesOf(job: JobSpec, readerType: avro.Type | undefined): Record<string, string> {
  // Counts are whole numbers: give them an integer column instead of the inferred double.
  const columnTypes: Record<string, string> = {};
  for (const step of job.steps) {
    if (step.kind !== 'window') continue;
    for (const aggregate of step.aggregates) if (aggregate.fn === 'count') columnTypes[aggregate.name] = 'bigint';
  }
  // Without window or map steps the results are input records: their columns take the reader
  // schema's types. A guess from the first write fails when a nullable field (flags `f`) happens
  // to be null in all of its rows: the column would be double, and the first flag string then stops the job.
  if (readerType && !job.steps.some((step) => step.kind === 'window' || step.kind === 'map' || step.kind === 'code')) {
    Object.assign(columnTypes, cqlTypesOfRecord(readerType, job.eventTime.field));
  }
  return columnTypes;
}

/** CQL column types of a record schema's fields (`["null", X]` as X); fields of other types are left to inference. */
export function cqlTypesOfRecord(type: avro.Type, eventTimeField: string): Record<string, string> {
  const fields = (type as unknown as { fields?: ReadonlyArray<{ name: string; type: avro.Type }> }).fields ?? [];
  const types: Record<string, string> = {};
  for (const field of fields) {
    let fieldType = field.type;
    const branches = (fieldType as unknown as { types?: avro.Type[] }).types;
    if (branches !== undefined) {
      const nonNull = branches.filter((branch) => branch.typeName !== 'null');
      if (nonNull.length !== 1) continue;
      fieldType = nonNull[0];
    }
    const cql = (
      {
        string: 'text',
        double: 'double',
        float: 'double',
        int: 'int',
        long: field.name === eventTimeField ? 'timestamp' : 'bigint',
        boolean: 'boolean',
        bytes: 'blob',
      } as Record<string, string>
    )[fieldType.typeName];
    if (cql !== undefined) types[field.name] = cql;
  }
  return types;
}
