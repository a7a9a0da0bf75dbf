import { closeSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { parseDuration } from '../config';
import { lintJobFiles, loadJobFile } from '../jobfile';
import { ClaimLostError, ConfigError, formatProblem, JobAlreadyRunningError, StateIncompatibleError, TideflowError, UsageError } from '../core/errors';
import { parseStationOption } from '../codecs/station-table';
import { assemble } from '../jobfile/assemble';
import { RunMetrics, serveMetrics, type MetricsServer } from '../runtime/metrics';
import { closeParts, resetTaskCheckpoints, runJob, runsAsTasks, type Progress, type RunOptions } from '../runtime/run-job';
import { runOnThreads } from '../api/threads';
import { startFirstStage } from '../api/run';
import { runsInStages, stagesOf } from '../jobfile/stages';
import { stallReportMsFromEnvironment } from '../runtime/stall-watch';
import { registerGenerate } from './generate';
import { registerProduce } from './produce';
import { formatSummary, ProgressLine } from './progress';
import { registerTest } from './test-command';
import { attachRunUi, registerUi } from './ui';
import { combineObservers } from '../ui/job-monitor';

/** Exit codes: 0 done, 1 a runtime failure (an outage given up on, a lost claim), 2 invalid input (job file, arguments, refused state). */
export const EXIT_OK = 0;
export const EXIT_RUNTIME = 1;
export const EXIT_INVALID = 2;

function durationArgument(text: string): number {
  const value = parseDuration(text);
  if (value === null) throw new InvalidArgumentError('not a duration (use e.g. 500ms, 5s, 1m)');
  return value;
}

function portNumber(text: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1 || value > 65535) throw new InvalidArgumentError('must be a TCP port (1-65535)');
  return value;
}

function positiveInteger(text: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1) throw new InvalidArgumentError('must be a whole number >= 1');
  return value;
}

/**
 * Entry point of the `tideflow` command. Returns the exit code; never throws
 * for user mistakes (they get a message and exit code 2, no stack trace).
 */
export async function main(argv: string[]): Promise<number> {
  // `tideflow run ... --output - | head` closes the pipe early: that is the reader's choice, not a failure.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(EXIT_OK);
    throw error;
  });
  let exitCode = EXIT_OK;
  const program = new Command('tideflow')
    .description('Stream processing for tide gauges and other event streams: Kafka + Avro in, windows and dedupe, Cassandra out.')
    .version(packageVersion(), '-V, --version', 'print the tideflow version')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();

  program
    .command('run')
    .description('run a job file (by default against its own source and sink; --input/--output switch to local files)')
    .argument('<job>', 'job file (YAML)')
    .option('--input <file>', "read this file instead of the job source (.jsonl, .csv, .avro, or .json saved from NOAA's CO-OPS API: a file, or a directory of them)")
    .option('--output <file>', "write results to this file instead of the job sink: .jsonl/.json (JSON lines) or .csv ('console' for a table, '-' for JSONL on stdout, 'null' to discard them)")
    .option('--station <id[,name,lat,lon]>', 'station of a CSV input that names none (and of NOAA predictions); with its name and position when no stations table knows it')
    .option('--stations <file>', "station names and positions for inputs that do not carry them: CSV with the columns id,name,lat,lon (CO-OPS' station metadata) or JSON [{id,name,lat,lon}]; before the bundled table")
    .addOption(new Option('--units <units>', "water-level units of inputs that do not say: NOAA's API CSV and t,v,s layouts and saved JSON answers (what the request asked for: units=metric is m, english is ft); required for those").choices(['m', 'ft']))
    .addOption(new Option('--workers <n>', 'threads (default 1). A Kafka job that runs as tasks (its outputs Kafka, Cassandra or OpenSearch) runs on N threads sharing nothing, each a member of the consumer group with its share of the partitions; a job of one task (a local-file output) decodes, validates and pre-aggregates on N-1 pool threads if it starts with a window').argParser(positiveInteger))
    .addOption(new Option('--emit <mode>', 'window emit mode').choices(['final', 'update']))
    .option('--until-end', 'Kafka sources: read to the end offsets seen at start-up, then stop (a bounded backfill); with several instances, each stops once every partition is finished')
    .option('--reset-state', 'discard saved state (checkpoint) and start from the beginning')
    .option('--checkpoint-dir <dir>', "directory for local checkpoints (default: the job's checkpoint.file.dir, else .tideflow/checkpoints)")
    .addOption(new Option('--checkpoint-interval <duration>', 'checkpoint every (e.g. 5s, 500ms); default from the job').argParser(durationArgument))
    .addOption(new Option('--batch-size <n>', 'records per batch (file inputs; at most this many per Kafka batch)').argParser(positiveInteger))
    .option('--strict', 'exit 1 when any record went to the dead letters (a torn Avro tail, an unreadable line, an invalid record), after writing everything and printing the summary; a file source can say `strict: true` instead')
    .option('--quiet', 'no progress line or summary')
    .addOption(new Option('--metrics-port <port>', 'serve Prometheus metrics at http://<host>:<port>/metrics while the job runs (off by default)').argParser(portNumber))
    .option('--metrics-host <host>', 'address the metrics endpoint binds to', '127.0.0.1')
    .addOption(new Option('--ui-port <port>', 'serve the web UI for this run at http://<host>:<port>/ (off by default)').argParser(portNumber))
    .option('--ui-host <host>', 'address the web UI binds to', '127.0.0.1')
    .action(async (jobPath: string, options: RunCommandOptions) => {
      exitCode = await runCommand(jobPath, options);
    });

  program
    .command('lint')
    .description('check job files; prints every problem as file:line:col message')
    .argument('<jobs...>', 'job files')
    .action((paths: string[]) => {
      const problems = lintJobFiles(paths);
      for (const problem of problems) process.stderr.write(formatProblem(problem) + '\n');
      if (problems.length === 0) process.stderr.write(`${paths.length} job file${paths.length === 1 ? '' : 's'} OK\n`);
      exitCode = problems.length === 0 ? EXIT_OK : EXIT_INVALID;
    });

  registerGenerate(program);
  registerProduce(program);
  registerUi(program);
  registerTest(program, (code) => {
    exitCode = code;
  });

  try {
    await program.parseAsync(argv, { from: 'user' });
    return exitCode;
  } catch (error) {
    return reportError(error);
  }
}

interface RunCommandOptions {
  input?: string;
  output?: string;
  station?: string;
  stations?: string;
  units?: 'm' | 'ft';
  workers?: number;
  emit?: 'final' | 'update';
  resetState?: boolean;
  untilEnd?: boolean;
  checkpointDir?: string;
  checkpointInterval?: number;
  batchSize?: number;
  strict?: boolean;
  quiet?: boolean;
  metricsPort?: number;
  metricsHost: string;
  uiPort?: number;
  uiHost: string;
}

async function runCommand(jobPath: string, options: RunCommandOptions): Promise<number> {
  const loaded = loadJobFile(jobPath);
  const station = options.station === undefined ? undefined : parseStationOption(options.station);
  const progress = options.quiet ? null : new ProgressLine(loaded.job);
  const log = (line: string) => {
    progress?.clear();
    process.stderr.write(`${line}\n`);
  };
  const overrides = {
    input: options.input,
    output: options.output,
    station: station?.id,
    stationInfo: station?.facts,
    stations: options.stations,
    units: options.units,
    emit: options.emit,
    checkpointDir: options.checkpointDir,
    checkpointIntervalMs: options.checkpointInterval,
    batchSize: options.batchSize,
    untilEnd: options.untilEnd,
  };
  const controller = new AbortController();
  // A repartition step splits a Kafka job into two stages: the first runs beside this one (api/run.ts
  // runStages), this command runs and reports the second, which writes the job's results.
  const stages = options.input === undefined && runsInStages(loaded) ? await stagesOf(loaded, { log, signal: controller.signal, resetState: options.resetState }) : [loaded];
  const job = stages[stages.length - 1];
  const firstStage =
    stages.length === 2
      ? startFirstStage(stages[0], { ...overrides, workers: options.workers, resetState: options.resetState, inject: crashInjectionFromEnvironment('first-stage'), log }, controller)
      : null;
  // Rethrown where it is awaited; a failure there stops this stage first.
  firstStage?.catch(() => {});
  if (firstStage !== null) log(`${loaded.job}: two stages, re-keyed through topic ${stages[0].sink.kind === 'kafka' ? stages[0].sink.kafka.topic : '?'}: ${stages[0].job} (to the topic) and ${job.job} (from it)`);
  const parts = await assemble(job, { ...overrides, workers: options.workers, log });
  // A job that runs as tasks runs on --workers threads as that many members of its consumer group,
  // sharing nothing; other jobs (one task) use the threads to decode.
  const threads = options.workers ?? 1;
  const onThreads = threads > 1 && runsAsTasks(parts);
  if (onThreads) {
    if (options.resetState) {
      const keys = await resetTaskCheckpoints(parts);
      log(`--reset-state: checkpoints of ${job.job} deleted (${keys.length} key${keys.length === 1 ? '' : 's'} looked at), before any thread starts`);
    }
    await closeParts(parts);
    log(`${job.job}: ${threads} threads, each a member of the consumer group running the tasks (partitions) the group gives it`);
  }
  // First SIGINT/SIGTERM: finish the batch, checkpoint, exit 0. A second one: leave now.
  // Said as it happens: a checkpoint waits for every sink to acknowledge its rows, which during
  // an outage lasts as long as the outage.
  const stop = (signal: NodeJS.Signals) => {
    if (controller.signal.aborted) {
      log(`${signal} again: leaving without a final checkpoint; the next run reads again from the last one`);
      process.exit(130);
    }
    log(`${signal}: stopping after the current batch, with a checkpoint once the sinks have acknowledged it (${signal} again leaves at once)`);
    controller.abort();
  };
  const metrics = options.metricsPort === undefined ? null : new RunMetrics(parts.job.job);
  let metricsServer: MetricsServer | null = null;
  if (metrics) {
    try {
      metricsServer = await serveMetrics(metrics, { port: options.metricsPort!, host: options.metricsHost });
    } catch (error) {
      throw new UsageError(`cannot serve metrics on ${options.metricsHost}:${options.metricsPort}: ${(error as Error).message} (choose another --metrics-port)`);
    }
    log(`metrics at ${metricsServer.url}`);
  }
  // After assemble: the UI's monitor taps the dead-letter and late sinks.
  const ui = options.uiPort === undefined ? null : await attachRunUi(parts, { port: options.uiPort, host: options.uiHost });
  if (ui) log(`web UI at ${ui.url}`);
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  try {
    const onProgress =
      progress || ui
        ? (p: Progress) => {
            progress?.update(p);
            ui?.onProgress(p);
          }
        : undefined;
    const observer = combineObservers(metrics ?? undefined, ui?.monitor);
    const result = onThreads
      ? // The loaded job, not its file: each thread would otherwise load and validate it again (measured: about 0.6 s of CPU per thread).
        await runOnThreads(job, {
          threads,
          overrides,
          signal: controller.signal,
          onProgress,
          log: ui ? ui.wrapLog(log) : log,
          observer,
          onSideOutput: ui ? (name, rows) => ui.monitor.noteSideOutput(name, rows) : undefined,
          stallReportMs: stallReportMsFromEnvironment(),
        })
      : await runJob(parts, {
          resetState: options.resetState,
          signal: controller.signal,
          inject: crashInjectionFromEnvironment(),
          onProgress,
          log: ui ? ui.wrapLog(log) : log,
          observer,
          stallReportMs: stallReportMsFromEnvironment(),
        });
    ui?.finish(result);
    progress?.clear();
    const first = firstStage === null ? null : await firstStage;
    if (first !== null && !options.quiet) process.stderr.write(`stage 1 (${stages[0].job}): ${first.counters.recordsIn.toLocaleString('en-US')} records read, ${first.counters.resultsOut.toLocaleString('en-US')} rows re-keyed${first.counters.deadLetters > 0 ? `, ${first.counters.deadLetters.toLocaleString('en-US')} dead letters` : ''}\n`);
    if (!options.quiet) {
      const outputs = [...parts.sinks].map(([name, sink]) => ({ name, description: sink.description }));
      const input = parts.job.source.kind === 'file' ? parts.job.source.file.path : undefined;
      const noRecords = input !== undefined && result.recordsThisRun === 0 && !result.stopped && result.resumedFromEpoch === null ? whyNoRecords(input) : undefined;
      process.stderr.write(formatSummary(parts.job.job, result, outputs, parts.job.steps.some((step) => step.kind === 'window'), noRecords) + '\n');
    }
    const strict = options.strict === true || (parts.job.source.kind === 'file' && parts.job.source.file.strict === true);
    if (strict && result.counters.deadLetters > 0) {
      const count = result.counters.deadLetters;
      process.stderr.write(`tideflow: ${count} record${count === 1 ? '' : 's'} went to the dead letters and the run is strict (${options.strict === true ? '--strict' : 'strict: true in the file source'}): exit 1\n`);
      return EXIT_RUNTIME;
    }
    return EXIT_OK;
  } catch (error) {
    ui?.fail(error);
    // The first stage, if any, stops too (after a last checkpoint).
    controller.abort();
    await firstStage?.catch(() => {});
    throw error;
  } finally {
    progress?.clear();
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    await metricsServer?.close();
    await ui?.close();
  }
}

/** The version in the package's package.json (dist/engine/cli/ -> the package root). */
function packageVersion(): string {
  return (JSON.parse(readFileSync(join(__dirname, '..', '..', '..', 'package.json'), 'utf8')) as { version: string }).version;
}

/**
 * Why an input file gave no records, for the summary's first line: it is
 * empty, or it holds nothing but blank lines or a CSV header.
 */
function whyNoRecords(path: string): string {
  let text: string;
  try {
    if (statSync(path).size === 0) return `${path} is empty (0 bytes): is it the file you meant, and did its download or export finish?`;
    // Read nothing but blank lines (and a CSV header): its start tells which.
    const start = Buffer.alloc(1 << 16);
    const fd = openSync(path, 'r');
    try {
      text = start.toString('utf8', 0, readSync(fd, start, 0, start.length, 0));
    } finally {
      closeSync(fd);
    }
  } catch {
    return `${path} could not be read`;
  }
  if (text.trim() === '') return `${path} holds only blank lines`;
  if (/\.csv$/i.test(path)) return `${path} holds a header line and no data lines`;
  return `${path} holds no records`;
}

function reportError(error: unknown): number {
  if (error instanceof CommanderError) {
    // Commander already printed its message; help/version are not failures.
    if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version' || error.code === 'commander.help') return EXIT_OK;
    return EXIT_INVALID;
  }
  if (error instanceof ConfigError) {
    for (const problem of error.problems) process.stderr.write(formatProblem(problem) + '\n');
    return EXIT_INVALID;
  }
  if (error instanceof UsageError || error instanceof StateIncompatibleError || error instanceof JobAlreadyRunningError) {
    process.stderr.write(`tideflow: ${error.message}\n`);
    return EXIT_INVALID;
  }
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`tideflow: ${message}\n`);
  if (error instanceof TideflowError && error.domain === 'external' && !(error instanceof ClaimLostError)) {
    process.stderr.write('  (an external system failed; check that it is running and reachable, then run again: the job resumes from its last checkpoint)\n');
  }
  if (process.env.TIDEFLOW_DEBUG && error instanceof Error) process.stderr.write(`${error.stack}\n`);
  return EXIT_RUNTIME;
}

/**
 * Crash tests kill the engine at exact points: TIDEFLOW_TEST_CRASH=<point>:<n>
 * (e.g. `after-batch:17`, `before-checkpoint-save:2`) sends SIGKILL to this
 * process when that point is reached with count n: the batch number of this
 * process for `after-batch`, the checkpoint epoch (which continues across
 * restarts) for the checkpoint points. Never set outside tests.
 */
/** `TIDEFLOW_TEST_CRASH=<point>:<n>` kills the run the n-th time it reaches the point; `first-stage:<point>:<n>`, a repartitioned job's first stage. */
function crashInjectionFromEnvironment(stage: 'first-stage' | 'job' = 'job'): RunOptions['inject'] {
  const setting = process.env.TIDEFLOW_TEST_CRASH;
  if (!setting) return undefined;
  const forFirstStage = setting.startsWith('first-stage:');
  if (forFirstStage !== (stage === 'first-stage')) return undefined;
  const spec = forFirstStage ? setting.slice('first-stage:'.length) : setting;
  const [point, count] = spec.split(':');
  const n = Number(count);
  return (reached, times) => {
    if (reached === point && times === n) process.kill(process.pid, 'SIGKILL');
  };
}
