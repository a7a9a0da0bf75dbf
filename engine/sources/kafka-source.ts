import { setTimeout as sleep } from 'node:timers/promises';
import type { Admin, Batch, Consumer, Kafka, KafkaMessage } from 'kafkajs';
import { createKafkaClient, parsePartitionKey, partitionKey, toExternalError } from '../clients/kafka';
import type { KafkaSourceSpec } from '../config/job';
import type { RawBatch } from '../core/batch';
import { InternalError } from '../core/errors';
import { raceTimeout, RetryPolicy } from '../core/retry';
import type { InputIdentity, Positions, Source, TaskHandler } from '../core/source';
import { recordBatchReaderState } from '../patches/kafkajs-record-batches';
import type { ComponentContext, JsonSchema } from '../config/component';
import { durationMs, durationSchema } from '../config/component';
import { avroRegistrySchema, kafkaConnectionProperties, normalizeAvroRegistry, normalizeKafkaConnection } from '../config/kafka-connection';
import type { AvroRegistryConfig, KafkaConnectionConfig } from '../config/kafka-connection';

/**
 * Kafka source (kafkajs), driven by the runtime's checkpoints.
 *
 * - The checkpoint is the source of truth for positions: auto-commit is off,
 *   every assigned partition is seeked to the checkpointed offset (or to the
 *   configured start), and consumer-group offsets are committed only after a
 *   checkpoint is durable, for lag monitoring.
 * - Backpressure is a rendezvous: `eachBatch` offers a chunk (at most
 *   MAX_CHUNK records) and waits until the runtime asks for the next one,
 *   i.e. has finished the previous; only then are offsets resolved. kafkajs
 *   does not fetch again while `eachBatch` waits, so memory stays bounded.
 * - The source remembers the next offset it handed to the runtime per
 *   partition. After a rebalance or a consumer restart (broker outage),
 *   partitions are seeked back to exactly that offset and any records kafkajs
 *   delivers again are dropped, so nothing is lost or read twice.
 */

/** Records per RawBatch unless the spec says (`maxBatchRecords`); bigger kafkajs batches are split (Avro decode and operators run per chunk). */
export const MAX_CHUNK = 5000;
/** How often `eachBatch` heartbeats while the runtime still works on a chunk (session timeout is 30 s). */
const HEARTBEAT_WHILE_WAITING_MS = 3000;
/** Event-time alignment never stalls a stream: held partitions are released when no batch arrived for this long. */
const HOLD_RELEASE_MS = 5000;

// ---------------------------------------------------------------- rendezvous

/** One item offered to the consumer of a Rendezvous. */
export interface Offer {
  /** Resolves true once the taker asked for the next item (it finished this one), false if withdrawn or the queue closed first. */
  readonly done: Promise<boolean>;
  /** Take the offer back if nobody took it yet; true when it was withdrawn. */
  withdraw(): boolean;
}

interface Entry<T> {
  item: T;
  settle: (finished: boolean) => void;
}

/**
 * A hand-over point between one producer (kafkajs' `eachBatch`) and one
 * async-iterating consumer (the runtime), with no buffer: `offer` resolves
 * its `done` only when the consumer comes back for the next item, which is
 * how the runtime's pace reaches Kafka.
 *
 * @example
 *   const queue = new Rendezvous<number>();
 *   const offer = queue.offer(1);     // eachBatch side
 *   for await (const n of queue) {}   // runtime side; offer.done resolves on the next pull
 */
export class Rendezvous<T> implements AsyncIterableIterator<T> {
  private offered: Entry<T> | null = null;
  private inHand: Entry<T> | null = null;
  private taker: { resolve: (result: IteratorResult<T>) => void; reject: (error: unknown) => void } | null = null;
  private ended = false;
  private closed = false;
  private failure: { error: unknown } | null = null;

  /** `onTake` runs synchronously when the consumer receives an item (position bookkeeping). */
  constructor(private readonly onTake: (item: T) => void = () => {}) {}

  get isClosed(): boolean {
    return this.closed;
  }

  /** Who waits for whom, for stall reports: `describe(item)` names an item. */
  describeState(describe: (item: T) => string): string {
    if (this.failure) return 'failed';
    if (this.closed) return 'closed';
    const parts: string[] = [];
    if (this.inHand) parts.push(`runtime holds ${describe(this.inHand.item)}`);
    if (this.offered) parts.push(`offered, not taken: ${describe(this.offered.item)}`);
    if (this.taker) parts.push('runtime waits for a chunk');
    if (this.ended) parts.push('ended');
    return parts.join(', ') || 'idle (no offer, runtime not asking)';
  }

  /** Offer the next item. Only one offer may be outstanding. */
  offer(item: T): Offer {
    if (this.closed || this.ended || this.failure) return { done: Promise.resolve(false), withdraw: () => true };
    if (this.offered) throw new InternalError('Rendezvous: an offer is already waiting');
    let settle!: (finished: boolean) => void;
    const done = new Promise<boolean>((resolve) => (settle = resolve));
    const entry: Entry<T> = { item, settle };
    if (this.taker) {
      const taker = this.taker;
      this.taker = null;
      this.hand(entry);
      taker.resolve({ value: item, done: false });
    } else {
      this.offered = entry;
    }
    return {
      done,
      withdraw: () => {
        if (this.offered !== entry) return false;
        this.offered = null;
        entry.settle(false);
        return true;
      },
    };
  }

  /** No more items: the consumer's next pull (after finishing what it holds) ends the iteration. */
  end(): void {
    this.ended = true;
    if (this.taker && !this.offered) {
      const taker = this.taker;
      this.taker = null;
      taker.resolve({ value: undefined, done: true });
    }
  }

  /** The producer failed: the consumer's next pull throws `error`. */
  fail(error: unknown): void {
    if (this.closed || this.failure) return;
    this.failure = { error };
    this.dropOffer();
    if (this.taker) {
      const taker = this.taker;
      this.taker = null;
      taker.reject(error);
    }
  }

  /** The consumer stopped: outstanding offers resolve false. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.dropOffer();
    if (this.inHand) {
      this.inHand.settle(false);
      this.inHand = null;
    }
    if (this.taker) {
      const taker = this.taker;
      this.taker = null;
      taker.resolve({ value: undefined, done: true });
    }
  }

  next(): Promise<IteratorResult<T>> {
    // Asking for the next item means the previous one is finished.
    if (this.inHand) {
      this.inHand.settle(true);
      this.inHand = null;
    }
    if (this.failure) return Promise.reject(this.failure.error);
    if (this.offered) {
      const entry = this.offered;
      this.offered = null;
      this.hand(entry);
      return Promise.resolve({ value: entry.item, done: false });
    }
    if (this.ended || this.closed) return Promise.resolve({ value: undefined, done: true });
    if (this.taker) return Promise.reject(new InternalError('Rendezvous: next() called while another next() is pending'));
    return new Promise((resolve, reject) => (this.taker = { resolve, reject }));
  }

  return(): Promise<IteratorResult<T>> {
    this.close();
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<T> {
    return this;
  }

  private hand(entry: Entry<T>): void {
    this.inHand = entry;
    this.onTake(entry.item);
  }

  private dropOffer(): void {
    if (this.offered) {
      this.offered.settle(false);
      this.offered = null;
    }
  }
}

// ---------------------------------------------------------------- positions

/**
 * Per-partition bookkeeping of one topic: the next offset handed to the
 * runtime, the high watermark last seen (lag), and for bounded runs the end
 * offsets captured at start-up.
 */
export class PartitionTracker {
  private readonly next = new Map<number, number>();
  private readonly high = new Map<number, number>();
  private end: Map<number, number> | null = null;
  /** A bounded run that ends a partition when told (a repartition topic, by its origins' end marks), not at an offset. */
  private told: Set<number> | null = null;

  constructor(readonly topic: string) {}

  /** Bounded run: each partition ends when `tell` says so. */
  endWhenTold(): void {
    this.end = new Map();
    this.told = new Set();
  }

  /** A bounded run is done with `partition` (see endWhenTold). */
  tell(partition: number): void {
    this.told?.add(partition);
  }

  /** Where reading starts for a partition (checkpoint or configured start). */
  start(partition: number, offset: number): void {
    this.next.set(partition, offset);
  }

  /** Bounded run: stop at these offsets (exclusive). Partitions not listed count as done. */
  stopAt(end: Map<number, number>): void {
    this.end = new Map(end);
  }

  get bounded(): boolean {
    return this.end !== null;
  }

  nextOffset(partition: number): number | undefined {
    return this.next.get(partition);
  }

  observeHighWatermark(partition: number, high: number): void {
    this.high.set(partition, high);
  }

  /**
   * Which of a fetched batch's messages (ascending `offsets`) are new for the
   * runtime: `[from, to)` as indexes. Records before the next offset were
   * delivered already (kafkajs re-fetches after a rebalance or restart);
   * records at or after the end offset are outside a bounded run.
   */
  select(partition: number, offsets: ArrayLike<number>): { from: number; to: number } {
    const next = this.next.get(partition);
    let from = 0;
    if (next !== undefined) while (from < offsets.length && offsets[from] < next) from++;
    let to = offsets.length;
    const end = this.end?.get(partition);
    if (this.told !== null) {
      if (this.told.has(partition)) return { from, to: from };
    } else if (this.end !== null) {
      if (end === undefined) return { from, to: from };
      while (to > from && offsets[to - 1] >= end) to--;
    }
    return { from, to };
  }

  /** Whether a bounded run reads nothing of `partition` from `toOffset` on (runs ended by their records excepted: they learn it from them). */
  endsAt(partition: number, toOffset: number): boolean {
    if (this.told !== null || this.end === null) return false;
    const end = this.end.get(partition);
    return end !== undefined && toOffset >= end;
  }

  /** The partition went to another instance: its position here is void. */
  forget(partition: number): void {
    this.next.delete(partition);
  }

  /** The runtime received records up to `toOffset` (exclusive). */
  delivered(partition: number, toOffset: number): void {
    const next = this.next.get(partition);
    if (next === undefined || toOffset > next) this.next.set(partition, toOffset);
  }

  /** A bounded run has everything it wants from this partition. */
  partitionDone(partition: number): boolean {
    if (this.told !== null) return this.told.has(partition);
    if (this.end === null) return false;
    const end = this.end.get(partition);
    if (end === undefined) return true;
    return (this.next.get(partition) ?? Number.NEGATIVE_INFINITY) >= end;
  }

  /** A bounded run reached the end offsets of every partition. */
  isDone(): boolean {
    if (this.end === null) return false;
    for (const partition of this.end.keys()) if (!this.partitionDone(partition)) return false;
    return true;
  }

  /**
   * Records this run still wants per partition: up to the end offset in a
   * bounded run, else up to the last high watermark seen. Partitions whose
   * high watermark was never seen are absent (nothing is known about them).
   */
  remaining(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [partition, next] of this.next) {
      const until = this.end !== null && this.told === null ? (this.end.get(partition) ?? next) : this.high.get(partition);
      if (until !== undefined) out[partitionKey(this.topic, partition)] = Math.max(0, until - next);
    }
    return out;
  }

  /** Records behind the high watermark per partition, for partitions with a known position. */
  lag(): Record<string, number> {
    const lag: Record<string, number> = {};
    for (const [partition, next] of this.next) {
      const high = this.high.get(partition);
      if (high !== undefined) lag[partitionKey(this.topic, partition)] = Math.max(0, high - next);
    }
    return lag;
  }
}

/**
 * Where each partition starts: the checkpointed offset when there is one,
 * else the configured start (earliest = low watermark, latest = high). An
 * offset outside [low, high] is clamped (retention deleted records, or the
 * topic was recreated), with a line saying so.
 */
export function startPositions(
  topic: string,
  from: Positions,
  watermarks: ReadonlyArray<{ partition: number; low: number; high: number }>,
  startFrom: 'earliest' | 'latest',
  log: (line: string) => void = () => {},
): Map<number, number> {
  const starts = new Map<number, number>();
  for (const { partition, low, high } of watermarks) {
    const saved = from[partitionKey(topic, partition)];
    let start = saved ?? (startFrom === 'earliest' ? low : high);
    if (start < low) {
      log(`kafka: ${partitionKey(topic, partition)}: offsets ${start}..${low - 1} are gone (retention); continuing at ${low}`);
      start = low;
    } else if (start > high) {
      log(`kafka: ${partitionKey(topic, partition)}: checkpoint offset ${start} is past the end (${high}); was the topic recreated? continuing at ${high}`);
      start = high;
    }
    starts.set(partition, start);
  }
  return starts;
}

// ---------------------------------------------------------------- the source

/** How often a bounded run that finished its own partitions asks whether the others' are finished. */
const FINISHED_POLL_MS = 500;
const WAITING_LOG_MS = 30_000;

/** How long closing waits for the last group-offset commit. */
const COMMIT_ON_CLOSE_MS = 5_000;

export interface KafkaSourceOptions {
  log?: (line: string) => void;
}

/**
 * Reads a topic as a consumer group, yielding RawBatches of Kafka values.
 *
 * @example
 *   const source = new KafkaSource(spec, { log: console.error });
 *   for await (const batch of source.batches({ 'tides.observations/0': 1200 })) {
 *     // batch.payloads, batch.offsets, batch.source = { partition: 'tides.observations/0', fromOffset, toOffset }
 *   }
 *   await source.close();
 */
export class KafkaSource implements Source {
  readonly description: string;
  private readonly log: (line: string) => void;
  private readonly kafka: Kafka;
  private readonly tracker: PartitionTracker;
  private readonly stopping = new AbortController();
  private queue: Rendezvous<RawBatch> | null = null;
  private consumer: Consumer | null = null;
  /** Partitions held back for event-time alignment (see `hold`). */
  private held = new Set<number>();
  /** Held partitions paused in the consumer. */
  private readonly paused = new Set<number>();
  private heldTimes = 0;
  private holdRelease: NodeJS.Timeout | null = null;
  private safetyReleases = 0;
  private admin: Admin | null = null;
  /** Deletes what a repartition topic's second stage has read (see purge). */
  private purgeAdmin: Admin | null = null;
  private purgeFailing = false;
  private closed: Promise<void> | null = null;
  /** Partitions the group assigned to this instance, and those whose tasks are restored (records flow for these only). */
  private assigned = new Set<number>();
  private readonly ready = new Set<number>();
  private joined = false;
  private lastHeartbeatAt = 0;
  /** Partitions whose tasks were lost while the group gave them to this instance: taken up again at the next successful heartbeat. */
  private readonly lostWhileAssigned = new Set<number>();
  private taskHandler: TaskHandler | null = null;
  /** A bounded run's own partitions are done: asking whether the others' are (see endWhenFinished). */
  private finishing = false;
  /** A bounded run waiting for the other instances: since when, and when it last said so. */
  private waitingSince: number | null = null;
  private waitingLoggedAt = 0;
  /** Group-offset commits, one after another; positions waiting for the next one. */
  private commits: Promise<void> = Promise.resolve();
  private nextCommit: Positions | null = null;
  /** End offsets of a bounded run, and where partitions start when their task has no position. */
  private topicOffsets: Array<{ partition: number; low: number; high: number }> = [];
  /** For stall reports: what kafkajs last did. */
  private readonly activity = { batches: 0, lastBatchAt: 0, lastBatch: '', inEachBatch: 0, lastEnd: '', joins: 0, lastJoinAt: 0, crashes: 0, lastCrash: '' };
  /** Partitions move between the instances of the group: one task per partition (see core/source.ts). */
  readonly sharesPartitions = true;
  /** A member the group has not heard from for this long loses its partitions (a restart after a crash waits it out). */
  private readonly sessionTimeoutMs: number;

  constructor(
    private readonly spec: KafkaSourceSpec,
    options: KafkaSourceOptions = {},
  ) {
    this.description = `kafka topic ${spec.topic} (group ${spec.group}, ${spec.brokers.join(',')})`;
    this.log = options.log ?? (() => {});
    this.kafka = createKafkaClient(spec, { log: this.log });
    this.sessionTimeoutMs = spec.sessionTimeoutMs ?? 30_000;
    this.tracker = new PartitionTracker(spec.topic);
    // Correct either way; slower without it (about 2x the CPU per record in kafkajs), so say so.
    const reader = recordBatchReaderState() ?? { active: false, reason: 'the record-batch reader was not installed (installDependencyPatches): kafkajs reads record batches itself' };
    if (!reader.active) this.log(`kafka: ${reader.reason}`);
  }

  setTaskHandler(handler: TaskHandler): void {
    this.taskHandler = handler;
  }

  /**
   * Records of the partitions the group assigns to this instance. Without a
   * task handler (the source used on its own), assigned partitions start at
   * `from`, or where the spec says.
   */
  batches(from: Positions): AsyncIterable<RawBatch> {
    if (this.queue) throw new InternalError(`${this.description}: batches() may be called once per source`);
    const queue = new Rendezvous<RawBatch>((batch) => this.onTake(batch));
    this.queue = queue;
    this.taskHandler ??= { assigned: async () => from, revoked: async () => {} };
    const starting = this.start().catch((error: unknown) => queue.fail(error));
    return {
      [Symbol.asyncIterator]: () => ({
        next: async () => {
          await starting;
          return queue.next();
        },
        return: () => queue.return(),
      }),
    };
  }

  forget(partition: string): void {
    const number = parsePartitionKey(this.spec.topic, partition);
    if (number === undefined) return;
    // Should the group still give it to this instance (a rejoin after a cut kept it here while another instance ran
    // it), nobody else reads it until the next rebalance: the next successful heartbeat says so (see takeUpLostTasks).
    if (this.assigned.has(number)) this.lostWhileAssigned.add(number);
    this.assigned.delete(number);
    this.ready.delete(number);
    this.tracker.forget(number);
    try {
      this.consumer?.pause([{ topic: this.spec.topic, partitions: [number] }]);
    } catch {
      // Not running: nothing to pause.
    }
  }

  /**
   * A heartbeat succeeded: the group's generation is the one that gave this instance its partitions
   * (a rebalance fails the heartbeat and ends in a join, which clears this), so a partition whose task
   * was lost meanwhile is still this instance's, and nobody else reads it. Its task is taken up again:
   * claimed once the other instance lets go, restored from the latest checkpoint, read from there. A
   * paused instance's first heartbeat after the session timeout fails instead: it rejoins.
   */
  private takeUpLostTasks(consumer: Consumer): void {
    if (this.lostWhileAssigned.size === 0 || this.stopping.signal.aborted) return;
    const partitions = [...this.lostWhileAssigned];
    this.lostWhileAssigned.clear();
    for (const partition of partitions) {
      this.assigned.add(partition);
      this.log(`kafka: ${partitionKey(this.spec.topic, partition)} is still this instance's in group ${this.spec.group}: taking its task up again from its latest checkpoint`);
    }
    this.takeOver(consumer, partitions);
  }

  endPartition(partition: string): void {
    const number = parsePartitionKey(this.spec.topic, partition);
    if (number === undefined) return;
    this.tracker.tell(number);
    this.endWhenFinished();
  }

  owns(partition: string): boolean {
    const number = parsePartitionKey(this.spec.topic, partition);
    // Heard from by the group within a session timeout: beyond that, the group has moved on without us.
    return number !== undefined && this.assigned.has(number) && Date.now() - this.lastHeartbeatAt < this.sessionTimeoutMs;
  }

  /**
   * Commits group offsets, one commit at a time: positions given while one is
   * on its way are merged into the next (offsets only move forward), so a
   * slow or unreachable coordinator delays lag monitoring, never a checkpoint
   * (the runtime does not wait for this). Closing waits a little for the last.
   */
  commit(positions: Positions): Promise<void> {
    const queued = this.nextCommit !== null;
    this.nextCommit = { ...(this.nextCommit ?? {}), ...positions };
    if (!queued) {
      this.commits = this.commits.then(() => {
        const next = this.nextCommit ?? {};
        this.nextCommit = null;
        return this.commitNow(next);
      });
    }
    return this.commits;
  }

  private async commitNow(positions: Positions): Promise<void> {
    const consumer = this.consumer;
    if (!consumer || this.stopping.signal.aborted) return;
    const offsets: Array<{ topic: string; partition: number; offset: string }> = [];
    for (const [key, offset] of Object.entries(positions)) {
      const partition = parsePartitionKey(this.spec.topic, key);
      if (partition !== undefined) offsets.push({ topic: this.spec.topic, partition, offset: String(offset) });
    }
    if (offsets.length === 0) return;
    try {
      await consumer.commitOffsets(offsets);
    } catch (error) {
      // Group offsets only feed lag monitoring; the checkpoint already holds the truth.
      this.log(`kafka: consumer-group commit failed (lag monitoring only, the checkpoint is safe): ${(error as Error).message}`);
    }
    if (this.spec.repartitioned) await this.purge(offsets);
  }

  /**
   * A repartition topic holds rows on their way between a job's stages: once a checkpoint of the
   * second stage is durable, nothing before its positions is read again, so it is deleted (as Kafka
   * Streams purges its repartition topics) instead of waiting for the topic's retention.
   */
  private async purge(offsets: Array<{ partition: number; offset: string }>): Promise<void> {
    try {
      if (this.purgeAdmin === null) {
        const admin = this.kafka.admin();
        await admin.connect();
        // kafkajs deletes records only of topics whose metadata it holds.
        await admin.fetchTopicMetadata({ topics: [this.spec.topic] });
        this.purgeAdmin = admin;
      }
      await this.purgeAdmin.deleteTopicRecords({ topic: this.spec.topic, partitions: offsets.map(({ partition, offset }) => ({ partition, offset })) });
      this.purgeFailing = false;
    } catch (error) {
      // The next checkpoint's purge deletes what this one left: said once, not at every checkpoint.
      if (!this.purgeFailing) this.log(`kafka: could not delete what the second stage has read of ${this.spec.topic} (tried again at every checkpoint): ${(error as Error).message}`);
      this.purgeFailing = true;
    }
  }

  lag(): Record<string, number> {
    return this.tracker.lag();
  }

  /** The topic: offsets of one topic mean nothing in another (the brokers may move; the topic is the data). */
  async identity(): Promise<InputIdentity> {
    return { what: `Kafka topic ${this.spec.topic}`, fingerprint: `kafka:${this.spec.topic}` };
  }

  remaining(): Record<string, number> {
    return this.tracker.remaining();
  }

  /**
   * Event-time alignment (the runtime decides which): held partitions are
   * paused in the consumer, so they are left out of the next fetches. What
   * was already fetched (at most maxBytesPerPartition, 1 MB) is still handed
   * over: dropping it would only make kafkajs fetch it again (measured: on a
   * dense backlog most fetched data was thrown away that way).
   */
  hold(partitions: ReadonlySet<string>): void {
    const wanted = new Set<number>();
    for (const key of partitions) {
      const partition = parsePartitionKey(this.spec.topic, key);
      if (partition !== undefined) wanted.add(partition);
    }
    for (const partition of wanted) if (!this.held.has(partition)) this.heldTimes++;
    this.held = wanted;
    this.syncPauses();
    // Called after every batch: the release fires only if the stream went quiet while partitions were held.
    if (this.holdRelease) clearTimeout(this.holdRelease);
    this.holdRelease = null;
    if (wanted.size > 0) {
      this.holdRelease = setTimeout(() => {
        this.holdRelease = null;
        if (this.held.size === 0) return;
        if (this.safetyReleases++ === 0) {
          this.log(`kafka: no records for ${HOLD_RELEASE_MS / 1000} s while partitions ${[...this.held].join(',')} waited for event-time alignment; reading them again`);
        }
        this.held = new Set();
        this.syncPauses();
      }, HOLD_RELEASE_MS);
      this.holdRelease.unref();
    }
  }

  /** Pause held partitions in the consumer and resume released ones (once it runs). */
  private syncPauses(): void {
    const consumer = this.consumer;
    if (!consumer) return;
    const pause = [...this.held].filter((partition) => !this.paused.has(partition));
    const resume = [...this.paused].filter((partition) => !this.held.has(partition));
    // A bounded run's finished partitions stay paused.
    const toResume = resume.filter((partition) => !this.tracker.partitionDone(partition));
    try {
      if (pause.length > 0) consumer.pause([{ topic: this.spec.topic, partitions: pause }]);
      if (toResume.length > 0) consumer.resume([{ topic: this.spec.topic, partitions: toResume }]);
    } catch {
      // kafkajs has no consumer group yet (still connecting): the next join applies the holds.
      return;
    }
    for (const partition of pause) this.paused.add(partition);
    for (const partition of resume) this.paused.delete(partition);
  }

  /** How often a partition was held back for event-time alignment (tests, diagnostics). */
  get holds(): number {
    return this.heldTimes;
  }

  /** One line on the consumer's state, for the run's stall reports. */
  describeState(): string {
    const a = this.activity;
    const ago = (at: number) => (at === 0 ? 'never' : `${((Date.now() - at) / 1000).toFixed(1)} s ago`);
    const name = (batch: RawBatch) => `${batch.offsets.length} records of ${batch.source.partition} from ${batch.source.fromOffset}`;
    let pausedByKafkajs = '?';
    try {
      pausedByKafkajs = this.consumer?.paused().map((p) => p.partitions.join(',')).join(' ') || 'none';
    } catch {
      // Not running yet.
    }
    return (
      `kafka: hand-over ${this.queue?.describeState(name) ?? 'not started'}; ` +
      `kafkajs batches ${a.batches} (last ${ago(a.lastBatchAt)}${a.lastBatch ? `, ${a.lastBatch}` : ''}), ${a.inEachBatch} in progress${a.lastEnd ? `, last ended: ${a.lastEnd}` : ''}; ` +
      `joins ${a.joins} (last ${ago(a.lastJoinAt)}); crashes ${a.crashes}${a.lastCrash ? ` (${a.lastCrash})` : ''}; ` +
      `held ${[...this.held].join(',') || 'none'}, paused ${pausedByKafkajs}; lag ${JSON.stringify(this.tracker.lag())}`
    );
  }

  close(): Promise<void> {
    this.closed ??= this.shutdown();
    return this.closed;
  }

  private async shutdown(): Promise<void> {
    if (this.holdRelease) clearTimeout(this.holdRelease);
    // The last checkpoint's offsets, for lag monitoring: worth a short wait, not a hang.
    await raceTimeout(this.commits, COMMIT_ON_CLOSE_MS);
    this.stopping.abort();
    // Release a waiting eachBatch first: kafkajs' disconnect waits for it to return.
    this.queue?.close();
    const consumer = this.consumer;
    const admin = this.admin;
    const purgeAdmin = this.purgeAdmin;
    this.consumer = null;
    this.admin = null;
    this.purgeAdmin = null;
    await Promise.all([
      consumer?.disconnect().catch((error: unknown) => this.log(`kafka: disconnect: ${(error as Error).message}`)),
      admin?.disconnect().catch(() => {}),
      purgeAdmin?.disconnect().catch(() => {}),
    ]);
  }

  private async start(): Promise<void> {
    const { topic } = this.spec;
    const watermarks = await this.topicOffsetsNow();
    if (this.stopping.signal.aborted) return;
    this.topicOffsets = watermarks;
    for (const { partition, high } of watermarks) this.tracker.observeHighWatermark(partition, high);
    // A repartition topic's end is in its records (every origin ended), not at the offsets seen now.
    if (this.spec.stopAtEnd && this.spec.repartitioned) this.tracker.endWhenTold();
    else if (this.spec.stopAtEnd) this.tracker.stopAt(new Map(watermarks.map((w) => [w.partition, w.high])));

    const consumer = this.kafka.consumer({
      groupId: this.spec.group,
      // A member killed without leaving keeps its partitions until this expires: it is what a
      // restart after a crash waits for (the job's kafka.sessionTimeout).
      sessionTimeout: this.sessionTimeoutMs,
      // A member learns of a rebalance (another joining or leaving) at its next heartbeat, and the whole
      // group waits for it: every second, not kafkajs' 3 s, so a group of several forms sooner.
      heartbeatInterval: Math.min(1000, Math.floor(this.sessionTimeoutMs / 3)),
      // Short polls when idle so a graceful stop is not held up by a long fetch.
      maxWaitTimeInMs: 500,
      retry: { initialRetryTime: 300, maxRetryTime: 10_000, retries: 8 },
    });
    this.consumer = consumer;
    consumer.on(consumer.events.HEARTBEAT, () => {
      this.lastHeartbeatAt = Date.now();
      this.takeUpLostTasks(consumer);
    });
    consumer.on(consumer.events.GROUP_JOIN, (event) => this.onJoin(consumer, event.payload.memberAssignment[topic] ?? []));
    consumer.on(consumer.events.CRASH, (event) => {
      const { error, restart } = event.payload;
      this.activity.crashes++;
      this.activity.lastCrash = error.message;
      if (restart) {
        this.log(`kafka consumer restarting after: ${error.message}`);
        return;
      }
      this.queue?.fail(toExternalError(error, 'consumer stopped'));
    });
    await this.retrying().run(`start consuming ${topic}`, async () => {
      try {
        await consumer.connect();
        await consumer.subscribe({ topics: [topic], fromBeginning: this.spec.startFrom === 'earliest' });
        await consumer.run({
          autoCommit: false,
          eachBatchAutoResolve: false,
          partitionsConsumedConcurrently: 1,
          eachBatch: (payload) => this.eachBatch(payload),
        });
        this.syncPauses();
      } catch (error) {
        throw toExternalError(error, `cannot start consuming ${topic}`);
      }
    });
    // close() may have run while we were connecting; it found no consumer to stop then.
    if (this.stopping.signal.aborted) await consumer.disconnect().catch(() => {});
  }

  /**
   * A (re)join of the group: partitions kept are put back where the runtime
   * is (kafkajs would restart them from the group's committed offsets, which
   * lag behind the checkpoint); partitions taken away go back to the runtime's
   * tasks to save and let go; new ones stay paused until their tasks are
   * restored and say where to read from.
   */
  private onJoin(consumer: Consumer, assignment: number[]): void {
    const { topic } = this.spec;
    const now = new Set(assignment);
    const revoked = [...this.assigned].filter((partition) => !now.has(partition));
    const added = assignment.filter((partition) => !this.assigned.has(partition));
    this.assigned = now;
    this.joined = true;
    this.lastHeartbeatAt = Date.now();
    // The new assignment says what is this instance's now: a lost task's partition given again is among `added`.
    this.lostWhileAssigned.clear();
    for (const partition of revoked) {
      this.ready.delete(partition);
      this.tracker.forget(partition);
    }
    for (const partition of assignment) {
      const next = this.tracker.nextOffset(partition);
      if (this.ready.has(partition) && next !== undefined) consumer.seek({ topic, partition, offset: String(next) });
    }
    // A consumer restarted after a crash has forgotten its pauses: start from "everything resumed"
    // (partitions not ready, and a bounded run's finished ones excepted), then pause the held ones.
    this.paused.clear();
    if (added.length > 0) consumer.pause([{ topic, partitions: added }]);
    const free = assignment.filter((partition) => this.ready.has(partition) && !this.held.has(partition) && !this.tracker.partitionDone(partition));
    if (free.length > 0) consumer.resume([{ topic, partitions: free }]);
    this.syncPauses();
    this.activity.joins++;
    this.activity.lastJoinAt = Date.now();
    this.log(`kafka: joined group ${this.spec.group}, partitions ${assignment.join(',') || 'none'} of ${topic}`);
    const handler = this.taskHandler!;
    if (revoked.length > 0) {
      handler.revoked(revoked.map((partition) => partitionKey(topic, partition))).catch((error: unknown) => this.queue?.fail(error));
    }
    if (added.length > 0) this.takeOver(consumer, added);
    this.endWhenFinished();
  }

  /** Partitions given to this instance: their tasks claim and restore them, then they are read from where the tasks say. */
  private takeOver(consumer: Consumer, partitions: number[]): void {
    this.taskHandler!
      .assigned(partitions.map((partition) => partitionKey(this.spec.topic, partition)))
      .then(async (positions) => this.startPartitions(consumer, partitions, positions, await this.topicOffsetsNow()))
      .catch((error: unknown) => this.queue?.fail(error));
  }

  /** Waits out an unreachable cluster, saying so; a stop ends the wait. */
  private retrying(): RetryPolicy {
    return new RetryPolicy({ subject: 'kafka', log: this.log, signal: this.stopping.signal });
  }

  /**
   * The topic's offsets now, waiting out an unreachable cluster (a stop ends the wait). Read at
   * start-up, and again when partitions are assigned: one assigned later has grown since, and its
   * checkpoint (saved by the instance that had it) may be past the offsets read at start-up.
   */
  private async topicOffsetsNow(): Promise<Array<{ partition: number; low: number; high: number }>> {
    const { topic } = this.spec;
    const admin = this.kafka.admin();
    this.admin = admin;
    try {
      return await this.retrying().run(`read the offsets of topic ${topic}`, async () => {
        try {
          await admin.connect();
          const offsets = await admin.fetchTopicOffsets(topic);
          return offsets.map((o) => ({ partition: o.partition, low: Number(o.low), high: Number(o.high) }));
        } catch (error) {
          throw toExternalError(error, `cannot read the offsets of topic ${topic}`);
        }
      });
    } finally {
      if (this.admin === admin) this.admin = null;
      await admin.disconnect().catch(() => {});
    }
  }

  /** Tasks restored: read each partition from its position (or the configured start) and let its records flow. */
  private startPartitions(consumer: Consumer, partitions: number[], positions: Positions, offsets: ReadonlyArray<{ partition: number; low: number; high: number }>): void {
    const { topic } = this.spec;
    const starts = startPositions(topic, positions, offsets.filter((each) => partitions.includes(each.partition)), this.spec.startFrom, this.log);
    const resume: number[] = [];
    const ended: number[] = [];
    for (const partition of partitions) {
      // Taken away again while its task was being restored.
      if (!this.assigned.has(partition) || this.stopping.signal.aborted) continue;
      const start = starts.get(partition) ?? positions[partitionKey(topic, partition)];
      if (start === undefined) continue;
      this.tracker.start(partition, start);
      this.ready.add(partition);
      consumer.seek({ topic, partition, offset: String(start) });
      if (this.tracker.partitionDone(partition)) ended.push(partition);
      else if (!this.held.has(partition)) resume.push(partition);
    }
    for (const partition of ended) this.taskHandler?.ended?.(partitionKey(topic, partition));
    try {
      if (resume.length > 0) consumer.resume([{ topic, partitions: resume }]);
    } catch {
      // Not running any more (a stop): nothing to resume.
    }
    this.endWhenFinished();
  }

  /**
   * A bounded run ends here once this instance's partitions are read to their end and every other
   * partition is finished too (the runtime asks the checkpoints). Leaving the group earlier would let
   * a rebalance hand a partition to an instance on its way out: if every other one had ended, nobody
   * would read it. Meanwhile the consumer stays in the group, reading what it is given.
   */
  private endWhenFinished(): void {
    if (!this.boundedRunDone()) return;
    const handler = this.taskHandler;
    if (handler?.unfinishedPartition === undefined) {
      this.queue?.end();
      return;
    }
    if (this.finishing) return;
    this.finishing = true;
    const ends: Record<string, number | null> = {};
    for (const { partition, high } of this.topicOffsets) ends[partitionKey(this.spec.topic, partition)] = this.spec.repartitioned ? null : high;
    const signal = this.stopping.signal;
    void (async () => {
      try {
        // Given a partition meanwhile: reading it comes first (this runs again once it is read).
        while (!signal.aborted && this.boundedRunDone()) {
          const unfinished = await handler.unfinishedPartition!(ends);
          if (unfinished === null) {
            this.queue?.end();
            return;
          }
          this.logWaiting(unfinished);
          await sleep(FINISHED_POLL_MS, undefined, { signal, ref: false }).catch(() => {});
        }
      } catch (error) {
        this.queue?.fail(error);
      } finally {
        this.finishing = false;
      }
    })();
  }

  /** Says once that this instance waits for the others, then again now and then with what it waits for, so a long wait is never silent. */
  private logWaiting(unfinished: string): void {
    const now = Date.now();
    if (this.waitingSince === null) {
      this.waitingSince = now;
      this.waitingLoggedAt = now;
      this.log(`kafka: this instance's partitions of ${this.spec.topic} are read to their end; waiting for the other instances to finish theirs (first: ${unfinished})`);
    } else if (now - this.waitingLoggedAt >= WAITING_LOG_MS) {
      this.waitingLoggedAt = now;
      const held = [...this.assigned].sort((a, b) => a - b).join(', ') || 'none';
      this.log(`kafka: still waiting after ${Math.round((now - this.waitingSince) / 1000)} s for ${unfinished}; partitions held here: ${held}`);
    }
  }

  /** A bounded run is over for this instance's own part once every partition assigned to it is restored and read to its end. */
  private boundedRunDone(): boolean {
    if (!this.tracker.bounded || !this.joined) return false;
    for (const partition of this.assigned) if (!this.ready.has(partition) || !this.tracker.partitionDone(partition)) return false;
    return true;
  }

  private async eachBatch(payload: {
    batch: Batch;
    resolveOffset(offset: string): void;
    heartbeat(): Promise<void>;
    pause(): () => void;
    isRunning(): boolean;
    isStale(): boolean;
  }): Promise<void> {
    const { batch, resolveOffset, heartbeat, isRunning, isStale } = payload;
    const queue = this.queue;
    if (!queue || queue.isClosed || batch.topic !== this.spec.topic) return;
    const activity = this.activity;
    activity.batches++;
    activity.lastBatchAt = Date.now();
    activity.lastBatch = `partition ${batch.partition}, ${batch.messages.length} messages from ${batch.firstOffset() ?? '-'}`;
    activity.inEachBatch++;
    try {
      await this.deliver(payload, queue);
    } finally {
      activity.inEachBatch--;
    }
  }

  private async deliver(
    payload: Parameters<KafkaSource['eachBatch']>[0],
    queue: Rendezvous<RawBatch>,
  ): Promise<void> {
    const { batch, resolveOffset, heartbeat, isRunning, isStale } = payload;
    const partition = batch.partition;
    this.lastHeartbeatAt = Date.now();
    this.tracker.observeHighWatermark(partition, Number(batch.highWatermark));
    // Fetched before its task was restored (or after it was taken away): kafkajs fetches it again once seeked.
    if (!this.ready.has(partition)) return;
    const messages = batch.messages;
    const offsets = new Float64Array(messages.length);
    for (let i = 0; i < messages.length; i++) offsets[i] = Number(messages[i].offset);
    const { from, to } = this.tracker.select(partition, offsets);
    // Already delivered before a rebalance/restart: move kafkajs past them.
    if (from > 0) resolveOffset(messages[from - 1].offset);
    const chunk = this.spec.maxBatchRecords ?? MAX_CHUNK;
    for (let start = from; start < to; start += chunk) {
      if (!isRunning() || isStale() || queue.isClosed) {
        this.activity.lastEnd = `left ${to - start} records of partition ${partition} (${!isRunning() ? 'not running' : isStale() ? 'stale' : 'closed'})`;
        return;
      }
      const stop = Math.min(start + chunk, to);
      const raw = this.rawBatch(partition, messages, offsets, start, stop);
      const finished = await this.handOver(queue, raw, heartbeat, isRunning, isStale);
      if (!finished) {
        this.activity.lastEnd = `chunk of partition ${partition} at ${offsets[start]} withdrawn or closed`;
        return;
      }
      resolveOffset(messages[stop - 1].offset);
      await heartbeat();
    }
    this.activity.lastEnd = `partition ${partition}: ${to - from} of ${messages.length} records handed over`;
    // A bounded run wants nothing more from this partition: stop fetching it.
    if (this.tracker.partitionDone(partition)) payload.pause();
  }

  private rawBatch(partition: number, messages: KafkaMessage[], offsets: Float64Array, start: number, stop: number): RawBatch {
    const count = stop - start;
    const payloads: Array<Buffer | null> = new Array(count);
    const keys: Array<Buffer | null> = new Array(count);
    const timestamps = new Float64Array(count);
    for (let i = 0; i < count; i++) {
      const message = messages[start + i];
      payloads[i] = message.value;
      keys[i] = message.key ?? null;
      timestamps[i] = Number(message.timestamp);
    }
    const chunkOffsets = offsets.slice(start, stop);
    const fromOffset = this.tracker.nextOffset(partition) ?? chunkOffsets[0];
    return {
      payloads,
      keys,
      timestamps,
      offsets: chunkOffsets,
      source: { partition: partitionKey(this.spec.topic, partition), fromOffset: Math.min(fromOffset, chunkOffsets[0]), toOffset: chunkOffsets[count - 1] + 1 },
      ...(this.tracker.endsAt(partition, chunkOffsets[count - 1] + 1) ? { endsPartition: true } : {}),
    };
  }

  /** Offer a chunk and wait for the runtime to finish it, heartbeating meanwhile. False: do not resolve offsets. */
  private async handOver(
    queue: Rendezvous<RawBatch>,
    raw: RawBatch,
    heartbeat: () => Promise<void>,
    isRunning: () => boolean,
    isStale: () => boolean,
  ): Promise<boolean> {
    const offer = queue.offer(raw);
    for (;;) {
      const finished = await raceTimeout(offer.done, HEARTBEAT_WHILE_WAITING_MS);
      if (finished !== undefined) return finished;
      if (!isRunning() || isStale()) {
        // Not taken yet: take it back; after re-joining, the partition is
        // seeked to the last position the runtime actually received.
        if (offer.withdraw()) return false;
        // Taken: the runtime is working on it (e.g. waiting out a Cassandra
        // outage before its checkpoint). Returning now would leave kafkajs and
        // the runtime disagreeing about where this partition stands, so wait
        // until the runtime finishes the chunk or closes the source.
        continue;
      }
      try {
        await heartbeat();
      } catch (error) {
        // A rebalance started. Give the chunk back if nobody took it; if the
        // runtime holds it, keep waiting for it instead (see above).
        if (offer.withdraw()) throw error;
      }
    }
  }

  private onTake(batch: RawBatch): void {
    const partition = parsePartitionKey(this.spec.topic, batch.source.partition);
    if (partition === undefined) return;
    this.tracker.delivered(partition, batch.source.toOffset);
    this.endWhenFinished();
  }
}

// ---------------------------------------------------------------- job-file configuration

/**
 * Kafka source: consumes a topic as a consumer group, decoding
 * Confluent-framed Avro through a Schema Registry.
 *
 * @example
 * source:
 *   kafka:
 *     brokers: ${KAFKA_BROKERS:-localhost:9092}
 *     topic: tides.observations
 *     format:
 *       avro:
 *         registry: ${SCHEMA_REGISTRY_URL:-http://localhost:8081}
 *         readerSchema: schemas/tide_observation.avsc
 */

export interface KafkaSourceConfig extends KafkaConnectionConfig {
  topic: string;
  group?: string;
  startFrom?: 'earliest' | 'latest';
  stopAtEnd?: boolean;
  sessionTimeout?: string;
  keyedBy?: string[];
  format: { avro: AvroRegistryConfig };
}

export const schema: JsonSchema = {
  title: 'kafka source',
  description: 'Reads a Kafka topic as a consumer group.',
  examples: [
    {
      brokers: '${KAFKA_BROKERS:-localhost:9092}',
      topic: 'tides.observations',
      format: { avro: { registry: '${SCHEMA_REGISTRY_URL:-http://localhost:8081}', readerSchema: '../schemas/tide_observation.avsc' } },
    },
  ],
  type: 'object',
  required: ['brokers', 'topic', 'format'],
  additionalProperties: false,
  properties: {
    ...kafkaConnectionProperties,
    topic: { description: 'Topic to read.', type: 'string', minLength: 1, examples: ['tides.observations'] },
    group: { description: 'Consumer group (default `tideflow-<job>`).', type: 'string', minLength: 1, examples: ['tideflow-tides-lunar-day'] },
    startFrom: {
      description: 'Where a group without committed offsets or checkpoint starts.',
      type: 'string',
      enum: ['earliest', 'latest'],
      default: 'earliest',
    },
    stopAtEnd: {
      description: 'Stop once the end offsets seen at start-up are reached (a bounded run, for tests and benchmarks).',
      type: 'boolean',
      default: false,
    },
    sessionTimeout: durationSchema(
      "How long the group waits for a silent instance before giving its partitions to the others (Kafka's session.timeout.ms; the broker allows 6s to 5m by default). Shorter: partitions of a crashed instance move sooner; longer: a long pause is not taken for a crash.",
      { default: '30s', positive: true },
    ),
    keyedBy: {
      description:
        "The record fields the topic's messages are keyed by (Kafka puts all messages of a key in one partition; `tideflow produce` keys by station). " +
        'Each partition is a task with its own state, so every dedupe and window step must group by these fields (and maybe more): lint checks it.',
      type: 'array',
      items: { type: 'string', minLength: 1 },
      minItems: 1,
      examples: [['station']],
    },
    format: {
      title: 'kafka source format',
      description: 'How record values are encoded.',
      type: 'object',
      selector: 'format',
      exactlyOneOf: ['avro'],
      additionalProperties: false,
      properties: { avro: avroRegistrySchema },
    },
  },
};

/** Schema-validated YAML to the JobSpec form: defaults filled in, durations and timestamps in milliseconds. */
export function normalize(raw: KafkaSourceConfig, context: ComponentContext): KafkaSourceSpec {
  return {
    ...normalizeKafkaConnection(raw),
    topic: raw.topic,
    group: raw.group ?? `tideflow-${context.job}`,
    startFrom: raw.startFrom ?? 'earliest',
    stopAtEnd: raw.stopAtEnd ?? false,
    sessionTimeoutMs: durationMs(raw.sessionTimeout ?? '30s'),
    ...(raw.keyedBy === undefined ? {} : { keyedBy: raw.keyedBy }),
    format: normalizeAvroRegistry(raw.format.avro),
  };
}
