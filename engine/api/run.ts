import { loadJobFile } from '../jobfile/load';
import type { JobSpec } from '../config/job';
import { assemble, type Overrides } from '../jobfile/assemble';
import { closeParts, resetTaskCheckpoints, runJob, runsAsTasks, type RunOptions, type RunResult } from '../runtime/run-job';
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
