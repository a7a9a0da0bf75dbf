import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadJobFile } from '../../engine/jobfile';
import { assemble, type Overrides } from '../../engine/jobfile/assemble';
import { runJob, type RunOptions, type RunResult } from '../../engine/runtime/run-job';

/** Repository root (tests run from dist/test/..., so walk up to the package). */
export const ROOT = join(__dirname, '..', '..', '..');
export const BUNDLED = join(ROOT, 'data', 'bundled', 'tides.avro');

export function job(name: string): string {
  return join(ROOT, 'jobs', `${name}.yaml`);
}

export function temporaryDirectory(prefix = 'tideflow-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function readJsonl(path: string): Array<Record<string, unknown>> {
  const text = readFileSync(path, 'utf8');
  return text
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

/** Runs a job file in-process on a local input, writing JSONL; returns the rows and the run result. */
export async function runLocal(
  jobFile: string,
  overrides: Overrides & { input: string },
  options: RunOptions = {},
): Promise<{ rows: Array<Record<string, unknown>>; result: RunResult; output: string; dir: string }> {
  const dir = temporaryDirectory();
  const output = overrides.output ?? join(dir, 'out.jsonl');
  const parts = await assemble(loadJobFile(jobFile), { checkpointDir: join(dir, 'checkpoints'), ...overrides, output });
  const result = await runJob(parts, options);
  return { rows: readJsonl(output), result, output, dir };
}
