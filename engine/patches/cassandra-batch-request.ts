/**
 * A faster writer of BATCH request frames for cassandra-driver 4.10.0, in
 * place of its `BatchRequest.prototype.write`, giving the same bytes.
 *
 * Why: the driver builds a frame out of one small Buffer per length prefix,
 * flag and query id (a 4-byte Buffer before every bound value) and then
 * concatenates them all. For the sink's batches of 32 rows of about ten
 * values that is some 750 Buffers per request; in a profile of tides-dedupe
 * end to end, writing batch frames took 18% of the engine process's samples,
 * and much of its garbage collection came from them. Here the values are
 * encoded first (by the driver's own Encoder, in the driver's order), the
 * frame's length is summed, and everything is written into one Buffer.
 *
 * Only the common shape is written here: protocol v3 and later, no custom
 * payload, every value encoded to a Buffer (or Uint8Array), null or unset.
 * Anything else goes to the driver's own method, so the answer (and any
 * error) stays the driver's. A property test compares both writers byte for
 * byte; the Cassandra integration tests run through it.
 *
 * The method is looked up on the prototype at each write, so installing works
 * at any time; the Cassandra sink installs it when it is loaded. Any other
 * driver version, or `TIDEFLOW_CASSANDRA_BATCH_WRITER=driver`, leaves the
 * driver as it is.
 */

import { applyDependencyPatch, type DependencyPatchState } from './dependency-patch';

/** The cassandra-driver version whose BatchRequest writer this one stands in for. */
export const CASSANDRA_DRIVER_VERSION = '4.10.0';

/** The parts of the driver's execution options a batch request reads. */
interface BatchOptions {
  isQueryTracing(): boolean;
  getCustomPayload(): unknown;
  getConsistency(): number;
  getSerialConsistency(): number | null | undefined;
  getKeyspace(): string | null | undefined;
}
interface ColumnInfo {
  type: unknown;
}
/** One statement of a batch, as the driver hands it to the request. */
export interface BatchItem {
  query: string;
  params?: unknown[] | null;
  queryId?: Uint8Array;
  meta?: { columns: ColumnInfo[] };
}
/** The fields of the driver's BatchRequest that `write` uses. */
export interface BatchRequestFields {
  queries: BatchItem[];
  options: BatchOptions;
  timestamp: unknown;
  hints: Array<unknown[] | null | undefined>;
  type: number;
  length?: number;
}
/** The driver's Encoder, the parts used here. */
export interface DriverEncoder {
  protocolVersion: number;
  encode(value: unknown, type: unknown): unknown;
}
type WriteMethod = (this: BatchRequestFields, encoder: DriverEncoder, streamId: number) => Buffer;

interface ProtocolVersion {
  supportsTimestamp(version: number): boolean;
  uses4BytesQueryFlags(version: number): boolean;
  supportsKeyspaceInRequest(version: number): boolean;
}
interface DriverTypes {
  protocolVersion: ProtocolVersion;
  opcodes: { batch: number };
  frameFlags: { tracing: number };
  unset: object;
  Long: { toBuffer(value: unknown): Buffer };
  FrameHeader: {
    new (version: number, flags: number, streamId: number, opcode: number, bodyLength: number): { toBuffer(): Buffer };
    size(version: number): number;
  };
}

const types = require('cassandra-driver/lib/types') as DriverTypes;
const requests = require('cassandra-driver/lib/requests') as { BatchRequest: { prototype: { write: WriteMethod } } };

/** The driver's own method, kept for what this writer does not handle (and for the tests' comparison). */
export const driverBatchRequestWrite: WriteMethod = requests.BatchRequest.prototype.write;

const { protocolVersion, unset, FrameHeader } = types;
const BATCH_OPCODE = types.opcodes.batch;
const TRACING_FLAG = types.frameFlags.tracing;
// Batch flags of protocol v3+ (the driver's requests.js keeps them private).
const WITH_SERIAL_CONSISTENCY = 0x10;
const WITH_DEFAULT_TIMESTAMP = 0x20;
const WITH_KEYSPACE = 0x80;
/** Values up to this many bytes are copied byte by byte (cheaper than a native copy call). */
const SMALL_VALUE = 32;
const EMPTY: unknown[] = [];
/** The largest count or length the protocol's 2-byte fields hold. */
const MAX_SHORT = 0xffff;

/**
 * Writes the request's frame: header, then
 * `<type><n><query_1>...<query_n><consistency><flags>[<serial_consistency>][<timestamp>][<keyspace>]`,
 * each query `<kind><id or string><n><value_1>...<value_n>`, each value `<int length><bytes>`.
 */
export function writeBatchRequest(this: BatchRequestFields, encoder: DriverEncoder, streamId: number): Buffer {
  const queries = this.queries;
  const options = this.options;
  const version = encoder.protocolVersion;
  if (!Array.isArray(queries) || !(queries.length > 0) || queries.length > MAX_SHORT || options.getCustomPayload() || !protocolVersion.supportsTimestamp(version)) {
    return driverBatchRequestWrite.call(this, encoder, streamId);
  }

  // 1. Encode every value, in the driver's order, and add up the body's length. Whatever
  // the driver would treat in its own way (holes it skips, things that are not arrays or
  // bytes, lengths its writers refuse) is left to it before anything is written.
  const count = queries.length;
  const hintsOfQueries = this.hints;
  const encoded: unknown[] = [];
  let bodyLength = 1 + 2;
  for (let i = 0; i < count; i++) {
    if (!(i in queries)) return driverBatchRequestWrite.call(this, encoder, streamId);
    const item = queries[i];
    // Read for every item, as the driver does (so a missing hints list fails the same way).
    const hints = hintsOfQueries[i];
    const params = item.params || EMPTY;
    if (!Array.isArray(params) || params.length > MAX_SHORT) return driverBatchRequestWrite.call(this, encoder, streamId);
    const queryId = item.queryId;
    if (queryId) {
      if (!(queryId instanceof Uint8Array) || queryId.length > MAX_SHORT) return driverBatchRequestWrite.call(this, encoder, streamId);
      bodyLength += 1 + 2 + queryId.length;
    } else {
      bodyLength += 1 + 4 + Buffer.byteLength(item.query, 'utf8');
    }
    bodyLength += 2;
    for (let p = 0; p < params.length; p++) {
      const param = params[p];
      if (param === undefined && !(p in params)) return driverBatchRequestWrite.call(this, encoder, streamId);
      // The type as the driver looks it up, per value: a prepared statement's column, else the hint.
      const value = encoder.encode(param, queryId ? item.meta!.columns[p].type : hints ? hints[p] : null);
      if (value === null || value === unset) {
        bodyLength += 4;
      } else if (value instanceof Uint8Array) {
        bodyLength += 4 + value.length;
      } else {
        // The driver's encoder and options have no side effects: asking again changes nothing.
        return driverBatchRequestWrite.call(this, encoder, streamId);
      }
      encoded.push(value);
    }
  }
  const serialConsistency = options.getSerialConsistency();
  const timestamp = this.timestamp;
  const keyspace = options.getKeyspace() && protocolVersion.supportsKeyspaceInRequest(version) ? options.getKeyspace()! : null;
  let flags = serialConsistency ? WITH_SERIAL_CONSISTENCY : 0;
  if (timestamp !== null && timestamp !== undefined) flags |= WITH_DEFAULT_TIMESTAMP;
  if (keyspace !== null) flags |= WITH_KEYSPACE;
  const timestampBytes = flags & WITH_DEFAULT_TIMESTAMP ? types.Long.toBuffer(timestamp) : null;
  const wideFlags = protocolVersion.uses4BytesQueryFlags(version);
  bodyLength += 2 + (wideFlags ? 4 : 1);
  if (flags & WITH_SERIAL_CONSISTENCY) bodyLength += 2;
  if (timestampBytes !== null) bodyLength += timestampBytes.length;
  if (keyspace !== null) bodyLength += 2 + Buffer.byteLength(keyspace, 'utf8');

  // 2. Write the body after room for the header; a value the driver's writers refuse
  // (a consistency over 65535, say) throws here, before anything is recorded, as there.
  const headerLength = FrameHeader.size(version);
  const frame = Buffer.allocUnsafe(headerLength + bodyLength);
  let at = headerLength;
  frame[at++] = this.type;
  at = frame.writeUInt16BE(count, at);
  let next = 0;
  for (let i = 0; i < count; i++) {
    const item = queries[i];
    const params = item.params || EMPTY;
    const queryId = item.queryId;
    if (queryId) {
      frame[at++] = 1;
      at = frame.writeUInt16BE(queryId.length, at);
      frame.set(queryId, at);
      at += queryId.length;
    } else {
      frame[at++] = 0;
      at = frame.writeInt32BE(Buffer.byteLength(item.query, 'utf8'), at);
      at += frame.write(item.query, at, 'utf8');
    }
    at = frame.writeUInt16BE(params.length, at);
    for (let p = 0; p < params.length; p++) {
      const value = encoded[next++];
      if (value === null) {
        at = frame.writeInt32BE(-1, at);
      } else if (value === unset) {
        at = frame.writeInt32BE(-2, at);
      } else {
        const bytes = value as Uint8Array;
        const length = bytes.length;
        at = frame.writeInt32BE(length, at);
        if (length <= SMALL_VALUE) {
          for (let b = 0; b < length; b++) frame[at + b] = bytes[b];
        } else {
          frame.set(bytes, at);
        }
        at += length;
      }
    }
  }
  at = frame.writeUInt16BE(options.getConsistency(), at);
  if (wideFlags) at = frame.writeInt32BE(flags, at);
  else frame[at++] = flags;
  if (flags & WITH_SERIAL_CONSISTENCY) at = frame.writeUInt16BE(serialConsistency!, at);
  if (timestampBytes !== null) at += timestampBytes.copy(frame, at);
  if (keyspace !== null) {
    at = frame.writeUInt16BE(Buffer.byteLength(keyspace, 'utf8'), at);
    at += frame.write(keyspace, at, 'utf8');
  }
  // 3. The driver records the body's length (request-execution.js reads it back), then writes the header.
  this.length = bodyLength;
  const header = new FrameHeader(version, options.isQueryTracing() ? TRACING_FLAG : 0, streamId, BATCH_OPCODE, bodyLength).toBuffer();
  header.copy(frame, 0);
  return frame;
}

/** Whether tideflow's writer is what the driver uses, and if not, why. */
export type BatchRequestWriterState = DependencyPatchState;

let state: BatchRequestWriterState | null = null;

/**
 * Puts `writeBatchRequest` in place of the driver's BatchRequest writer (once;
 * later calls report the same state).
 */
export function installBatchRequestWriter(): BatchRequestWriterState {
  state ??= applyDependencyPatch({
    dependency: 'cassandra-driver',
    version: CASSANDRA_DRIVER_VERSION,
    replaces: 'batch request writer',
    otherwise: 'the driver writes batch requests itself',
    offSwitch: { variable: 'TIDEFLOW_CASSANDRA_BATCH_WRITER', value: 'driver' },
    install: () => {
      requests.BatchRequest.prototype.write = writeBatchRequest;
      return { active: true, reason: 'installed' };
    },
  });
  return state;
}

/** The state `installBatchRequestWriter` left (null before it ran). */
export function batchRequestWriterState(): BatchRequestWriterState | null {
  return state;
}
