import { readFileSync } from 'node:fs';
import * as avro from 'avsc';
import type { CassandraSinkSpec, CheckpointSpec, JobSpec, KafkaSinkSpec, KafkaSourceSpec, SinkSpec } from '../config/job';
import { ConfigError, UsageError } from '../errors';
import { createRowValidator } from '../codecs/validate';
import type { Sink, SinkOptions } from '../sinks/sink';
import type { Source } from '../sources/source';
import type { CheckpointStore } from '../state/checkpoint';
import type { BatchDecoder, RowValidator } from './run-job';

/** The parts of a job that talk to Kafka, the Schema Registry and Cassandra. */
export interface ExternalParts {
  decoder?: BatchDecoder;
  validator?: RowValidator;
  createSource(spec: KafkaSourceSpec): Source;
  createSink(spec: Extract<SinkSpec, { kind: 'cassandra' | 'kafka' }>, name: string, options: SinkOptions): Sink;
  createCheckpointStore(spec: Extract<CheckpointSpec, { kind: 'cassandra' }>): CheckpointStore;
}

/** Loads an Avro reader schema file; a missing or invalid file is a config problem. */
export function loadReaderSchema(path: string): avro.Type {
  try {
    return avro.Type.forSchema(JSON.parse(readFileSync(path, 'utf8')));
  } catch (error) {
    throw new ConfigError([{ file: path, line: 1, col: 1, message: `cannot load Avro reader schema: ${(error as Error).message}` }]);
  }
}

export async function createExternalParts(job: JobSpec, readerSchemaPath?: string): Promise<ExternalParts> {
  const readerType = readerSchemaPath ? loadReaderSchema(readerSchemaPath) : undefined;
  const validator = readerType ? createRowValidator(readerType, job.eventTime.field) : undefined;
  const unavailable = (what: string): never => {
    throw new UsageError(`${what} is not available in this build yet`);
  };
  return {
    validator,
    createSource: () => unavailable('the Kafka source'),
    createSink: (spec: { kind: string }) => unavailable(`the ${spec.kind} sink`),
    createCheckpointStore: () => unavailable('the Cassandra checkpoint store'),
  };
}
