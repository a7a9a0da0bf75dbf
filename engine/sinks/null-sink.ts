import type { Row } from '../core/batch';
import type { Sink } from '../core/sink';

/** Discards rows (benchmarks, dry runs); counts them. */
export class NullSink implements Sink {
  readonly description = 'null sink (results discarded)';
  rows = 0;
  async open(): Promise<void> {}
  async write(rows: Row[]): Promise<void> {
    this.rows += rows.length;
  }
  async flush(): Promise<void> {}
  async close(): Promise<void> {}
}
