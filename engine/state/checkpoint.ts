import type { InputIdentity, Positions } from '../core/source';
import { durationMs, durationSchema } from '../config/component';
import type { ComponentContext, JsonSchema } from '../config/component';
import { cassandraSinkOf, type CheckpointSpec, type SinkSpec } from '../config/job';

/**
 * Version of the checkpoint layout. Bump it whenever saved state written by an
 * older engine can no longer be read; restoring then refuses with a message.
 */
export const CHECKPOINT_FORMAT_VERSION = 1;

/** One epoch's consistent snapshot: where each partition resumes, and every stateful operator's state. */
export interface Checkpoint {
  job: string;
  formatVersion: number;
  epoch: number;
  createdAt: string;
  positions: Positions;
  /** Watermark tracker state (per-partition maxima), so event time resumes exactly. */
  watermarks: unknown;
  operators: Record<string, { stateKey: string; state: unknown }>;
  /** Sink positions (e.g. JSONL file lengths) for sinks that are not idempotent by key. */
  sinks: Record<string, unknown>;
  /** Engine counters at this checkpoint, so accounting survives restarts. */
  counters: Record<string, number>;
  /** What the source read (absent in checkpoints of older engines, and for sources that cannot tell). */
  input?: InputIdentity;
}

/**
 * Where a job's checkpoints live. One instance at a time writes them: `claim`
 * makes this instance the job's only writer before anything is loaded, and
 * every later `save` and `clear` is refused once the claim was lost.
 */
export interface CheckpointStore {
  readonly description: string;
  /**
   * Claims `job` for this instance. Throws JobAlreadyRunningError while another
   * live instance holds it; takes over a claim whose holder is known to be gone.
   */
  claim(job: string): Promise<void>;
  load(job: string): Promise<Checkpoint | null>;
  /**
   * The latest checkpoint of `job`, which another instance may be running:
   * read only, nothing this store remembers about `job` changes (stores whose
   * `load` remembers nothing leave it out).
   */
  peek?(job: string): Promise<Checkpoint | null>;
  /** The keys of saved checkpoints that start with `prefix` (`<job>/`: a job's tasks). */
  list(prefix: string): Promise<string[]>;
  /** Durable when it resolves; ClaimLostError when another instance holds the job now. */
  save(checkpoint: Checkpoint): Promise<void>;
  clear(job: string): Promise<void>;
  /**
   * Whether this store still holds its claim on `job` (renewed within its time
   * to live); stores whose claims cannot lapse leave it out.
   */
  holds?(job: string): boolean;
  /**
   * After `holds` turned false: renew the claim, or take it again when it
   * expired and nobody took it; false when another instance holds it now.
   */
  reclaim?(job: string): Promise<boolean>;
  /** Lets go of the claim on `job` (its state saved): another instance may claim it at once. */
  release?(job: string): Promise<void>;
  /** Renew claims only while `condition(job)` holds (the runtime: while the source still gives this instance the task). */
  renewClaimsWhile?(condition: (job: string) => boolean): void;
  /** Releases every claim, if any. */
  close(): Promise<void>;
}

// ---------------------------------------------------------------- job-file configuration

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
  cassandra?: { keyspace?: string; table?: string; interval?: string; claimTtl?: string };
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
  description:
    'Where checkpoints are stored; one of file, cassandra, none. Without `checkpoint:`, a job whose sink is cassandra keeps them in a table beside its results, any other job in files under `.tideflow/checkpoints`.',
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
        table: { description: 'Table of the checkpoints (created when missing).', type: 'string', pattern: '^[A-Za-z][A-Za-z0-9_]{0,47}$', patternHint: 'a Cassandra name (letters, digits and _, starting with a letter)', default: DEFAULTS.table },
        interval,
        claimTtl: durationSchema(
          "How long an instance's claim on a task outlives its last renewal (renewed every third of it): how soon a partition of a paused or cut-off instance can be taken over.",
          { default: '30s', positive: true },
        ),
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
  const sinkKeyspace = cassandraSinkOf(context.sink)?.keyspace;
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
      ...(raw.cassandra.claimTtl === undefined ? {} : { claimTtlMs: durationMs(raw.cassandra.claimTtl) }),
    };
  }
  const file = raw.file ?? {};
  return { kind: 'file', dir: file.dir ?? DEFAULTS.dir, intervalMs: durationMs(file.interval ?? DEFAULTS.interval) };
}
