import type * as avro from 'avsc';
import type { AvroRegistryFormatSpec } from '../config/job';
import type { RawBatch, Row } from '../core/batch';
import { DecodeError } from '../core/errors';
import { RetryPolicy } from '../core/retry';
import type { ReadProjection } from './confluent-avro';
import type { Decoder } from './decoder';
import { createConfluentDecoder } from './parallel-confluent-decoder';
import type { PreAggregationPlan } from './pre-aggregation';
import { SchemaRegistry } from './registry';

export interface KafkaAvroDecoderOptions {
  log?: (line: string) => void;
  /** Stops retry waits (graceful shutdown). */
  signal?: AbortSignal;
  /** Share a registry client (tests; one cache for source and sink). */
  registry?: SchemaRegistry;
  /** Threads that decode (`--workers`); default 1: in-thread, no worker pool. */
  workers?: number;
  /** Skip fields the job never reads (engine/codecs/projection.ts); exact either way. */
  projection?: ReadProjection | null;
  /** With workers > 1: pre-aggregate for the job's first window step (engine/codecs/pre-aggregation.ts). */
  plan?: PreAggregationPlan | null;
}

/**
 * Decodes Confluent-framed Avro Kafka values with writer schemas from the
 * registry, resolved to the job's reader schema. Bad records become dead
 * letters (stage `decode`, with partition and offset); a registry outage is
 * waited out with the retry helper and never produces dead letters.
 *
 * @example
 *   const decoder = createKafkaAvroDecoder(spec.format, loadAvroType(spec.format.readerSchema));
 *   const decoded = await decoder.decode(rawBatch); // rows and dead letters, or pre-aggregated windows
 */
export function createKafkaAvroDecoder(
  format: AvroRegistryFormatSpec,
  readerType: avro.Type,
  options: KafkaAvroDecoderOptions = {},
): Decoder & { readonly registry: SchemaRegistry } {
  const registry = options.registry ?? new SchemaRegistry({ url: format.registryUrl, basicAuth: format.basicAuth });
  const log = options.log ?? (() => {});
  const decoder = createConfluentDecoder(readerType, async (id) => {
    try {
      return await registry.getWriterType(id);
    } catch (error) {
      if (error instanceof DecodeError) return undefined;
      throw error;
    }
  }, { workers: options.workers ?? 1, projection: options.projection, plan: options.plan });
  let lastRetry = '';
  // Closing the decoder (the run stopped while a batch waited for the registry) ends the wait too.
  const closing = new AbortController();
  const signal = options.signal ? AbortSignal.any([options.signal, closing.signal]) : closing.signal;
  const retrying = new RetryPolicy({ subject: 'avro decoder', log, signal });
  return {
    registry,
    overlaps: decoder.overlaps,
    // A registry outage is waited out; nothing of the batch is consumed before the schemas are there.
    async decode(raw: RawBatch) {
      lastRetry = '';
      const { partition, fromOffset, toOffset } = raw.source;
      const decoded = await retrying.run(`decode offsets ${fromOffset}-${toOffset - 1} of ${partition}`, () => decoder.decode(raw), {
        onRetry: (_error, n, delay) => {
          lastRetry = `decode attempt ${n} failed at ${new Date().toISOString().slice(11, 19)} UTC, next in ${delay} ms`;
        },
      });
      lastRetry = '';
      return decoded;
    },
    describeState() {
      return `${registry.describeState()}${lastRetry ? `; ${lastRetry}` : ''}`;
    },
    ...(decoder.expand ? { expand: (row: Row) => decoder.expand!(row) } : {}),
    async close() {
      closing.abort();
      await decoder.close();
      if (!options.registry) registry.close();
    },
  };
}
