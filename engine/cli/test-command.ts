import type { Command } from 'commander';
import { formatTestReport, testJob } from '../testing/job-test';

/**
 * `tideflow test <job.yaml>...`: runs each job's test cases (`<job>.test/`
 * beside the job file, see engine/testing/job-test.ts) in virtual time,
 * without servers, and prints a readable diff. Exit 0 when every case
 * passes, 1 when one fails, 2 for a job or test layout that cannot run.
 *
 * @example
 *   registerTest(program); // tideflow test jobs/tides-lunar-day.yaml
 */
export function registerTest(program: Command, setExitCode: (code: number) => void): void {
  program
    .command('test')
    .description('run job files against their test cases (<job>.test/: input and expected output files) and show what differs')
    .argument('<jobs...>', 'job files')
    .option('--cases <dir>', 'directory of test cases (default: <job>.test beside the job file; one job only)')
    .action(async (paths: string[], options: { cases?: string }) => {
      let failed = false;
      for (const path of paths) {
        const report = await testJob(path, { casesDir: paths.length === 1 ? options.cases : undefined });
        process.stdout.write(`${formatTestReport(report)}\n`);
        failed ||= !report.passed;
      }
      setExitCode(failed ? 1 : 0);
    });
}
