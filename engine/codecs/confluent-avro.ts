import type * as avro from 'avsc';
import type { DeadLetter } from '../core/operator';
import { ExternalError, UsageError } from '../core/errors';
import type { DecodedRows } from './decoded';
import { createPlainRowCopier } from './avro-schema';
import { flatRecordReaderOrNull, type FlatRecordReader } from './flat-record-reader';
import type { RawBatch, Row } from '../core/batch';
import type { DecodedBatch, Decoder } from './decoder';

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
  // readInt32BE(1) without its argument checks: called once per record on the hot paths.
  return (payload[1] << 24) | (payload[2] << 16) | (payload[3] << 8) | payload[4];
}

/** How to read one writer schema as one reader schema. */
interface ReadPlan {
  type: avro.Type;
  resolver: avro.Resolver | undefined;
  toPlain: (value: unknown) => Row;
  /**
   * A compiled reader for the pair (flat-record-reader.ts), or null when the
   * pair is not flat: it builds the row directly, with the same values and
   * field order as avsc's record copied by `toPlain`. A record it refuses
   * (damaged, or anything it cannot read exactly) is read by avsc, which
   * words the reason.
   */
  flat: FlatRecordReader | null;
}

/** What the cache knows about a writer schema id. */
type WriterEntry =
  | (ReadPlan & { kind: 'ready'; writerType: avro.Type; projected: ReadPlan | null })
  | { kind: 'incompatible'; reason: string };

/**
 * Reading part of each record (see engine/runtime/projection.ts): the reader
 * schema without some fields, and the record size above which a record is
 * read whole anyway.
 */
export interface ReadProjection {
  type: avro.Type;
  wholeAboveBytes: number;
}

function isNotFound(error: unknown): boolean {
  const e = error as { status?: unknown; errorCode?: unknown } | null;
  return e !== null && typeof e === 'object' && (e.status === 404 || e.errorCode === 40403 || e.errorCode === 40401);
}

/**
 * Decodes Confluent-framed Avro payloads to rows of the reader schema.
 *
 * @example
 *   const decoder = new ConfluentAvroDecoder(readerType, async (id) => registryTypes.get(id));
 *   const decoded = await decoder.decode(raw); // { kind: 'rows', rows, offsets, deadLetters }
 */
export class ConfluentAvroDecoder implements Decoder {
  /** `expand` reads the batch decoded last: the next batch must wait until the run is done with this one. */
  readonly overlaps = false;
  private readonly readerType: avro.Type;
  private readonly resolveWriterSchema: WriterSchemaResolver;
  private readonly writers = new Map<number, WriterEntry>();
  private readonly readerToPlain: (value: unknown) => Row;
  private readonly projection: ReadProjection | null;
  private readonly projectedToPlain: ((value: unknown) => Row) | null;
  /** With a projection: the last batch's rows and the payload behind each, for `expand`. */
  private lastRows: Row[] = [];
  private lastPayloads: Buffer[] = [];
  private lastIndex: Map<Row, number> | null = null;

  /**
   * With `projection`, records are read with the projected reader schema
   * (fields skipped, not built), except records longer than
   * `projection.wholeAboveBytes`, which are read whole.
   */
  constructor(readerType: avro.Type, resolveWriterSchema: WriterSchemaResolver, projection: ReadProjection | null = null) {
    this.readerType = readerType;
    this.resolveWriterSchema = resolveWriterSchema;
    this.readerToPlain = createPlainRowCopier(readerType);
    this.projection = projection;
    this.projectedToPlain = projection ? createPlainRowCopier(projection.type) : null;
  }

  /**
   * The whole record behind a row of the batch decoded last (the row itself
   * when it was read whole, or is not from that batch). With a projection,
   * late records and invalid records are written out whole this way.
   */
  expand(row: Row): Row {
    if (this.projection === null || this.lastRows.length === 0) return row;
    this.lastIndex ??= new Map(this.lastRows.map((candidate, i) => [candidate, i]));
    const index = this.lastIndex.get(row);
    if (index === undefined) return row;
    const payload = this.lastPayloads[index];
    const entry = this.writers.get(payload.readInt32BE(1));
    if (entry === undefined || entry.kind !== 'ready') return row;
    const holder: DecodedValue = { value: undefined };
    return decodeFramedRecord(entry.type, entry.resolver, payload, -1, holder) === null ? entry.toPlain(holder.value) : row;
  }

  /** Writer schema ids resolved so far (for metrics and tests). */
  get cachedSchemaIds(): number[] {
    return [...this.writers.keys()];
  }

  /** How many writer schema ids are resolved (it only grows): a cheap way to notice a new one. */
  get cachedSchemaCount(): number {
    return this.writers.size;
  }

  /**
   * Decode a batch. Fetches the writer schemas it has not seen (once per id,
   * concurrently) before one synchronous pass over the payloads.
   *
   * Throws ExternalError (retriable) when the registry cannot be reached;
   * nothing of the batch is consumed then, so retrying the call is safe.
   */
  async decode(raw: RawBatch): Promise<DecodedBatch> {
    return { kind: 'rows', ...(await this.decodeRows(raw.payloads ?? [], raw.offsets, raw.source.partition)) };
  }

  /** `decode` for payloads not gathered in a RawBatch. */
  async decodeRows(payloads: ArrayLike<Buffer | string | null>, offsets: ArrayLike<number>, partition: string): Promise<DecodedRows> {
    const unknown = await this.fetchMissingSchemas(payloads);
    return this.decodeResolved(payloads, offsets, partition, unknown);
  }

  async close(): Promise<void> {}

  /**
   * Make sure every schema id the payloads name is either cached or known to
   * be missing; resolves to the ids the registry does not know. These are
   * dead letters for this batch only (not cached, in case the registry is
   * being populated). Throws like `decode` when the registry is down.
   */
  async fetchMissingSchemas(payloads: ArrayLike<Buffer | string | null>): Promise<Set<number>> {
    const missing = new Set<number>();
    // Records of a batch nearly always share one id: look each run of it up once.
    let lastId: number | undefined;
    for (let i = 0; i < payloads.length; i++) {
      const payload = payloads[i];
      if (payload === null || typeof payload === 'string') continue;
      const id = confluentSchemaId(payload);
      if (id === lastId) continue;
      lastId = id;
      if (id !== undefined && !this.writers.has(id)) missing.add(id);
    }
    const unknown = new Set<number>();
    if (missing.size > 0) {
      await Promise.all([...missing].map(async (id) => {
        if (!(await this.fetchWriter(id))) unknown.add(id);
      }));
    }
    return unknown;
  }

  /**
   * Why records of writer schema `id` cannot be decoded at all (unknown or
   * incompatible), or null when they can. Call after `fetchMissingSchemas`.
   */
  writerProblem(id: number, unknown: ReadonlySet<number>): string | null {
    const entry = this.writers.get(id);
    if (entry === undefined) return unknown.has(id) ? `unknown schema id ${id}: the schema registry has no such schema` : `schema id ${id} was not resolved`;
    return entry.kind === 'incompatible' ? entry.reason : null;
  }

  /** The writer schema of a readable id as JSON text (aliases and all), for decoding elsewhere (worker threads). */
  writerSchemaText(id: number): string | undefined {
    const entry = this.writers.get(id);
    return entry?.kind === 'ready' ? JSON.stringify(entry.writerType.schema({ exportAttrs: true })) : undefined;
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
    // Compatibility is judged against the whole reader schema, projection or not.
    const prepared = prepareWriterResolver(this.readerType, writerType, id);
    if (typeof prepared === 'string') return { kind: 'incompatible', reason: prepared };
    let projected: ReadPlan | null = null;
    if (this.projection) {
      const narrowed = prepareWriterResolver(this.projection.type, writerType, id);
      if (typeof narrowed !== 'string') {
        projected = { type: this.projection.type, resolver: narrowed.resolver, toPlain: this.projectedToPlain!, flat: flatRecordReaderOrNull(this.projection.type, writerType) };
      }
    }
    const flat = flatRecordReaderOrNull(this.readerType, writerType);
    return { kind: 'ready', type: this.readerType, resolver: prepared.resolver, toPlain: this.readerToPlain, flat, writerType, projected };
  }

  /** The synchronous pass, after `fetchMissingSchemas`: every id is either cached or in `unknown`. */
  decodeResolved(payloads: ArrayLike<Buffer | string | null>, offsets: ArrayLike<number>, partition: string, unknown: Set<number>): DecodedRows {
    const rows: Row[] = [];
    const rowOffsets: number[] = [];
    const deadLetters: DeadLetter[] = [];
    const decoded: DecodedValue = { value: undefined };
    const projecting = this.projection !== null;
    const wholeAbove = this.projection?.wholeAboveBytes ?? 0;
    const rowPayloads: Buffer[] = [];
    for (let i = 0; i < payloads.length; i++) {
      const payload = payloads[i];
      const offset = offsets[i];
      let reason = framingProblem(payload);
      if (reason === null) {
        const id = (payload as Buffer).readInt32BE(1);
        const entry = this.writers.get(id);
        if (entry === undefined || entry.kind === 'incompatible') reason = this.writerProblem(id, unknown);
        else {
          let plan: ReadPlan = entry.projected !== null && (payload as Buffer).length <= wholeAbove ? entry.projected : entry;
          const flat = plan.flat;
          if (flat !== null) {
            const row = flat.newRow();
            if (flat.read(payload as Buffer, CONFLUENT_HEADER_SIZE, (payload as Buffer).length, row)) {
              rows.push(row);
              rowOffsets.push(offset);
              if (projecting) rowPayloads.push(payload as Buffer);
              continue;
            }
          }
          reason = decodeFramedRecord(plan.type, plan.resolver, payload as Buffer, id, decoded);
          if (reason !== null && plan !== entry) {
            // A broken record: read it whole, so its reason is worded exactly as without projection.
            plan = entry;
            reason = decodeFramedRecord(plan.type, plan.resolver, payload as Buffer, id, decoded);
          }
          if (reason === null) {
            rows.push(plan.toPlain(decoded.value));
            rowOffsets.push(offset);
            if (projecting) rowPayloads.push(payload as Buffer);
            continue;
          }
        }
      }
      // Every path that gets here set a reason (decoded records `continue` above).
      deadLetters.push({ payload, reason: reason as string, partition, offset, stage: 'decode' });
    }
    if (projecting) {
      this.lastRows = rows;
      this.lastPayloads = rowPayloads;
      this.lastIndex = null;
    }
    return { rows, offsets: rowOffsets, deadLetters };
  }
}

/**
 * Why a payload is not Confluent-framed Avro, judged by its framing alone
 * (null, text, too short, wrong magic byte); null when the frame is fine.
 * Shared by every decoder so dead-letter reasons never depend on which
 * thread decoded a record.
 */
export function framingProblem(payload: Buffer | string | null): string | null {
  if (payload === null) return 'empty payload: the record has no value (a tombstone?)';
  if (typeof payload === 'string') return 'payload is text, expected Confluent-framed Avro bytes';
  if (payload.length === 0) return 'empty payload: 0 bytes';
  if (payload[0] !== CONFLUENT_MAGIC_BYTE) return `bad magic byte 0x${payload[0].toString(16).padStart(2, '0')}: expected 0x00 (not Confluent-framed Avro)`;
  if (payload.length < CONFLUENT_HEADER_SIZE) return `truncated payload: ${payload.length} bytes, shorter than the 5-byte Confluent header`;
  return null;
}

/** Where `decodeFramedRecord` puts the decoded value (one reusable holder, no allocation per record). */
export interface DecodedValue {
  value: unknown;
}

/**
 * Decode the Avro body of a well-framed payload written with schema `id`
 * into `out.value`. Returns null on success, else the dead-letter reason
 * (corrupt, truncated, trailing bytes).
 */
export function decodeFramedRecord(type: avro.Type, resolver: avro.Resolver | undefined, payload: Buffer, id: number, out: DecodedValue): string | null {
  let decoded: { value: unknown; offset: number };
  try {
    decoded = type.decode(payload, CONFLUENT_HEADER_SIZE, resolver);
  } catch (error) {
    return `corrupt Avro data (writer schema ${id}): ${(error as Error).message}`;
  }
  if (decoded.offset < 0) return `truncated payload: the Avro record (writer schema ${id}) ends early; the payload has ${payload.length} bytes`;
  if (decoded.offset !== payload.length) return `trailing bytes: ${payload.length - decoded.offset} bytes after the Avro record (writer schema ${id})`;
  out.value = decoded.value;
  return null;
}

/**
 * How to read records of `writerType` as `readerType`: no resolver when the
 * schemas are the same, else avsc's resolver; a string (the dead-letter
 * reason) when they are incompatible. Permanent: schema ids are immutable.
 */
export function prepareWriterResolver(readerType: avro.Type, writerType: avro.Type, id: number): { resolver: avro.Resolver | undefined } | string {
  if (writerType.equals(readerType)) return { resolver: undefined };
  try {
    return { resolver: readerType.createResolver(writerType) };
  } catch (error) {
    return `writer schema ${id} is incompatible with the reader schema: ${(error as Error).message}`;
  }
}
