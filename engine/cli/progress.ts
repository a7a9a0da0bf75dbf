import { unaccounted } from '../core/operator';
import type { Progress, RunResult } from '../runtime/run-job';

const number = new Intl.NumberFormat('en-US');

/** `2019-05-02 10:00Z`, or `-` before the first record / `end` after the input ended. */
export function formatWatermark(watermark: number): string {
  if (watermark === Number.POSITIVE_INFINITY) return 'end of input';
  if (!Number.isFinite(watermark)) return '-';
  return new Date(watermark).toISOString().slice(0, 16).replace('T', ' ') + 'Z';
}

/** `850 ms`, `42 s`, `12 min`, `5.2 h`, `3.1 d`: the watermark's distance behind the wall clock. */
export function formatLag(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${Math.round(ms / 1000)} s`;
  if (ms < 3_600_000) return `${Math.round(ms / 60_000)} min`;
  if (ms < 86_400_000) return `${(ms / 3_600_000).toFixed(1)} h`;
  return `${(ms / 86_400_000).toFixed(1)} d`;
}

/**
 * The line shown while a job runs: records, rate, watermark, lag, side outputs.
 * On a terminal it rewrites itself in place; in a log it is printed every
 * `logEveryMs` so CI logs show life without drowning in lines.
 */
export class ProgressLine {
  private lastLoggedAt = 0;
  private visible = false;

  constructor(
    private readonly job: string,
    private readonly stream: NodeJS.WriteStream = process.stderr,
    private readonly logEveryMs = 5000,
    private readonly now: () => number = Date.now,
  ) {}

  update(progress: Progress): void {
    const { counters } = progress;
    // A live source (one that reports consumer lag) also shows how far event time trails the wall clock.
    const live = progress.lag !== undefined;
    const behind = live && Number.isFinite(progress.watermark) ? ` (${formatLag(Math.max(0, this.now() - progress.watermark))} behind)` : '';
    const parts = [
      `${this.job}`,
      `${number.format(progress.recordsIn)} records`,
      `${number.format(Math.round(progress.recordsPerSecond))} rec/s`,
      `watermark ${formatWatermark(progress.watermark)}${behind}`,
      `${number.format(counters.resultsOut)} results`,
    ];
    if (progress.lag) {
      // Consumer lag: records not read yet, in total and on the partition furthest behind.
      const entries = Object.entries(progress.lag);
      const total = entries.reduce((sum, [, value]) => sum + value, 0);
      const worst = entries.reduce<[string, number] | null>((max, entry) => (max === null || entry[1] > max[1] ? entry : max), null);
      parts.push(`lag ${number.format(total)} records` + (entries.length > 1 && worst && worst[1] > 0 ? ` (max ${number.format(worst[1])} on ${worst[0]})` : ''));
    }
    if (counters.duplicatesDropped) parts.push(`${number.format(counters.duplicatesDropped)} dup`);
    if (counters.late) parts.push(`${number.format(counters.late)} late`);
    if (counters.deadLetters) parts.push(`${number.format(counters.deadLetters)} dead`);
    if (progress.epoch) parts.push(`epoch ${progress.epoch}`);
    const line = parts.join('  ');
    if (this.stream.isTTY) {
      this.stream.write(`\r\x1b[2K${line}`);
      this.visible = true;
    } else if (progress.elapsedMs - this.lastLoggedAt >= this.logEveryMs) {
      this.stream.write(`${line}\n`);
      this.lastLoggedAt = progress.elapsedMs;
    }
  }

  /** Clear the in-place line before other output. */
  clear(): void {
    if (this.visible) this.stream.write('\r\x1b[2K');
    this.visible = false;
  }
}

/**
 * The closing summary: what came in, where every record went, and how fast.
 * `noRecords` says why a run read nothing (e.g. `data/x.jsonl is empty ...`):
 * it then replaces the bare "0 records" of the first line.
 */
export function formatSummary(job: string, result: RunResult, outputs: Array<{ name: string; description: string }>, hasWindow = false, noRecords?: string): string {
  const c = result.counters;
  const missing = unaccounted(c, hasWindow);
  const seconds = result.elapsedMs / 1000;
  // A resumed run's counters go on from the checkpoint: its rate is of its own records, and the
  // totals the accounting line below adds up are named as the job's.
  const rate = result.recordsThisRun / Math.max(seconds, 1e-3);
  const lines = [
    result.stoppedWaitingFor !== null
      ? `${job}: stopped after ${seconds.toFixed(2)} s while waiting for ${result.stoppedWaitingFor}; nothing was read and no checkpoint written`
      : noRecords !== undefined && result.recordsThisRun === 0
        ? `${job}: 0 records: ${noRecords}`
        : `${job}: ${number.format(result.recordsThisRun)} records in ${seconds.toFixed(2)} s (${number.format(Math.round(rate))} records/s)` +
      (result.resumedFromEpoch !== null
        ? `, resumed from checkpoint epoch ${result.resumedFromEpoch} (${number.format(c.recordsIn)} records since the job's first run, counted below)`
        : '') +
      (result.stopped
        ? result.lostTasks.length === 0
          ? ', stopped before the end of input (checkpoint written)'
          : `, stopped before the end of input (checkpoints written for the tasks it still held; ${result.lostTasks.length} taken over by other instances: ${result.lostTasks.join(', ')})`
        : ''),
    `  ${number.format(c.resultsOut)} results, ${number.format(c.duplicatesDropped)} duplicates dropped, ` +
      `${number.format(c.nullReadings)} null readings, ${number.format(c.filteredOut)} filtered out, ` +
      `${number.format(c.late)} late, ${number.format(c.deadLetters)} dead letters` +
      (missing === 0 ? ' (every record accounted for)' : ` (${number.format(missing)} records unaccounted for: please report this)`),
  ];
  for (const output of outputs) {
    const rows = result.rowsBySink[output.name] ?? 0;
    if (rows > 0 || output.name === 'main') lines.push(`  ${output.name}: ${number.format(rows)} rows -> ${output.description}`);
  }
  return lines.join('\n');
}
