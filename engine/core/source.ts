import type { RawBatch } from './batch';

/** Next offset to read, per partition (what a checkpoint stores). */
export type Positions = Record<string, number>;

/**
 * Where records come from. A source yields raw batches one at a time and does
 * not fetch the next one until the runtime asked for it (async iteration is
 * the backpressure: kafkajs' `eachBatch` awaits the runtime taking the batch).
 */
export interface Source {
  /** Human-readable description for progress lines and errors. */
  readonly description: string;
  /**
   * Start reading. `from` holds the checkpointed positions; partitions not in
   * it start where the source's own config says (earliest/latest/start of file).
   */
  batches(from: Positions): AsyncIterable<RawBatch>;
  /** After a checkpoint is durable: tell upstream (Kafka consumer-group commit, for lag monitoring). */
  commit?(positions: Positions): Promise<void>;
  /** Records not yet read, per partition, when the source can tell (consumer lag). */
  lag?(): Record<string, number>;
  /**
   * Records this run still expects to read, per partition, where known
   * (a bounded run: up to its end offsets). Partitions it cannot tell about
   * are absent.
   */
  remaining?(): Record<string, number>;
  /**
   * Event-time alignment: stop fetching these partitions until a later call
   * leaves them out (the runtime calls this after every batch). A source
   * without it reads its partitions in whatever order it likes.
   */
  hold?(partitions: ReadonlySet<string>): void;
  /** What it is doing or waiting for, one line, for the run's stall reports. */
  describeState?(): string | undefined;
  close(): Promise<void>;
}
