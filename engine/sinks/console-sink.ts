import type { Row } from '../core/batch';
import { toJsonLine } from './format';
import type { Sink, SinkOptions } from '../core/sink';

export interface ConsoleSinkOptions extends SinkOptions {
  format: 'table' | 'jsonl';
  /** Fields that group the table (e.g. `station`): one section per group. */
  groupBy: string[];
  /** Rows shown per group before "... N more". */
  rowsPerGroup: number;
  out: NodeJS.WritableStream;
}

/**
 * Prints results for a person. `jsonl` streams one line per row; `table`
 * collects rows and prints one aligned table per group when the run ends
 * (or every 10,000 rows on an endless stream), with a summary line each.
 */
export class ConsoleSink implements Sink {
  readonly description: string;
  private collected: Row[] = [];

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
    for (const row of rows) this.collected.push(row);
    if (this.collected.length >= 10_000) this.printTables();
  }

  async flush(): Promise<void> {}

  async close(): Promise<void> {
    if (this.collected.length > 0) this.printTables();
  }

  private printTables(): void {
    const rows = this.collected;
    this.collected = [];
    const groups = new Map<string, Row[]>();
    for (const row of rows) {
      const key = this.options.groupBy.map((field) => String(row[field])).join(' / ');
      let group = groups.get(key);
      if (!group) groups.set(key, (group = []));
      group.push(row);
    }
    const columns = Object.keys(rows[0]).filter((column) => !this.options.groupBy.includes(column));
    let text = '';
    for (const [key, group] of [...groups].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      const heading = this.options.groupBy.length > 0 ? `${this.options.groupBy.join(' / ')} ${key}` : 'results';
      text += `\n${heading} — ${group.length} row${group.length === 1 ? '' : 's'}\n`;
      const shown = group.slice(0, this.options.rowsPerGroup);
      const cells = shown.map((row) => columns.map((column) => this.cell(row[column], column)));
      const widths = columns.map((column, c) => Math.max(column.length, ...cells.map((line) => line[c].length)));
      const render = (line: string[]) =>
        '  ' + line.map((cell, c) => (isNumeric(shown[0]?.[columns[c]]) ? cell.padStart(widths[c]) : cell.padEnd(widths[c]))).join('  ');
      text += render(columns) + '\n';
      text += '  ' + widths.map((width) => '-'.repeat(width)).join('  ') + '\n';
      for (const line of cells) text += render(line) + '\n';
      if (group.length > shown.length) text += `  ... ${group.length - shown.length} more (write them all with --output FILE.jsonl)\n`;
      text += summarise(group, columns);
    }
    this.options.out.write(text);
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

function isNumeric(value: unknown): boolean {
  return typeof value === 'number';
}

/** Minute precision reads better in a table; the JSONL output keeps milliseconds. */
function formatTime(ms: number): string {
  return new Date(ms).toISOString().slice(0, 16).replace('T', ' ');
}

/** A one-line digest of the numeric columns a reader looks for first (range, high, low). */
function summarise(group: Row[], columns: string[]): string {
  const parts: string[] = [];
  for (const column of ['range', 'high', 'low', 'avg', 'mean']) {
    if (!columns.includes(column)) continue;
    let min = Infinity;
    let max = -Infinity;
    let sum = 0;
    let n = 0;
    for (const row of group) {
      const value = row[column];
      if (typeof value !== 'number' || !Number.isFinite(value)) continue;
      if (value < min) min = value;
      if (value > max) max = value;
      sum += value;
      n++;
    }
    if (n > 0) parts.push(`${column} ${min.toFixed(3)}..${max.toFixed(3)} (mean ${(sum / n).toFixed(3)})`);
  }
  return parts.length > 0 ? `  summary: ${parts.join('; ')}\n` : '';
}
