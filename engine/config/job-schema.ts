import type { ComponentContext, JsonSchema, Reporter, StepContext } from './component';
import * as eventTime from './event-time';
import * as kafkaSource from '../sources/kafka-source.spec';
import * as fileSource from '../sources/file-source.spec';
import * as generatorSource from '../sources/generator-source.spec';
import * as filterStep from '../operators/filter.spec';
import * as mapStep from '../operators/map.spec';
import * as dedupeStep from '../operators/dedupe.spec';
import * as windowStep from '../operators/window.spec';
import * as routeStep from '../operators/route.spec';
import * as cassandraSink from '../sinks/cassandra-sink.spec';
import * as jsonlSink from '../sinks/jsonl-sink.spec';
import * as consoleSink from '../sinks/console-sink.spec';
import * as csvSink from '../sinks/csv-sink';
import * as kafkaSink from '../sinks/kafka-sink.spec';
import * as nullSink from '../sinks/null-sink.spec';
import * as checkpoint from '../state/checkpoint.spec';

/**
 * The whole job file's schema, assembled from the component specs. Adding a
 * source, step or sink kind is one spec file plus one line in a table here.
 */

interface ComponentModule<Context> {
  schema: JsonSchema;
  // Each module types its own raw config; the loader only calls it with data its schema accepted.
  normalize(raw: never, context: Context): unknown;
  check?(raw: never, report: Reporter): void;
}

export const SOURCES: Record<string, ComponentModule<ComponentContext>> = {
  kafka: kafkaSource,
  file: fileSource,
  generator: generatorSource,
};

export const STEPS: Record<string, ComponentModule<StepContext>> = {
  filter: filterStep,
  map: mapStep,
  dedupe: dedupeStep,
  window: windowStep,
  route: routeStep,
};

export const SINKS: Record<string, ComponentModule<ComponentContext>> = {
  cassandra: cassandraSink,
  jsonl: jsonlSink,
  console: consoleSink,
  csv: csvSink,
  kafka: kafkaSink,
  null: nullSink,
};

export const JOB_NAME_PATTERN = '^[a-z0-9][a-z0-9._-]*$';
export const SINK_NAME_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._-]*$';

/** A map with exactly one key naming the kind (`source: { kafka: {...} }`). */
function oneOf(title: string, selector: string, modules: Record<string, { schema: JsonSchema }>): JsonSchema {
  const properties: Record<string, JsonSchema> = {};
  for (const [kind, module] of Object.entries(modules)) properties[kind] = module.schema;
  return { title, type: 'object', selector, exactlyOneOf: Object.keys(modules), additionalProperties: false, properties };
}

const sink = (title: string): JsonSchema => oneOf(title, 'sink kind', SINKS);

export const jobSchema: JsonSchema = {
  title: 'job file',
  description: 'A tideflow job: one source, steps, one sink, side outputs and checkpoints.',
  type: 'object',
  required: ['job', 'source', 'eventTime', 'steps', 'sink'],
  additionalProperties: false,
  properties: {
    job: {
      description: 'Job id: names checkpoints and the default Kafka consumer group.',
      type: 'string',
      pattern: JOB_NAME_PATTERN,
      patternHint: "lowercase letters, digits, '.', '_' or '-', starting with a letter or digit",
      examples: ['tides-lunar-day'],
    },
    description: { type: 'string' },
    source: { ...oneOf('source', 'source kind', SOURCES), examples: [{ file: { path: 'data/bundled/tides.avro' } }] },
    eventTime: { ...eventTime.schema, examples: [{ field: 't', maxOutOfOrder: '30m' }] },
    steps: {
      description: 'Applied in order to every batch.',
      type: 'array',
      items: oneOf('step', 'step kind', STEPS),
      examples: [[{ dedupe: { id: 'dedupe', key: ['station', 't'], horizon: '2h' } }]],
    },
    sink: { ...sink('sink'), examples: [{ jsonl: { path: 'out/results.jsonl' } }] },
    sinks: {
      title: 'sinks',
      description: 'Named sinks, targets of `route` steps.',
      type: 'object',
      propertyNames: { pattern: SINK_NAME_PATTERN, patternHint: "a sink name (letters, digits, '.', '_' or '-')" },
      additionalProperties: sink('named sink'),
    },
    deadLetters: sink('deadLetters sink'),
    late: sink('late sink'),
    checkpoint: checkpoint.schema,
  },
};

/**
 * Where the schema expects a map, a YAML key with nothing after it
 * (`console:`) means an empty map; make it one before validating.
 */
export function emptyValuesToMaps(data: unknown, schema: JsonSchema): unknown {
  if (data === null && schema.type === 'object') return {};
  if (Array.isArray(data) && schema.items !== undefined) {
    return data.map((item) => emptyValuesToMaps(item, schema.items!));
  }
  if (data !== null && typeof data === 'object' && !Array.isArray(data)) {
    const record = data as Record<string, unknown>;
    for (const key of Object.keys(record)) {
      const child = schema.properties?.[key] ?? (typeof schema.additionalProperties === 'object' ? schema.additionalProperties : undefined);
      if (child !== undefined) record[key] = emptyValuesToMaps(record[key], child);
    }
  }
  return data;
}
