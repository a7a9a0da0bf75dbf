import { DEAD_LETTERS, LATE, type Sink } from '../core/sink';
import type { InputIdentity, Positions, Source } from '../core/source';
import { JobAlreadyRunningError, StateIncompatibleError } from '../core/errors';
import type { Operator, RunCounters } from '../core/operator';
import { CHECKPOINT_FORMAT_VERSION, type Checkpoint, type CheckpointStore } from '../state/checkpoint';
import type { TaskState } from './events';
import type { WatermarkTracker } from './watermarks';

/** What a task starts from. */
export interface Restored {
  positions: Positions;
  /** The epoch resumed from, or null for a fresh start. */
  resumedFromEpoch: number | null;
  checkpoint: Checkpoint | null;
}

/** A task's state the checkpointer restores into. */
export interface TaskParts {
  /** The checkpoint's key: the job's id for a job of one task, `<job>/<partition>` for a task per partition. */
  key: string;
  operators: readonly Operator[];
  tracker: WatermarkTracker;
  counters: RunCounters;
}

/**
 * A job's checkpoints, task by task: restoring a task before its first
 * batch, and saving what a barrier captured, in the order that makes
 * results effectively once. A task's store key is claimed first, so no two
 * instances ever run one task.
 */
export class Checkpointer {
  /** The epoch of each task's last checkpoint saved or restored. */
  private readonly epochs = new Map<string, number>();

  constructor(
    private readonly store: CheckpointStore,
    private readonly log: (line: string) => void,
    /** Fault injection for crash tests (see RunOptions.inject). */
    private readonly inject?: (point: 'before-checkpoint-save' | 'after-checkpoint-save', epoch: number) => void | Promise<void>,
  ) {}

  /** What this run's source reads: saved with every checkpoint, and a checkpoint of other input is refused. */
  input: InputIdentity | undefined;

  get description(): string {
    return this.store.description;
  }

  /** The latest epoch saved or restored by any task. */
  get lastEpoch(): number {
    let latest = 0;
    for (const epoch of this.epochs.values()) if (epoch > latest) latest = epoch;
    return latest;
  }

  /**
   * Restore a task, in order:
   *   1. claim its key (JobAlreadyRunningError while another instance holds
   *      it, unless `waitForClaim`: then wait until that instance lets go or
   *      its claim expires, as a partition moving between instances does);
   *   2. on `resetState`, delete its saved state;
   *   3. load its last checkpoint;
   *   4. check it: the format version, the input it was taken reading, and
   *      for every stateful operator the state key it was saved under (all
   *      mismatches reported at once);
   *   5. restore operators, watermarks and counters.
   * `wait` wraps each call that may wait out an outage (a stop request ends it).
   */
  async restore(
    task: TaskParts,
    options: { resetState?: boolean; wait: <T>(call: () => Promise<T>) => Promise<T>; waitForClaim?: { signal?: AbortSignal; what: string }; quiet?: boolean },
  ): Promise<Restored> {
    const { wait } = options;
    await wait(() => (options.waitForClaim ? this.claimWhenFree(task.key, options.waitForClaim) : this.store.claim(task.key)));
    if (options.resetState) await wait(() => this.store.clear(task.key));
    const saved = options.resetState ? null : await wait(() => this.store.load(task.key));
    if (saved === null) return { positions: {}, resumedFromEpoch: null, checkpoint: null };
    this.check(task.key, saved, task.operators);
    for (const operator of task.operators) {
      const entry = saved.operators[operator.id];
      if (entry && operator.restore) operator.restore(entry.state);
    }
    task.tracker.restore(saved.watermarks);
    Object.assign(task.counters, saved.counters);
    this.epochs.set(task.key, saved.epoch);
    if (!options.quiet) this.log(`resuming ${task.key} from checkpoint epoch ${saved.epoch} (${saved.createdAt}, ${this.store.description})`);
    return { positions: { ...saved.positions }, resumedFromEpoch: saved.epoch, checkpoint: saved };
  }

  /** The last checkpoint of task `key`, which another instance may be running (read only). */
  peek(key: string): Promise<Checkpoint | null> {
    return this.store.peek?.(key) ?? this.store.load(key);
  }

  /** Whether a checkpoint is saved under `key` (an older layout of the job's state, say). */
  async exists(key: string): Promise<boolean> {
    return (await this.store.load(key)) !== null;
  }

  /**
   * Whether this instance may still write for task `key`: its claim is held
   * and was renewed within its time to live (a paused or cut-off instance's
   * claim lapses, and another instance may run the task by now).
   */
  holds(key: string): boolean {
    return this.store.holds?.(key) ?? true;
  }

  /** After `holds` turned false: renew the claim, or take it again if nobody took it; false when another holds it. */
  reclaim(key: string): Promise<boolean> {
    return this.store.reclaim?.(key) ?? Promise.resolve(true);
  }

  /** Lets go of a task this instance will not run any more (its state saved first). */
  release(key: string): Promise<void> {
    this.epochs.delete(key);
    return this.store.release?.(key) ?? Promise.resolve();
  }

  /**
   * Flush every sink: all rows produced before a barrier are durable. Step 2
   * of a checkpoint; the sink stage wrote every row before the barrier, and
   * nothing after it, before calling this (step 1).
   */
  async flush(sinks: ReadonlyMap<string, Sink>, onStep: (step: string) => void): Promise<Record<string, unknown>> {
    const positions: Record<string, unknown> = {};
    // Side outputs last: a sink flushing may hand them rows it could not store (a document the search engine refused).
    const ordered = [...sinks].sort(([a], [b]) => Number(a === DEAD_LETTERS || a === LATE) - Number(b === DEAD_LETTERS || b === LATE));
    for (const [name, sink] of ordered) {
      onStep(`checkpoint: flushing sink ${name} (${sink.description})`);
      await sink.flush();
      if (sink.position) positions[name] = sink.position();
    }
    return positions;
  }

  /**
   * Save one task's checkpoint, after `flush`, in order:
   *   3. save it: positions, operator state, watermarks and counters as the
   *      barrier captured them, and each sink's position (conditional on the
   *      task's claim: an instance that lost the task cannot save);
   *   4. only then tell the source (Kafka group commit, for lag monitoring).
   * A crash before 3 replays from the previous checkpoint; results are
   * idempotent upserts (or truncated files), so the replay changes nothing.
   * Returns the new epoch.
   */
  async save(key: string, state: TaskState, sinkPositions: Record<string, unknown>, source: Source, onStep: (step: string) => void, now: () => number): Promise<number> {
    const epoch = (this.epochs.get(key) ?? 0) + 1;
    onStep(`checkpoint: saving epoch ${epoch} of ${key} (${this.store.description})`);
    await this.inject?.('before-checkpoint-save', epoch);
    await this.store.save({
      job: key,
      formatVersion: CHECKPOINT_FORMAT_VERSION,
      epoch,
      createdAt: new Date(now()).toISOString(),
      positions: state.positions,
      watermarks: state.watermarks,
      operators: state.operators,
      sinks: sinkPositions,
      counters: state.counters,
      ...(this.input === undefined ? {} : { input: this.input }),
    });
    this.epochs.set(key, epoch);
    await this.inject?.('after-checkpoint-save', epoch);
    onStep(`checkpoint: committing epoch ${epoch} of ${key} to the source`);
    // Not awaited: group offsets feed lag monitoring only, and an unreachable coordinator must not stall checkpoints.
    source.commit?.(state.positions).catch(() => {});
    return epoch;
  }

  /** A finite input read to its end: the next run starts afresh. */
  clear(key: string): Promise<void> {
    return this.store.clear(key);
  }

  /** Claims `key`, waiting while another live instance holds it (it is letting go, or its claim runs out). */
  private async claimWhenFree(key: string, options: { signal?: AbortSignal; what: string }): Promise<void> {
    let said = false;
    for (let delay = 200; ; delay = Math.min(2000, delay * 2)) {
      try {
        await this.store.claim(key);
        return;
      } catch (error) {
        if (!(error instanceof JobAlreadyRunningError) || options.signal?.aborted) throw error;
        if (!said) this.log(`${options.what} is still held by another instance; waiting until it lets go or its claim expires`);
        said = true;
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, delay);
        options.signal?.addEventListener('abort', () => {
          clearTimeout(timer);
          resolve();
        }, { once: true });
      });
    }
  }

  /** Step 4 of `restore`: everything that makes the saved state unusable, reported together. */
  private check(key: string, saved: Checkpoint, operators: readonly Operator[]): void {
    if (saved.formatVersion !== CHECKPOINT_FORMAT_VERSION) {
      throw new StateIncompatibleError(
        `the checkpoint of '${key}' has state format version ${saved.formatVersion}; this engine reads version ${CHECKPOINT_FORMAT_VERSION}. ` +
          `Run with --reset-state to start fresh.`,
      );
    }
    if (saved.input !== undefined && this.input !== undefined && saved.input.fingerprint !== this.input.fingerprint) {
      throw new StateIncompatibleError(
        `the checkpoint of '${key}' (epoch ${saved.epoch}, ${saved.createdAt}) was taken reading ${saved.input.what}; this run reads ${this.input.what}. ` +
          'Its positions mean nothing in other input. Run with --reset-state to discard it and start from the beginning, ' +
          'or give this run its own --checkpoint-dir to keep it for the input it belongs to.',
      );
    }
    const problems: string[] = [];
    for (const operator of operators) {
      if (!operator.snapshot) continue;
      const state = saved.operators[operator.id];
      if (!state) {
        this.log(`step '${operator.id}' has no saved state (new step?): it starts empty`);
        continue;
      }
      if (state.stateKey !== operator.stateKey) {
        problems.push(`step '${operator.id}' changed in a way its saved state cannot follow (saved: ${state.stateKey}; now: ${operator.stateKey})`);
      }
    }
    for (const id of Object.keys(saved.operators)) {
      if (!operators.some((operator) => operator.id === id)) this.log(`saved state of step '${id}' is ignored: the job has no such step any more`);
    }
    if (problems.length > 0) {
      throw new StateIncompatibleError(
        `cannot resume job '${key}' from its checkpoint:\n  ${problems.join('\n  ')}\n` +
          `Run with --reset-state to discard the saved state and start from the source's configured start position.`,
      );
    }
  }
}
