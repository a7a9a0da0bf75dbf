import type * as avro from 'avsc';
import { deadLetterRow } from '../codecs/dead-letter-row';
import type { ComponentContext, JsonSchema, Reporter, StepContext } from '../config/component';
import type { CassandraSinkSpec, FileSourceSpec, GeneratorSourceSpec, JobSpec, KafkaSinkSpec, KafkaSourceSpec, SinkSpec, SourceSpec, StepSpec } from '../config/job';
import type { Operator } from '../core/operator';
import type { Sink, SinkOptions } from '../core/sink';
import type { Source } from '../core/source';
import * as dedupeStep from '../operators/dedupe';
import * as filterStep from '../operators/filter';
import * as mapStep from '../operators/map';
import * as repartitionStep from '../operators/repartition';
import * as routeStep from '../operators/route';
import * as windowStep from '../operators/window';
import * as cassandraSink from '../sinks/cassandra-sink';
import * as consoleSink from '../sinks/console-sink';
import * as csvSink from '../sinks/csv-sink';
import { FanOutSink } from '../sinks/fan-out-sink';
import * as jsonlSink from '../sinks/jsonl-sink';
import * as kafkaSink from '../sinks/kafka-sink';
import * as nullSink from '../sinks/null-sink';
import * as opensearchSink from '../sinks/opensearch-sink';
import { searchFieldsOfRecord, type SearchField } from '../sinks/opensearch-mapping';
import * as fileSource from '../sources/file-source';
import * as generatorSource from '../sources/generator-source';
import * as httpSource from '../sources/http-source';
import * as kafkaSource from '../sources/kafka-source';
import { fileSource as openFile, generatorSource as openGenerator } from '../sources/local-sources';
import * as noaaSource from '../sources/noaa-source';

/**
 * Every source, step and sink a job file can name. A component is its own
 * file (the config schema that validates and documents it, its
 * normalisation, its implementation) plus one registration here, which says
 * how to make it. The job file's JSON schema, lint, the reference docs
 * (docs/reference.md) and the editor schema (schemas/job.schema.json) are
 * all built from these tables.
 */

/** What every registration has: the schema (which documents the component too) and its normalisation. */
export interface ComponentModule<Context> {
  schema: JsonSchema;
  /** Each module types its own raw config; the loader calls it only with data its schema accepted. */
  normalize(raw: never, context: Context): unknown;
  check?(raw: never, report: Reporter): void;
}

/** What making a source or sink may need besides its spec. */
export interface BuildContext {
  job: JobSpec;
  log: (line: string) => void;
}

export interface SinkBuildContext extends BuildContext {
  /** `main`, a route target, `dead-letters` or `late`. */
  name: string;
  options: SinkOptions;
  stdout: NodeJS.WritableStream;
  /** The job's results' column types where known (counts are whole numbers, records keep their schema's types). */
  columnTypes?: Record<string, string>;
  /** The reader schema of the job's records, when it has one. */
  readerType?: avro.Type;
  /** Console tables: what they group by, and the spans of input they mark partial windows with. */
  console: { groupBy: string[]; inputSpans?: consoleSink.InputSpans };
  /** Another sink of the job (the sinks of an `all` list). */
  createSink(spec: SinkSpec, name: string): Sink;
  /** The job's dead-letter sink: rows a sink cannot store (a document the search engine refuses) go there. */
  deadLetters(): Sink;
}

export interface SourceRegistration extends ComponentModule<ComponentContext> {
  create(spec: never, context: BuildContext): Source;
  /** A finite input (a file): a complete run clears its checkpoint, so the next starts fresh. */
  finite?: boolean;
}

export interface StepRegistration extends ComponentModule<StepContext> {
  create(spec: never, job: JobSpec): Operator;
}

export interface SinkRegistration extends ComponentModule<ComponentContext> {
  create(spec: never, context: SinkBuildContext): Sink;
}

export const SOURCES: Record<string, SourceRegistration> = {
  kafka: { ...kafkaSource, create: (spec: KafkaSourceSpec, context) => new kafkaSource.KafkaSource(spec, { log: context.log }) },
  file: { ...fileSource, create: (spec: FileSourceSpec) => openFile(spec), finite: true },
  generator: { ...generatorSource, create: (spec: GeneratorSourceSpec) => openGenerator(spec), finite: true },
  http: { ...httpSource, create: (spec: httpSource.HttpSourceSpec, context) => httpSource.httpSource(spec, { log: context.log }) },
  noaa: { ...noaaSource, create: (spec: noaaSource.NoaaSourceSpec, context) => noaaSource.noaaSource(spec, { log: context.log }) },
};

export const STEPS: Record<string, StepRegistration> = {
  filter: { ...filterStep, create: (spec: StepSpec & { kind: 'filter' }, job) => new filterStep.FilterOperator(spec, { file: job.file }) },
  map: { ...mapStep, create: (spec: StepSpec & { kind: 'map' }) => new mapStep.MapOperator(spec) },
  dedupe: { ...dedupeStep, create: (spec: StepSpec & { kind: 'dedupe' }, job) => new dedupeStep.DedupeOperator(spec, job.eventTime.field) },
  window: { ...windowStep, create: (spec: StepSpec & { kind: 'window' }, job) => new windowStep.WindowOperator(spec, job.eventTime.field) },
  route: { ...routeStep, create: (spec: StepSpec & { kind: 'route' }, job) => new routeStep.RouteOperator(spec, { file: job.file }) },
  // Made only in a job's first stage (jobfile/stages.ts), whose source is the job's Kafka topic.
  repartition: {
    ...repartitionStep,
    create: (spec: StepSpec & { kind: 'repartition' }) => new repartitionStep.RepartitionOperator(spec, spec.origins ?? []),
  },
};

export const SINKS: Record<string, SinkRegistration> = {
  cassandra: {
    ...cassandraSink,
    create: (spec: CassandraSinkSpec, context) =>
      new cassandraSink.CassandraSink(spec, context.name, { ...context.options, log: context.log, columnTypes: context.name === 'main' ? context.columnTypes : undefined }),
  },
  jsonl: { ...jsonlSink, create: (spec: { path: string }, context) => new jsonlSink.JsonlSink(spec.path, context.options) },
  csv: { ...csvSink, create: (spec: { path: string }, context) => new csvSink.CsvSink(spec.path, context.options) },
  console: {
    ...consoleSink,
    create: (spec: { format: 'table' | 'jsonl' }, context) =>
      new consoleSink.ConsoleSink({ ...context.options, format: spec.format, groupBy: context.console.groupBy, rowsPerGroup: 8, out: context.stdout, inputSpans: context.console.inputSpans }),
  },
  kafka: { ...kafkaSink, create: (spec: KafkaSinkSpec, context) => new kafkaSink.KafkaSink(spec, context.name, context.options, { log: context.log }) },
  opensearch: {
    ...opensearchSink,
    create: (spec: opensearchSink.OpenSearchSinkSpec, context) =>
      new opensearchSink.OpenSearchSink(spec, context.name, {
        ...context.options,
        log: context.log,
        fields: searchFields(context),
        idFields: resultKey(context.job),
        // A document the server refuses is a dead letter with its reason; the dead-letter sink is flushed after this one.
        onRejected: (row, reason) => context.deadLetters().write([deadLetterRow(opensearchSink.rejectedDocumentDeadLetter(context.name, row, reason))]),
      }),
  },
  all: {
    schema: { title: 'all', description: 'Every row to each of these sinks (the same results into Cassandra and a search engine, say).', type: 'array', minItems: 2 },
    normalize: () => {
      throw new Error('internal: an `all` sink is normalised by the loader');
    },
    // Each sink of the list plays the role of the list (`main`, a route target...): typed as its results.
    create: (spec: { sinks: SinkSpec[] }, context) => new FanOutSink(spec.sinks.map((sink) => context.createSink(sink, context.name))),
  },
  null: { ...nullSink, create: () => new nullSink.NullSink() },
};

/** A source's registration, for a spec the loader made. */
export function sourceOf(spec: SourceSpec): SourceRegistration {
  return SOURCES[spec.kind];
}

/** Makes a step's operator from its spec. */
export function createOperator(step: StepSpec, job: JobSpec): Operator {
  if (step.kind === 'code') throw new Error(`internal: step '${step.id}' is written in code: its implementation comes with the job definition (defineJob)`);
  return STEPS[step.kind].create(step as never, job);
}

/** The key results are identified by: the last window's key and its start, else a dedupe key (a document id, an upsert key). */
function resultKey(job: JobSpec): string[] {
  const windows = job.steps.filter((step): step is StepSpec & { kind: 'window' } => step.kind === 'window');
  if (windows.length > 0) return [...windows[windows.length - 1].key, 'window_start'];
  const dedupes = job.steps.filter((step): step is StepSpec & { kind: 'dedupe' } => step.kind === 'dedupe');
  return dedupes.length > 0 ? dedupes[dedupes.length - 1].key : [];
}

/** The fields of the job's results for a search index, where known; else the sink types them from the first rows. */
function searchFields(context: SinkBuildContext): SearchField[] | undefined {
  const { job, readerType, name } = context;
  if (name !== 'main' || job.steps.some((step) => step.kind === 'map' || step.kind === 'code')) return undefined;
  const windows = job.steps.filter((step): step is StepSpec & { kind: 'window' } => step.kind === 'window');
  if (windows.length === 0) return readerType ? searchFieldsOfRecord(readerType, job.eventTime.field) : undefined;
  const window = windows[windows.length - 1];
  const keyTypes = readerType ? new Map(searchFieldsOfRecord(readerType, job.eventTime.field).map((field) => [field.name, field.type])) : new Map<string, SearchField['type']>();
  return [
    ...window.key.map((field): SearchField => ({ name: field, type: keyTypes.get(field) ?? 'keyword' })),
    { name: 'window_start', type: 'timestamp' },
    { name: 'window_end', type: 'timestamp' },
    ...window.aggregates.map((aggregate): SearchField => ({
      name: aggregate.name,
      type: aggregate.fn === 'count' ? 'long' : aggregate.fn === 'time_of_max' || aggregate.fn === 'time_of_min' ? 'timestamp' : (keyTypes.get(aggregate.field) === 'keyword' ? 'keyword' : 'double'),
    })),
  ];
}

/** A job file's steps as operators, in order. */
export function createOperators(job: JobSpec): Operator[] {
  return job.steps.map((step) => createOperator(step, job));
}
