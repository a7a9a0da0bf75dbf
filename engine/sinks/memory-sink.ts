import type { Row } from '../core/batch';
import type { Sink } from '../core/sink';

/**
 * Keeps every row it is given, in order, in memory: for the test driver and
 * for programs that want a job's results as values (the TypeScript API).
 *
 * @example
 *   const results = new MemorySink();
 *   parts.sinks.set('main', results);
 *   await runJob(parts);
 *   results.rows; // every result row
 */
export class MemorySink implements Sink {
  readonly rows: Row[] = [];

  constructor(readonly description = 'memory') {}

  async open(): Promise<void> {}

  async write(rows: Row[]): Promise<void> {
    for (const row of rows) this.rows.push(row);
  }

  async flush(): Promise<void> {}

  async close(): Promise<void> {}
}
