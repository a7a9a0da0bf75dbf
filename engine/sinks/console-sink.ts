import type { Row } from '../core/batch';
import { toJsonLine } from './format';
import type { Sink, SinkOptions } from '../core/sink';
import type { ComponentContext, JsonSchema } from '../config/component';

export interface ConsoleSinkOptions extends SinkOptions {
  format: 'table' | 'jsonl';
  /** Fields that group the table (e.g. `station`): one section per group. */
  groupBy: string[];
  /** Rows shown per group before "... N more". */
  rowsPerGroup: number;
  out: NodeJS.WritableStream;
  /**
   * Where the input began and ended per group (fed by a tap on the input,
   * see InputSpans): windows the input began or ended inside are marked
   * partial. Without it nothing is marked.
   */
  inputSpans?: InputSpans;
}

/** Per group, what the input held: its first and last event time, and the usual spacing of its readings. */
export interface InputSpan {
  first: number;
  last: number;
  /** The most common gap between a group's successive readings (0 with a single reading). */
  spacing: number;
}

/** Distinct gaps counted per group: enough for any sampling plan, bounded for any input. */
const MAX_GAPS = 32;

/**
 * The span of the input per group key, observed on the rows as they are
 * read. A window `[start, end)` is partial when a reading one spacing
 * before the group's first one, or after its last one, would still have
 * fallen inside it: the input began or ended inside the window, so it holds
 * fewer readings than a whole one. Aligned data is not marked: readings every
 * 6 minutes from 00:00 to 23:54 fill the 30-minute windows of that day.
 *
 * @example
 *   const spans = new InputSpans(['station'], 't');
 *   spans.observe(rows);            // each batch, as read
 *   spans.isPartial('8454000', start, end);
 */
export class InputSpans {
  private readonly spans = new Map<string, { first: number; last: number; previous: number; gaps: Map<number, number> }>();
  /** Rows were read that could not be observed (decoded elsewhere): no marks at all rather than wrong ones. */
  private blind = false;

  constructor(
    private readonly groupBy: readonly string[],
    private readonly eventTimeField: string,
  ) {}

  observe(rows: readonly Row[]): void {
    for (const row of rows) {
      const t = row[this.eventTimeField];
      if (typeof t !== 'number' || !Number.isFinite(t)) continue;
      const key = groupKey(row, this.groupBy);
      const span = this.spans.get(key);
      if (span === undefined) {
        this.spans.set(key, { first: t, last: t, previous: t, gaps: new Map() });
        continue;
      }
      if (t < span.first) span.first = t;
      if (t > span.last) span.last = t;
      const gap = t - span.previous;
      span.previous = t;
      if (gap <= 0) continue;
      const seen = span.gaps.get(gap);
      if (seen !== undefined) span.gaps.set(gap, seen + 1);
      else if (span.gaps.size < MAX_GAPS) span.gaps.set(gap, 1);
    }
  }

  /** Records were read that this could not see (e.g. aggregated as they were decoded): marks would be guesses. */
  markBlind(): void {
    this.blind = true;
  }

  span(key: string): InputSpan | undefined {
    const span = this.blind ? undefined : this.spans.get(key);
    if (span === undefined) return undefined;
    let spacing = 0;
    let most = 0;
    for (const [gap, count] of span.gaps) {
      if (count > most || (count === most && gap < spacing)) {
        spacing = gap;
        most = count;
      }
    }
    return { first: span.first, last: span.last, spacing };
  }

  /** Whether the input of group `key` began or ended inside `[start, end)`; false when it is not known. */
  isPartial(key: string, start: number, end: number): boolean {
    const span = this.span(key);
    if (span === undefined) return false;
    return (span.first < end && span.first - span.spacing >= start) || (span.last >= start && span.last + span.spacing < end);
  }

  /** Whether no later reading can make `[start, end)` end-partial: the input already reaches past it. */
  isSettled(key: string, end: number): boolean {
    const span = this.span(key);
    return span === undefined || span.last + span.spacing >= end;
  }
}

/** The columns a reader looks for first in a summary line. */
const SUMMARISED = ['range', 'high', 'low', 'avg', 'mean'];

/** What a table keeps of one group while rows arrive: bounded whatever the run's length. */
interface Group {
  key: string;
  rows: number;
  /** The first rows, shown. */
  shown: Row[];
  /** Rows a later reading could still make whole or not (the last windows): judged when settled. */
  unsettled: Row[];
  /** Partial rows not among the shown ones, printed after them. */
  partialRows: Row[];
  partial: number;
  /** Per summarised column over whole rows: min, max, sum, count. */
  stats: Map<string, { min: number; max: number; sum: number; n: number }>;
}

/**
 * Prints results for a person. `jsonl` streams one line per row. `table`
 * prints, when the run ends (or is stopped), one section per group (e.g.
 * per station) with its total number of rows, the first rows, every partial
 * window marked `*` (the input began or ended inside it; see InputSpans) and
 * a summary of the whole windows only, then a grand total. It keeps only
 * what it prints, so an endless stream's table costs bounded memory.
 */
export class ConsoleSink implements Sink {
  readonly description: string;
  private readonly groups = new Map<string, Group>();
  private columns: string[] | null = null;
  private total = 0;

  constructor(private readonly options: ConsoleSinkOptions) {
    this.description = `console (${options.format})`;
  }

  async open(): Promise<void> {}

  async write(rows: Row[]): Promise<void> {
    if (this.options.format === 'jsonl') {
      let text = '';
      for (const row of rows) text += toJsonLine(row, this.options.timestampFields) + '\n';
      this.options.out.write(text);
      return;
    }
    for (const row of rows) this.add(row);
  }

  async flush(): Promise<void> {}

  async close(): Promise<void> {
    if (this.options.format === 'table' && this.total > 0) this.options.out.write(this.render());
  }

  private add(row: Row): void {
    this.columns ??= Object.keys(row).filter((column) => !this.options.groupBy.includes(column));
    this.total++;
    const key = groupKey(row, this.options.groupBy);
    let group = this.groups.get(key);
    if (group === undefined) {
      group = { key, rows: 0, shown: [], unsettled: [], partialRows: [], partial: 0, stats: new Map() };
      this.groups.set(key, group);
    }
    group.rows++;
    if (group.shown.length < this.options.rowsPerGroup) group.shown.push(row);
    group.unsettled.push(row);
    this.settle(group, false);
  }

  /** Judge the rows the input has reached past (all of them at the end): count partial ones, summarise whole ones. */
  private settle(group: Group, end: boolean): void {
    const spans = this.options.inputSpans;
    let kept = 0;
    for (const row of group.unsettled) {
      const bounds = windowBounds(row);
      if (!end && bounds !== null && spans !== undefined && !spans.isSettled(group.key, bounds.end)) {
        group.unsettled[kept++] = row;
        continue;
      }
      if (bounds !== null && spans !== undefined && spans.isPartial(group.key, bounds.start, bounds.end)) {
        group.partial++;
        if (!group.shown.includes(row)) group.partialRows.push(row);
      } else {
        summarise(group.stats, row);
      }
    }
    group.unsettled.length = kept;
  }

  private render(): string {
    const spans = this.options.inputSpans;
    const columns = this.columns ?? [];
    const windowed = columns.includes('window_start') && columns.includes('window_end');
    const what = windowed ? 'window' : 'row';
    let text = '';
    let partial = 0;
    const sorted = [...this.groups.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    for (const group of sorted) {
      this.settle(group, true);
      partial += group.partial;
      const isPartial = (row: Row) => {
        const bounds = windowBounds(row);
        return bounds !== null && spans !== undefined && spans.isPartial(group.key, bounds.start, bounds.end);
      };
      const heading = this.options.groupBy.length > 0 ? `${this.options.groupBy.join(' / ')} ${group.key}` : 'results';
      let line = `${heading}: ${count(group.rows, what)} in total`;
      if (group.partial > 0) line += `, ${group.partial} partial (*)`;
      const span = windowed ? spans?.span(group.key) : undefined;
      if (span !== undefined) line += `; input ${formatTime(span.first)} .. ${formatTime(span.last)}`;
      text += `\n${line}\n`;
      const more = group.rows - group.shown.length - group.partialRows.length;
      const listed = [...group.shown, ...group.partialRows];
      const cells = listed.map((row) => columns.map((column) => this.cell(row[column], column)));
      const widths = columns.map((column, c) => Math.max(column.length, ...cells.map((cellsOfRow) => cellsOfRow[c].length)));
      const numeric = columns.map((column) => listed.some((row) => typeof row[column] === 'number'));
      const render = (mark: string, values: string[]) => `${mark} ` + values.map((value, c) => (numeric[c] ? value.padStart(widths[c]) : value.padEnd(widths[c]))).join('  ');
      text += render(' ', columns) + '\n';
      text += '  ' + widths.map((width) => '-'.repeat(width)).join('  ') + '\n';
      group.shown.forEach((row, i) => (text += render(isPartial(row) ? '*' : ' ', cells[i]) + '\n'));
      if (more > 0) text += `  ... ${more.toLocaleString('en-US')} more (all of them: --output FILE.jsonl or FILE.csv)\n`;
      group.partialRows.forEach((row, i) => (text += render('*', cells[group.shown.length + i]) + '\n'));
      text += summaryLine(group, what);
    }
    const groups = this.options.groupBy.length > 0 ? `${count(this.groups.size, this.options.groupBy.join(' / '))}, ` : '';
    text += `\n${groups}${count(this.total, what)} in total${partial > 0 ? `, ${partial} partial` : ''}\n`;
    if (partial > 0) {
      text += `* partial: the input began or ended inside the ${what}, so it holds fewer readings than a whole one; summaries leave it out\n`;
    }
    return text;
  }

  private cell(value: unknown, column: string): string {
    if (value === null || value === undefined) return '-';
    if (value instanceof Date) return formatTime(value.getTime());
    if (typeof value === 'number') {
      if (this.options.timestampFields.has(column)) return formatTime(value);
      return Number.isInteger(value) ? String(value) : value.toFixed(3);
    }
    return String(value);
  }
}

function groupKey(row: Row, fields: readonly string[]): string {
  return fields.map((field) => String(row[field])).join(' / ');
}

function windowBounds(row: Row): { start: number; end: number } | null {
  const start = row.window_start;
  const end = row.window_end;
  return start instanceof Date && end instanceof Date ? { start: start.getTime(), end: end.getTime() } : null;
}

function count(n: number, what: string): string {
  return `${n.toLocaleString('en-US')} ${what}${n === 1 || what.endsWith('s') ? '' : 's'}`;
}

/** Minute precision reads better in a table; the JSONL output keeps milliseconds. */
function formatTime(ms: number): string {
  return new Date(ms).toISOString().slice(0, 16).replace('T', ' ');
}

function summarise(stats: Group['stats'], row: Row): void {
  for (const column of SUMMARISED) {
    const value = row[column];
    if (typeof value !== 'number' || !Number.isFinite(value)) continue;
    let stat = stats.get(column);
    if (stat === undefined) stats.set(column, (stat = { min: value, max: value, sum: 0, n: 0 }));
    if (value < stat.min) stat.min = value;
    if (value > stat.max) stat.max = value;
    stat.sum += value;
    stat.n++;
  }
}

/** A one-line digest of the columns a reader looks for first (range, high, low), over the whole windows. */
function summaryLine(group: Group, what: string): string {
  const parts: string[] = [];
  let n = 0;
  for (const column of SUMMARISED) {
    const stat = group.stats.get(column);
    if (stat === undefined) continue;
    n = Math.max(n, stat.n);
    parts.push(`${column} ${stat.min.toFixed(3)}..${stat.max.toFixed(3)} (mean ${(stat.sum / stat.n).toFixed(3)})`);
  }
  if (parts.length === 0) return '';
  const over = group.partial > 0 ? `the ${count(n, `whole ${what}`)}` : `all ${count(n, what)}`;
  return `  summary of ${over}: ${parts.join('; ')}\n`;
}

// ---------------------------------------------------------------- job-file configuration

/**
 * Console sink: rows on standard output, for trying jobs out.
 *
 * @example
 * sink:
 *   console: { format: table }
 */

export interface ConsoleSinkConfig {
  format?: 'table' | 'jsonl';
}

export const schema: JsonSchema = {
  title: 'console sink',
  description: 'Prints rows to standard output.',
  examples: [{ format: 'table' }, { format: 'jsonl' }],
  type: 'object',
  additionalProperties: false,
  properties: {
    format: { description: 'An aligned table, or one JSON object per line.', type: 'string', enum: ['table', 'jsonl'], default: 'table' },
  },
};

/** Schema-validated YAML to the JobSpec form: defaults filled in, durations and timestamps in milliseconds. */
export function normalize(raw: ConsoleSinkConfig, _context: ComponentContext): { format: 'table' | 'jsonl' } {
  return { format: raw.format ?? 'table' };
}
