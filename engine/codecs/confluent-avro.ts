import type * as avro from 'avsc';
import type { DeadLetter } from '../runtime/operator';
import { ExternalError, UsageError } from '../errors';
import type { DecodedRows } from './decoded';
import { createPlainRowCopier } from './avro-schema';
import type { Row } from '../runtime/batch';

/**
 * The Confluent wire format used by Kafka + Schema Registry:
 *
 *   byte 0      magic byte, always 0
 *   bytes 1-4   schema id, big-endian int32 (the writer schema, in the registry)
 *   bytes 5..   the record, Avro binary encoding
 *
 * Records may be written with any writer schema compatible with the job's
 * reader schema (an older one without a field that has a default, a newer one
 * with an extra field): each writer schema is resolved to the reader schema
 * once (avsc `createResolver`) and the resolver is cached by schema id.
 *
 * Failures split by who must act. Bad bytes are the data's fault and become
 * dead letters with a precise reason; a registry that cannot be reached is an
 * outage and throws a retriable ExternalError, so the runtime retries the
 * batch instead of dead-lettering good records. Only a schema id the registry
 * says does not exist (HTTP 404) makes a dead letter.
 */

export const CONFLUENT_MAGIC_BYTE = 0;
export const CONFLUENT_HEADER_SIZE = 5;

/**
 * Looks up a writer schema by id. Resolves to the schema as an avsc Type
 * (built without logical types, see avro-schema.ts), or `undefined` when the
 * registry says the id does not exist. Rejects for anything else (network,
 * 5xx, auth); an error carrying `status: 404` or Confluent's `errorCode:
 * 40403` also counts as "does not exist" so the registry client's RestError
 * can be passed through.
 */
export type WriterSchemaResolver = (schemaId: number) => Promise<avro.Type | undefined>;

/**
 * Frame one row in the Confluent wire format.
 *
 * @example
 *   const payload = encodeConfluent(7, type, row); // <Buffer 00 00 00 00 07 ...avro...>
 */
export function encodeConfluent(schemaId: number, type: avro.Type, row: Row): Buffer {
  if (!Number.isInteger(schemaId) || schemaId < 0 || schemaId > 0x7fffffff) throw new UsageError(`invalid schema id ${schemaId}`);
  const body = type.toBuffer(row);
  const payload = Buffer.allocUnsafe(CONFLUENT_HEADER_SIZE + body.length);
  payload[0] = CONFLUENT_MAGIC_BYTE;
  payload.writeInt32BE(schemaId, 1);
  body.copy(payload, CONFLUENT_HEADER_SIZE);
  return payload;
}

/** The schema id of a framed payload, or `undefined` when it is not framed. */
export function confluentSchemaId(payload: Buffer): number | undefined {
  if (payload.length < CONFLUENT_HEADER_SIZE || payload[0] !== CONFLUENT_MAGIC_BYTE) return undefined;
  return payload.readInt32BE(1);
}

/** What the cache knows about a writer schema id. */
type WriterEntry =
  | { kind: 'ready'; type: avro.Type; resolver: avro.Resolver | undefined; toPlain: (value: unknown) => Row }
  | { kind: 'incompatible'; reason: string };

function isNotFound(error: unknown): boolean {
  const e = error as { status?: unknown; errorCode?: unknown } | null;
  return e !== null && typeof e === 'object' && (e.status === 404 || e.errorCode === 40403 || e.errorCode === 40401);
}

/**
 * Decodes Confluent-framed Avro payloads to rows of the reader schema.
 *
 * @example
 *   const decoder = new ConfluentAvroDecoder(readerType, async (id) => registryTypes.get(id));
 *   const { rows, offsets, deadLetters } = await decoder.decodeBatch(payloads, offsets, 'tides/0');
 */
export class ConfluentAvroDecoder {
  private readonly readerType: avro.Type;
  private readonly resolveWriterSchema: WriterSchemaResolver;
  private readonly writers = new Map<number, WriterEntry>();
  private readonly readerToPlain: (value: unknown) => Row;

  constructor(readerType: avro.Type, resolveWriterSchema: WriterSchemaResolver) {
    this.readerType = readerType;
    this.resolveWriterSchema = resolveWriterSchema;
    this.readerToPlain = createPlainRowCopier(readerType);
  }

  /** Writer schema ids resolved so far (for metrics and tests). */
  get cachedSchemaIds(): number[] {
    return [...this.writers.keys()];
  }

  /**
   * Decode a batch. Fetches the writer schemas it has not seen (once per id,
   * concurrently) before one synchronous pass over the payloads.
   *
   * Throws ExternalError (retriable) when the registry cannot be reached;
   * nothing of the batch is consumed then, so retrying the call is safe.
   */
  async decodeBatch(payloads: ArrayLike<Buffer | string | null>, offsets: ArrayLike<number>, partition: string): Promise<DecodedRows> {
    const missing = new Set<number>();
    for (let i = 0; i < payloads.length; i++) {
      const payload = payloads[i];
      if (payload === null || typeof payload === 'string') continue;
      const id = confluentSchemaId(payload);
      if (id !== undefined && !this.writers.has(id)) missing.add(id);
    }
    // Ids the registry does not know: dead letters for this batch only (not cached, in case it is being populated).
    const unknown = new Set<number>();
    if (missing.size > 0) {
      await Promise.all([...missing].map(async (id) => {
        if (!(await this.fetchWriter(id))) unknown.add(id);
      }));
    }
    return this.decodeKnown(payloads, offsets, partition, unknown);
  }

  /** Fetch and cache one writer schema; false when the registry says it does not exist. */
  private async fetchWriter(id: number): Promise<boolean> {
    let writerType: avro.Type | undefined;
    try {
      writerType = await this.resolveWriterSchema(id);
    } catch (error) {
      if (isNotFound(error)) return false;
      if (error instanceof ExternalError) throw error;
      throw new ExternalError(`schema registry: cannot fetch writer schema ${id}: ${(error as Error)?.message ?? String(error)}`, { retriable: true, cause: error });
    }
    if (writerType === undefined) return false;
    this.writers.set(id, this.prepareWriter(id, writerType));
    return true;
  }

  private prepareWriter(id: number, writerType: avro.Type): WriterEntry {
    if (writerType.equals(this.readerType)) {
      return { kind: 'ready', type: this.readerType, resolver: undefined, toPlain: this.readerToPlain };
    }
    try {
      const resolver = this.readerType.createResolver(writerType);
      return { kind: 'ready', type: this.readerType, resolver, toPlain: this.readerToPlain };
    } catch (error) {
      // Permanent: schema ids are immutable, so this id will never become readable.
      return { kind: 'incompatible', reason: `writer schema ${id} is incompatible with the reader schema: ${(error as Error).message}` };
    }
  }

  /** The synchronous pass: every id is either cached or in `unknown`. */
  private decodeKnown(payloads: ArrayLike<Buffer | string | null>, offsets: ArrayLike<number>, partition: string, unknown: Set<number>): DecodedRows {
    const rows: Row[] = [];
    const rowOffsets: number[] = [];
    const deadLetters: DeadLetter[] = [];
    const reject = (payload: Buffer | string | null, offset: number, reason: string): void => {
      deadLetters.push({ payload, reason, partition, offset, stage: 'decode' });
    };
    for (let i = 0; i < payloads.length; i++) {
      const payload = payloads[i];
      const offset = offsets[i];
      if (payload === null) {
        reject(payload, offset, 'empty payload: the record has no value (a tombstone?)');
        continue;
      }
      if (typeof payload === 'string') {
        reject(payload, offset, 'payload is text, expected Confluent-framed Avro bytes');
        continue;
      }
      if (payload.length === 0) {
        reject(payload, offset, 'empty payload: 0 bytes');
        continue;
      }
      if (payload[0] !== CONFLUENT_MAGIC_BYTE) {
        reject(payload, offset, `bad magic byte 0x${payload[0].toString(16).padStart(2, '0')}: expected 0x00 (not Confluent-framed Avro)`);
        continue;
      }
      if (payload.length < CONFLUENT_HEADER_SIZE) {
        reject(payload, offset, `truncated payload: ${payload.length} bytes, shorter than the 5-byte Confluent header`);
        continue;
      }
      const id = payload.readInt32BE(1);
      const entry = this.writers.get(id);
      if (entry === undefined) {
        reject(payload, offset, unknown.has(id) ? `unknown schema id ${id}: the schema registry has no such schema` : `schema id ${id} was not resolved`);
        continue;
      }
      if (entry.kind === 'incompatible') {
        reject(payload, offset, entry.reason);
        continue;
      }
      let decoded: { value: unknown; offset: number };
      try {
        decoded = entry.type.decode(payload, CONFLUENT_HEADER_SIZE, entry.resolver);
      } catch (error) {
        reject(payload, offset, `corrupt Avro data (writer schema ${id}): ${(error as Error).message}`);
        continue;
      }
      if (decoded.offset < 0) {
        reject(payload, offset, `truncated payload: the Avro record (writer schema ${id}) ends early; the payload has ${payload.length} bytes`);
        continue;
      }
      if (decoded.offset !== payload.length) {
        reject(payload, offset, `trailing bytes: ${payload.length - decoded.offset} bytes after the Avro record (writer schema ${id})`);
        continue;
      }
      rows.push(entry.toPlain(decoded.value));
      rowOffsets.push(offset);
    }
    return { rows, offsets: rowOffsets, deadLetters };
  }
}
