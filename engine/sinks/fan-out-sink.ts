import type { Row } from '../core/batch';
import type { Sink } from '../core/sink';

/**
 * Every row to several sinks (`sink: { all: [...] }` in a job file: the
 * same results into Cassandra and OpenSearch). The checkpoint contract holds
 * for the whole: `flush` resolves only when every sink's flush resolved, so
 * the runtime checkpoints only what all of them hold durably; after a crash
 * each replays the same rows, which each absorbs by its own upserts.
 *
 * The sinks share the row objects: sinks never change the rows they are given.
 *
 * @example
 *   const sink = new FanOutSink([new CassandraSink(...), new OpenSearchSink(...)]);
 *   await sink.open(saved?.sinks.main);   // each sink gets its own position back
 *   await sink.write(rows);               // resolves when every sink took the rows
 *   await sink.flush();                   // resolves when every sink holds them durably
 */
export class FanOutSink implements Sink {
  readonly description: string;

  /** Each sink's position (null for sinks without one), in the order of the list; only when one of them has one. */
  readonly position?: () => unknown;

  constructor(private readonly sinks: readonly Sink[]) {
    this.description = sinks.map((sink) => sink.description).join(' + ');
    if (sinks.some((sink) => sink.position !== undefined)) this.position = () => this.sinks.map((sink) => (sink.position ? sink.position() : null));
  }

  /** Opens every sink; `resume` is the list `position` returned (one entry per sink). */
  async open(resume?: unknown): Promise<void> {
    const positions = Array.isArray(resume) ? resume : [];
    await Promise.all(this.sinks.map((sink, i) => sink.open(positions[i] ?? undefined)));
  }

  async write(rows: Row[]): Promise<void> {
    await Promise.all(this.sinks.map((sink) => sink.write(rows)));
  }

  async flush(): Promise<void> {
    await Promise.all(this.sinks.map((sink) => sink.flush()));
  }

  /** Closes every sink, even when one of them fails; the first failure is thrown after. */
  async close(): Promise<void> {
    const results = await Promise.allSettled(this.sinks.map((sink) => sink.close()));
    const failed = results.find((result): result is PromiseRejectedResult => result.status === 'rejected');
    if (failed) throw failed.reason;
  }
}
