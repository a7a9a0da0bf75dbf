import { open, readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Client } from 'cassandra-driver';
import { qualifiedName } from '../clients/cassandra';
import type { RunCounters } from '../core/operator';
import type { JobState, JobView } from './job-monitor';

/**
 * Jobs as a checkpoint store knows them: every job that saved a checkpoint,
 * with its epoch and when it was committed. A job found only here is not
 * running in this process; the page shows it as stopped, with when it was
 * last seen (or as running elsewhere while its checkpoints are fresh).
 */
export interface CheckpointJobs {
  readonly description: string;
  list(): Promise<JobView[]>;
  /** Bytes of one job's committed checkpoint as stored, or null when it has none. */
  checkpointBytes(job: string): Promise<number | null>;
  close(): Promise<void>;
}

/**
 * A checkpoint this young means the job is running somewhere (checkpoints are
 * written every few seconds while records arrive); older, it is shown stopped.
 */
export const RUNNING_ELSEWHERE_MS = 30_000;

/** Checkpoint files above this are not parsed whole (operator state can be large): epoch and time come from their head. */
const PARSE_LIMIT_BYTES = 16 * 1024 * 1024;
const HEAD_BYTES = 4096;

/**
 * `.tideflow/checkpoints/<job>.json` files (FileCheckpointStore). A missing
 * directory is no jobs, not an error.
 *
 * @example
 *   const jobs = await new FileCheckpointJobs('.tideflow/checkpoints').list();
 */
export class FileCheckpointJobs implements CheckpointJobs {
  readonly description: string;

  constructor(
    private readonly dir: string,
    private readonly now: () => number = Date.now,
  ) {
    this.description = `checkpoint directory ${dir}`;
  }

  async list(): Promise<JobView[]> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
    const views: JobView[] = [];
    for (const name of names.filter((file) => file.endsWith('.json')).sort()) {
      const view = await this.read(join(this.dir, name)).catch(() => null);
      if (view) views.push(view);
    }
    return groupTasks(views);
  }

  async checkpointBytes(job: string): Promise<number | null> {
    try {
      return (await stat(join(this.dir, `${job}.json`))).size;
    } catch {
      return null;
    }
  }

  async close(): Promise<void> {}

  private async read(path: string): Promise<JobView | null> {
    const info = await stat(path);
    let checkpoint: FileCheckpointFacts;
    if (info.size <= PARSE_LIMIT_BYTES) {
      checkpoint = JSON.parse(await readFile(path, 'utf8')) as FileCheckpointFacts;
    } else {
      checkpoint = headFacts(await readHead(path));
    }
    if (typeof checkpoint.job !== 'string' || typeof checkpoint.epoch !== 'number') return null;
    const at = Date.parse(checkpoint.createdAt ?? '') || info.mtimeMs;
    const watermark = checkpoint.watermarks?.current;
    return storedJobView({
      job: checkpoint.job,
      store: this.description,
      epoch: checkpoint.epoch,
      at,
      bytes: info.size,
      counters: checkpoint.counters,
      watermark: typeof watermark === 'number' && Number.isFinite(watermark) ? watermark : null,
      partitions: checkpoint.positions ? Object.keys(checkpoint.positions) : [],
      now: this.now(),
    });
  }
}

/**
 * The `tideflow_checkpoints` table of CassandraCheckpointStore: the commit
 * pointer's static columns of each job's partition (epoch, committed_at,
 * bytes), one `SELECT DISTINCT` over the partitions; the chunks are never read.
 *
 * @example
 *   const jobs = new CassandraCheckpointJobs(client, 'tides', 'tideflow_checkpoints');
 */
export class CassandraCheckpointJobs implements CheckpointJobs {
  readonly description: string;

  constructor(
    private readonly client: Client,
    private readonly keyspace: string,
    private readonly table: string,
    private readonly now: () => number = Date.now,
  ) {
    this.description = `Cassandra table ${keyspace}.${table}`;
  }

  async list(): Promise<JobView[]> {
    let rows;
    const select = (columns: string) => this.client.execute(`SELECT DISTINCT ${columns} FROM ${qualifiedName(this.keyspace, this.table)}`, [], { prepare: true });
    try {
      // Who holds each job (or task) now: the claim columns, gone once a claim expired.
      rows = (await select('job, committed_epoch, committed_at, committed_bytes, claim_host, claim_pid').catch((error: Error) => {
        if (!/claim_host|undefined column/i.test(error.message)) throw error;
        // A table from before claims existed.
        return select('job, committed_epoch, committed_at, committed_bytes');
      })).rows;
    } catch (error) {
      // No checkpoint table yet: no job has checkpointed into this keyspace.
      if (/unconfigured table|does not exist/i.test((error as Error).message)) return [];
      throw error;
    }
    return groupTasks(rows
      .filter((row) => row['committed_epoch'] !== null && row['committed_epoch'] !== undefined)
      .map((row) =>
        storedJobView({
          job: String(row['job']),
          store: this.description,
          epoch: Number(row['committed_epoch']),
          at: row['committed_at'] instanceof Date ? row['committed_at'].getTime() : this.now(),
          bytes: row['committed_bytes'] === null ? null : Number(row['committed_bytes']),
          counters: undefined,
          watermark: null,
          partitions: [],
          now: this.now(),
          holder: typeof row['claim_host'] === 'string' ? `${row['claim_host']}:${row['claim_pid'] ?? '?'}` : null,
        }),
      )
      .sort((a, b) => a.job.localeCompare(b.job)));
  }

  async checkpointBytes(job: string): Promise<number | null> {
    const result = await this.client.execute(`SELECT committed_bytes FROM ${qualifiedName(this.keyspace, this.table)} WHERE job = ? LIMIT 1`, [job], { prepare: true });
    const value = result.rows[0]?.['committed_bytes'];
    return value === null || value === undefined ? null : Number(value);
  }

  async close(): Promise<void> {}
}

/** The parts of a checkpoint file the page shows (the rest is operator state). */
interface FileCheckpointFacts {
  job?: string;
  epoch?: number;
  createdAt?: string;
  counters?: Record<string, number>;
  watermarks?: { current?: number | null };
  positions?: Record<string, number>;
}

/** What a stored checkpoint tells about its job, as a JobView. */
export function storedJobView(facts: {
  job: string;
  store: string;
  epoch: number;
  at: number;
  bytes: number | null;
  counters: Record<string, number> | undefined;
  watermark: number | null;
  partitions: string[];
  now: number;
  /** `host:pid` of the instance holding the job's claim now (Cassandra checkpoints), if any. */
  holder?: string | null;
}): JobView & { partitions: string[] } {
  const age = Math.max(0, facts.now - facts.at);
  const held = facts.holder !== undefined && facts.holder !== null;
  const fresh = held || age < RUNNING_ELSEWHERE_MS;
  const ago = formatAge(age);
  const counters = facts.counters
    ? {
        recordsIn: facts.counters.recordsIn ?? 0,
        deadLetters: facts.counters.deadLetters ?? 0,
        late: facts.counters.late ?? 0,
        duplicatesDropped: facts.counters.duplicatesDropped ?? 0,
        nullReadings: facts.counters.nullReadings ?? 0,
        filteredOut: facts.counters.filteredOut ?? 0,
        aggregated: facts.counters.aggregated ?? 0,
        resultsOut: facts.counters.resultsOut ?? 0,
      }
    : null;
  return {
    job: facts.job,
    seenIn: facts.store,
    state: fresh ? 'running' : 'stopped',
    stateReason: held
      ? `running on ${facts.holder}: last checkpoint ${ago} ago (no live figures: that run was not started with --ui-port here)`
      : fresh
        ? `running elsewhere: last checkpoint ${ago} ago (no live figures: that run was not started with --ui-port here)`
        : `last seen ${ago} ago: checkpoint epoch ${facts.epoch}`,
    source: null,
    instance: facts.holder ?? null,
    startedAt: null,
    endedAt: fresh ? null : facts.at,
    counters,
    recordsPerSecond: null,
    lag: null,
    watermark: facts.watermark,
    watermarkEnded: false,
    watermarkDelayMs: facts.watermark === null ? null : Math.max(0, facts.now - facts.watermark),
    checkpoint: { epoch: facts.epoch, at: facts.at, durationMs: null, bytes: facts.bytes, store: facts.store },
    deadLetters: { total: counters?.deadLetters ?? 0, perMinute: [], latest: [] },
    late: { total: counters?.late ?? 0, perMinute: [], latest: [] },
    stall: null,
    updatedAt: facts.now,
    partitions: facts.partitions,
  };
}

/** One task of a job that runs as a task per partition, as its checkpoint tells. */
export interface TaskView {
  task: string;
  /** `host:pid` of the instance running it, when the store knows. */
  instance: string | null;
  state: JobState;
  epoch: number | null;
  checkpointAt: number | null;
  watermark: number | null;
  recordsIn: number;
}

/**
 * A Kafka job checkpoints per task (`<job>/<topic>/<partition>`): one view
 * per job, its counters the sum of its tasks', its last checkpoint the latest,
 * running when any task is, and the tasks listed.
 */
export function groupTasks(views: JobView[]): Array<JobView & { tasks?: TaskView[] }> {
  const byJob = new Map<string, Array<JobView & { partitions?: string[] }>>();
  const out: Array<JobView & { tasks?: TaskView[] }> = [];
  for (const view of views) {
    const slash = view.job.indexOf('/');
    if (slash < 0) {
      out.push(view);
      continue;
    }
    const job = view.job.slice(0, slash);
    byJob.set(job, [...(byJob.get(job) ?? []), view]);
  }
  for (const [job, tasks] of byJob) {
    const latest = tasks.reduce((best, task) => ((task.checkpoint?.at ?? 0) > (best.checkpoint?.at ?? 0) ? task : best));
    const running = tasks.some((task) => task.state === 'running');
    const counters = tasks.every((task) => task.counters === null) ? null : (Object.fromEntries(
      Object.keys(tasks.find((task) => task.counters !== null)!.counters!).map((name) => [name, tasks.reduce((sum, task) => sum + ((task.counters as unknown as Record<string, number> | null)?.[name] ?? 0), 0)]),
    ) as unknown as RunCounters);
    const watermarks = tasks.map((task) => task.watermark).filter((watermark): watermark is number => watermark !== null);
    out.push({
      ...latest,
      job,
      state: running ? 'running' : 'stopped',
      stateReason: `${tasks.length} task${tasks.length === 1 ? '' : 's'} (one per partition): ${(tasks.find((task) => task.state === 'running') ?? latest).stateReason}`,
      counters,
      watermark: watermarks.length === 0 ? null : Math.min(...watermarks),
      deadLetters: { total: counters?.deadLetters ?? 0, perMinute: [], latest: [] },
      late: { total: counters?.late ?? 0, perMinute: [], latest: [] },
      tasks: tasks.map((task) => ({
        task: task.job.slice(job.length + 1),
        instance: task.instance,
        state: task.state,
        epoch: task.checkpoint?.epoch ?? null,
        checkpointAt: task.checkpoint?.at ?? null,
        watermark: task.watermark,
        recordsIn: task.counters?.recordsIn ?? 0,
      })),
    });
  }
  return out.sort((a, b) => a.job.localeCompare(b.job));
}

/** `850 ms`, `42 s`, `12 min`, `5.2 h`, `3.1 d`. */
export function formatAge(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${Math.round(ms / 1000)} s`;
  if (ms < 3_600_000) return `${Math.round(ms / 60_000)} min`;
  if (ms < 86_400_000) return `${(ms / 3_600_000).toFixed(1)} h`;
  return `${(ms / 86_400_000).toFixed(1)} d`;
}

async function readHead(path: string): Promise<string> {
  const file = await open(path, 'r');
  try {
    const buffer = Buffer.alloc(HEAD_BYTES);
    const { bytesRead } = await file.read(buffer, 0, HEAD_BYTES, 0);
    return buffer.subarray(0, bytesRead).toString('utf8');
  } finally {
    await file.close();
  }
}

/** Job, epoch and time from the start of a checkpoint file (the run loop writes them first). */
function headFacts(head: string): FileCheckpointFacts {
  const job = /"job":"((?:[^"\\]|\\.)*)"/.exec(head)?.[1];
  const epoch = /"epoch":(\d+)/.exec(head)?.[1];
  const createdAt = /"createdAt":"([^"]+)"/.exec(head)?.[1];
  return { job: job === undefined ? undefined : (JSON.parse(`"${job}"`) as string), epoch: epoch === undefined ? undefined : Number(epoch), createdAt };
}
