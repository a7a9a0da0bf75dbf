import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { loadJobFile } from '../jobfile';
import { assemble } from '../jobfile/assemble';
import { runJob } from '../runtime/run-job';
import type { UiHub } from './hub';
import { JobMonitor } from './job-monitor';
import { MemoryResults } from './results';

/** The reference jobs whose results the Tides view draws, and the data the demo runs through them. */
export const LEVELS_JOB = 'jobs/tides-30m-average.yaml';
export const LUNAR_DAY_JOB = 'jobs/tides-lunar-day.yaml';
export const BUNDLED_DATA = 'data/bundled/tides.avro';

/** The package's root (where jobs/ and data/ are), from dist/engine/ui or engine/ui. */
export function packageRoot(): string {
  const candidates = [resolve(__dirname, '..', '..', '..'), resolve(__dirname, '..', '..')];
  return candidates.find((candidate) => existsSync(join(candidate, LEVELS_JOB))) ?? candidates[0];
}

export interface BundledResults {
  results: MemoryResults;
  /** Temporary directory of the JSONL results (and the runs' checkpoints and side outputs). */
  dir: string;
  /** Removes the directory. */
  remove(): Promise<void>;
}

/**
 * The embedded default of `tideflow ui`: runs the bundled observations through
 * tides-30m-average and tides-lunar-day in this process, with the engine's own
 * functions (load the job file, assemble with `--input`/`--output` overrides,
 * runJob), into JSONL files in a temporary directory, and reads them back. Each
 * run is watched by a JobMonitor on `hub`, so the Jobs view shows both going.
 * About 5 s on this machine; no server needed.
 *
 * @example
 *   const { results, remove } = await computeBundledResults({ hub });
 *   hub.setResults(results, { state: 'ready', detail: results.description });
 */
export async function computeBundledResults(options: { hub?: UiHub; root?: string; input?: string; dir?: string; log?: (line: string) => void } = {}): Promise<BundledResults> {
  const root = options.root ?? packageRoot();
  const input = options.input ?? join(root, BUNDLED_DATA);
  const dir = options.dir ?? (await mkdtemp(join(tmpdir(), 'tideflow-ui-')));
  const log = options.log ?? (() => {});
  const remove = () => rm(dir, { recursive: true, force: true });
  try {
    const outputs = await Promise.all(
      [LEVELS_JOB, LUNAR_DAY_JOB].map(async (file) => {
        const job = loadJobFile(join(root, file), { cwd: root });
        const output = join(dir, `${job.job}.jsonl`);
        const parts = await assemble(job, { input, output, checkpointDir: join(dir, 'checkpoints'), log });
        const monitor = new JobMonitor(parts);
        options.hub?.addMonitor(monitor);
        try {
          const result = await runJob(parts, { observer: monitor, onProgress: (progress) => monitor.onProgress(progress), progressIntervalMs: 500, log: monitor.wrapLog(log) });
          monitor.finish(result);
        } catch (error) {
          monitor.fail(error);
          throw error;
        }
        return output;
      }),
    );
    const results = await MemoryResults.fromJsonl(outputs[0], outputs[1], `results of ${BUNDLED_DATA} computed in this process by ${LEVELS_JOB} and ${LUNAR_DAY_JOB}`);
    return { results, dir, remove };
  } catch (error) {
    await remove();
    throw error;
  }
}
