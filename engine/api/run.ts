import { loadJobFile } from '../jobfile/load';
import type { JobSpec } from '../config/job';
import { assemble, type Overrides } from '../jobfile/assemble';
import { runJob, type RunOptions, type RunResult } from '../runtime/run-job';
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
  return runJob(parts, options);
}
