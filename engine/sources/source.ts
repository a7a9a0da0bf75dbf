import type { RawBatch } from '../runtime/batch';

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
  close(): Promise<void>;
}
