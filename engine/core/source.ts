import type { RawBatch } from './batch';

/** Next offset to read, per partition (what a checkpoint stores). */
export type Positions = Record<string, number>;

/**
 * What a source reads, as a checkpoint records it: positions are only
 * meaningful for the same input. `fingerprint` decides (a file's size and a
 * hash of its content, a topic's name); `what` says it to a person.
 */
export interface InputIdentity {
  what: string;
  fingerprint: string;
}

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
  /** What it reads, for the checkpoint to record; sources that cannot tell leave it out. */
  identity?(): Promise<InputIdentity>;
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
  /**
   * Set by a source whose partitions move between instances of a job (a
   * Kafka consumer group): the runtime then runs one task per partition,
   * each with its own position, watermark, state and checkpoint, started and
   * stopped through `setTaskHandler`; `batches(from)` ignores `from`.
   */
  readonly sharesPartitions?: boolean;
  /** How the runtime takes over partitions given to this instance and lets go of those taken away (before `batches`). */
  setTaskHandler?(handler: TaskHandler): void;
  /**
   * Whether this instance still owns `partition` as far as the source can
   * tell (assigned, and the group has heard from it lately): the runtime
   * stops renewing a task's claim when it does not, so another instance can
   * take the partition over.
   */
  owns?(partition: string): boolean;
  /**
   * The runtime stopped running `partition` here (its claim was lost): deliver
   * nothing of it until the group assigns it again, as a new partition.
   */
  forget?(partition: string): void;
  /**
   * A bounded run learned from the records that `partition` has nothing more
   * for it (every origin of a repartition topic ended): it is done with it.
   */
  endPartition?(partition: string): void;
  close(): Promise<void>;
}

/** What the runtime does when partitions are assigned to this instance or taken away. */
export interface TaskHandler {
  /**
   * Partitions newly given to this instance: resolves, once their tasks hold
   * them and restored their state, with where to read each from (absent: the
   * source's configured start). The source delivers nothing of them before.
   */
  assigned(partitions: string[]): Promise<Positions>;
  /** Partitions taken away: resolves once their tasks saved their state and let go of them. */
  revoked(partitions: string[]): Promise<void>;
  /**
   * A bounded run: `partition`, just assigned, has nothing to read before its
   * end (its checkpoint is there already, or it is empty), so no batch of it
   * will come to say so (`RawBatch.endsPartition`).
   */
  ended?(partition: string): void;
  /**
   * A bounded run whose own partitions are read to their end: the first
   * partition of the input not finished yet, here or on another instance as
   * the checkpoints say, with why (for the log); null once every one is.
   * `ends` holds where this instance's run ends each partition (null: where
   * its records say so, see `endPartition`). Until then the instance stays in
   * the group, so a partition another instance lets go of still finds an owner.
   */
  unfinishedPartition?(ends: Record<string, number | null>): Promise<string | null>;
}
