import type * as avro from 'avsc';
import { ConfluentAvroDecoder, confluentSchemaId, framingProblem, type ReadProjection, type WriterSchemaResolver } from './confluent-avro';
import { InternalError } from '../core/errors';
import type { PreAggregatedRows, RawBatch, Row } from '../core/batch';
import type { DecodeChunkResult, DecodeTask, PreAggregateChunkResult } from './decode-worker';
import type { DeadLetter } from '../core/operator';
import { ChunkAggregator, type AggregatedChunk, type PreAggregationPlan } from './pre-aggregation';
import { planColumns, rebuildRows, type ColumnPlan } from './row-columns';
import type { DecodedBatch, Decoder } from './decoder';
import { WorkerPool } from './worker-pool';

/** Fewest records worth a thread hop: below it, handing the chunk over costs more than decoding it here. */
export const MIN_CHUNK_RECORDS = 1000;

export interface ParallelDecoderOptions {
  /**
   * Pool threads to split a batch over (besides the calling thread's share).
   * 0: no pool; the calling thread pre-aggregates every batch itself (`--workers 1` with a plan).
   */
  threads: number;
  /** Fewest records per chunk (default 1,000). Tests lower it to split small batches. */
  minChunk?: number;
  /**
   * Share of each batch (0..1) the calling thread decodes itself while the
   * pool decodes the rest, instead of idling until the pool answers. Default 0.
   */
  mainThreadShare?: number;
  /** Use this pool instead of creating one (it is then not closed by `close()`). */
  pool?: WorkerPool;
  /** Pre-aggregate batches for the job's first window step (pre-aggregation.ts); null: rows only. */
  plan?: PreAggregationPlan | null;
  /** Share of each batch the calling thread pre-aggregates itself (default: all without pool threads, else AGGREGATE_SHARE_WITH_POOL). */
  aggregateShare?: number;
  /** With no pool threads only: rows decoded on the row path skip the string fields the job never reads. */
  projection?: ReadProjection | null;
}

/**
 * How much more a record costs when a worker decodes it than when the run
 * loop's thread does: the worker also writes columns and this thread packs
 * and rebuilds (measured on the tide schema when this thread decoded with
 * avsc: ~1.0 + 0.3 us against ~0.7 us). It weighs the calling thread's
 * share so both finish together. Only batches of a pre-aggregated job that
 * take the row path (a dead letter, a late record) are decoded this way.
 */
const WORKER_COST_RATIO = 1.5;

/**
 * Pre-aggregating with pool threads, the calling thread decodes none of the
 * batch by default: it packs the chunks, merges every chunk's partials and
 * emits the windows, which is about as much work per batch as one pool
 * thread's decoding. A share of its own would add a chunk to merge (each
 * chunk has partials for nearly every key) and leave the pool idle while it
 * ran. Measured on the 30-minute job, --workers 2, three interleaved rounds:
 * a share of 0.6 : 1 gave 356-400k records/s, none 428-495k.
 */
const AGGREGATE_SHARE_WITH_POOL = 0;

/**
 * The Confluent Avro decoder for `--workers N`. A job that starts with a
 * window is pre-aggregated: with 1, by a ParallelConfluentDecoder without
 * pool threads, on the calling thread; with N > 1, on a pool of N - 1
 * threads while the calling thread merges and emits (AGGREGATE_SHARE_WITH_POOL).
 * Any other job gets the plain in-thread ConfluentAvroDecoder whatever N is:
 * its rows are built on the calling thread either way, and the compiled
 * flat reader builds one from the payload for less than rebuilding it from
 * a worker's columns costs (packing and rebuilding about 0.4 us a record
 * against about 0.35 us for reading it; engine only, tides-dedupe at 1M
 * records: --workers 2 on the pool ran at 354-552k records/s against
 * 515-812k in-thread).
 *
 * @example
 *   const decoder = createConfluentDecoder(readerType, resolveWriter, { workers: 2, plan });
 *   const decoded = await decoder.decode(raw);
 *   await decoder.close?.();
 */
export function createConfluentDecoder(
  readerType: avro.Type,
  resolveWriterSchema: WriterSchemaResolver,
  options: { workers: number; projection?: ReadProjection | null; plan?: PreAggregationPlan | null },
): Decoder {
  const { workers } = options;
  if (!Number.isInteger(workers) || workers < 1) throw new RangeError(`workers must be a whole number >= 1, got ${workers}`);
  // Rows are built on this thread: read them here, without the string fields the job never reads.
  if (!options.plan) return new ConfluentAvroDecoder(readerType, resolveWriterSchema, options.projection ?? null);
  if (workers === 1) {
    // A job starting with a window: this thread pre-aggregates each batch (no per-row objects), rows only as a fallback.
    return new ParallelConfluentDecoder(readerType, resolveWriterSchema, { threads: 0, plan: options.plan, projection: options.projection });
  }
  const threads = workers - 1;
  return new ParallelConfluentDecoder(readerType, resolveWriterSchema, { threads, mainThreadShare: WORKER_COST_RATIO / (WORKER_COST_RATIO + threads), plan: options.plan });
}

/**
 * Decodes Confluent-framed Avro like ConfluentAvroDecoder, with the Avro work
 * split over a worker pool. Results are identical for any worker count:
 * rows in input order, the same dead letters with the same reasons, offsets
 * and order.
 *
 * Per batch, on the calling thread: resolve unknown schema ids through the
 * registry (ConfluentAvroDecoder's rules: an outage throws a retriable error
 * before anything is consumed; an unknown id is a dead letter); dead-letter
 * payloads whose framing or writer schema is unusable; pack the rest into
 * contiguous chunks of >= `minChunk` records, one transferred ArrayBuffer
 * each, with the writer schemas they need as JSON. Workers decode and answer
 * with columns (row-columns.ts), which are rebuilt into rows here in chunk
 * order and merged with the dead letters by input position.
 *
 * Batches too small for two chunks, and reader schemas without a column
 * plan, are decoded in-thread: a hop would only add latency.
 *
 * @example
 *   const decoder = new ParallelConfluentDecoder(readerType, async (id) => registry.getWriterType(id), { threads: 1, mainThreadShare: 0.6 });
 *   const { rows, offsets, deadLetters } = await decoder.decode(rawBatch);
 *   await decoder.close();
 */
export class ParallelConfluentDecoder implements Decoder {
  /**
   * Batches may be decoded while the run loop processes the one before (the
   * calls share no state in flight). Not without pool threads: nothing would
   * run in parallel, and projected rows must stay expandable (`expand` reads
   * the last batch decoded) until the run loop is done with them.
   */
  readonly overlaps: boolean;
  readonly threads: number;
  /** Why this reader schema is decoded in-thread only, or null when workers are used. */
  readonly inThreadReason: string | null;
  private readonly core: ConfluentAvroDecoder;
  private readonly plan: ColumnPlan | null;
  private readonly readerSchemaText: string;
  private readonly minChunk: number;
  private readonly mainThreadShare: number;
  private readonly ownsPool: boolean;
  private pool: WorkerPool | null;
  /** Payload buffers the workers handed back, reused for later chunks. */
  private readonly spareBuffers: ArrayBuffer[] = [];
  private readonly schemaTexts = new Map<number, string>();
  /** What tasks carry as `writers`, and how many ids the core had cached when it was built. */
  private writers: Array<[number, string]> = [];
  private writersSeen = -1;
  /** Scratch: input positions of the records that go to workers. */
  private kept = new Uint32Array(0);
  private keptInUse = false;
  private readonly aggregationPlan: PreAggregationPlan | null;
  private readonly planText: string | null;
  private readonly aggregateShare: number;
  /** This thread's pre-aggregator (its share of each batch), made on first use. */
  private aggregator: ChunkAggregator | null = null;

  constructor(readerType: avro.Type, resolveWriterSchema: WriterSchemaResolver, options: ParallelDecoderOptions) {
    if (!Number.isInteger(options.threads) || options.threads < 0) throw new RangeError(`threads must be a whole number >= 0, got ${options.threads}`);
    if (options.threads === 0 && !options.plan) throw new RangeError('a decoder without pool threads is only for pre-aggregation: give it a plan');
    this.threads = options.threads;
    this.overlaps = options.threads > 0;
    // Rows of one batch must all be read alike: projected only when no pool thread reads any of them (they read whole).
    this.core = new ConfluentAvroDecoder(readerType, resolveWriterSchema, options.threads === 0 ? options.projection ?? null : null);
    const plan = planColumns(readerType);
    this.plan = typeof plan === 'string' ? null : plan;
    this.inThreadReason = typeof plan === 'string' ? plan : null;
    this.readerSchemaText = JSON.stringify(readerType.schema({ exportAttrs: true }));
    this.minChunk = Math.max(1, options.minChunk ?? MIN_CHUNK_RECORDS);
    this.mainThreadShare = options.threads === 0 ? 1 : Math.min(1, Math.max(0, options.mainThreadShare ?? 0));
    this.pool = options.pool ?? null;
    this.ownsPool = options.pool === undefined;
    this.aggregationPlan = options.plan ?? null;
    this.planText = this.aggregationPlan === null ? null : JSON.stringify(this.aggregationPlan);
    this.aggregateShare = Math.min(1, Math.max(0, options.aggregateShare ?? (this.threads === 0 ? 1 : AGGREGATE_SHARE_WITH_POOL)));
  }

  /** The whole record behind a row of the last batch decoded on the row path (ConfluentAvroDecoder.expand). */
  expand(row: Row): Row {
    return this.core.expand(row);
  }

  /**
   * Pre-aggregate a batch for the plan's window step: chunks of >= `minChunk`
   * records go to the pool, this thread takes its share (all of a batch too
   * small to split), and the answer is every chunk's partials in input
   * order. Null (nothing consumed) when the decoder has no plan or a record
   * in the batch is not clean (a dead letter of any kind): the caller then
   * takes the row path (`decodeRows`), which words and orders dead letters exactly.
   * Throws like `decodeRows` when the registry cannot be reached.
   */
  async aggregate(payloads: ArrayLike<Buffer | string | null>, offsets: ArrayLike<number>, partition: string): Promise<Extract<DecodedBatch, { kind: 'aggregated' }> | null> {
    const plan = this.aggregationPlan;
    const planText = this.planText;
    if (plan === null || planText === null) return null;
    const unknown = await this.core.fetchMissingSchemas(payloads);
    const count = payloads.length;
    let inThread = Math.floor(count * this.aggregateShare);
    const chunkCount = Math.min(this.threads, Math.floor((count - inThread) / this.minChunk));
    // Too small to be worth a hop: this thread takes it all.
    if (chunkCount < 1) inThread = count;
    // The positions scratch is in use by a row-path decode in flight (only the pool's chunks need it).
    if (count === 0 || (chunkCount > 0 && this.keptInUse)) return null;
    // ---- the pool's chunks first, then this thread's share while they run.
    // No triage here: a worker finds a payload that is not framed or has no readable writer schema itself (unclean chunk).
    const pending: Array<Promise<PreAggregateChunkResult>> = [];
    const chunkStarts: number[] = inThread > 0 ? [0] : [];
    const all = chunkCount > 0 ? this.identityPositions(count) : this.kept;
    for (let c = 0; c < chunkCount; c++) {
      const pool = (this.pool ??= new WorkerPool({ threads: this.threads }));
      const from = inThread + Math.floor(((count - inThread) * c) / chunkCount);
      const to = inThread + Math.floor(((count - inThread) * (c + 1)) / chunkCount);
      chunkStarts.push(from);
      const packed = this.packChunk(payloads, all, from, to);
      // A null payload or a text one: the row path dead-letters it (the chunks already handed over are let finish).
      if (packed === null) {
        await Promise.all(pending).then((results) => results.forEach((result) => this.recycle(result.bytes)));
        return null;
      }
      const task: DecodeTask = { ...packed, plan: planText };
      pending.push(pool.run<DecodeTask, PreAggregateChunkResult>(task, [task.bytes, task.spans.buffer as ArrayBuffer]));
    }
    let head: AggregatedChunk | null = null;
    if (inThread > 0) {
      const aggregator = (this.aggregator ??= new ChunkAggregator(plan));
      // An id the registry does not have, or an incompatible one, has no schema text: the aggregator refuses the record.
      const schemaText = (id: number) => this.readableSchemaText(id);
      let clean = true;
      for (let i = 0; i < inThread && clean; i++) {
        const payload = payloads[i];
        // Undefined exactly when framingProblem(payload) is not null.
        const id = payload === null || typeof payload === 'string' ? undefined : confluentSchemaId(payload);
        clean = id !== undefined && aggregator.add(payload as Buffer, 0, (payload as Buffer).length, id, schemaText);
      }
      if (clean) head = aggregator.finish();
      else aggregator.abandon();
    }
    const results = pending.length > 0 ? await Promise.all(pending) : [];
    for (const result of results) this.recycle(result.bytes);
    if (inThread > 0 && head === null) return null;
    const chunks: AggregatedChunk[] = head === null ? [] : [head];
    for (const result of results) {
      if (result.chunk === null) return null;
      chunks.push(result.chunk);
    }

    // ---- one event-time column for the batch; the rows themselves only if the window needs them
    let times: Float64Array;
    if (chunks.length === 1) times = chunks[0].times;
    else {
      times = new Float64Array(count);
      for (let c = 0; c < chunks.length; c++) times.set(chunks[c].times, chunkStarts[c]);
    }
    const core = this.core;
    return {
      kind: 'aggregated',
      times,
      preAggregated: {
        stepId: plan.window.id,
        chunks: chunks.map((chunk) => chunk.partials),
        chunkStarts,
        materialize: () => {
          const decoded = core.decodeResolved(payloads, offsets, partition, unknown);
          if (decoded.deadLetters.length > 0) throw new InternalError(`pre-aggregated batch of ${partition}: ${decoded.deadLetters.length} records no longer decode`);
          return decoded.rows;
        },
      },
    };
  }

  /** Pre-aggregated when the decoder has a plan and the batch is clean, rows otherwise (see `aggregate`). */
  async decode(raw: RawBatch): Promise<DecodedBatch> {
    const payloads = raw.payloads ?? [];
    const aggregated = this.aggregationPlan === null ? null : await this.aggregate(payloads, raw.offsets, raw.source.partition);
    return aggregated ?? this.decodeRows(payloads, raw.offsets, raw.source.partition);
  }

  /**
   * Decode a batch (see the class comment). Throws ExternalError (retriable)
   * when the registry cannot be reached; retrying the call is safe then.
   */
  async decodeRows(payloads: ArrayLike<Buffer | string | null>, offsets: ArrayLike<number>, partition: string): Promise<Extract<DecodedBatch, { kind: 'rows' }>> {
    const unknown = await this.core.fetchMissingSchemas(payloads);
    const count = payloads.length;
    const plan = this.plan;
    // The calling thread's share is a prefix of the batch, so its rows simply come first.
    const inThread = plan === null ? count : Math.floor(count * this.mainThreadShare);
    // Most chunks the rest can fill; one chunk is only worth it when the pool has one thread (tests).
    const chunkCount = plan === null ? 0 : Math.min(this.threads, Math.floor((count - inThread) / this.minChunk));
    // One chunk is worth a hop only when this thread decodes a share meanwhile (or in tests, with one thread).
    const fewestChunks = inThread > 0 || this.threads === 1 ? 1 : 2;
    if (plan === null || chunkCount < fewestChunks) return { kind: 'rows', ...this.core.decodeResolved(payloads, offsets, partition, unknown) };

    // ---- triage on this thread: framing and writer schema (cheap, and it owns the registry state)
    // The scratch array is reused across batches; a call that overlaps another (not the run loop's way) gets its own.
    const reuse = !this.keptInUse;
    if (reuse && this.kept.length < count) this.kept = new Uint32Array(count);
    const kept = reuse ? this.kept : new Uint32Array(count);
    this.keptInUse = true;
    try {
      return await this.decodeKept(payloads, offsets, partition, unknown, plan, inThread, chunkCount, kept);
    } finally {
      if (reuse) this.keptInUse = false;
    }
  }

  private async decodeKept(
    payloads: ArrayLike<Buffer | string | null>,
    offsets: ArrayLike<number>,
    partition: string,
    unknown: Set<number>,
    plan: ColumnPlan,
    inThread: number,
    chunkCount: number,
    kept: Uint32Array,
  ): Promise<Extract<DecodedBatch, { kind: 'rows' }>> {
    const count = payloads.length;
    let keptCount = 0;
    const rejectedAt: number[] = [];
    const rejectedWhy: string[] = [];
    for (let i = inThread; i < count; i++) {
      const payload = payloads[i];
      let reason = framingProblem(payload);
      if (reason === null) reason = this.core.writerProblem((payload as Buffer).readInt32BE(1), unknown);
      if (reason === null) kept[keptCount++] = i;
      else {
        rejectedAt.push(i);
        rejectedWhy.push(reason);
      }
    }

    // ---- hand the chunks over, then decode this thread's share while they run
    const chunks = Math.max(1, Math.min(chunkCount, Math.floor(keptCount / this.minChunk)));
    const pending: Array<Promise<DecodeChunkResult>> = [];
    const chunkStarts: number[] = [];
    if (keptCount > 0) {
      const pool = (this.pool ??= new WorkerPool({ threads: this.threads }));
      for (let c = 0; c < chunks; c++) {
        const from = Math.floor((keptCount * c) / chunks);
        const to = Math.floor((keptCount * (c + 1)) / chunks);
        chunkStarts.push(from);
        // Triage kept only framed payloads: never null here.
        const task = this.packChunk(payloads, kept, from, to)!;
        pending.push(pool.run<DecodeTask, DecodeChunkResult>(task, [task.bytes, task.spans.buffer as ArrayBuffer]));
      }
    }
    const head = inThread > 0 ? this.core.decodeResolved(sliceOf(payloads, 0, inThread), sliceOf(offsets, 0, inThread), partition, unknown) : null;
    const results = await Promise.all(pending);

    // ---- reassemble in input order
    const rows: Row[] = head ? head.rows : [];
    const rowOffsets: number[] = head ? head.offsets : [];
    const deadLetters: DeadLetter[] = head ? head.deadLetters : [];
    let rejected = 0;
    for (let c = 0; c < results.length; c++) {
      const result = results[c];
      rebuildRows(plan, result.columns, rows);
      const from = chunkStarts[c];
      const to = c + 1 < chunkStarts.length ? chunkStarts[c + 1] : keptCount;
      const { failed, reasons } = result;
      let nextFailure = 0;
      for (let k = from; k < to; k++) {
        const index = kept[k];
        // Triage rejections that come before this record keep their place in the dead-letter order.
        while (rejected < rejectedAt.length && rejectedAt[rejected] < index) {
          const at = rejectedAt[rejected];
          deadLetters.push({ payload: payloads[at], reason: rejectedWhy[rejected], partition, offset: offsets[at], stage: 'decode' });
          rejected++;
        }
        if (nextFailure < failed.length && failed[nextFailure] === k - from) {
          deadLetters.push({ payload: payloads[index], reason: reasons[nextFailure], partition, offset: offsets[index], stage: 'decode' });
          nextFailure++;
        } else {
          rowOffsets.push(offsets[index]);
        }
      }
      this.recycle(result.bytes);
    }
    for (; rejected < rejectedAt.length; rejected++) {
      const at = rejectedAt[rejected];
      deadLetters.push({ payload: payloads[at], reason: rejectedWhy[rejected], partition, offset: offsets[at], stage: 'decode' });
    }
    return { kind: 'rows', rows, offsets: rowOffsets, deadLetters };
  }

  /** Stop the worker threads (the run calls this when it ends, stopped or not). */
  async close(): Promise<void> {
    const pool = this.pool;
    this.pool = null;
    if (pool && this.ownsPool) await pool.close();
  }

  /** The scratch positions array holding 0, 1, ... count - 1 (every record of the batch, for packChunk). */
  private identityPositions(count: number): Uint32Array {
    if (this.kept.length < count) this.kept = new Uint32Array(count);
    const all = this.kept;
    for (let i = 0; i < count; i++) all[i] = i;
    return all;
  }

  /**
   * Copy records kept[from..to) into one buffer (a spare one when it is big
   * enough), or null when one of them is not a Buffer. Payloads that are
   * views, in order, into one region (kafkajs hands out slices of the fetch
   * response) are copied with the region in one go, the bytes between them
   * included, instead of one copy per record.
   */
  private packChunk(payloads: ArrayLike<Buffer | string | null>, kept: Uint32Array, from: number, to: number): Omit<DecodeTask, 'plan'> | null {
    const count = to - from;
    const spans = new Uint32Array(count * 2);
    const first = payloads[kept[from]];
    if (typeof first !== 'object' || first === null) return null;
    // ---- one region: every payload in the same ArrayBuffer, each after the one before
    const region = first.buffer;
    const low = first.byteOffset;
    let high = low;
    let size = 0;
    let k = from;
    for (; k < to; k++) {
      const payload = payloads[kept[k]];
      if (typeof payload !== 'object' || payload === null) return null;
      const at = payload.byteOffset;
      if (payload.buffer !== region || at < high) break;
      const length = payload.length;
      spans[2 * (k - from)] = at - low;
      high = at + length;
      spans[2 * (k - from) + 1] = high - low;
      size += length;
    }
    // Gaps up to the records' own size (record framing, keys, headers) are cheaper to copy than to skip.
    if (k === to && high - low <= 2 * size + 4096) {
      const bytes = this.takeBuffer(high - low);
      new Uint8Array(bytes).set(new Uint8Array(region, low, high - low));
      return { readerSchema: this.readerSchemaText, writers: this.knownWriters(), bytes, spans };
    }
    // ---- otherwise one copy per record, back to back
    size = 0;
    for (k = from; k < to; k++) {
      const payload = payloads[kept[k]];
      if (typeof payload !== 'object' || payload === null) return null;
      size += payload.length;
    }
    const bytes = this.takeBuffer(size);
    const view = new Uint8Array(bytes);
    let position = 0;
    for (k = from; k < to; k++) {
      const payload = payloads[kept[k]] as Buffer;
      spans[2 * (k - from)] = position;
      view.set(payload, position);
      position += payload.length;
      spans[2 * (k - from) + 1] = position;
    }
    return { readerSchema: this.readerSchemaText, writers: this.knownWriters(), bytes, spans };
  }

  /** [id, writer schema JSON] for every readable id the registry gave so far (rebuilt when one is added). */
  private knownWriters(): Array<[number, string]> {
    const known = this.core.cachedSchemaCount;
    if (known !== this.writersSeen) {
      this.writersSeen = known;
      this.writers = [];
      for (const id of this.core.cachedSchemaIds) {
        const text = this.readableSchemaText(id);
        if (text !== undefined) this.writers.push([id, text]);
      }
    }
    return this.writers;
  }

  /** The writer schema of `id` as JSON, or undefined when the id is unknown or incompatible. */
  private readableSchemaText(id: number): string | undefined {
    let text = this.schemaTexts.get(id);
    if (text === undefined) {
      text = this.core.writerSchemaText(id);
      if (text !== undefined) this.schemaTexts.set(id, text);
    }
    return text;
  }

  private takeBuffer(size: number): ArrayBuffer {
    for (let i = 0; i < this.spareBuffers.length; i++) {
      if (this.spareBuffers[i].byteLength >= size) return this.spareBuffers.splice(i, 1)[0];
    }
    // Some headroom, so slightly bigger batches later still find a spare.
    return new ArrayBuffer(Math.ceil(size * 1.25) + 1024);
  }

  private recycle(buffer: ArrayBuffer): void {
    if (this.spareBuffers.length < this.threads * 2) this.spareBuffers.push(buffer);
  }
}

/** Elements [from, to) of an array-like, without copying typed arrays. */
function sliceOf<T>(items: ArrayLike<T>, from: number, to: number): ArrayLike<T> {
  if (ArrayBuffer.isView(items)) return (items as unknown as Float64Array).subarray(from, to) as unknown as ArrayLike<T>;
  return Array.prototype.slice.call(items, from, to) as T[];
}
