import type { Positions } from '../core/source';

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
