import type * as avro from 'avsc';
import { Piscina } from 'piscina';
import { CONFLUENT_HEADER_SIZE, CONFLUENT_MAGIC_BYTE, decodeFramedRecord, prepareWriterResolver, type DecodedValue } from './confluent-avro';
import { parseAvroType } from './avro-schema';
import { InternalError } from '../core/errors';
import type { Row } from '../core/batch';
import { ChunkAggregator, type AggregatedChunk, type PreAggregationPlan } from './pre-aggregation';
import { ColumnEncoder, planColumns, type ColumnPlan, type RowColumns } from './row-columns';

/**
 * The worker-thread side of ParallelConfluentDecoder (loaded by piscina from
 * dist/ as compiled JS; see worker-pool.ts).
 *
 * A task is one chunk of a batch: >= 1,000 Confluent-framed payloads packed
 * into one transferred ArrayBuffer (often one copy of the region of a
 * Kafka fetch response they were read from, gaps included). To decode, the
 * main thread has already checked their framing and writer schemas; the
 * worker decodes them with avsc and sends the rows back as transferred
 * columns (row-columns.ts), plus the chunk-relative index and reason of
 * every record it could not decode. To pre-aggregate, the worker checks
 * framing and writer schema itself: any problem makes the chunk unclean.
 *
 * Writer schemas come with the task as JSON text (the main thread owns the
 * registry and its retry rules); parsed types and resolvers are cached per
 * reader schema and writer schema id for the life of the worker.
 */

/** One chunk to decode. */
export interface DecodeTask {
  /** The job's reader schema, JSON text. */
  readerSchema: string;
  /**
   * [schema id, writer schema JSON] for every readable id the main thread
   * knows (ids are immutable, so a cached one is reused). Each record's id
   * is read from its Confluent header.
   */
  writers: Array<[number, string]>;
  /** The payloads, Confluent header included, in order; there may be bytes between them. */
  bytes: ArrayBuffer;
  /** 2 × count positions in `bytes`: record i is [spans[2i], spans[2i + 1]). */
  spans: Uint32Array;
  /**
   * Pre-aggregate instead of returning rows (pre-aggregation.ts): the plan
   * as JSON text. The answer is then a {@link PreAggregateChunkResult}.
   */
  plan?: string;
}

/** What a pre-aggregation task answers: the chunk, or null when a record in it is not clean. */
export interface PreAggregateChunkResult {
  chunk: AggregatedChunk | null;
  /** The task's payload buffer, handed back for reuse. */
  bytes: ArrayBuffer;
}

/** What a chunk decodes to. */
export interface DecodeChunkResult {
  /** The decoded rows, in chunk order. */
  columns: RowColumns;
  /** Chunk-relative indexes of the records that failed, ascending. */
  failed: Uint32Array;
  /** Why each of them failed (same wording as the in-thread decoder). */
  reasons: string[];
  /** The task's payload buffer, handed back so the main thread can reuse it. */
  bytes: ArrayBuffer;
}

interface ReaderState {
  type: avro.Type;
  plan: ColumnPlan;
  writers: Map<number, avro.Resolver | undefined>;
}

const readers = new Map<string, ReaderState>();

function readerState(readerSchema: string): ReaderState {
  let state = readers.get(readerSchema);
  if (state === undefined) {
    const type = parseAvroType(readerSchema, 'reader schema');
    const plan = planColumns(type);
    if (typeof plan === 'string') throw new InternalError(`decode worker: the reader schema has no column plan: ${plan}`);
    state = { type, plan, writers: new Map() };
    readers.set(readerSchema, state);
  }
  return state;
}

function resolverFor(state: ReaderState, id: number, writers: Array<[number, string]>): avro.Resolver | undefined {
  if (state.writers.has(id)) return state.writers.get(id);
  const text = writers.find(([candidate]) => candidate === id)?.[1];
  if (text === undefined) throw new InternalError(`decode worker: the task has no writer schema for id ${id}`);
  const prepared = prepareWriterResolver(state.type, parseAvroType(text, `writer schema ${id}`), id);
  // The main thread dead-letters incompatible ids before they get here.
  if (typeof prepared === 'string') throw new InternalError(`decode worker: ${prepared}`);
  state.writers.set(id, prepared.resolver);
  return prepared.resolver;
}

/**
 * Decode one chunk. The fast path decodes each record in place in the shared
 * buffer (no per-record Buffer); only a record that fails or does not end
 * exactly at its boundary is decoded again from its own slice, so its reason
 * is worded exactly as the in-thread decoder words it.
 */
export function decodeChunk(task: DecodeTask): DecodeChunkResult {
  const state = readerState(task.readerSchema);
  const { type } = state;
  const { spans } = task;
  const count = spans.length >> 1;
  const buffer = Buffer.from(task.bytes);
  const encoder = new ColumnEncoder(state.plan, count);
  const failed: number[] = [];
  const reasons: string[] = [];
  const holder: DecodedValue = { value: undefined };
  let lastId = Number.NaN;
  let resolver: avro.Resolver | undefined;
  for (let i = 0; i < count; i++) {
    const start = spans[2 * i];
    const end = spans[2 * i + 1];
    // Framing was checked on the main thread.
    const id = buffer.readInt32BE(start + 1);
    if (id !== lastId) {
      resolver = resolverFor(state, id, task.writers);
      lastId = id;
    }
    let decoded: { value: unknown; offset: number } | undefined;
    try {
      decoded = type.decode(buffer, start + CONFLUENT_HEADER_SIZE, resolver);
    } catch {
      decoded = undefined;
    }
    if (decoded !== undefined && decoded.offset === end) {
      encoder.add(decoded.value as Row);
      continue;
    }
    const reason = decodeFramedRecord(type, resolver, buffer.subarray(start, end), id, holder);
    if (reason === null) {
      encoder.add(holder.value as Row);
    } else {
      failed.push(i);
      reasons.push(reason);
    }
  }
  return { columns: encoder.finish(), failed: Uint32Array.from(failed), reasons, bytes: task.bytes };
}

const aggregators = new Map<string, ChunkAggregator>();

/** Decode, validate and pre-aggregate one chunk (see pre-aggregation.ts). */
export function preAggregateChunk(task: DecodeTask & { plan: string }): PreAggregateChunkResult {
  let aggregator = aggregators.get(task.plan);
  if (aggregator === undefined) {
    aggregator = new ChunkAggregator(JSON.parse(task.plan) as PreAggregationPlan);
    aggregators.set(task.plan, aggregator);
  }
  const { spans, writers } = task;
  const buffer = Buffer.from(task.bytes);
  // An id without a text here is unknown or incompatible: the aggregator refuses its record.
  const writerSchema = (id: number) => writers.find(([candidate]) => candidate === id)?.[1];
  for (let i = 0; i < spans.length; i += 2) {
    const start = spans[i];
    const end = spans[i + 1];
    // Not Confluent-framed (framingProblem's checks): unclean, the row path words the reason.
    const framed = end - start >= CONFLUENT_HEADER_SIZE && buffer[start] === CONFLUENT_MAGIC_BYTE;
    if (!framed || !aggregator.add(buffer, start, end, buffer.readInt32BE(start + 1), writerSchema)) {
      aggregator.abandon();
      return { chunk: null, bytes: task.bytes };
    }
  }
  return { chunk: aggregator.finish(), bytes: task.bytes };
}

/** The piscina entry point: decode, then move (not copy) the result's buffers back. */
export default function run(task: DecodeTask): unknown {
  if (task.plan !== undefined) {
    const result = preAggregateChunk(task as DecodeTask & { plan: string });
    const transfers: ArrayBuffer[] = [result.bytes];
    if (result.chunk !== null) {
      const { partials, times } = result.chunk;
      for (const array of [times, partials.keyIndex, partials.starts, partials.ends, partials.lastRow, partials.accs]) transfers.push(array.buffer as ArrayBuffer);
    }
    return Piscina.move({ [Piscina.transferableSymbol]: transfers, [Piscina.valueSymbol]: result } as unknown as ArrayBuffer);
  }
  const result = decodeChunk(task);
  const { columns } = result;
  return Piscina.move({
    [Piscina.transferableSymbol]: [columns.numbers.buffer, columns.nulls.buffer, columns.strings.buffer, result.failed.buffer, result.bytes],
    [Piscina.valueSymbol]: result,
  } as unknown as ArrayBuffer);
}
