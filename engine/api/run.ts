import { loadJobFile } from '../jobfile/load';
import type { JobSpec } from '../config/job';
import { assemble, type Overrides } from '../jobfile/assemble';
import { closeParts, resetTaskCheckpoints, runJob, runsAsTasks, type RunOptions, type RunResult } from '../runtime/run-job';
import { runsInStages, stagesOf } from '../jobfile/stages';
import { runOnThreads } from './threads';
import type { JobDefinition } from './define-job';

/** How to run: a job's own source and sink, or files instead (`input`, `output`), and the run's hooks. */
export type RunJobOptions = Omit<Overrides, 'stdout'> & RunOptions;

/**
 * Runs a job: a job file's path, a loaded JobSpec, or a definition built in
 * code with `defineJob`. The same run as `tideflow run`, with the same
 * overrides (`input`, `output`, `checkpointDir`, `untilEnd`, `workers`...).
 *
 * @example
 *   const result = await run('jobs/tides-lunar-day.yaml', { input: 'data/bundled/tides.avro', output: 'out/lunar-day.jsonl' });
 *   console.log(result.counters.resultsOut);
 */
export async function run(job: string | JobSpec | JobDefinition, options: RunJobOptions = {}): Promise<RunResult> {
  const definition = typeof job === 'string' ? null : 'operators' in job ? job : null;
  const spec = typeof job === 'string' ? loadJobFile(job) : definition !== null ? definition.spec : (job as JobSpec);
  // A repartition step splits a Kafka job into two stages, each a job of its own, run side by side.
  if (definition === null && options.input === undefined && runsInStages(spec)) {
    const stages = await stagesOf(spec, { log: options.log, signal: options.signal, resetState: options.resetState });
    return runStages(stages[0], stages[1], options);
  }
  const parts = await assemble(spec, { ...options, log: options.log });
  if (definition !== null) parts.operators = definition.operators;
  // As the CLI: a job of tasks on several threads, each a member of its consumer group. A definition's
  // operators are code, which cannot cross to another thread.
  const threads = options.workers ?? 1;
  if (threads > 1 && definition === null && runsAsTasks(parts)) {
    if (options.resetState) await resetTaskCheckpoints(parts);
    await closeParts(parts);
    const { input, output, station, stationInfo, stations, units, emit, checkpointDir, checkpointIntervalMs, batchSize, untilEnd } = options;
    return runOnThreads(spec, {
      threads,
      overrides: { input, output, station, stationInfo, stations, units, emit, checkpointDir, checkpointIntervalMs, batchSize, untilEnd },
      signal: options.signal,
      log: options.log,
      onProgress: options.onProgress,
      observer: options.observer,
      stallReportMs: options.stallReportMs,
    });
  }
  return runJob(parts, options);
}

/**
 * The two stages of a job with a repartition step, side by side: the second's
 * result is the job's (its progress and hooks are the caller's). Either
 * failing stops the other.
 */
export async function runStages(first: JobSpec, second: JobSpec, options: RunJobOptions): Promise<RunResult & { firstStage: RunResult }> {
  const controller = new AbortController();
  const stop = () => controller.abort();
  if (options.signal?.aborted) stop();
  options.signal?.addEventListener('abort', stop, { once: true });
  try {
    const [before, after] = await Promise.allSettled([
      startFirstStage(first, { ...options, inject: undefined }, controller),
      run(second, { ...options, signal: controller.signal }).catch((error: unknown) => {
        stop();
        throw error;
      }),
    ]);
    if (before.status === 'rejected') throw before.reason;
    if (after.status === 'rejected') throw after.reason;
    return { ...after.value, firstStage: before.value };
  } finally {
    options.signal?.removeEventListener('abort', stop);
  }
}

/**
 * Runs a job's first stage until `controller` stops it: its lines prefixed
 * with its stage, no progress or hooks of the caller's (those are the second
 * stage's); its failure stops the second stage too.
 */
export function startFirstStage(first: JobSpec, options: RunJobOptions, controller: AbortController): Promise<RunResult> {
  const log = options.log;
  return run(first, { ...options, signal: controller.signal, log: log && ((line) => log(`[stage 1: ${first.job}] ${line}`)), onProgress: undefined, observer: undefined }).catch((error: unknown) => {
    controller.abort();
    throw error;
  });
}
