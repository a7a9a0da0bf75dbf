import type { JsonSchema } from '../config/component';
import * as eventTime from '../config/event-time';
import * as checkpoint from '../state/checkpoint';
import { SINKS, SOURCES, STEPS } from './components';

export { SINKS, SOURCES, STEPS };

/**
 * The whole job file's schema, assembled from the components' own schemas
 * (engine/jobfile/components.ts): a new source, step or sink is its file and
 * one registration there.
 */

export const JOB_NAME_PATTERN = '^[a-z0-9][a-z0-9._-]*$';
export const SINK_NAME_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._-]*$';

/** A map with exactly one key naming the kind (`source: { kafka: {...} }`). */
function oneOf(title: string, selector: string, modules: Record<string, { schema: JsonSchema }>): JsonSchema {
  const properties: Record<string, JsonSchema> = {};
  for (const [kind, module] of Object.entries(modules)) properties[kind] = module.schema;
  return { title, type: 'object', selector, exactlyOneOf: Object.keys(modules), additionalProperties: false, properties };
}

/** Any one sink; `all` lists several (each any sink but another list). */
const sink = (title: string): JsonSchema => {
  const schema = oneOf(title, 'sink kind', SINKS);
  const single = Object.fromEntries(Object.entries(SINKS).filter(([kind]) => kind !== 'all'));
  schema.properties!.all = { ...SINKS.all.schema, items: oneOf('sink of all', 'sink kind', single), examples: [[{ cassandra: { table: 'lunar_day' } }, { opensearch: { index: 'tides-lunar-day' } }]] };
  return schema;
};

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
