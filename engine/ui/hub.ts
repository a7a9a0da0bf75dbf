import { EventEmitter } from 'node:events';
import type { CheckpointJobs } from './checkpoint-jobs';
import type { JobMonitor, JobPoint, JobView } from './job-monitor';
import type { ResultSource } from './results';

/** Where the Tides view's results stand: being computed (the embedded demo), ready, or failed. */
export interface ResultsStatus {
  state: 'computing' | 'ready' | 'unavailable';
  /** What the results are (`Cassandra keyspace tides (...)`), or what is being done / went wrong. */
  detail: string;
}

/** A job instance's unit of work: today one task per job run, reading all of the job's partitions. */
export interface TaskView {
  job: string;
  task: string;
  instance: string | null;
  state: JobView['state'];
  partitions: string[];
}

/** How often the checkpoint stores are read while a page is open: their checkpoints change at most this often by default. */
export const CHECKPOINT_POLL_MS = 5_000;

/**
 * Everything the web UI serves, in one place: live runs (JobMonitors), jobs
 * known from checkpoint stores, and the results source. Emits `job`
 * (view, point) when a job changed and `results` (status) when the results
 * did; the server turns those into server-sent events.
 *
 * The checkpoint stores are read every CHECKPOINT_POLL_MS, and only while
 * someone listens (`watch()` ... `unwatch()`): a checkpoint changes no more
 * often than that, so the page never asks for more than there is.
 *
 * @example
 *   const hub = new UiHub();
 *   hub.addCheckpointJobs(new FileCheckpointJobs('.tideflow/checkpoints'));
 *   hub.addMonitor(monitor);   // a run in this process
 *   hub.setResults(results, { state: 'ready', detail: results.description });
 */
export class UiHub extends EventEmitter {
  private readonly monitors = new Map<string, JobMonitor>();
  private readonly stores: CheckpointJobs[] = [];
  private results: ResultSource | null = null;
  private status: ResultsStatus = { state: 'unavailable', detail: 'no results source configured' };
  private watchers = 0;
  private poll: NodeJS.Timeout | null = null;
  /** Per job from the stores: what was last sent, to send only changes. */
  private readonly lastStored = new Map<string, string>();
  private storeError: string | null = null;

  constructor(private readonly pollMs = CHECKPOINT_POLL_MS) {
    super();
    // Every open page listens; the default limit of 10 would warn at the eleventh tab.
    this.setMaxListeners(0);
  }

  /** A run in this process: its changes go to every open page. */
  addMonitor(monitor: JobMonitor): void {
    this.monitors.set(monitor.job, monitor);
    monitor.on('change', (view: JobView, point: JobPoint | null) => this.emit('job', view, point));
    this.emit('job', monitor.snapshot(), null);
  }

  addCheckpointJobs(store: CheckpointJobs): void {
    this.stores.push(store);
  }

  /** Where live jobs' checkpoint sizes are read from (the first store that knows the job). */
  async checkpointBytes(job: string): Promise<number | null> {
    for (const store of this.stores) {
      const bytes = await store.checkpointBytes(job).catch(() => null);
      if (bytes !== null) return bytes;
    }
    return null;
  }

  setResults(results: ResultSource | null, status: ResultsStatus): void {
    this.results = results;
    this.status = status;
    this.emit('results', status);
  }

  resultSource(): ResultSource | null {
    return this.results;
  }

  resultsStatus(): ResultsStatus {
    return this.status;
  }

  /** Live runs first, then jobs seen only in a checkpoint store; a job in both shows its live view. */
  async jobs(): Promise<{ jobs: JobView[]; storeError: string | null }> {
    const live = [...this.monitors.values()].map((monitor) => monitor.snapshot());
    const stored = await this.storedJobs();
    const names = new Set(live.map((view) => view.job));
    for (const view of stored) {
      const match = live.find((candidate) => candidate.job === view.job);
      // A live run's checkpoint size comes from its store (the run loop does not measure it).
      if (match?.checkpoint && match.checkpoint.bytes === null && view.checkpoint?.epoch === match.checkpoint.epoch) match.checkpoint.bytes = view.checkpoint.bytes;
    }
    return { jobs: [...live, ...stored.filter((view) => !names.has(view.job))], storeError: this.storeError };
  }

  /** History of the live runs (records/s, lag, watermark delay), oldest first. */
  metrics(job?: string): Record<string, JobPoint[]> {
    const result: Record<string, JobPoint[]> = {};
    for (const [name, monitor] of this.monitors) if (job === undefined || job === name) result[name] = monitor.points();
    return result;
  }

  /** One task per job run (in this process or seen in a store) and the partitions it reads. */
  async tasks(): Promise<TaskView[]> {
    const { jobs } = await this.jobs();
    return jobs.map((view) => ({
      job: view.job,
      task: `${view.job}/0`,
      instance: view.instance,
      state: view.state,
      partitions: view.lag ? Object.keys(view.lag) : ((view as JobView & { partitions?: string[] }).partitions ?? (view.source ? [view.source] : [])),
    }));
  }

  /** A page started listening: read the checkpoint stores periodically while any does. */
  watch(): void {
    this.watchers++;
    if (this.poll || this.stores.length === 0) return;
    this.poll = setInterval(() => void this.pollStores(), this.pollMs);
    this.poll.unref();
  }

  unwatch(): void {
    this.watchers = Math.max(0, this.watchers - 1);
    if (this.watchers === 0 && this.poll) {
      clearInterval(this.poll);
      this.poll = null;
    }
  }

  async close(): Promise<void> {
    if (this.poll) clearInterval(this.poll);
    this.poll = null;
    for (const store of this.stores) await store.close().catch(() => {});
    await this.results?.close().catch(() => {});
  }

  private async storedJobs(): Promise<JobView[]> {
    const views: JobView[] = [];
    const errors: string[] = [];
    for (const store of this.stores) {
      try {
        for (const view of await store.list()) if (!views.some((seen) => seen.job === view.job)) views.push(view);
      } catch (error) {
        errors.push(`${store.description}: ${(error as Error).message}`);
      }
    }
    this.storeError = errors.length > 0 ? `cannot read ${errors.join('; ')}` : null;
    return views;
  }

  /** Sends the stored jobs whose checkpoint or state changed since last time. */
  private async pollStores(): Promise<void> {
    const stored = await this.storedJobs();
    for (const view of stored) {
      if (this.monitors.has(view.job)) continue;
      const key = `${view.state}|${view.checkpoint?.epoch}|${view.checkpoint?.at}`;
      if (this.lastStored.get(view.job) === key) continue;
      this.lastStored.set(view.job, key);
      this.emit('job', view, null);
    }
  }
}
