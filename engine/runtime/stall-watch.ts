/**
 * Says where a run is stuck. The run loop names what it is doing (`enter`:
 * "waiting for the source", "decoding a batch of tides/1", "checkpoint:
 * flushing sink main"); when the same step lasts `afterMs`, one line is
 * logged with the step, how long, and what the parts report about
 * themselves (the source's hand-over state, schema lookups in flight...).
 * It repeats every `afterMs` while the step lasts.
 *
 * A step may be expected to last (a caught-up stream waits for records for
 * hours): `enter(step, { quietUnless })` reports only while `quietUnless`
 * returns true (e.g. "Kafka still has records for us").
 *
 * @example
 *   const watch = new StallWatch({ afterMs: 30_000, log, describe: () => source.describeState?.() });
 *   watch.start();
 *   watch.enter('waiting for the source', { quietUnless: () => totalLag() > 0 });
 *   // ... "no progress for 30 s: waiting for the source (since 12:00:01; 5,000 records waiting in Kafka); kafka: ..."
 *   watch.stop();
 */

export interface StallWatchOptions {
  /** Report a step that lasts this long (ms); 0 or Infinity switches reports off. */
  afterMs: number;
  log: (line: string) => void;
  /** What the parts say about themselves, appended to the report. */
  describe?: () => string | undefined;
  now?: () => number;
}

export interface StepOptions {
  /** Report only while this returns true (a wait that is normal otherwise). */
  quietUnless?: () => boolean;
  /** Detail for the report, computed when reporting (e.g. records waiting). */
  detail?: () => string | undefined;
}

/** How long a step may last before it is reported, unless the environment says otherwise. */
export const DEFAULT_STALL_REPORT_MS = 30_000;

/** `TIDEFLOW_STALL_REPORT_MS` (tests and debugging lower it), else the default. */
export function stallReportMsFromEnvironment(env: NodeJS.ProcessEnv = process.env): number {
  const text = env.TIDEFLOW_STALL_REPORT_MS;
  if (text === undefined || text.trim() === '') return DEFAULT_STALL_REPORT_MS;
  const value = Number(text);
  return Number.isFinite(value) && value >= 0 ? value : DEFAULT_STALL_REPORT_MS;
}

export class StallWatch {
  private step = 'starting';
  private since: number;
  private lastReport = 0;
  private stepOptions: StepOptions = {};
  private timer: NodeJS.Timeout | null = null;
  private readonly now: () => number;
  private reportCount = 0;

  constructor(private readonly options: StallWatchOptions) {
    this.now = options.now ?? Date.now;
    this.since = this.now();
  }

  /** Reports logged so far (tests). */
  get reports(): number {
    return this.reportCount;
  }

  /** Check periodically (the timer never keeps the process alive). */
  start(): void {
    const { afterMs } = this.options;
    if (this.timer || !(afterMs > 0) || !Number.isFinite(afterMs)) return;
    this.timer = setInterval(() => this.check(), Math.max(100, Math.min(afterMs / 4, 5000)));
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** The run moved on to `step`. Cheap: called several times per batch. */
  enter(step: string, options: StepOptions = {}): void {
    this.step = step;
    this.stepOptions = options;
    this.since = this.now();
    this.lastReport = 0;
  }

  /** Log a report if the current step lasted too long (the timer calls this; tests call it directly). */
  check(): void {
    const { afterMs } = this.options;
    if (!(afterMs > 0) || !Number.isFinite(afterMs)) return;
    const at = this.now();
    const lasted = at - this.since;
    if (lasted < afterMs || at - Math.max(this.lastReport, this.since) < afterMs) return;
    const { quietUnless, detail } = this.stepOptions;
    try {
      if (quietUnless && !quietUnless()) return;
      const parts = [detail?.(), this.options.describe?.()].filter((part): part is string => typeof part === 'string' && part !== '');
      this.options.log(
        `no progress for ${Math.round(lasted / 1000)} s: ${this.step} (since ${new Date(this.since).toISOString().slice(11, 19)} UTC)` +
          (parts.length > 0 ? `; ${parts.join('; ')}` : ''),
      );
      this.reportCount++;
    } catch (error) {
      this.options.log(`no progress for ${Math.round(lasted / 1000)} s: ${this.step} (state unavailable: ${(error as Error).message})`);
    }
    this.lastReport = at;
  }
}
