import { durationMs, durationSchema } from '../config/component';
import type { ComponentContext, JsonSchema } from '../config/component';
import type { CheckpointSpec, SinkSpec } from '../config/job';

/**
 * Checkpoint store: where source offsets and operator state are saved, one
 * epoch at a time, after that epoch's results are durable.
 *
 * Default when the job names none: beside the results when they go to
 * Cassandra (one system to back up, and checkpoint and results share fate),
 * else files under `.tideflow/checkpoints`.
 *
 * @example
 * checkpoint:
 *   file: { dir: .tideflow/checkpoints, interval: 5s }
 */

export interface CheckpointConfig {
  file?: { dir?: string; interval?: string };
  cassandra?: { keyspace?: string; table?: string; interval?: string };
  none?: Record<string, never> | null;
}

export interface CheckpointContext extends ComponentContext {
  /** The job's main sink: a cassandra checkpoint shares its connection and keyspace. */
  sink: SinkSpec;
}

const DEFAULTS = { dir: '.tideflow/checkpoints', table: 'tideflow_checkpoints', interval: '5s' };
const interval = durationSchema('Time between checkpoints (wall clock).', { default: DEFAULTS.interval, positive: true });

export const schema: JsonSchema = {
  title: 'checkpoint',
  description: 'Where checkpoints are stored; one of file, cassandra, none.',
  type: 'object',
  selector: 'checkpoint store',
  exactlyOneOf: ['file', 'cassandra', 'none'],
  additionalProperties: false,
  properties: {
    file: {
      title: 'file checkpoint',
      description: 'JSON files, written atomically (write then rename).',
      type: 'object',
      additionalProperties: false,
      properties: {
        dir: { description: 'Directory; relative to the working directory.', type: 'string', minLength: 1, default: DEFAULTS.dir },
        interval,
      },
    },
    cassandra: {
      title: 'cassandra checkpoint',
      description: 'A table next to the results, using the cassandra sink\'s connection.',
      type: 'object',
      additionalProperties: false,
      properties: {
        keyspace: { description: 'Default: the cassandra sink\'s keyspace.', type: 'string', pattern: '^[A-Za-z][A-Za-z0-9_]{0,47}$', patternHint: 'a Cassandra name (letters, digits and _, starting with a letter)' },
        table: { type: 'string', pattern: '^[A-Za-z][A-Za-z0-9_]{0,47}$', patternHint: 'a Cassandra name (letters, digits and _, starting with a letter)', default: DEFAULTS.table },
        interval,
      },
    },
    none: {
      title: 'no checkpoint',
      description: 'No checkpoints: every run starts from the source\'s configured start (for tests and demos).',
      type: 'object',
      additionalProperties: false,
      properties: {},
    },
  },
};

/** `raw` undefined: the job has no `checkpoint:` and gets the default described above. */
export function normalize(raw: CheckpointConfig | undefined, context: CheckpointContext): CheckpointSpec {
  const sinkKeyspace = context.sink.kind === 'cassandra' ? context.sink.cassandra.keyspace : undefined;
  if (raw === undefined) {
    if (sinkKeyspace !== undefined) return { kind: 'cassandra', keyspace: sinkKeyspace, table: DEFAULTS.table, intervalMs: durationMs(DEFAULTS.interval) };
    return { kind: 'file', dir: DEFAULTS.dir, intervalMs: durationMs(DEFAULTS.interval) };
  }
  if (raw.none !== undefined) return { kind: 'none' };
  if (raw.cassandra !== undefined) {
    const keyspace = raw.cassandra.keyspace ?? sinkKeyspace;
    if (keyspace === undefined) throw new Error('internal: cassandra checkpoint without keyspace passed validation');
    return {
      kind: 'cassandra',
      keyspace,
      table: raw.cassandra.table ?? DEFAULTS.table,
      intervalMs: durationMs(raw.cassandra.interval ?? DEFAULTS.interval),
    };
  }
  const file = raw.file ?? {};
  return { kind: 'file', dir: file.dir ?? DEFAULTS.dir, intervalMs: durationMs(file.interval ?? DEFAULTS.interval) };
}
