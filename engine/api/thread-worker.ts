import { BroadcastChannel, type MessagePort } from 'node:worker_threads';
import { loadJobFile } from '../jobfile/load';
import type { JobSpec } from '../config/job';
import { assemble, type Overrides } from '../jobfile/assemble';
import { runJob, type Progress, type RunObserver, type RunResult } from '../runtime/run-job';
import { TideflowError, ConfigError } from '../core/errors';
import type { Row } from '../core/batch';
import { DEAD_LETTERS, LATE, tappedSink, type Sink } from '../core/sink';

/** What the main thread hands one thread of `--workers N` (structured-cloneable: no functions). */
export interface ThreadTask {
  /** The job file's path, or the loaded job (a JobSpec is plain data). */
  job: string | JobSpec;
  overrides: ThreadOverrides;
  /** 1-based, for its log lines. */
  thread: number;
  /** Where the thread's log lines, progress and observer events go. */
  port: MessagePort;
  /** The BroadcastChannel a stop request comes on. */
  stopChannel: string;
  /** Forward observer events (metrics, the web UI): only when the main thread has an observer. */
  observe: boolean;
  /** Forward the newest dead letters and late records of each write (the web UI's samples). */
  sideOutputs?: boolean;
  stallReportMs?: number;
}

/** The job's overrides a thread takes: the CLI's, less the functions and the thread count. */
export type ThreadOverrides = Omit<Overrides, 'log' | 'stdout' | 'workers'>;

/** A message from a thread to the main thread. */
export type ThreadMessage =
  | { kind: 'log'; line: string }
  | { kind: 'progress'; progress: Progress }
  | { kind: 'observe'; hook: keyof RunObserver; info: unknown }
  | { kind: 'side-output'; name: string; rows: Row[] };

/** Rows of one side-output write a thread forwards: the newest, as many as the web UI shows. */
const SIDE_OUTPUT_SAMPLES = 5;

/**
 * Wraps a job's dead-letter and late sinks so that the newest rows of each
 * write also go to `send` (the thread's port), then writes through. A row
 * that cannot be cloned is not forwarded; the write goes on regardless.
 */
export function forwardSideOutputs(sinks: Map<string, Sink>, send: (message: ThreadMessage) => void): void {
  for (const name of [DEAD_LETTERS, LATE]) {
    const inner = sinks.get(name);
    if (inner === undefined) continue;
    const forward = (rows: Row[]) => {
      if (rows.length === 0) return;
      try {
        send({ kind: 'side-output', name, rows: rows.slice(-SIDE_OUTPUT_SAMPLES) });
      } catch {
        // A sample the port cannot clone is left out.
      }
    };
    sinks.set(name, tappedSink(inner, forward));
  }
}

/** A thread's outcome: its run's result, or its error as data (error classes do not survive the thread boundary). */
export type ThreadOutcome = { ok: true; result: RunResult } | { ok: false; error: SerializedError };

export interface SerializedError {
  name: string;
  message: string;
  domain?: string;
  retriable?: boolean;
  problems?: ConfigError['problems'];
  stack?: string;
}

/**
 * One thread of a job run on `--workers N` threads (engine/api/threads.ts):
 * the whole job, as one member of its consumer group, with its own Kafka
 * consumer, decoder, operators, sinks and checkpoint-store connection.
 * Nothing is shared with the other threads; the group gives each its share
 * of the partitions, and claims keep two threads off one task as they keep
 * two processes off one.
 */
export default async function runThread(task: ThreadTask): Promise<ThreadOutcome> {
  const { port } = task;
  const send = (message: ThreadMessage) => port.postMessage(message);
  const log = (line: string) => send({ kind: 'log', line });
  const controller = new AbortController();
  const stop = new BroadcastChannel(task.stopChannel);
  stop.onmessage = () => controller.abort();
  try {
    const parts = await assemble(typeof task.job === 'string' ? loadJobFile(task.job) : task.job, { ...task.overrides, workers: 1, log });
    if (task.sideOutputs === true) forwardSideOutputs(parts.sinks, send);
    const forward = (hook: keyof RunObserver) => (info: unknown) => send({ kind: 'observe', hook, info });
    const observer: RunObserver | undefined = task.observe
      ? { onStart: forward('onStart'), onEnd: forward('onEnd'), onBatch: forward('onBatch'), onCheckpoint: forward('onCheckpoint') }
      : undefined;
    const result = await runJob(parts, {
      signal: controller.signal,
      log,
      onProgress: (progress) => send({ kind: 'progress', progress }),
      observer,
      stallReportMs: task.stallReportMs,
    });
    return { ok: true, result };
  } catch (error) {
    return { ok: false, error: serialize(error) };
  } finally {
    stop.close();
    port.close();
  }
}

function serialize(error: unknown): SerializedError {
  if (!(error instanceof Error)) return { name: 'Error', message: String(error) };
  return {
    name: error.name,
    message: error.message,
    domain: error instanceof TideflowError ? error.domain : undefined,
    retriable: error instanceof TideflowError ? error.retriable : undefined,
    problems: error instanceof ConfigError ? error.problems : undefined,
    stack: error.stack,
  };
}
