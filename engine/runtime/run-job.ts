import { performance } from 'node:perf_hooks';
import { asyncScheduler, concat, concatMap, defer, EMPTY, from, interval, lastValueFrom, map, merge, mergeMap, Observable, Subject, takeUntil, tap, type OperatorFunction, type SchedulerLike } from 'rxjs';
import type { Decoder, DecodedBatch as Decoded, Upstream } from '../codecs/decoder';
import type { JobSpec } from '../config/job';
import { selectRows, type RawBatch, type RecordBatch, type Row } from '../core/batch';
import { ClaimLostError, JobAlreadyRunningError, StateIncompatibleError } from '../core/errors';
import { raceTimeout } from '../core/retry';
import type { DeadLetter, LateRecord, Operator, OperatorContext, RunCounters } from '../core/operator';
import { emptyCounters } from '../core/operator';
import { DEAD_LETTERS, LATE, type Sink } from '../core/sink';
import type { Positions, Source } from '../core/source';
import type { Checkpoint, CheckpointStore } from '../state/checkpoint';
import { deadLetterRow, receivedOf, type Received } from '../codecs/dead-letter-row';
import { Checkpointer, type TaskParts } from './checkpointer';
import { addOutput, emptyBatch, type Barrier, type ControlEvent, type DataEvent, type StreamEvent, type TaskState } from './events';
import { batchOperatorStage, operatorStage } from './operator-rx';
import { Credits, pulled } from './source-rx';
import { DEFAULT_STALL_REPORT_MS, StallWatch } from './stall-watch';
import { UpstreamWatermarks } from './upstream-watermarks';
import { WatermarkTracker } from './watermarks';

/** Checks one decoded row; returns why it is invalid, or null. */
export type RowValidator = (row: Row) => string | null;

/** Everything a run is made of, built from the job spec by `engine/runtime/assemble.ts`. */
export interface JobParts {
  job: JobSpec;
  source: Source;
  decoder?: Decoder;
  validator?: RowValidator;
  /** `main`, every named sink of `sinks:`, `dead-letters` and `late`. */
  sinks: Map<string, Sink>;
  checkpoints: CheckpointStore;
  /** Finite inputs (files, generator) clear their checkpoint after a complete run, so a re-run starts fresh. */
  clearCheckpointOnCompletion: boolean;
  /**
   * Makes the job's steps as operators, in order, once per task (a job file's
   * from its `steps:`). Jobs built in code may add their own, and RxJS
   * operators over batches (`{ id, rx }`), which must answer each batch with exactly one.
   */
  operators: () => Array<Operator | RxStep>;
  /**
   * The source is a `repartition` step's internal topic (the job's second stage): each task's
   * watermark follows the marks of these origin partitions, and rows seen before are dropped.
   */
  upstream?: { origins: string[] };
}

/** A step written as an RxJS operator over record batches (see `batchOperatorStage`). */
export interface RxStep {
  id: string;
  rx: OperatorFunction<RecordBatch, RecordBatch>;
}

export interface Progress {
  /** Since the job's first run (restored from the checkpoint on resume). */
  recordsIn: number;
  /** Of this run: over the last interval, or over the whole run for the last report. */
  recordsPerSecond: number;
  /** Records read by this run alone. */
  recordsThisRun?: number;
  watermark: number;
  epoch: number;
  counters: RunCounters;
  /** The counters of each task this run held (what `counters` sums). */
  tasks?: Record<string, RunCounters>;
  lag?: Record<string, number>;
  elapsedMs: number;
}

/**
 * Instruments a run (metrics, tracing). Called on the run's thread, so hooks
 * must be cheap and must not throw.
 */
export interface RunObserver {
  /** After state was restored, before the first batch (counters hold the restored totals). */
  onStart?(info: { counters: RunCounters; resumedFromEpoch: number | null }): void;
  /** After the run ended (input exhausted or stopped) and its last checkpoint was saved. */
  onEnd?(info: { counters: RunCounters }): void;
  /** After a batch went through the operators and its results were handed to the sinks. */
  onBatch?(info: { partition: string; records: number; processingMs: number; watermark: number; counters: RunCounters; timestamps?: Float64Array; lag?: Record<string, number> }): void;
  /** After a checkpoint was saved. */
  onCheckpoint?(info: { epoch: number; durationMs: number }): void;
}

export interface RunOptions {
  /** Ignore and delete saved state; start from the source's configured start. */
  resetState?: boolean;
  /** Graceful stop: finish the current batch, checkpoint, close. */
  signal?: AbortSignal;
  onProgress?: (progress: Progress) => void;
  progressIntervalMs?: number;
  /** Informational lines (resumed from checkpoint, retries...). */
  log?: (line: string) => void;
  /**
   * Where wall-clock time comes from: idle timeouts, checkpoint intervals,
   * processing-time timers (tests pass a VirtualTimeScheduler; default RxJS'
   * asyncScheduler).
   */
  scheduler?: SchedulerLike;
  observer?: RunObserver;
  /** Fault injection for crash tests: called at each named point with how often it was reached. */
  inject?: (point: FaultPoint, count: number) => void | Promise<void>;
  /** Log where the run is stuck when one step lasts this long (default 30 s; 0 = never). */
  stallReportMs?: number;
}

/** Where a crash test may kill the engine: between batches, and on both sides of a checkpoint save. */
export type FaultPoint = 'after-batch' | 'before-checkpoint-save' | 'after-checkpoint-save';

export interface RunResult {
  /** Totals since the job's first run: a resumed run starts from the checkpoint's counters. */
  counters: RunCounters;
  /** Records read by this run alone (`counters.recordsIn` less what its tasks restored): what its rate is made of. */
  recordsThisRun: number;
  /** The counters of each task this run held, by task key (what `counters` sums). */
  tasks?: Record<string, RunCounters>;
  epochs: number;
  elapsedMs: number;
  watermark: number;
  resumedFromEpoch: number | null;
  /**
   * What start-up was waiting for when the stop signal came (a checkpoint
   * store or sink still unreachable), or null. Nothing was read or written then.
   */
  stoppedWaitingFor: string | null;
  /** True when stopped by the signal before the input ended. */
  stopped: boolean;
  /** Rows written per sink name. */
  rowsBySink: Record<string, number>;
  /** Tasks this run stopped running because another instance holds them now (their last results were not written here). */
  lostTasks: string[];
}

const MAIN = 'main';
export { DEAD_LETTERS, LATE } from '../core/sink';

/**
 * Event-time alignment engages only on a real backlog: a partition holding the
 * watermark back must have at least this many records left to read. Live
 * streams (a few batches behind at most) are read exactly as they arrive.
 */
const ALIGN_MIN_BACKLOG = 50_000;
/** How long a bounded run asked whether it is finished waits for a task of its own whose last batch is on its way. */
const LOCAL_FINISH_WAIT_MS = 2_000;

/**
 * Runs a job to the end of its input (or until stopped).
 *
 * The job is an RxJS dataflow over record batches (see docs/architecture.md):
 *
 *   source (pulled: the next batch is read once the previous one was taken)
 *     -> decode, validate, assign watermarks      (async, in order)
 *     + watermark, timer and checkpoint events    (from the scheduler, in line with the batches)
 *     -> operators                                (one RxJS operator per step, in stream order)
 *     -> sinks                                    (async, in order; a barrier saves a checkpoint)
 *
 * Errors travel the error channel and end the run; a stop request ends the
 * source, and the batches already read finish before the last checkpoint.
 */
export async function runJob(parts: JobParts, options: RunOptions = {}): Promise<RunResult> {
  return new JobRun(parts, options).run();
}

/**
 * A share of a job with its own position, watermark, operator state,
 * counters and checkpoint: one per partition of a source whose partitions
 * move between instances (a Kafka consumer group), or one for the whole job.
 */
interface Task {
  /** Its checkpoint's key: the job's id for a job of one task, `<job>/<partition>` for a task per partition. */
  readonly key: string;
  /** Its partition, or null: every partition of the source. */
  readonly partition: string | null;
  /** One per step: its own operator, or the step shared by all tasks (an RxJS step). */
  readonly steps: Array<Operator | RxStep>;
  readonly tracker: WatermarkTracker;
  readonly counters: RunCounters;
  /** Where the next batch of each of its partitions starts: what a barrier saves. */
  readonly positions: Positions;
  /** The latest source position of its batches (control events for it carry it). */
  lastSource: RecordBatch['source'];
  /** Batches since its last barrier. */
  uncheckpointed: boolean;
  /** Its claim lapsed or was taken: it writes and saves nothing more. */
  lost: boolean;
  /** A bounded run read its partition to the end: it ended (every window closed) and reads nothing more. */
  finished: boolean;
  /**
   * A task for every partition of a consumer group, before the group assigned
   * any: its watermark must not move on what the checkpoint knew alone.
   */
  awaitingPartitions: boolean;
  /** Where it resumed from, for the run's result. */
  readonly resumedFromEpoch: number | null;
  /** Its counters as restored: what it counts beyond them is this run's. */
  readonly restored: RunCounters;
}

/** One run of a job: its tasks, and the stages of its dataflow. */
class JobRun {
  private readonly job: JobSpec;
  private readonly scheduler: SchedulerLike;
  private readonly now: () => number;
  private readonly log: (line: string) => void;
  private readonly checkpointer: Checkpointer;
  private readonly stall: StallWatch;
  private readonly started: number;
  private readonly checkpointIntervalMs: number;
  private readonly rowsBySink: Record<string, number> = {};
  /** The job's tasks, by key and by partition (sources sharing partitions: one per partition). */
  private readonly tasks = new Map<string, Task>();
  private readonly taskOfPartition = new Map<string, Task>();
  /** Tasks this run let go of (partitions taken away), kept for its result. */
  private readonly released: Array<Pick<Task, 'key' | 'counters' | 'restored'>> = [];
  /** The steps as made with the run: the first task's, and the RxJS steps every task shares. */
  private readonly template: Array<Operator | RxStep>;
  private templateTaken = false;
  /** The event whose side outputs and counters the operators' context fills. */
  private current: StreamEvent | null = null;
  private batchNumber = 0;
  /** When the last barrier was sent; one barrier in flight at most. */
  private lastBarrierAt: number;
  private barrierInFlight = false;
  private lastProgressAt: number;
  private lastProgressCount = 0;
  /** The pending processing-time timer of each task's operator (`<task>#<step>`), and requests as they come. */
  private readonly timerAt = new Map<string, { task: string; operator: number; at: number }>();
  private readonly timerRequests = new Subject<{ task: string; operator: number; at: number }>();
  /** Control events sent from outside the stream (partitions taken away). */
  private readonly controls = new Subject<ControlEvent>();
  /** Barriers of partitions taken away, resolved once saved and let go. */
  private readonly revocations = new Map<ControlEvent, () => void>();
  private readonly shared: boolean;
  private readonly lostTasks: string[] = [];
  /** Tasks whose state --reset-state deleted already. */
  private readonly resetTasks = new Set<string>();
  /**
   * Why a job whose source could share its partitions runs as one task: the
   * sink named here is a local file, cut back to its checkpointed length on a
   * restart; that length is exact only for one checkpoint of the whole job.
   */
  private readonly oneTaskBecause: string | undefined;
  /** The latest epoch any task resumed from (null: every task started fresh). */
  private resumedFrom: number | null = null;
  /** Rows of a repartition topic sent again by a restarted first stage, dropped. */
  private replaysDropped = 0;
  /** A bounded run: partitions other instances' checkpoints show finished. */
  private readonly finishedElsewhere = new Set<string>();
  private peekFailing = false;
  /** Called when a task of this run finishes (unfinishedPartition waiting for one whose last batch is on its way). */
  private finishWaiters: Array<() => void> = [];

  constructor(
    private readonly parts: JobParts,
    private readonly options: RunOptions,
  ) {
    this.job = parts.job;
    this.scheduler = options.scheduler ?? asyncScheduler;
    this.now = () => this.scheduler.now();
    this.log = options.log ?? (() => {});
    this.started = this.now();
    this.lastBarrierAt = this.started;
    this.lastProgressAt = this.started;
    this.oneTaskBecause = parts.source.sharesPartitions === true ? positionalSink(parts.sinks) : undefined;
    this.shared = parts.source.sharesPartitions === true && this.oneTaskBecause === undefined;
    this.template = this.makeSteps();
    this.checkpointer = new Checkpointer(parts.checkpoints, this.log, options.inject);
    this.checkpointIntervalMs = this.job.checkpoint.kind === 'none' ? Number.POSITIVE_INFINITY : this.job.checkpoint.intervalMs;
    this.stall = new StallWatch({
      afterMs: options.stallReportMs ?? DEFAULT_STALL_REPORT_MS,
      log: this.log,
      describe: () => [parts.source.describeState?.(), parts.decoder?.describeState?.()].filter(Boolean).join('; ') || undefined,
    });
  }

  async run(): Promise<RunResult> {
    const { parts, options } = this;
    const checkpointStore = `the checkpoint store (${this.checkpointer.description})`;
    const wait = <T>(call: () => Promise<T>) => unlessStopped(call, options.signal, checkpointStore);
    // ---- start: restore (a job of one task) or get ready for tasks to come and go; open the sinks.
    // Each may wait out an outage; a stop request ends the wait.
    let sinkPositions: Record<string, unknown> | undefined;
    let resumedFromEpoch: number | null = null;
    try {
      this.checkpointer.input = await wait(async () => parts.source.identity?.());
      if (this.shared) {
        // A checkpoint of the whole job from before tasks per partition cannot be split among them.
        if (!options.resetState && (await wait(() => this.checkpointer.exists(this.job.job)))) {
          throw new StateIncompatibleError(
            `the checkpoint of job '${this.job.job}' holds the whole job's state, written before a job ran as one task per Kafka partition; ` +
              `it cannot be split among partitions. Run with --reset-state to start from the source's configured start position.`,
          );
        }
        const keyed = this.job.steps.some((step) => step.kind === 'dedupe' || step.kind === 'window');
        if (keyed && this.job.source.kind === 'kafka' && this.job.source.kafka.keyedBy === undefined) {
          this.log(
            `${this.job.job}: one task per partition: its dedupe and window steps see all records of a group only if the topic is keyed by fields they group by; ` +
              'say which with keyedBy under source.kafka, and lint checks it',
          );
        }
        parts.source.setTaskHandler!({
          assigned: (partitions) => this.assign(partitions),
          revoked: (partitions) => this.revoke(partitions),
          ended: (partition) => this.finishAssigned(partition),
          unfinishedPartition: (ends) => this.unfinishedPartition(ends),
        });
        // A claim is renewed while the group gives this instance the partition: cut off from the group, it
        // runs out, and the instance the partition went to takes the task over.
        const prefix = `${this.job.job}/`;
        parts.checkpoints.renewClaimsWhile?.((key) => !key.startsWith(prefix) || (parts.source.owns?.(key.slice(prefix.length)) ?? true));
      } else {
        const task = this.newTask(this.job.job, null);
        if (this.oneTaskBecause !== undefined) {
          this.log(`${this.job.job}: one task for all partitions (its ${this.oneTaskBecause} is a local file): one instance at a time`);
          await this.refuseTaskCheckpoints(options, wait);
        }
        const restored = await this.checkpointer
          .restore(this.taskParts(task), { resetState: options.resetState, wait })
          .catch((error: unknown) => {
            if (!(error instanceof JobAlreadyRunningError) || this.oneTaskBecause === undefined) throw error;
            throw new JobAlreadyRunningError(
              `${error.message}. Job ${this.job.job} runs as one instance because its ${this.oneTaskBecause} is a local file; ` +
                'to run it on several instances, send its results, dead letters and late records to Kafka, Cassandra or OpenSearch',
            );
          });
        const added = this.addTask(task, restored.positions, restored.resumedFromEpoch);
        added.awaitingPartitions = parts.source.sharesPartitions === true;
        sinkPositions = restored.checkpoint?.sinks;
        // The one task reads every partition the group gives this instance, each from the job's checkpoint.
        parts.source.setTaskHandler?.({
          assigned: async (partitions) => {
            for (const partition of partitions) added.tracker.track(partition);
            for (const partition of partitions) this.endIfUpstreamEnded(added, partition);
            added.awaitingPartitions = false;
            return Object.fromEntries(partitions.filter((partition) => added.positions[partition] !== undefined).map((partition) => [partition, added.positions[partition]]));
          },
          revoked: async () => {},
        });
        resumedFromEpoch = restored.resumedFromEpoch;
      }
      for (const [name, sink] of parts.sinks) await unlessStopped(() => sink.open(sinkPositions?.[name]), options.signal, `sink ${name} (${sink.description})`);
    } catch (error) {
      // Refused state or a failed start: close what is connected (the checkpoint store, sinks
      // opened so far), or their sockets keep the process alive after the error is reported.
      await closeAll(parts);
      if (!(error instanceof StopRequested)) throw error;
      return this.result({ stopped: true, stoppedWaitingFor: error.waitingFor, resumedFromEpoch: null });
    }
    options.observer?.onStart?.({ counters: this.counters(), resumedFromEpoch });

    // ---- the dataflow
    let stopped = false;
    this.stall.start();
    try {
      stopped = await this.flow();
      if (!stopped && parts.clearCheckpointOnCompletion) for (const task of this.tasks.values()) await this.checkpointer.clear(task.key);
      options.observer?.onEnd?.({ counters: this.counters() });
    } finally {
      this.stall.stop();
      if (this.replaysDropped > 0) {
        this.log(`${this.job.job}: dropped ${this.replaysDropped.toLocaleString('en-US')} rows the first stage sent again (a restart of it goes back to its last checkpoint)`);
      }
      this.reportProgress(true);
      const closeFailure = await closeAll(parts);
      if (closeFailure !== undefined) throw closeFailure;
    }
    return this.result({ stopped, stoppedWaitingFor: null, resumedFromEpoch: this.resumedFrom ?? resumedFromEpoch });
  }

  // ---------------------------------------------------------------- tasks

  private makeSteps(): Array<Operator | RxStep> {
    return this.parts.operators();
  }

  /** Checkpoints of single partitions (from runs with other sinks) cannot be merged into one for the whole job. */
  private async refuseTaskCheckpoints(options: RunOptions, wait: <T>(call: () => Promise<T>) => Promise<T>): Promise<void> {
    if (options.resetState) return;
    const tasks = await wait(() => this.parts.checkpoints.list(`${this.job.job}/`));
    if (tasks.length === 0) return;
    throw new StateIncompatibleError(
      `job '${this.job.job}' has checkpoints per Kafka partition (${tasks.join(', ')}), from runs that wrote no local files; ` +
        `with its ${this.oneTaskBecause} a local file it runs as one task, which cannot take them over. ` +
        'Run with --reset-state to start from the source\'s configured start position, or use another --checkpoint-dir.',
    );
  }

  /**
   * A task with its own operators: the first task takes the steps made with
   * the run, later ones new ones; RxJS steps stay the first's (one stream
   * carries every task's batches through them).
   */
  private newTask(key: string, partition: string | null): Task {
    let steps = this.template;
    if (this.templateTaken) steps = this.makeSteps().map((step, index) => (isOperator(this.template[index]) ? step : this.template[index]));
    this.templateTaken = true;
    const { field, maxOutOfOrderMs, idleTimeoutMs } = this.job.eventTime;
    return {
      key,
      partition,
      steps,
      tracker: this.parts.upstream
        ? new UpstreamWatermarks(field, maxOutOfOrderMs, idleTimeoutMs, this.now, this.parts.upstream.origins, partition)
        : new WatermarkTracker(field, maxOutOfOrderMs, idleTimeoutMs, this.now),
      counters: emptyCounters(),
      positions: {},
      lastSource: { partition: partition ?? 'start', fromOffset: 0, toOffset: 0 },
      uncheckpointed: false,
      lost: false,
      finished: false,
      awaitingPartitions: false,
      resumedFromEpoch: null,
      restored: emptyCounters(),
    };
  }

  private addTask(task: Task, positions: Positions, resumedFromEpoch: number | null): Task {
    const added: Task = { ...task, resumedFromEpoch, restored: { ...task.counters } };
    if (resumedFromEpoch !== null) this.resumedFrom = Math.max(this.resumedFrom ?? 0, resumedFromEpoch);
    Object.assign(added.positions, positions);
    this.tasks.set(added.key, added);
    if (added.partition !== null) this.taskOfPartition.set(added.partition, added);
    for (const [index, step] of added.steps.entries()) if (isOperator(step)) step.open?.(this.operatorContextFor(added.key, index));
    return added;
  }

  private taskParts(task: Task): TaskParts {
    return { key: task.key, operators: task.steps.filter(isOperator), tracker: task.tracker, counters: task.counters };
  }

  private taskKey(partition: string): string {
    return `${this.job.job}/${partition}`;
  }

  /** The task a batch of `partition` belongs to, or undefined when this instance does not run it (taken away). */
  private taskOf(partition: string): Task | undefined {
    return this.shared ? this.taskOfPartition.get(partition) : this.tasks.values().next().value;
  }

  private taskOfEvent(event: StreamEvent): Task | undefined {
    if (event.kind !== 'data' && event.task !== undefined) return this.tasks.get(event.task);
    return this.taskOf(event.batch.source.partition);
  }

  /** Partitions given to this instance: claim (waiting for a previous owner to let go), restore, say where to read from. */
  private async assign(partitions: string[]): Promise<Positions> {
    const positions: Positions = {};
    const resumed: string[] = [];
    const fresh: string[] = [];
    for (const partition of partitions) {
      const key = this.taskKey(partition);
      if (this.tasks.has(key)) {
        Object.assign(positions, this.tasks.get(key)!.positions);
        continue;
      }
      const task = this.newTask(key, partition);
      // --reset-state resets a task once: taken back after a rebalance, it resumes from what this run saved.
      const resetState = this.options.resetState === true && !this.resetTasks.has(key);
      this.resetTasks.add(key);
      const restored = await this.checkpointer.restore(this.taskParts(task), {
        resetState,
        wait: (call) => unlessStopped(call, this.options.signal, `the checkpoint store (${this.checkpointer.description})`),
        waitForClaim: { signal: this.options.signal, what: `partition ${partition}` },
        quiet: true,
      });
      this.addTask(task, restored.positions, restored.resumedFromEpoch);
      this.endIfUpstreamEnded(task, partition);
      if (restored.positions[partition] !== undefined) positions[partition] = restored.positions[partition];
      if (restored.resumedFromEpoch === null) fresh.push(partition);
      else resumed.push(`${partition} (epoch ${restored.resumedFromEpoch})`);
    }
    if (resumed.length > 0) this.log(`resuming ${this.job.job} from checkpoints: ${resumed.join(', ')} (${this.checkpointer.description})`);
    if (fresh.length > 0) this.log(`${this.job.job}: ${fresh.join(', ')} ${fresh.length === 1 ? 'starts' : 'start'} from the source's configured start (no checkpoint)`);
    return positions;
  }

  /** A task of a second stage whose origins all ended has nothing more to read: a bounded run is done with it. */
  private endIfUpstreamEnded(task: Task, partition: string): void {
    if (task.tracker instanceof UpstreamWatermarks && task.tracker.allEnded(partition)) this.parts.source.endPartition?.(partition);
  }

  /** Partitions taken away: a barrier for their tasks, in line after their last batches; resolves once saved and let go. */
  private revoke(partitions: string[]): Promise<void> {
    const keys = partitions.map((partition) => this.taskKey(partition)).filter((key) => this.tasks.has(key));
    if (keys.length === 0) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const barrier = this.barrier('revoke', keys);
      this.revocations.set(barrier, resolve);
      this.controls.next(barrier);
    });
  }

  /** Ends a task here: its state was saved (or cannot be any more); its claim goes. */
  private async dropTask(task: Task): Promise<void> {
    if (this.tasks.get(task.key) !== task) return;
    this.tasks.delete(task.key);
    if (task.partition !== null) this.taskOfPartition.delete(task.partition);
    for (const key of [...this.timerAt.keys()]) if (key.startsWith(`${task.key}#`)) this.timerAt.delete(key);
    this.released.push({ key: task.key, counters: { ...task.counters }, restored: task.restored });
    await this.checkpointer.release(task.key);
  }

  /** Totals of this run's tasks, those it let go of included. */
  private counters(): RunCounters {
    const total = emptyCounters();
    for (const { counters } of [...this.tasks.values(), ...this.released]) {
      for (const name of Object.keys(total) as Array<keyof RunCounters>) total[name] += counters[name];
    }
    return total;
  }

  /**
   * Records this run read: what each task counted beyond its restored totals.
   * A task assigned mid-run brings its checkpoint's totals, which are not this run's.
   */
  private recordsThisRun(): number {
    let records = 0;
    for (const { counters, restored } of [...this.tasks.values(), ...this.released]) records += counters.recordsIn - restored.recordsIn;
    return records;
  }

  /** The latest counters of each task this run held (a task let go of and taken back: its latest). */
  private countersByTask(): Record<string, RunCounters> {
    const byTask: Record<string, RunCounters> = {};
    for (const { key, counters } of [...this.released, ...this.tasks.values()]) byTask[key] = { ...counters };
    return byTask;
  }

  private watermark(): number {
    let min = Number.POSITIVE_INFINITY;
    for (const task of this.tasks.values()) if (task.tracker.watermark < min) min = task.tracker.watermark;
    return this.tasks.size === 0 ? Number.NEGATIVE_INFINITY : min;
  }

  /** Runs the dataflow to its end; resolves true when a stop request ended it before the input did. */
  private async flow(): Promise<boolean> {
    const { parts, options } = this;
    const signal = options.signal;
    // A decoder on worker threads decodes batch k + 1 while this thread processes batch k: two batches may be
    // between read and written. An in-thread decoder's `expand` reads the batch decoded last: one at a time.
    const readAhead = parts.decoder?.overlaps === true;
    const credits = new Credits(readAhead ? 2 : 1);
    const stopRequested = new Observable<void>((subscriber) => {
      if (signal === undefined) return;
      const onAbort = () => subscriber.next();
      if (signal.aborted) onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      return () => signal.removeEventListener('abort', onAbort);
    });
    const sourceDone = new Subject<void>();
    let stopped = false;

    const positions: Positions = {};
    for (const task of this.tasks.values()) Object.assign(positions, task.positions);
    const raw$ = pulled(parts.source.batches(positions), credits).pipe(takeUntil(stopRequested));
    const data$ = raw$.pipe(
      // Decoding starts as soon as a batch arrives; results are taken in order.
      map((raw) => {
        const decoding = this.decode(raw);
        // Rethrown when the batch is taken; one read ahead and abandoned (a stop) must not be an unhandled rejection.
        decoding.catch(() => {});
        return { raw, decoding };
      }),
      concatMap(({ raw, decoding }) =>
        defer(async () => {
          // One turn of the event loop: the next batch's decoding starts before this one's operators take the thread.
          if (readAhead) await new Promise<void>((resolve) => setImmediate(resolve));
          this.stall.enter(`processing ${raw.offsets.length} records of ${raw.source.partition} from offset ${raw.source.fromOffset} (decode, validate, operators)`);
          try {
            return await unlessStopped(() => decoding, signal, `the decoding of ${raw.source.partition}`);
          } catch (error) {
            // The batch waits for the registry: it is left for the next run.
            if (error instanceof StopRequested) return null;
            throw error;
          }
        }).pipe(mergeMap((decoded) => (decoded === null ? EMPTY : this.dataAndBarrier(raw, decoded, credits)))),
      ),
    );
    const events$ = concat(
      merge(
        data$.pipe(
          tap({
            complete: () => {
              stopped = signal?.aborted === true;
              sourceDone.next();
            },
          }),
        ),
        this.ticks().pipe(takeUntil(sourceDone)),
        this.timers().pipe(takeUntil(sourceDone)),
        this.controls.pipe(takeUntil(sourceDone)),
      ),
      defer(() => this.finalEvents(stopped)),
    );
    const done = events$.pipe(
      ...(this.operatorStages() as [OperatorFunction<StreamEvent, StreamEvent>]),
      map((event) => this.collectOutputs(event)),
      concatMap((event) => defer(() => this.write(event, credits))),
    );
    await lastValueFrom(done, { defaultValue: undefined });
    return stopped;
  }

  // ---------------------------------------------------------------- stage 1: decode, validate, watermarks

  private async decode(raw: RawBatch): Promise<Decoded | { kind: 'source' }> {
    if (raw.rows) return { kind: 'source' };
    if (!this.parts.decoder) throw new StateIncompatibleError(`source ${this.parts.source.description} yields raw payloads but the job has no decoder`);
    return this.parts.decoder.decode(raw);
  }

  /** The data event of a decoded batch, and a barrier after it when a checkpoint is due. */
  private dataAndBarrier(raw: RawBatch, decoded: Decoded | { kind: 'source' }, credits: Credits): StreamEvent[] {
    const task = this.taskOf(raw.source.partition);
    if (task === undefined || task.lost) {
      // Its partition was taken away while the batch was on its way: the task's next owner reads it again.
      credits.release();
      return [];
    }
    const event: DataEvent = { kind: 'data', raw, batch: emptyBatch(raw.source, task.tracker.watermark), outputs: new Map() };
    this.current = event;
    event.batch = this.prepare(raw, decoded, task);
    task.positions[raw.source.partition] = raw.source.toOffset;
    task.lastSource = raw.source;
    task.uncheckpointed = true;
    this.alignEventTime();
    const events: StreamEvent[] = [event];
    // A bounded run's task that read its partition to the end ends now, not with the run: its checkpoint says
    // so to the other instances, and it is finished whoever holds it next.
    const finishing = this.shared && !task.finished && (raw.endsPartition === true || this.upstreamEnded(task, raw.source.partition));
    if (finishing) events.push(this.endOf(task));
    const due = !this.barrierInFlight && this.now() - this.lastBarrierAt >= this.checkpointIntervalMs;
    const saveFinished = finishing && this.job.checkpoint.kind !== 'none';
    if (!due && !saveFinished) return events;
    event.barrierFollows = true;
    events.push(due ? this.barrier('interval', [...this.tasks.keys()], true) : this.barrier('end', [task.key], true));
    return events;
  }

  /** The `end` of one task: every window closes, its watermark is done. */
  private endOf(task: Task): ControlEvent {
    task.finished = true;
    for (const resolve of this.finishWaiters.splice(0)) resolve();
    return this.control('end', {}, task, task.tracker.finish());
  }

  private upstreamEnded(task: Task, partition: string): boolean {
    return task.tracker instanceof UpstreamWatermarks && task.tracker.allEnded(partition);
  }

  /** A partition assigned with nothing left to read in a bounded run (no batch of it is on its way): its task ends now. */
  private finishAssigned(partition: string): void {
    const task = this.taskOfPartition.get(partition);
    if (task === undefined || task.lost || task.finished) return;
    this.controls.next(this.endOf(task));
    if (this.job.checkpoint.kind !== 'none') this.controls.next(this.barrier('end', [task.key]));
  }

  /**
   * A bounded run whose own tasks are finished: the first partition of `ends` not finished yet, here
   * or as its last checkpoint shows (at or past this run's end offset, or every origin ended), with
   * why; null once every one is.
   */
  private async unfinishedPartition(ends: Record<string, number | null>): Promise<string | null> {
    // Without checkpoints nothing tells: this instance's tasks are all it knows of.
    if (this.job.checkpoint.kind === 'none') return null;
    // Asked once this instance's partitions are read: a task whose last batch is still on its way finishes in a moment.
    const unfinishedHere = () => Object.keys(ends).find((partition) => {
      const task = this.taskOfPartition.get(partition);
      return task !== undefined && !task.lost && !task.finished;
    });
    for (let here = unfinishedHere(); here !== undefined; here = unfinishedHere()) {
      const finished = new Promise<boolean>((resolve) => this.finishWaiters.push(() => resolve(true)));
      if (!(await raceTimeout(finished, LOCAL_FINISH_WAIT_MS))) return `${here} (its task here has not ended yet)`;
    }
    for (const [partition, end] of Object.entries(ends)) {
      const task = this.taskOfPartition.get(partition);
      if (task !== undefined && !task.lost) {
        if (!task.finished) return `${partition} (its task here has not ended yet)`;
        continue;
      }
      if (this.finishedElsewhere.has(partition)) continue;
      let saved: Checkpoint | null;
      try {
        saved = await this.checkpointer.peek(this.taskKey(partition));
      } catch (error) {
        if (!this.peekFailing) this.log(`${this.job.job}: cannot read the checkpoint of ${partition} to see whether it is finished (asked again): ${(error as Error).message}`);
        this.peekFailing = true;
        return `${partition} (its checkpoint cannot be read)`;
      }
      this.peekFailing = false;
      const why = this.unfinishedBecause(partition, end, saved);
      if (why !== null) return `${partition} (${why})`;
      // Positions only move forward: finished stays finished.
      this.finishedElsewhere.add(partition);
    }
    return null;
  }

  /** Why a partition held elsewhere is not finished as its last checkpoint shows; null when it is. */
  private unfinishedBecause(partition: string, end: number | null, saved: Checkpoint | null): string | null {
    if (saved === null) return 'no checkpoint of it yet';
    // --reset-state resets a task when it is assigned here: one saved before this run started is a previous run's.
    if (this.options.resetState === true && Date.parse(saved.createdAt) < this.started) return `its last checkpoint, epoch ${saved.epoch}, is from before this --reset-state run`;
    if (end === null) {
      return UpstreamWatermarks.endedIn(saved.watermarks, this.parts.upstream?.origins ?? [], partition) ? null : `its last checkpoint, epoch ${saved.epoch}, has not seen every first-stage partition end`;
    }
    const position = saved.positions[partition];
    return position !== undefined && position >= end ? null : `its last checkpoint, epoch ${saved.epoch}, is at offset ${position ?? 'none'} of ${end}`;
  }

  /**
   * Event-time alignment: a partition racing ahead of the others on a
   * backlog waits (bounds open windows and dedupe keys); see
   * WatermarkTracker.partitionsAhead. With a task per partition, each task's
   * own watermark stands for its partition.
   */
  private alignEventTime(): void {
    const source = this.parts.source;
    if (!source.hold) return;
    const remaining = source.remaining?.() ?? {};
    const { maxDriftMs } = this.job.eventTime;
    if (!this.shared) {
      const only = this.tasks.values().next().value as Task | undefined;
      if (only) source.hold(only.tracker.partitionsAhead(maxDriftMs, remaining, ALIGN_MIN_BACKLOG));
      return;
    }
    let behind = Number.POSITIVE_INFINITY;
    for (const [partition, left] of Object.entries(remaining)) {
      const watermark = this.taskOfPartition.get(partition)?.tracker.watermark ?? Number.NEGATIVE_INFINITY;
      if (left >= ALIGN_MIN_BACKLOG && watermark < behind) behind = watermark;
    }
    const ahead = new Set<string>();
    if (Number.isFinite(behind)) {
      for (const [partition, task] of this.taskOfPartition) if (task.tracker.watermark > behind + maxDriftMs) ahead.add(partition);
    }
    source.hold(ahead);
  }

  /** Count and dead-letter what decoding found, validate, and give every row the watermark in force when it arrived. */
  private prepare(raw: RawBatch, decoded: Decoded | { kind: 'source' }, task: Task): RecordBatch {
    const counters = task.counters;
    const context = this.sideOutputs;
    let rows: Row[];
    let offsets: Float64Array;
    const event = this.current as DataEvent;
    if (decoded.kind === 'source') {
      rows = raw.rows!;
      offsets = raw.offsets;
      const received = raw.received;
      if (received) event.decoded = { offsets, rows, payloadAt: (index) => received[index], lineOfOffsetZero: raw.lineOfOffsetZero };
      counters.recordsIn += rows.length + (raw.deadLetters?.length ?? 0);
      if (raw.deadLetters) for (const letter of raw.deadLetters) context.deadLetter(letter);
    } else if (decoded.kind === 'aggregated') {
      // Every record decoded and validated on the way; the window operator merges the partials.
      counters.recordsIn += raw.offsets.length;
      const watermarks = new Float64Array(decoded.times.length);
      const watermark = task.tracker.assignTimes(raw.source.partition, decoded.times, watermarks);
      return { rows: [], watermarks, watermark, offsets: raw.offsets, source: raw.source, preAggregated: decoded.preAggregated };
    } else if (decoded.upstream !== undefined) {
      return this.prepareUpstream(raw, decoded as Decoded & { kind: 'rows'; upstream: Upstream }, task);
    } else {
      rows = decoded.rows;
      offsets = decoded.offsets instanceof Float64Array ? decoded.offsets : Float64Array.from(decoded.offsets);
      // The payloads the rows were decoded from, found by offset only when a row is dead-lettered.
      if (raw.payloads) event.decoded = { offsets, rows, payloadAt: payloadOfRow(raw, offsets) };
      counters.recordsIn += raw.offsets.length;
      for (const letter of decoded.deadLetters) context.deadLetter(letter);
    }
    const field = this.job.eventTime.field;
    const validator = this.parts.validator;
    let invalid = 0;
    let keep: Uint8Array | null = null;
    for (let i = 0; i < rows.length; i++) {
      const t = rows[i][field];
      let reason: string | null = null;
      if (typeof t !== 'number' || !Number.isFinite(t)) reason = `event time field '${field}' is missing or not a timestamp`;
      else if (validator) reason = validator(rows[i]);
      if (reason !== null) {
        keep ??= new Uint8Array(rows.length).fill(1);
        keep[i] = 0;
        invalid++;
        context.deadLetter({ payload: rows[i], reason, partition: raw.source.partition, offset: offsets[i], stage: 'validate' });
      }
    }
    if (keep) {
      const validRows: Row[] = [];
      const validOffsets = new Float64Array(rows.length - invalid);
      for (let i = 0; i < rows.length; i++) {
        if (keep[i] === 1) {
          validOffsets[validRows.length] = offsets[i];
          validRows.push(rows[i]);
        }
      }
      rows = validRows;
      offsets = validOffsets;
    }
    const watermarks = new Float64Array(rows.length);
    const watermark = task.tracker.assign(raw.source.partition, rows, watermarks);
    return { rows, watermarks, watermark, offsets, source: raw.source };
  }

  /**
   * A batch of a repartition step's internal topic (the job's second stage): rows the first
   * stage validated, judged by the watermark they arrived under there; replays dropped.
   */
  private prepareUpstream(raw: RawBatch, decoded: Decoded & { kind: 'rows'; upstream: Upstream }, task: Task): RecordBatch {
    const tracker = task.tracker as UpstreamWatermarks;
    const offsets = decoded.offsets instanceof Float64Array ? decoded.offsets : Float64Array.from(decoded.offsets);
    const watermarks = new Float64Array(decoded.rows.length);
    const { keep, replays } = tracker.admit(raw.source.partition, decoded.rows, decoded.upstream, watermarks);
    for (const letter of decoded.deadLetters) this.sideOutputs.deadLetter(letter);
    // Replays were counted when they first came.
    task.counters.recordsIn += decoded.rows.length - replays + decoded.deadLetters.length;
    // Said when it starts, as well as in total at the end: a run may not live to its end.
    if (replays > 0 && this.replaysDropped === 0) this.log(`${this.job.job}: dropping rows the first stage sent again (a restart of it goes back to its last checkpoint)`);
    this.replaysDropped += replays;
    let batch: RecordBatch = { rows: decoded.rows, watermarks, watermark: tracker.watermark, offsets, source: raw.source };
    if (keep !== null) batch = selectRows(batch, keep, decoded.rows.length - replays);
    this.endIfUpstreamEnded(task, raw.source.partition);
    return batch;
  }

  // ---------------------------------------------------------------- control events

  /** A barrier for tasks `keys`: positions and watermarks now; operators and counters fill in the rest as it passes. */
  private barrier(reason: Barrier['reason'], keys: string[], releasesCredit = false): ControlEvent {
    const tasks = new Map<string, TaskState>();
    for (const key of keys) {
      const task = this.tasks.get(key);
      if (task === undefined || task.lost) continue;
      task.uncheckpointed = false;
      tasks.set(key, { positions: { ...task.positions }, watermarks: task.tracker.snapshot(), operators: {}, counters: {} });
    }
    if (reason !== 'revoke') {
      this.barrierInFlight = true;
      this.lastBarrierAt = this.now();
    }
    return this.control('barrier', { barrier: { reason, tasks }, releasesCredit });
  }

  private control(kind: ControlEvent['kind'], extra: Partial<ControlEvent> = {}, task?: Task, watermark?: number): ControlEvent {
    const source = task?.lastSource ?? { partition: 'control', fromOffset: 0, toOffset: 0 };
    return { kind, batch: emptyBatch(source, watermark ?? task?.tracker.watermark ?? this.watermark()), outputs: new Map(), task: task?.key, ...extra };
  }

  /**
   * From the scheduler, between batches: the watermark of a stream whose
   * partitions went quiet moves on (idle timeout), and a stream that went
   * quiet gets what it read checkpointed within one interval.
   */
  private ticks(): Observable<ControlEvent> {
    const { idleTimeoutMs } = this.job.eventTime;
    const period = Math.max(10, Math.min(1000, idleTimeoutMs / 2, this.checkpointIntervalMs));
    return interval(period, this.scheduler).pipe(
      mergeMap(() => {
        const events: ControlEvent[] = [];
        let uncheckpointed = false;
        for (const task of this.tasks.values()) {
          if (task.lost || task.awaitingPartitions) continue;
          const before = task.tracker.watermark;
          const after = task.tracker.tick();
          if (after > before) events.push(this.control('watermark', {}, task, after));
          uncheckpointed ||= task.uncheckpointed;
        }
        if (uncheckpointed && !this.barrierInFlight && this.now() - this.lastBarrierAt >= this.checkpointIntervalMs) {
          events.push(this.barrier('quiet', [...this.tasks.keys()]));
        }
        return events;
      }),
    );
  }

  /** Processing-time timers operators asked for (`context.setTimer`), as events in line with the batches. */
  private timers(): Observable<ControlEvent> {
    // Timers set before the dataflow started (in `open`), then those set as it runs.
    const requests = merge(
      defer(() => from([...this.timerAt.values()])),
      this.timerRequests,
    );
    return requests.pipe(
      mergeMap(
        ({ task, operator, at }) =>
          new Observable<ControlEvent>((subscriber) =>
            this.scheduler.schedule(() => {
              const id = `${task}#${operator}`;
              // A later setTimer replaced this one, or the task is gone.
              if (this.timerAt.get(id)?.at !== at || !this.tasks.has(task)) return subscriber.complete();
              this.timerAt.delete(id);
              subscriber.next(this.control('timer', { operator }, this.tasks.get(task)));
              subscriber.complete();
            }, Math.max(0, at - this.now())),
          ),
      ),
    );
  }

  /** After the source: at the end of a finite input, `end` for every task (every window closes); then the last checkpoint. */
  private finalEvents(stopped: boolean): Observable<ControlEvent> {
    const events: ControlEvent[] = [];
    for (const task of this.tasks.values()) if (!stopped && !task.lost && !task.finished) events.push(this.endOf(task));
    if (this.job.checkpoint.kind !== 'none') events.push(this.barrier(stopped ? 'stop' : 'end', [...this.tasks.keys()]));
    return from(events);
  }

  // ---------------------------------------------------------------- stage 2: operators

  private operatorStages(): Array<OperatorFunction<StreamEvent, StreamEvent>> {
    const bind = (event: StreamEvent) => {
      this.current = event;
    };
    return this.template.map((step, index) => {
      if (!isOperator(step)) return batchOperatorStage(step.id, step.rx);
      const stepOf = (task: Task | undefined) => task?.steps[index] as Operator | undefined;
      return operatorStage(
        { forEvent: (event) => stepOf(this.taskOfEvent(event)), ofTask: (key) => stepOf(this.tasks.get(key)) },
        index,
        this.operatorContextFor(null, index),
        bind,
      );
    });
  }

  /** Side outputs of the event in hand; late and dead-lettered rows leave whole, even when the decoder skipped fields. */
  private readonly sideOutputs = {
    late: (record: LateRecord) => {
      const expand = this.parts.decoder?.expand;
      addOutput(this.current!, LATE, [lateRow(expand ? { ...record, row: expand.call(this.parts.decoder, record.row) } : record)]);
    },
    deadLetter: (letter: DeadLetter) => {
      this.countersOfEvent().deadLetters++;
      // What was received (a file's line, a Kafka value's bytes) when the letter holds a row of the batch in hand.
      const received = this.receivedOf(letter);
      const expand = this.parts.decoder?.expand;
      const { payload } = letter;
      const whole =
        received === undefined && expand && payload !== null && typeof payload === 'object' && !Buffer.isBuffer(payload)
          ? { ...letter, payload: expand.call(this.parts.decoder, payload as Row) }
          : letter;
      addOutput(this.current!, DEAD_LETTERS, [deadLetterRow(whole, received)]);
    },
  };

  /** The counters of the task the event in hand belongs to. */
  private countersOfEvent(): RunCounters {
    const task = this.current === null ? undefined : this.taskOfEvent(this.current);
    return task?.counters ?? NO_TASK_COUNTERS;
  }

  /**
   * The context of step `index`: for task `key`'s operator (open), or for
   * whichever task's event is in hand (the stream's stages).
   */
  private operatorContextFor(key: string | null, index: number): OperatorContext {
    const run = this;
    return {
      get counters() {
        return key === null ? run.countersOfEvent() : (run.tasks.get(key)?.counters ?? NO_TASK_COUNTERS);
      },
      late: this.sideOutputs.late,
      deadLetter: this.sideOutputs.deadLetter,
      emitTo: (name, rows) => {
        if (!this.parts.sinks.has(name)) throw new StateIncompatibleError(`route target '${name}' is not a sink of job ${this.job.job}`);
        addOutput(this.current!, name, rows);
      },
      get partition() {
        const task = key === null ? (run.current === null ? undefined : run.taskOfEvent(run.current)) : run.tasks.get(key);
        return task === undefined ? undefined : task.partition;
      },
      now: this.now,
      setTimer: (at) => {
        const task = key ?? (this.current === null ? undefined : this.taskOfEvent(this.current)?.key);
        if (task === undefined) return;
        const request = { task, operator: index, at };
        this.timerAt.set(`${task}#${index}`, request);
        this.timerRequests.next(request);
      },
    };
  }

  /** What a dead-lettered row was decoded from, when it is a row of the data event in hand. */
  private receivedOf(letter: DeadLetter): Received | undefined {
    const event = this.current;
    if (event === null || event.kind !== 'data' || event.decoded === undefined) return undefined;
    return receivedOf(letter, event.decoded);
  }

  /** After the last operator: its rows are the main output; a barrier takes the counters here. */
  private collectOutputs(event: StreamEvent): StreamEvent {
    if (event.batch.rows.length > 0) addOutput(event, MAIN, event.batch.rows);
    if (event.kind === 'barrier') {
      for (const [key, state] of event.barrier!.tasks) {
        const task = this.tasks.get(key);
        if (task) state.counters = { ...task.counters } as unknown as Record<string, number>;
      }
      return event;
    }
    const counters = this.taskOfEvent(event)?.counters;
    if (counters) for (const [name, rows] of event.outputs) if (name !== DEAD_LETTERS && name !== LATE) counters.resultsOut += rows.length;
    return event;
  }

  // ---------------------------------------------------------------- stage 3: sinks and checkpoints

  private async write(event: StreamEvent, credits: Credits): Promise<void> {
    const { parts, options } = this;
    const started = performance.now();
    const task = event.kind === 'barrier' ? undefined : this.taskOfEvent(event);
    if (task !== undefined && !task.lost && !this.checkpointer.holds(task.key)) {
      // Its claim lapsed here (paused, a store outage, cut off from the group): another instance may run the
      // task by now. Nothing is written until the claim is renewed, or taken again because nobody took it.
      this.stall.enter(`renewing the claim on ${task.key} before writing`);
      if (!(await this.checkpointer.reclaim(task.key))) await this.loseTask(task, 'its claim lapsed and another instance holds it now (or the group moved its partition)');
    }
    if (task === undefined || !task.lost) {
      for (const [name, rows] of event.outputs) {
        if (rows.length === 0) continue;
        this.rowsBySink[name] = (this.rowsBySink[name] ?? 0) + rows.length;
        this.stall.enter(`writing ${rows.length} rows to sink ${name}`);
        await parts.sinks.get(name)!.write(rows);
      }
    } else if (event.outputs.size > 0) {
      this.log(`${task.key}: not writing the results of a batch: this instance no longer holds the task`);
    }
    if (event.kind === 'data') {
      this.batchNumber++;
      await options.inject?.('after-batch', this.batchNumber);
      options.observer?.onBatch?.({
        partition: event.raw.source.partition,
        records: event.raw.offsets.length,
        processingMs: performance.now() - started,
        watermark: event.batch.watermark,
        counters: this.counters(),
        timestamps: event.raw.timestamps,
        lag: parts.source.lag?.(),
      });
      this.reportProgress(false);
      // Room for the next batch to be read (after the checkpoint, when one follows).
      if (!event.barrierFollows) credits.release();
    } else if (event.kind === 'barrier') {
      await this.checkpoint(event);
      if (event.releasesCredit) credits.release();
    }
    this.waitingForSource();
  }

  /** A barrier reached the sinks: every row before it is written; flush, save each task's checkpoint, commit. */
  private async checkpoint(event: ControlEvent): Promise<void> {
    const barrier = event.barrier!;
    const checkpointStarted = performance.now();
    const onStep = (step: string) => this.stall.enter(step);
    const sinkPositions = await this.checkpointer.flush(this.parts.sinks, onStep);
    let epoch = this.checkpointer.lastEpoch;
    for (const [key, state] of barrier.tasks) {
      const task = this.tasks.get(key);
      if (task === undefined || task.lost) continue;
      try {
        epoch = await this.checkpointer.save(key, state, sinkPositions, this.parts.source, onStep, this.now);
      } catch (error) {
        // A task whose claim another instance holds now: that instance goes on from its own checkpoints.
        if (!(error instanceof ClaimLostError) || !this.shared) throw error;
        await this.loseTask(task, error.message);
      }
    }
    if (barrier.reason === 'revoke') {
      for (const key of barrier.tasks.keys()) {
        const task = this.tasks.get(key);
        if (task) await this.dropTask(task);
      }
      this.revocations.get(event)?.();
      this.revocations.delete(event);
    } else {
      this.barrierInFlight = false;
      this.options.observer?.onCheckpoint?.({ epoch, durationMs: performance.now() - checkpointStarted });
    }
  }

  /** This instance lost a task (its claim lapsed or was taken): it writes and saves nothing more for it. */
  private async loseTask(task: Task, why: string): Promise<void> {
    if (!this.shared) throw new ClaimLostError(`${task.key}: ${why}`);
    task.lost = true;
    this.lostTasks.push(task.key);
    this.log(`${task.key}: ${why}; this instance stops running it (its records and state are the next owner's)`);
    await this.dropTask(task);
    // Should the group give it back later, it is a new assignment: claimed and restored again.
    if (task.partition !== null) this.parts.source.forget?.(task.partition);
  }

  private waitingForSource(): void {
    const source = this.parts.source;
    // Waiting for records is normal on a caught-up stream: worth a report only while the source says records are waiting.
    const recordsWaiting = (): number => Object.values(source.lag?.() ?? {}).reduce((sum, n) => sum + n, 0);
    this.stall.enter(`waiting for the source (${source.description})`, {
      quietUnless: () => recordsWaiting() > 0,
      detail: () => `${recordsWaiting().toLocaleString('en-US')} records waiting upstream`,
    });
  }

  private reportProgress(force: boolean): void {
    const { onProgress, progressIntervalMs = 1000 } = this.options;
    if (!onProgress) return;
    const at = this.now();
    if (!force && at - this.lastProgressAt < progressIntervalMs) return;
    const seconds = Math.max((at - this.lastProgressAt) / 1000, 1e-3);
    const counters = this.counters();
    const recordsThisRun = this.recordsThisRun();
    onProgress({
      recordsIn: counters.recordsIn,
      // The counters go on from the checkpoint's totals; rates count this run's records only.
      recordsPerSecond: force ? recordsThisRun / Math.max((at - this.started) / 1000, 1e-3) : (recordsThisRun - this.lastProgressCount) / seconds,
      recordsThisRun,
      watermark: this.watermark(),
      epoch: this.checkpointer.lastEpoch,
      counters,
      tasks: this.countersByTask(),
      lag: this.parts.source.lag?.(),
      elapsedMs: at - this.started,
    });
    this.lastProgressAt = at;
    this.lastProgressCount = recordsThisRun;
  }

  private result(outcome: { stopped: boolean; stoppedWaitingFor: string | null; resumedFromEpoch: number | null }): RunResult {
    const counters = this.counters();
    return {
      counters,
      recordsThisRun: this.recordsThisRun(),
      tasks: this.countersByTask(),
      epochs: this.checkpointer.lastEpoch,
      elapsedMs: this.now() - this.started,
      watermark: this.watermark(),
      rowsBySink: this.rowsBySink,
      lostTasks: [...this.lostTasks],
      ...outcome,
    };
  }
}

/** Counters for events of a task that is gone (a batch of a partition taken away): counted nowhere. */
const NO_TASK_COUNTERS: RunCounters = emptyCounters();

/**
 * The payload the row at `index` was decoded from (decoded rows skip the
 * payloads that were dead letters): found by its offset, only when a row is
 * rejected, so batches without one pay nothing.
 */
function payloadOfRow(raw: RawBatch, rowOffsets: ArrayLike<number>): (index: number) => string | Buffer {
  return (index) => {
    const at = binarySearch(raw.offsets, rowOffsets[index]);
    return at < 0 ? '' : (raw.payloads![at] ?? '');
  };
}

function binarySearch(sorted: ArrayLike<number>, value: number): number {
  let low = 0;
  let high = sorted.length - 1;
  while (low <= high) {
    const middle = (low + high) >>> 1;
    if (sorted[middle] === value) return middle;
    if (sorted[middle] < value) low = middle + 1;
    else high = middle - 1;
  }
  return -1;
}

function isOperator(step: Operator | RxStep): step is Operator {
  return !('rx' in step);
}

/** A stop request that came while the run waited for `waitingFor` (start-up, or a batch's decoding). */
class StopRequested extends Error {
  constructor(readonly waitingFor: string) {
    super(`stopped while waiting for ${waitingFor}`);
  }
}

/**
 * `start()`'s result, or StopRequested once `signal` aborts, whichever
 * comes first; not started at all when the signal has already aborted. What
 * `start()` began goes on (closing its client ends it); its later failure is
 * nobody's concern then.
 */
function unlessStopped<T>(start: () => Promise<T>, signal: AbortSignal | undefined, waitingFor: string): Promise<T> {
  if (signal === undefined) return start();
  if (signal.aborted) return Promise.reject(new StopRequested(waitingFor));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new StopRequested(waitingFor));
    signal.addEventListener('abort', onAbort, { once: true });
    const settled = () => signal.removeEventListener('abort', onAbort);
    start().then(
      (value) => {
        settled();
        resolve(value);
      },
      (error: unknown) => {
        settled();
        reject(error);
      },
    );
  });
}

/**
 * Closes every part (sinks flush on close), even when one of them fails, so no
 * connection keeps the process alive; returns the first failure, if any.
 */
async function closeAll(parts: JobParts): Promise<unknown> {
  let failure: unknown = undefined;
  const attempt = async (close: (() => Promise<void>) | undefined) => {
    try {
      await close?.();
    } catch (error) {
      failure ??= error;
    }
  };
  for (const sink of parts.sinks.values()) await attempt(() => sink.close());
  await attempt(parts.decoder?.close.bind(parts.decoder));
  await attempt(() => parts.source.close());
  await attempt(() => parts.checkpoints.close());
  return failure;
}

function lateRow(record: LateRecord): Row {
  return {
    reason: record.reason,
    operator: record.operator,
    window_start: record.windowStart === undefined ? null : new Date(record.windowStart),
    window_end: record.windowEnd === undefined ? null : new Date(record.windowEnd),
    watermark: Number.isFinite(record.watermark) ? new Date(record.watermark) : null,
    record: record.row,
  };
}

/** The first sink holding a position in the checkpoint (a local file), as `results (out.jsonl)`, if any. */
function positionalSink(sinks: ReadonlyMap<string, Sink>): string | undefined {
  for (const [name, sink] of sinks) {
    if (sink.position === undefined) continue;
    const role = name === MAIN ? 'results' : name === DEAD_LETTERS ? 'dead-letter output' : name === LATE ? 'late output' : `sink ${name}`;
    return `${role} (${sink.description})`;
  }
  return undefined;
}

/**
 * Whether the job runs as a task per partition, so instances (and threads)
 * can share it: a source whose partitions move between instances, and no
 * local-file sink, whose checkpointed length is exact only for the whole job.
 */
export function runsAsTasks(parts: Pick<JobParts, 'source' | 'sinks'>): boolean {
  return parts.source.sharesPartitions === true && positionalSink(parts.sinks) === undefined;
}

/**
 * Deletes every checkpoint of a job that runs as tasks, each under its
 * claim (refused while another instance holds a task): what --reset-state
 * does once before a run on several threads, so that no thread resets a
 * task another handed over to it mid-run.
 */
export async function resetTaskCheckpoints(parts: Pick<JobParts, 'job' | 'checkpoints'>): Promise<string[]> {
  const { checkpoints, job } = parts;
  const keys = [job.job, ...(await checkpoints.list(`${job.job}/`))];
  for (const key of keys) {
    await checkpoints.claim(key);
    await checkpoints.clear(key);
    await checkpoints.release?.(key);
  }
  return keys;
}

/** Closes what assembling a job connected (sinks, decoder, source, checkpoint store); the first failure is thrown. */
export async function closeParts(parts: JobParts): Promise<void> {
  const failure = await closeAll(parts);
  if (failure !== undefined) throw failure;
}
