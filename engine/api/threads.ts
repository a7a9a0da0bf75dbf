import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { BroadcastChannel, MessageChannel } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { emptyCounters, type RunCounters } from '../core/operator';
import {
  ClaimLostError,
  ConfigError,
  ExternalError,
  InternalError,
  JobAlreadyRunningError,
  StateIncompatibleError,
  UsageError,
} from '../core/errors';
import type { Progress, RunObserver, RunResult } from '../runtime/run-job';
import type { Row } from '../core/batch';
import type { JobSpec } from '../config/job';
import type { SerializedError, ThreadMessage, ThreadOutcome, ThreadOverrides, ThreadTask } from './thread-worker';

/** The compiled thread script next to this file. */
const THREAD_WORKER_FILE = join(__dirname, 'thread-worker.js');

export interface ThreadsOptions {
  /** Threads (>= 2): each one member of the job's consumer group. */
  threads: number;
  overrides: ThreadOverrides;
  /** Graceful stop of every thread. */
  signal?: AbortSignal;
  /** The threads' log lines, each prefixed `[thread N]`. */
  log?: (line: string) => void;
  /** The threads' progress, summed (watermark: the lowest). */
  onProgress?: (progress: Progress) => void;
  /** The threads' observer events; counters in them are the threads' sums. */
  observer?: RunObserver;
  /** The newest rows of each write to a thread's dead-letter or late sink (the web UI's samples). */
  onSideOutput?: (name: string, rows: Row[]) => void;
  stallReportMs?: number;
}

/**
 * Runs a job that runs as tasks (one per Kafka partition) on N threads that
 * share nothing: each thread is a whole instance of the job (its own
 * consumer in the group, decoder, operators, sinks and checkpoint-store
 * connection), as N processes would be, and the consumer group spreads the
 * partitions over them. Correctness is the multi-instance one: claims,
 * per-task checkpoints and fencing (docs/architecture.md, "Tasks").
 *
 * piscina holds the threads: one long task per thread, for the whole run.
 * Their log lines, progress and observer events come back over a
 * MessagePort each; a stop request goes to all on one BroadcastChannel.
 */
export async function runOnThreads(job: string | JobSpec, options: ThreadsOptions): Promise<RunResult> {
  const { threads } = options;
  if (!Number.isInteger(threads) || threads < 2) throw new RangeError(`runOnThreads needs >= 2 threads, got ${threads}`);
  const pool = new Piscina({
    filename: THREAD_WORKER_FILE,
    minThreads: threads,
    maxThreads: threads,
    idleTimeout: Number.POSITIVE_INFINITY,
    concurrentTasksPerWorker: 1,
    // One task per thread for the whole run: nothing to wait for afterwards (its Atomics wait loop spun about 0.2 s of CPU per run).
    atomics: 'disabled',
  });
  const stopChannel = `tideflow-stop-${randomUUID()}`;
  const stopper = new BroadcastChannel(stopChannel);
  const sendStop = () => stopper.postMessage('stop');
  options.signal?.addEventListener('abort', sendStop, { once: true });

  const progressOf: Array<Progress | undefined> = new Array(threads).fill(undefined);
  const tasksOf: Array<Record<string, RunCounters>> = Array.from({ length: threads }, () => ({}));
  const counters = () => sumTasks(tasksOf);
  const onMessage = (index: number) => (message: ThreadMessage) => {
    if (message.kind === 'log') options.log?.(`[thread ${index + 1}] ${message.line}`);
    else if (message.kind === 'progress') {
      progressOf[index] = message.progress;
      if (message.progress.tasks) tasksOf[index] = message.progress.tasks;
      options.onProgress?.(mergeProgress(progressOf, counters()));
    } else if (message.kind === 'side-output') {
      options.onSideOutput?.(message.name, message.rows);
    } else {
      const info = message.info as { counters?: RunCounters };
      const hook = options.observer?.[message.hook] as ((info: unknown) => void) | undefined;
      hook?.call(options.observer, info.counters === undefined ? info : { ...info, counters: counters() });
    }
  };

  try {
    const outcomes = await Promise.all(
      Array.from({ length: threads }, async (_, index) => {
        const { port1, port2 } = new MessageChannel();
        port1.on('message', onMessage(index));
        const task: ThreadTask = {
          job,
          overrides: options.overrides,
          thread: index + 1,
          port: port2,
          stopChannel,
          observe: options.observer !== undefined,
          sideOutputs: options.onSideOutput !== undefined,
          stallReportMs: options.stallReportMs,
        };
        try {
          const outcome = (await pool.run(task, { transferList: [port2] })) as ThreadOutcome;
          // One thread failing stops the others: a job runs whole or not at all.
          if (!outcome.ok) sendStop();
          return outcome;
        } catch (error) {
          sendStop();
          return { ok: false, error: { name: 'Error', message: `thread ${index + 1} ended: ${(error as Error).message}` } } as ThreadOutcome;
        } finally {
          port1.close();
        }
      }),
    );
    const failed = outcomes.find((outcome): outcome is Extract<ThreadOutcome, { ok: false }> => !outcome.ok);
    if (failed) throw revive(failed.error);
    const results = outcomes.map((outcome) => (outcome as Extract<ThreadOutcome, { ok: true }>).result);
    for (const [index, result] of results.entries()) if (result.tasks) tasksOf[index] = result.tasks;
    return mergeResults(results, sumTasks(tasksOf));
  } finally {
    options.signal?.removeEventListener('abort', sendStop);
    stopper.close();
    await pool.destroy();
  }
}

/**
 * The job's totals over its threads: per task the latest counters any thread
 * reported (a task moved between threads carries its totals along, so the
 * larger is the later), summed over tasks.
 */
export function sumTasks(byThread: ReadonlyArray<Record<string, RunCounters>>): RunCounters {
  const latest = new Map<string, RunCounters>();
  for (const tasks of byThread) {
    for (const [key, counters] of Object.entries(tasks)) {
      const seen = latest.get(key);
      latest.set(key, seen === undefined || counters.recordsIn >= seen.recordsIn ? counters : seen);
    }
  }
  const total = emptyCounters();
  for (const counters of latest.values()) for (const name of Object.keys(total) as Array<keyof RunCounters>) total[name] += counters[name];
  return total;
}

function mergeProgress(byThread: ReadonlyArray<Progress | undefined>, counters: RunCounters): Progress {
  const reported = byThread.filter((progress): progress is Progress => progress !== undefined);
  const lag: Record<string, number> = {};
  for (const progress of reported) Object.assign(lag, progress.lag);
  return {
    recordsIn: counters.recordsIn,
    recordsPerSecond: reported.reduce((sum, progress) => sum + progress.recordsPerSecond, 0),
    recordsThisRun: reported.reduce((sum, progress) => sum + (progress.recordsThisRun ?? 0), 0),
    watermark: lowestWatermark(reported.map((progress) => progress.watermark)),
    epoch: Math.max(0, ...reported.map((progress) => progress.epoch)),
    counters,
    lag,
    elapsedMs: Math.max(0, ...reported.map((progress) => progress.elapsedMs)),
  };
}

function mergeResults(results: RunResult[], counters: RunCounters): RunResult {
  const rowsBySink: Record<string, number> = {};
  for (const result of results) for (const [sink, rows] of Object.entries(result.rowsBySink)) rowsBySink[sink] = (rowsBySink[sink] ?? 0) + rows;
  const resumed = results.map((result) => result.resumedFromEpoch).filter((epoch): epoch is number => epoch !== null);
  const tasks: Record<string, RunCounters> = {};
  for (const result of results) Object.assign(tasks, result.tasks);
  return {
    counters,
    recordsThisRun: results.reduce((sum, result) => sum + result.recordsThisRun, 0),
    tasks,
    epochs: Math.max(0, ...results.map((result) => result.epochs)),
    elapsedMs: Math.max(0, ...results.map((result) => result.elapsedMs)),
    watermark: lowestWatermark(results.map((result) => result.watermark)),
    resumedFromEpoch: resumed.length === 0 ? null : Math.max(...resumed),
    stoppedWaitingFor: results.find((result) => result.stoppedWaitingFor !== null)?.stoppedWaitingFor ?? null,
    stopped: results.some((result) => result.stopped),
    rowsBySink,
    lostTasks: results.flatMap((result) => result.lostTasks),
  };
}

/** The lowest watermark of threads that hold tasks (a thread with none reports -Infinity). */
function lowestWatermark(watermarks: number[]): number {
  const held = watermarks.filter((watermark) => watermark !== Number.NEGATIVE_INFINITY);
  return held.length === 0 ? Number.NEGATIVE_INFINITY : Math.min(...held);
}

/** The error a thread ended with, as the class the CLI maps to its exit code. */
function revive(error: SerializedError): Error {
  let revived: Error;
  switch (error.name) {
    case 'ConfigError':
      revived = new ConfigError(error.problems ?? []);
      break;
    case 'UsageError':
    case 'IndexMappingConflictError':
      revived = new UsageError(error.message);
      break;
    case 'StateIncompatibleError':
      revived = new StateIncompatibleError(error.message);
      break;
    case 'JobAlreadyRunningError':
      revived = new JobAlreadyRunningError(error.message);
      break;
    case 'ClaimLostError':
      revived = new ClaimLostError(error.message);
      break;
    default:
      revived =
        error.domain === 'external'
          ? new ExternalError(error.message, { retriable: error.retriable ?? false })
          : error.domain === 'internal'
            ? new InternalError(error.message)
            : new Error(error.message);
  }
  if (error.stack) revived.stack = error.stack;
  return revived;
}
