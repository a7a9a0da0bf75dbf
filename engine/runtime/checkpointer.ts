import type { Sink } from '../core/sink';
import type { Positions, Source } from '../core/source';
import { StateIncompatibleError } from '../core/errors';
import type { Operator, RunCounters } from '../core/operator';
import { CHECKPOINT_FORMAT_VERSION, type Checkpoint, type CheckpointStore } from '../state/checkpoint';
import type { Barrier } from './events';
import type { WatermarkTracker } from './watermarks';

/** What a run starts from. */
export interface Restored {
  positions: Positions;
  epoch: number;
  /** The epoch resumed from, or null for a fresh start. */
  resumedFromEpoch: number | null;
}

/**
 * A job's checkpoints: restoring at start, and saving each barrier, in the
 * order that makes results effectively once. The store is claimed first, so
 * a second instance of the job is refused before it reads anything.
 */
export class Checkpointer {
  private epoch = 0;

  constructor(
    private readonly job: string,
    private readonly store: CheckpointStore,
    private readonly log: (line: string) => void,
    /** Fault injection for crash tests (see RunOptions.inject). */
    private readonly inject?: (point: 'before-checkpoint-save' | 'after-checkpoint-save', epoch: number) => void | Promise<void>,
  ) {}

  get description(): string {
    return this.store.description;
  }

  /** The epoch of the last checkpoint saved or restored. */
  get lastEpoch(): number {
    return this.epoch;
  }

  /**
   * Restore, in order:
   *   1. claim the job (JobAlreadyRunningError while another instance runs it);
   *   2. on `resetState`, delete the saved state;
   *   3. load the last checkpoint;
   *   4. check it: the format version, and for every stateful operator the
   *      state key it was saved under (all mismatches reported at once);
   *   5. restore operators, watermarks and counters.
   * `wait` wraps each call that may wait out an outage (a stop request ends it).
   */
  async restore(
    state: { operators: readonly Operator[]; tracker: WatermarkTracker; counters: RunCounters },
    options: { resetState?: boolean; wait: <T>(call: () => Promise<T>) => Promise<T> },
  ): Promise<Restored & { checkpoint: Checkpoint | null }> {
    const { wait } = options;
    await wait(() => this.store.claim(this.job));
    if (options.resetState) await wait(() => this.store.clear(this.job));
    const saved = options.resetState ? null : await wait(() => this.store.load(this.job));
    if (saved === null) return { positions: {}, epoch: 0, resumedFromEpoch: null, checkpoint: null };
    this.check(saved, state.operators);
    for (const operator of state.operators) {
      const entry = saved.operators[operator.id];
      if (entry && operator.restore) operator.restore(entry.state);
    }
    state.tracker.restore(saved.watermarks);
    Object.assign(state.counters, saved.counters);
    this.epoch = saved.epoch;
    this.log(`resuming ${this.job} from checkpoint epoch ${saved.epoch} (${saved.createdAt}, ${this.store.description})`);
    return { positions: { ...saved.positions }, epoch: saved.epoch, resumedFromEpoch: saved.epoch, checkpoint: saved };
  }

  /**
   * Save the checkpoint a barrier carries, in order:
   *   1. (the sink stage wrote every row produced before the barrier, and
   *      nothing after it, before calling this);
   *   2. flush every sink: all of those rows are durable;
   *   3. save the checkpoint: positions, operator state, watermarks and
   *      counters as the barrier captured them, and each sink's position;
   *   4. only then tell the source (Kafka group commit, for lag monitoring).
   * A crash before 3 replays from the previous checkpoint; results are
   * idempotent upserts (or truncated files), so the replay changes nothing.
   * Returns the new epoch.
   */
  async save(barrier: Barrier, sinks: ReadonlyMap<string, Sink>, source: Source, onStep: (step: string) => void, now: () => number): Promise<number> {
    // Step 2: results durable.
    const sinkPositions: Record<string, unknown> = {};
    for (const [name, sink] of sinks) {
      onStep(`checkpoint: flushing sink ${name} (${sink.description})`);
      await sink.flush();
      if (sink.position) sinkPositions[name] = sink.position();
    }
    // Step 3: the checkpoint itself.
    const epoch = this.epoch + 1;
    onStep(`checkpoint: saving epoch ${epoch} (${this.store.description})`);
    await this.inject?.('before-checkpoint-save', epoch);
    await this.store.save({
      job: this.job,
      formatVersion: CHECKPOINT_FORMAT_VERSION,
      epoch,
      createdAt: new Date(now()).toISOString(),
      positions: barrier.positions,
      watermarks: barrier.watermarks,
      operators: barrier.operators,
      sinks: sinkPositions,
      counters: barrier.counters,
    });
    this.epoch = epoch;
    await this.inject?.('after-checkpoint-save', epoch);
    // Step 4: upstream bookkeeping.
    onStep(`checkpoint: committing epoch ${epoch} to the source`);
    await source.commit?.(barrier.positions);
    return epoch;
  }

  /** A finite input read to its end: the next run starts afresh. */
  clear(): Promise<void> {
    return this.store.clear(this.job);
  }

  /** Step 4 of `restore`: everything that makes the saved state unusable, reported together. */
  private check(saved: Checkpoint, operators: readonly Operator[]): void {
    if (saved.formatVersion !== CHECKPOINT_FORMAT_VERSION) {
      throw new StateIncompatibleError(
        `the checkpoint of job '${this.job}' has state format version ${saved.formatVersion}; this engine reads version ${CHECKPOINT_FORMAT_VERSION}. ` +
          `Run with --reset-state to start fresh.`,
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
        `cannot resume job '${this.job}' from its checkpoint:\n  ${problems.join('\n  ')}\n` +
          `Run with --reset-state to discard the saved state and start from the source's configured start position.`,
      );
    }
  }
}
