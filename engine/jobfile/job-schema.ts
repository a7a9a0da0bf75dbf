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

const ALL_EXAMPLE = [
  {
    cassandra: {
      contactPoints: '${CASSANDRA_CONTACT_POINTS:-localhost:9042}',
      keyspace: '${CASSANDRA_KEYSPACE:-tides}',
      table: 'lunar_day',
      primaryKey: { partition: ['station'], clustering: ['window_start'] },
    },
  },
  { opensearch: { nodes: '${OPENSEARCH_URL:-http://localhost:9200}', index: 'tides-lunar-day' } },
];

/** Any one sink; `all` lists several (each any sink but another list). */
const sink = (title: string): JsonSchema => {
  const schema = oneOf(title, 'sink kind', SINKS);
  const single = Object.fromEntries(Object.entries(SINKS).filter(([kind]) => kind !== 'all'));
  schema.properties!.all = { ...SINKS.all.schema, items: oneOf('sink of all', 'sink kind', single), examples: [ALL_EXAMPLE] };
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
    description: { description: 'What the job does, in a sentence.', type: 'string', examples: ['Per station, mean lunar-day windows of water level.'] },
    source: { ...oneOf('source', 'source kind', SOURCES), description: 'Where records come from: one source.', examples: [{ file: { path: '../data/bundled/tides.avro' } }] },
    eventTime: { ...eventTime.schema, examples: [{ field: 't', maxOutOfOrder: '30m' }] },
    steps: {
      description: 'Applied in order to every batch.',
      type: 'array',
      items: oneOf('step', 'step kind', STEPS),
      examples: [
        [
          { dedupe: { id: 'dedupe-observations', key: ['station', 't'], horizon: '2h' } },
          { window: { id: 'lunar-day', key: ['station'], lunarDay: { mode: 'mean' }, aggregate: { high: 'max(v)', low: 'min(v)', mean: 'avg(v)', count: 'count(v)' } } },
        ],
      ],
    },
    sink: { ...sink('sink'), description: 'Where the results of the last step go: one sink.', examples: [{ jsonl: { path: 'out/results.jsonl' } }] },
    sinks: {
      title: 'sinks',
      description: 'Named sinks, targets of `route` steps.',
      type: 'object',
      propertyNames: { pattern: SINK_NAME_PATTERN, patternHint: "a sink name (letters, digits, '.', '_' or '-')" },
      additionalProperties: sink('named sink'),
    },
    deadLetters: {
      ...sink('deadLetters sink'),
      description: 'Where records that cannot be decoded or processed go, with the reason (default: JSON lines in `.tideflow/output/<job>.dead-letters.jsonl`).',
    },
    late: {
      ...sink('late sink'),
      description: 'Where records for windows already closed go, with the window they missed (default: JSON lines in `.tideflow/output/<job>.late.jsonl`).',
    },
    checkpoint: {
      ...checkpoint.schema,
      examples: [{ file: { dir: '.tideflow/checkpoints', interval: '5s' } }, { cassandra: { keyspace: 'tides', interval: '10s' } }, { none: {} }],
    },
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
