import { join } from 'node:path';
import type { Client } from 'cassandra-driver';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { loadJobFile } from '../jobfile';
import type { JobSpec } from '../config/job';
import { UsageError } from '../core/errors';
import type { JobParts, Progress, RunResult } from '../runtime/run-job';
import { createCassandraClient, type CassandraConnection } from '../clients/cassandra';
import { computeBundledResults, LEVELS_JOB, LUNAR_DAY_JOB, packageRoot } from '../ui/bundled-results';
import { CassandraCheckpointJobs, FileCheckpointJobs } from '../ui/checkpoint-jobs';
import { UiHub } from '../ui/hub';
import { JobMonitor } from '../ui/job-monitor';
import { CassandraResults } from '../ui/results';
import { serveUi, type UiServer } from '../ui/server';

/**
 * `tideflow ui`: the web page for jobs and tides (engine/ui/). Without servers
 * it runs the bundled data through the reference jobs in this process and
 * shows their results; with `--cassandra` (or CASSANDRA_CONTACT_POINTS set)
 * it reads the reference jobs' tables and checkpoint table in Cassandra.
 * `tideflow run ... --ui-port N` serves the same page for one run
 * (`attachRunUi`).
 */

export const DEFAULT_UI_PORT = 8080;
const DEFAULT_CHECKPOINT_DIR = '.tideflow/checkpoints';
const CHECKPOINT_TABLE = 'tideflow_checkpoints';

export interface UiCommandOptions {
  port: number;
  host: string;
  /** Contact points (`host:port,...`), or true for CASSANDRA_CONTACT_POINTS / localhost:9042. */
  cassandra?: string | boolean;
  /** Force the embedded results even when CASSANDRA_CONTACT_POINTS is set. */
  embedded?: boolean;
  keyspace?: string;
  localDc?: string;
  checkpointDir: string;
  quiet?: boolean;
}

/** Registers `tideflow ui` on the CLI program (engine/cli/main.ts). */
export function registerUi(program: Command): void {
  program
    .command('ui')
    .description('serve the web UI: jobs (live runs and checkpoints) and tides (charts and a map of the results); without servers it computes the bundled data in-process')
    .addOption(new Option('--port <port>', 'port of the web UI').default(DEFAULT_UI_PORT).argParser(portNumber))
    .option('--host <host>', 'address the web UI binds to', '127.0.0.1')
    .option('--cassandra [contactPoints]', 'read results and checkpoints from Cassandra (default: CASSANDRA_CONTACT_POINTS, else localhost:9042)')
    .option('--embedded', 'show the bundled data computed in this process even when CASSANDRA_CONTACT_POINTS is set')
    .option('--keyspace <name>', 'Cassandra keyspace of the results (default: the reference jobs\' keyspace, CASSANDRA_KEYSPACE or tides)')
    .option('--local-dc <name>', 'Cassandra local data center (default: CASSANDRA_LOCAL_DC or datacenter1)')
    .option('--checkpoint-dir <dir>', 'directory of local checkpoints to list jobs from', DEFAULT_CHECKPOINT_DIR)
    .option('--quiet', 'no start-up lines')
    .action(async (options: UiCommandOptions) => {
      const ui = await startUi(options);
      await untilSignal();
      await ui.close();
    });
}

export interface RunningUi {
  readonly url: string;
  readonly hub: UiHub;
  /** Resolves when the embedded results are computed (at once for Cassandra). */
  readonly ready: Promise<void>;
  /** The embedded results' JSONL files (`<job>.jsonl`), once ready; null with Cassandra. */
  resultsDir(): string | null;
  close(): Promise<void>;
}

/**
 * Starts what `tideflow ui` serves; `close` stops the server and everything
 * it opened (Cassandra client, temporary results).
 *
 * @example
 *   const ui = await startUi({ port: 0, host: '127.0.0.1', checkpointDir: '.tideflow/checkpoints', quiet: true });
 *   await ui.ready;   // the bundled data's results are in
 *   await ui.close();
 */
export async function startUi(options: UiCommandOptions, env: NodeJS.ProcessEnv = process.env): Promise<RunningUi> {
  const log = options.quiet ? () => {} : (line: string) => process.stderr.write(`${line}\n`);
  const hub = new UiHub();
  hub.addCheckpointJobs(new FileCheckpointJobs(options.checkpointDir));
  const cassandra = cassandraChoice(options, env);
  let client: Client | null = null;
  let cleanup: () => Promise<void> = async () => {};
  let resultsDir: string | null = null;
  let ready: Promise<void> = Promise.resolve();
  if (cassandra) {
    const root = packageRoot();
    const tables = referenceTables(root, env);
    const keyspace = options.keyspace ?? tables.keyspace;
    const connection: CassandraConnection = { contactPoints: cassandra, localDataCenter: options.localDc ?? env.CASSANDRA_LOCAL_DC ?? 'datacenter1' };
    client = createCassandraClient(connection);
    try {
      await client.connect();
    } catch (error) {
      await client.shutdown().catch(() => {});
      throw new UsageError(`cannot reach Cassandra at ${cassandra.join(', ')}: ${(error as Error).message} (start it, or run tideflow ui without --cassandra for the bundled data)`);
    }
    hub.addCheckpointJobs(new CassandraCheckpointJobs(client, keyspace, CHECKPOINT_TABLE));
    const results = new CassandraResults(client, keyspace, { levels: tables.levels, lunarDays: tables.lunarDays }, cassandra);
    hub.setResults(results, { state: 'ready', detail: results.description });
  } else {
    hub.setResults(null, { state: 'computing', detail: 'running the bundled data through tides-30m-average and tides-lunar-day in this process' });
    ready = computeBundledResults({ hub, log }).then(
      (bundled) => {
        cleanup = bundled.remove;
        resultsDir = bundled.dir;
        hub.setResults(bundled.results, { state: 'ready', detail: bundled.results.description });
      },
      (error: unknown) => {
        hub.setResults(null, { state: 'unavailable', detail: `computing the bundled results failed: ${(error as Error).message}` });
        log(`tideflow ui: computing the bundled results failed: ${(error as Error).message}`);
      },
    );
  }
  let server: UiServer;
  try {
    server = await serveUi(hub, { port: options.port, host: options.host });
  } catch (error) {
    await hub.close();
    await client?.shutdown();
    throw new UsageError(`cannot serve the web UI on ${options.host}:${options.port}: ${(error as Error).message} (choose another --port)`);
  }
  log(`tideflow ui at ${server.url} (results: ${cassandra ? hub.resultsStatus().detail : 'the bundled data, computed in this process'}; Ctrl-C stops)`);
  return {
    url: server.url,
    hub,
    ready,
    resultsDir: () => resultsDir,
    close: async () => {
      await server.close();
      await ready;
      await hub.close();
      await client?.shutdown();
      await cleanup();
    },
  };
}

/** What `tideflow run --ui-port` hands to runJob, and what it calls when the run ends. */
export interface RunUi {
  readonly url: string;
  readonly monitor: JobMonitor;
  /** For runJob's `onProgress` (beside the progress line, if any). */
  onProgress(progress: Progress): void;
  /** Wraps runJob's `log`, so stall reports reach the page. */
  wrapLog(log: (line: string) => void): (line: string) => void;
  finish(result: RunResult): void;
  fail(error: unknown): void;
  close(): Promise<void>;
}

/**
 * Serves the web UI for one run in this process (`tideflow run ... --ui-port N`):
 * the run's live view, the jobs of its checkpoint store, and, when its sink is
 * Cassandra, the reference tables of the sink's keyspace. Create it after
 * `assemble` and before `runJob` (it taps the dead-letter and late sinks).
 *
 * @example
 *   const ui = await attachRunUi(parts, { port: 8080 });
 *   const result = await runJob(parts, { observer: combineObservers(metrics, ui.monitor), onProgress: ui.onProgress, log: ui.wrapLog(log) });
 *   ui.finish(result);
 *   await ui.close();
 */
export async function attachRunUi(parts: JobParts, options: { port: number; host?: string; env?: NodeJS.ProcessEnv }): Promise<RunUi> {
  const env = options.env ?? process.env;
  const hub = new UiHub();
  const job = parts.job;
  const sink = job.sink.kind === 'cassandra' ? job.sink.cassandra : null;
  let client: Client | null = null;
  if (sink) {
    client = createCassandraClient({ contactPoints: sink.contactPoints, localDataCenter: sink.localDataCenter, auth: sink.auth, ssl: sink.ssl });
    // The run waits out a Cassandra outage by itself; the page just shows no results until it connects.
    client.connect().catch(() => {});
    const tables = referenceTables(packageRoot(), { ...env, CASSANDRA_KEYSPACE: sink.keyspace });
    const results = new CassandraResults(client, sink.keyspace, { levels: tables.levels, lunarDays: tables.lunarDays }, sink.contactPoints);
    hub.setResults(results, { state: 'ready', detail: results.description });
  } else {
    hub.setResults(null, { state: 'unavailable', detail: `job ${job.job} writes no Cassandra results; \`tideflow ui\` shows the bundled data's` });
  }
  if (job.checkpoint.kind === 'file') hub.addCheckpointJobs(new FileCheckpointJobs(job.checkpoint.dir));
  else if (job.checkpoint.kind === 'cassandra' && client) hub.addCheckpointJobs(new CassandraCheckpointJobs(client, job.checkpoint.keyspace, job.checkpoint.table));
  const monitor = new JobMonitor(parts, { checkpointBytes: (name) => hub.checkpointBytes(name) });
  hub.addMonitor(monitor);
  let server: UiServer;
  try {
    server = await serveUi(hub, { port: options.port, host: options.host });
  } catch (error) {
    await hub.close();
    await client?.shutdown();
    throw new UsageError(`cannot serve the web UI on ${options.host ?? '127.0.0.1'}:${options.port}: ${(error as Error).message} (choose another --ui-port)`);
  }
  return {
    url: server.url,
    monitor,
    onProgress: (progress) => monitor.onProgress(progress),
    wrapLog: (log) => monitor.wrapLog(log),
    finish: (result) => monitor.finish(result),
    fail: (error) => monitor.fail(error),
    close: async () => {
      await server.close();
      await hub.close();
      await client?.shutdown();
    },
  };
}

/**
 * Keyspace and tables of the reference jobs' results, read from their job
 * files (so `${CASSANDRA_KEYSPACE:-tides}` resolves as it does for the jobs).
 */
export function referenceTables(root: string, env: NodeJS.ProcessEnv): { keyspace: string; levels: string; lunarDays: string } {
  const sinkOf = (file: string): { keyspace: string; table: string } => {
    const job: JobSpec = loadJobFile(join(root, file), { cwd: root, env });
    if (job.sink.kind !== 'cassandra') throw new UsageError(`${file} no longer writes to Cassandra: the UI cannot find its results table`);
    return job.sink.cassandra;
  };
  const levels = sinkOf(LEVELS_JOB);
  const lunarDays = sinkOf(LUNAR_DAY_JOB);
  return { keyspace: levels.keyspace, levels: levels.table, lunarDays: lunarDays.table };
}

/** Contact points to read from, or null for the embedded results. */
function cassandraChoice(options: UiCommandOptions, env: NodeJS.ProcessEnv): string[] | null {
  if (options.embedded) return null;
  const fromEnv = env.CASSANDRA_CONTACT_POINTS?.trim();
  if (typeof options.cassandra === 'string') return splitList(options.cassandra);
  if (options.cassandra === true) return splitList(fromEnv || 'localhost:9042');
  return fromEnv ? splitList(fromEnv) : null;
}

function splitList(text: string): string[] {
  return text
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean);
}

function portNumber(text: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 0 || value > 65535) throw new InvalidArgumentError('must be a TCP port (1-65535; 0 picks a free one)');
  return value;
}

/** Resolves on the first SIGINT or SIGTERM. */
function untilSignal(): Promise<void> {
  return new Promise((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}
