import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';
import type { Client, ClientOptions } from '@opensearch-project/opensearch';
import { durationMs, durationSchema, hostList, hostListSchema, type ComponentContext, type JsonSchema, type Reporter } from '../config/component';
import { ExternalError, TideflowError, UsageError } from '../core/errors';
import type { Row } from '../core/batch';
import type { DeadLetter } from '../core/operator';
import { RetryPolicy, type Backoff } from '../core/retry';
import { WriteClock } from './cassandra-schema';
import { bulkActionLine, documentId, documentSource, isRetriableStatus, MalformedBulkResponse, readBulkItems } from './opensearch-documents';
import {
  applyFieldTypes,
  indexMapping,
  inferSearchFields,
  INDEX_NAME_PATTERN,
  mappingConflicts,
  missingFields,
  parseIndexName,
  resolveGeoPoint,
  SEARCH_FIELD_TYPES,
  type FieldMapping,
  type GeoPointSpec,
  type IndexMapping,
  type IndexName,
  type SearchField,
  type SearchFieldType,
} from './opensearch-mapping';
import type { Sink, SinkOptions } from '../core/sink';

/**
 * The OpenSearch client, loaded when the first sink connects: loading it takes
 * about 0.15 s, which every run paid whatever its sinks (and each thread of
 * `--workers N` again).
 */
let openSearchModule: typeof import('@opensearch-project/opensearch') | undefined;
function openSearch(): typeof import('@opensearch-project/opensearch') {
  openSearchModule ??= require('@opensearch-project/opensearch') as typeof import('@opensearch-project/opensearch');
  return openSearchModule;
}

/**
 * OpenSearch sink: result rows as documents of a typed index, one document
 * per result (its id from the result's key and window), so a replay after a
 * crash overwrites instead of duplicating.
 *
 * @example
 * sink:
 *   opensearch:
 *     nodes: ${OPENSEARCH_URL:-http://localhost:9200}
 *     index: tides-lunar-day
 *     id: [station, window_start]
 *     geoPoint: { field: location, lat: lat, lon: lon }
 *     auth: { username: ${OPENSEARCH_USERNAME}, password: ${OPENSEARCH_PASSWORD} }
 */

// ---------------------------------------------------------------- config

export interface OpenSearchSinkConfig {
  nodes: string | string[];
  index: string;
  id?: string[];
  fieldTypes?: Record<string, SearchFieldType>;
  geoPoint?: boolean | { field?: string; lat?: string; lon?: string };
  createIndex?: boolean;
  shards?: number;
  replicas?: number;
  bulkDocuments?: number;
  bulkBytes?: number;
  concurrency?: number;
  requestTimeout?: string;
  auth?: { username: string; password: string };
  tls?: { caFile?: string };
}

/** The normalised `opensearch:` sink (the lead moves it beside the other SinkSpecs in config/job.ts). */
export interface OpenSearchSinkSpec {
  /** Base URLs, `http(s)://host:port`. */
  nodes: string[];
  /** Index name, possibly templated on a timestamp field (see parseIndexName). */
  index: string;
  /** Fields the document id is made of; absent: the job's default (its key + window_start). */
  id?: string[];
  /** Types that replace or add to the job's output field types (`{ name: text }`). */
  fieldTypes: Record<string, SearchFieldType>;
  /** The geo_point to build; absent: `location` from `lat`/`lon` when the rows have both; false: none. */
  geoPoint?: GeoPointSpec | false;
  createIndex: boolean;
  shards?: number;
  replicas?: number;
  /** Documents per bulk request, at most. */
  bulkDocuments: number;
  /** Bytes per bulk request, at most (a single larger document goes alone). */
  bulkBytes: number;
  /** Bulk requests in flight, at most. */
  concurrency: number;
  requestTimeoutMs: number;
  auth?: { username: string; password: string };
  /** PEM file of a CA to trust besides Node's (which includes NODE_EXTRA_CA_CERTS). */
  caFile?: string;
}

/**
 * Bulk requests of ~0.9 MB for lunar-day rows (~430 bytes a document with its action line), two in
 * flight: one being indexed while the next is sent. `benchmarks/opensearch-sink.ts --sweep` compares others.
 */
const DEFAULTS = { createIndex: true, bulkDocuments: 2000, bulkBytes: 5 * 1024 * 1024, concurrency: 2, requestTimeout: '30s' };

const FIELD_NAME = { type: 'string', minLength: 1, pattern: '^[^.\\s][^\\s]*$', patternHint: 'a field name (no spaces, not starting with a dot)' } as const;

export const schema: JsonSchema = {
  title: 'opensearch sink',
  description: 'Indexes result rows as documents of a typed OpenSearch (or Elasticsearch) index, one document per result.',
  examples: [{ nodes: '${OPENSEARCH_URL:-http://localhost:9200}', index: 'tides-lunar-day' }],
  type: 'object',
  required: ['nodes', 'index'],
  additionalProperties: false,
  properties: {
    nodes: {
      ...hostListSchema('Base URLs of one or more nodes, as a list or comma-separated.', '${OPENSEARCH_URL:-http://localhost:9200}'),
      // One URL or a comma-separated list of them (what an environment variable holds), or a YAML list of URLs.
      pattern: '^\\s*https?://[^,\\s]+(\\s*,\\s*https?://[^,\\s]+)*\\s*$',
      patternHint: 'http:// or https:// URLs, comma-separated',
      items: { type: 'string', pattern: '^https?://[^,\\s]+$', patternHint: 'an http:// or https:// URL' },
    },
    index: {
      description:
        'Index to write, or a name templated on a timestamp field for time-based indices (`tides-{window_start:yyyy.MM}`: ' +
        'one index per month of window_start, UTC; format letters yyyy, MM, dd, HH). Created with a mapping derived from the job.',
      type: 'string',
      pattern: INDEX_NAME_PATTERN,
      patternHint: "an index name (lowercase letters, digits, '.', '_', '+', '-'), optionally with one {field:yyyy.MM} placeholder",
      examples: ['tides-lunar-day', 'tides-{window_start:yyyy.MM}'],
    },
    id: {
      description: 'Fields the document id is made of (default: the job key and window_start), so a replay overwrites the same documents.',
      type: 'array',
      items: FIELD_NAME,
      minItems: 1,
      uniqueItems: true,
      examples: [['station', 'window_start']],
    },
    fieldTypes: {
      title: 'opensearch fieldTypes',
      description: 'Field -> type, replacing or adding to the types derived from the job (e.g. `name: text` for full-text search).',
      type: 'object',
      propertyNames: FIELD_NAME,
      additionalProperties: { type: 'string', enum: SEARCH_FIELD_TYPES },
      examples: [{ name: 'text' }],
    },
    geoPoint: {
      title: 'opensearch geoPoint',
      description: 'A geo_point field from two numeric fields (default: `location` from `lat` and `lon` when the rows have both; false: none).',
      type: ['object', 'boolean'],
      additionalProperties: false,
      properties: {
        field: { ...FIELD_NAME, description: 'The geo_point field of the documents.', default: 'location' },
        lat: { ...FIELD_NAME, description: 'Row field with the latitude.', default: 'lat' },
        lon: { ...FIELD_NAME, description: 'Row field with the longitude.', default: 'lon' },
      },
      examples: [{ field: 'location', lat: 'lat', lon: 'lon' }],
    },
    createIndex: { description: 'Create the index (or index template) when missing, and add mapped fields an existing index lacks.', type: 'boolean', default: true },
    shards: { description: 'Primary shards of an index this sink creates (default: the server\'s).', type: 'integer', minimum: 1 },
    replicas: { description: 'Replicas of an index this sink creates (default: the server\'s; 0 on a single node).', type: 'integer', minimum: 0 },
    bulkDocuments: { description: 'Documents per bulk request, at most.', type: 'integer', minimum: 1, default: DEFAULTS.bulkDocuments },
    bulkBytes: { description: 'Bytes per bulk request, at most.', type: 'integer', minimum: 1024, default: DEFAULTS.bulkBytes },
    concurrency: { description: 'Bulk requests in flight, at most.', type: 'integer', minimum: 1, default: DEFAULTS.concurrency },
    requestTimeout: durationSchema('How long one request may take before it is retried.', { default: DEFAULTS.requestTimeout, positive: true, examples: ['30s'] }),
    auth: {
      title: 'opensearch auth',
      description: 'HTTP basic authentication; keep the password in an environment reference.',
      type: 'object',
      required: ['username', 'password'],
      additionalProperties: false,
      properties: {
        username: { description: 'User name.', type: 'string', examples: ['${OPENSEARCH_USERNAME}'] },
        password: { description: 'Password.', type: 'string', examples: ['${OPENSEARCH_PASSWORD}'] },
      },
    },
    tls: {
      title: 'opensearch tls',
      description: 'For https:// nodes. Certificates are always verified, against Node\'s trust store (plus NODE_EXTRA_CA_CERTS) and `caFile`.',
      type: 'object',
      additionalProperties: false,
      properties: { caFile: { description: 'PEM file of a private CA to trust.', type: 'string', minLength: 1, examples: ['/etc/tideflow/opensearch-ca.pem'] } },
    },
  },
};

/** Problems that need more than one field: an index name templated on two fields. */
export function check(raw: OpenSearchSinkConfig, report: Reporter): void {
  if (typeof raw.index !== 'string') return;
  try {
    parseIndexName(raw.index);
  } catch (error) {
    report.atValue(['index'], (error as Error).message);
  }
}

/** Schema-validated YAML to the JobSpec form: defaults filled in, durations in milliseconds. */
export function normalize(raw: OpenSearchSinkConfig, _context: ComponentContext): OpenSearchSinkSpec {
  let geoPoint: GeoPointSpec | false | undefined;
  if (raw.geoPoint === false) geoPoint = false;
  else if (raw.geoPoint === true || raw.geoPoint === undefined) geoPoint = undefined;
  else geoPoint = { field: raw.geoPoint.field ?? 'location', lat: raw.geoPoint.lat ?? 'lat', lon: raw.geoPoint.lon ?? 'lon' };
  return {
    nodes: hostList(raw.nodes),
    index: raw.index,
    ...(raw.id === undefined ? {} : { id: [...raw.id] }),
    fieldTypes: { ...(raw.fieldTypes ?? {}) },
    ...(geoPoint === undefined ? {} : { geoPoint }),
    createIndex: raw.createIndex ?? DEFAULTS.createIndex,
    ...(raw.shards === undefined ? {} : { shards: raw.shards }),
    ...(raw.replicas === undefined ? {} : { replicas: raw.replicas }),
    bulkDocuments: raw.bulkDocuments ?? DEFAULTS.bulkDocuments,
    bulkBytes: raw.bulkBytes ?? DEFAULTS.bulkBytes,
    concurrency: raw.concurrency ?? DEFAULTS.concurrency,
    requestTimeoutMs: durationMs(raw.requestTimeout ?? DEFAULTS.requestTimeout),
    ...(raw.auth === undefined ? {} : { auth: { ...raw.auth } }),
    ...(raw.tls?.caFile === undefined ? {} : { caFile: raw.tls.caFile }),
  };
}

// ---------------------------------------------------------------- errors

/**
 * An existing index maps a field differently from what the job writes. A
 * UsageError (exit 2, no "check that the server is running" hint): waiting
 * cannot fix it, and what must change is the job (another index, `fieldTypes`)
 * or the index (reindexed by its owner) — found at start, before any document.
 */
export class IndexMappingConflictError extends UsageError {
  constructor(
    readonly index: string,
    readonly conflicts: ReadonlyArray<{ field: string; existing: string; wanted: string }>,
  ) {
    super(
      `OpenSearch index ${index} maps ${conflicts.map((c) => `field '${c.field}' as ${c.existing} (the job writes ${c.wanted})`).join(', ')}; ` +
        `write to another index, set fieldTypes in the sink to match, or reindex ${index} with the new mapping`,
    );
  }
}

/** Server reason of a response error: `400 mapper_parsing_exception: ...`. */
function responseReason(error: { meta?: { statusCode?: number | null; body?: unknown } }): string {
  const status = error.meta?.statusCode ?? 0;
  const body = error.meta?.body as { error?: { type?: string; reason?: string } | string } | string | undefined;
  const detail = typeof body === 'object' && body !== null ? body.error : body;
  if (typeof detail === 'string') return `${status} ${detail.slice(0, 300)}`;
  if (detail && typeof detail === 'object') return `${status} ${detail.type ?? 'error'}: ${detail.reason ?? ''}`.trimEnd();
  return `HTTP ${status}`;
}

/** Node TLS messages that mean a configuration mistake, not an outage (the client keeps only the message). */
const TLS_MISTAKES = [
  /self[- ]signed certificate/i,
  /unable to verify the first certificate/i,
  /unable to get (local )?issuer certificate/i,
  /certificate has expired/i,
  /does not match certificate's altnames/i,
  /wrong version number/i,
];

/**
 * Any client failure as the ExternalError the runtime sees: retriable for
 * connection loss, timeouts and 429/502/503/504, not for anything else.
 * The message never carries credentials (the client's errors do not include
 * request headers in their message; node URLs are given without user info).
 *
 * @example
 *   toExternalError(new errors.ConnectionError('connect ECONNREFUSED 127.0.0.1:9200'), 'index 2000 documents into tides');
 *   // ExternalError('cannot index 2000 documents into tides: connect ECONNREFUSED 127.0.0.1:9200', { retriable: true })
 */
export function toExternalError(error: unknown, what: string): ExternalError {
  if (error instanceof ExternalError) return error;
  if (error instanceof openSearch().errors.ResponseError) {
    const status = error.meta?.statusCode ?? 0;
    const reason = responseReason(error);
    if (status === 401) return new ExternalError(`cannot ${what}: authentication failed (${reason}); check the sink's auth username and password`, { retriable: false, cause: error });
    if (status === 403) return new ExternalError(`cannot ${what}: forbidden (${reason}); the user needs write and index-management permissions on the index`, { retriable: false, cause: error });
    return new ExternalError(`cannot ${what}: ${reason}`, { retriable: isRetriableStatus(status), cause: error });
  }
  const message = error instanceof Error ? error.message : String(error);
  if (error instanceof openSearch().errors.ConnectionError && TLS_MISTAKES.some((pattern) => pattern.test(message))) {
    return new ExternalError(
      `cannot ${what}: TLS: the node's certificate is not accepted (${message}); for a private CA set tls.caFile in the sink or NODE_EXTRA_CA_CERTS=/path/to/ca.pem`,
      { retriable: false, cause: error },
    );
  }
  const transient =
    error instanceof openSearch().errors.ConnectionError ||
    error instanceof openSearch().errors.TimeoutError ||
    error instanceof openSearch().errors.NoLivingConnectionsError ||
    error instanceof openSearch().errors.RequestAbortedError;
  return new ExternalError(`cannot ${what}: ${message}`, { retriable: transient, cause: error });
}

/** A URL without user name and password, for messages. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    parsed.username = '';
    parsed.password = '';
    return parsed.toString().replace(/\/$/, '');
  } catch {
    return url.replace(/\/\/[^@/]*@/, '//');
  }
}

/**
 * A dead letter for a document the server refused, for the job's dead-letter
 * output: the row as its payload, the server's reason, stage `sink:<name>`
 * (a result row has no source partition or offset: `partition` names the sink, `offset` is -1).
 *
 * @example
 *   new OpenSearchSink(spec, 'main', { ...options, onRejected: (row, reason) => context.deadLetter(rejectedDocumentDeadLetter('main', row, reason)) });
 */
export function rejectedDocumentDeadLetter(sinkName: string, row: Row, reason: string): DeadLetter {
  return { payload: row, reason, partition: `sink:${sinkName}`, offset: -1, stage: `sink:${sinkName}` };
}

// ---------------------------------------------------------------- the sink

/** Options beyond the job's `opensearch:` spec. */
export interface OpenSearchSinkOptions extends SinkOptions {
  /**
   * The job's output fields and their types (window key fields, window_start/
   * window_end, each aggregate; or the reader schema's fields, see
   * searchFieldsOfRecord). The index is created from them in `open`. Absent:
   * guessed from the first rows written (see inferSearchFields).
   */
  fields?: readonly SearchField[];
  /** The document id fields when the spec has no `id` (the job's key + window_start). */
  idFields?: readonly string[];
  /**
   * A document the server refused for good (mapping conflict, too large): the
   * row and the server's reason. Called before the `flush` covering the row
   * resolves; a returned promise is awaited by that flush. Absent: such a
   * document fails the sink (nothing is dropped silently).
   */
  onRejected?: (row: Row, reason: string) => void | Promise<void>;
  /** Informational lines: index created, retries during an outage, recovery. Never credentials. */
  log?: (line: string) => void;
  /** Backoff of the retry helper (default: 100 ms doubling to 10 s, forever while retriable). */
  retry?: Partial<Backoff>;
  /** Wall clock the document versions follow (tests). */
  now?: () => number;
}

/** One queued document: its bulk lines, and the row for a dead letter. */
interface PendingDocument {
  row: Row;
  index: string;
  id: string;
  /** Action line and source, each ending in a newline. */
  lines: string;
  bytes: number;
}

/** How the sink writes, once its fields are known. */
interface Prepared {
  timestampFields: ReadonlySet<string>;
  geoPoint: GeoPointSpec | null;
  mapping: IndexMapping;
}

/** How long closing a failed sink waits for requests already sent. */
const CLOSE_GRACE_MS = 2_000;
/** Above the default priority (0) of index templates users write themselves. */
const TEMPLATE_PRIORITY = 200;

/**
 * Indexes result rows into OpenSearch with bulk requests.
 *
 * Why this is effectively-once: each document's id is made of the result's
 * key and window (`id`), so replaying an epoch after a crash writes the same
 * documents again — overwrites, never duplicates. Each document carries an
 * external version from a clock stamped when it is queued, so an older write
 * of a document never replaces a newer one (emit mode `update`, a retried item).
 *
 * Typed from the start (`open`): the mapping comes from the job's fields
 * (see opensearch-mapping.ts) with `dynamic: false`; the index — or, for a
 * templated name, an index template — is created when missing, and an
 * existing index whose mapping types a field differently fails `open` with
 * an IndexMappingConflictError naming the field.
 *
 * Flow control: documents are gathered into bulk requests of at most
 * `bulkDocuments` documents and `bulkBytes` bytes; at most `concurrency`
 * requests are in flight, and `write` waits while they are — at most
 * (concurrency + 1) x bulkBytes of documents are held, however long the
 * server is away. A request that fails as a whole for a reason that passes
 * (connection lost, timeout, 429, 502-504) is sent again with backoff,
 * forever; the items of a response are read one by one: 429/503 items are
 * sent again (only they), refused items (400-class: mapping conflict, too
 * large) go to `onRejected` with the server's reason, the rest is done.
 * A request the server refuses as too large (413) is split in halves.
 * Anything else fails the sink; `write`/`flush` then reject.
 *
 * @example
 *   const sink = new OpenSearchSink(spec, 'main', {
 *     timestampFields: new Set(['t']),
 *     fields: [{ name: 'station', type: 'keyword' }, { name: 'window_start', type: 'timestamp' }, { name: 'mean', type: 'double' }],
 *     idFields: ['station', 'window_start'],
 *     onRejected: (row, reason) => deadLetters.push({ row, reason }),
 *   });
 *   await sink.open();        // index created, or its mapping checked
 *   await sink.write(rows);   // returns once queued within the bound
 *   await sink.flush();       // returns once every document is stored (or dead-lettered)
 *   await sink.close();
 */
export class OpenSearchSink implements Sink {
  readonly description: string;
  private readonly indexName: IndexName;
  private readonly idFields: readonly string[];
  private readonly retrying: RetryPolicy;
  private readonly log: (line: string) => void;
  private readonly clock: WriteClock;
  private readonly nodesForMessages: string;

  private client: Client | null = null;
  private prepared: Prepared | null = null;
  private preparing: Promise<Prepared> | null = null;

  private buffer: PendingDocument[] = [];
  private bufferBytes = 0;
  private inFlight = 0;
  private readonly rejections = new Set<Promise<void>>();
  private failure: TideflowError | null = null;
  private slotWaiters: Array<() => void> = [];
  private idleWaiters: Array<() => void> = [];

  private indexed = 0;
  private rejected = 0;
  private closed = false;
  private readonly stopping = new AbortController();

  constructor(
    private readonly spec: OpenSearchSinkSpec,
    private readonly name: string,
    private readonly options: OpenSearchSinkOptions,
  ) {
    this.indexName = parseIndexName(spec.index);
    this.nodesForMessages = spec.nodes.map(redactUrl).join(', ');
    this.description = `OpenSearch index ${spec.index} (${this.nodesForMessages})`;
    const idFields = spec.id ?? options.idFields ?? [];
    if (idFields.length === 0) {
      throw new UsageError(
        `opensearch sink '${name}': documents need ids made of the result's key (so a replay overwrites them); set id: [...] in the sink, e.g. id: [station, window_start]`,
      );
    }
    this.idFields = idFields;
    this.log = options.log ?? (() => {});
    this.retrying = new RetryPolicy({
      subject: `opensearch sink '${name}'`,
      log: this.log,
      backoff: options.retry,
      signal: this.stopping.signal,
      describeError: (error) => `${(error as Error).message} (${this.nodesForMessages})`,
    });
    this.clock = new WriteClock(options.now ?? Date.now);
  }

  /** Documents the server has stored so far. */
  get documentsIndexed(): number {
    return this.indexed;
  }

  /** Documents the server refused for good (handed to `onRejected`). */
  get documentsRejected(): number {
    return this.rejected;
  }

  /** Failed attempts that were retried so far (requests and items). */
  get retries(): number {
    return this.retrying.retries;
  }

  /** Connects (waiting out an outage) and, when the fields are known, creates or checks the index. */
  async open(_resume?: unknown): Promise<void> {
    this.client = new (openSearch().Client)(this.clientOptions());
    if (this.options.fields !== undefined) {
      this.prepared = await this.prepare(applyFieldTypes(this.options.fields, this.spec.fieldTypes));
    }
  }

  /** Queues rows as documents; resolves once they are queued within the bound (not yet durable — see `flush`). */
  async write(rows: Row[]): Promise<void> {
    this.throwIfFailed();
    if (rows.length === 0) return;
    const prepared = this.prepared ?? (await this.prepareFromRows(rows));
    const { timestampFields, geoPoint } = prepared;
    const nowMs = this.clock.nowMs();
    for (const row of rows) {
      const index = this.indexName.indexOf(row);
      if (index === null) {
        this.reject(row, `opensearch sink '${this.name}': no index for this row: its field '${this.indexName.field}' holds no timestamp (${String(row[this.indexName.field!])}), which index ${this.spec.index} is named by`);
        continue;
      }
      const id = documentId(row, this.idFields, timestampFields);
      const lines = `${bulkActionLine(index, id, this.clock.nextMicros(nowMs))}\n${documentSource(row, timestampFields, geoPoint)}\n`;
      const bytes = Buffer.byteLength(lines, 'utf8');
      if (this.buffer.length > 0 && this.bufferBytes + bytes > this.spec.bulkBytes) await this.dispatch();
      this.buffer.push({ row, index, id, lines, bytes });
      this.bufferBytes += bytes;
      if (this.buffer.length >= this.spec.bulkDocuments) await this.dispatch();
    }
    this.throwIfFailed();
  }

  /**
   * Resolves when every document written so far is stored, or refused and
   * handed to `onRejected` (and its promise settled); rejects if the sink failed.
   */
  async flush(): Promise<void> {
    this.throwIfFailed();
    if (this.buffer.length > 0) await this.dispatch();
    while (this.inFlight > 0 || this.rejections.size > 0) {
      if (this.inFlight > 0) await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
      else await Promise.all([...this.rejections]);
      if (this.failure) break;
    }
    this.throwIfFailed();
  }

  /** Flushes (unless the sink failed: its rows are replayed from the last checkpoint), then disconnects. */
  async close(): Promise<void> {
    if (this.closed) return;
    try {
      if (!this.failure && this.client) await this.flush();
    } finally {
      this.stopping.abort();
      if (this.inFlight > 0) {
        const settled = new Promise<void>((resolve) => this.idleWaiters.push(resolve));
        await Promise.race([settled, new Promise((resolve) => setTimeout(resolve, CLOSE_GRACE_MS).unref())]);
      }
      this.closed = true;
      const client = this.client;
      this.client = null;
      await client?.close().catch(() => {});
    }
  }

  // ---------------------------------------------------------------- index

  private clientOptions(): ClientOptions {
    const options: ClientOptions = {
      nodes: this.spec.nodes,
      // One retry policy for the whole engine: the sink's own (retry.ts), not the client's.
      maxRetries: 0,
      requestTimeout: this.spec.requestTimeoutMs,
      sniffOnStart: false,
      sniffOnConnectionFault: false,
    };
    if (this.spec.auth) options.auth = { username: this.spec.auth.username, password: this.spec.auth.password };
    if (this.spec.caFile !== undefined) {
      let ca: string;
      try {
        ca = readFileSync(this.spec.caFile, 'utf8');
      } catch (error) {
        throw new UsageError(`opensearch sink '${this.name}': cannot read tls.caFile ${this.spec.caFile}: ${(error as Error).message}`);
      }
      // `ca` replaces Node's trust store: keep the public roots beside the private CA.
      options.ssl = { ca: [...rootCertificates, ca], rejectUnauthorized: true };
    } else {
      options.ssl = { rejectUnauthorized: true };
    }
    return options;
  }

  private prepareFromRows(rows: Row[]): Promise<Prepared> {
    this.preparing ??= this.prepare(applyFieldTypes(inferSearchFields(rows, this.options.timestampFields), this.spec.fieldTypes)).then(
      (prepared) => (this.prepared = prepared),
      (error: unknown) => {
        // A mapping conflict stays a UsageError (exit 2); anything else is the server's.
        throw this.fail(error instanceof TideflowError ? error : toExternalError(error, `prepare ${this.spec.index}`));
      },
    );
    return this.preparing;
  }

  /** Creates the index (or template) or checks an existing one, for these fields. */
  private async prepare(fields: SearchField[]): Promise<Prepared> {
    const geoPoint = this.spec.geoPoint === false ? null : resolveGeoPoint(fields, this.spec.geoPoint);
    const mapping = indexMapping(fields, geoPoint);
    const timestampFields = new Set(this.options.timestampFields);
    for (const field of fields) if (field.type === 'timestamp') timestampFields.add(field.name);
    if (this.indexName.field === null) await this.prepareIndex(this.spec.index, mapping);
    else await this.prepareTemplate(mapping);
    return { timestampFields, geoPoint, mapping };
  }

  private settings(): Record<string, number> {
    const settings: Record<string, number> = {};
    if (this.spec.shards !== undefined) settings.number_of_shards = this.spec.shards;
    if (this.spec.replicas !== undefined) settings.number_of_replicas = this.spec.replicas;
    return settings;
  }

  private async prepareIndex(index: string, mapping: IndexMapping): Promise<void> {
    const client = this.requireClient();
    const existing = await this.withRetry(`read the mapping of ${index}`, async () => {
      const response = await client.indices.getMapping({ index }, { ignore: [404] });
      return response.statusCode === 404 ? null : (response.body as Record<string, { mappings?: { properties?: Record<string, FieldMapping> } }>);
    });
    if (existing === null) {
      if (!this.spec.createIndex) {
        throw new ExternalError(`OpenSearch index ${index} does not exist and createIndex is off: create it, or set createIndex: true in the sink`, { retriable: false });
      }
      const created = await this.withRetry(`create index ${index}`, async () => {
        const response = await client.indices.create({ index, body: { settings: this.settings(), mappings: clientMapping(mapping) } }, { ignore: [400] });
        if (response.statusCode === 400) {
          // Another writer created it first: check that one's mapping instead.
          if ((response.body as { error?: { type?: string } }).error?.type === 'resource_already_exists_exception') return false;
          throw new (openSearch().errors.ResponseError)(response as never);
        }
        return true;
      });
      if (created) {
        this.log(`opensearch sink '${this.name}': index ${index} created (${describeMapping(mapping)})`);
        return;
      }
      return this.prepareIndex(index, mapping);
    }
    await this.checkExisting(existing, mapping);
  }

  /** Time-based indices: an index template for every index the name can produce, and a check of those that exist. */
  private async prepareTemplate(mapping: IndexMapping): Promise<void> {
    const client = this.requireClient();
    const templateName = `tideflow-${this.spec.index.replace(/\{([^:}]+):[^}]*\}/g, '$1')}`;
    if (this.spec.createIndex) {
      await this.withRetry(`create index template ${templateName}`, () =>
        client.indices.putIndexTemplate({
          name: templateName,
          body: { index_patterns: [this.indexName.pattern], priority: TEMPLATE_PRIORITY, template: { settings: this.settings(), mappings: clientMapping(mapping) } },
        }),
      );
      this.log(`opensearch sink '${this.name}': index template ${templateName} for ${this.indexName.pattern} ready (${describeMapping(mapping)})`);
    } else {
      this.log(
        `opensearch sink '${this.name}': createIndex is off: new indices for ${this.indexName.pattern} take their mapping from the server's index templates ` +
          `(without one matching, every field is typed by OpenSearch's guess)`,
      );
    }
    const existing = await this.withRetry(`read the mappings of ${this.indexName.pattern}`, async () => {
      const response = await client.indices.getMapping({ index: this.indexName.pattern, allow_no_indices: true, expand_wildcards: 'open' });
      return response.body as Record<string, { mappings?: { properties?: Record<string, FieldMapping> } }>;
    });
    await this.checkExisting(existing, mapping);
  }

  /** Conflicts fail; fields an existing index lacks are added (createIndex) or reported. */
  private async checkExisting(indices: Record<string, { mappings?: { properties?: Record<string, FieldMapping> } }>, mapping: IndexMapping): Promise<void> {
    const client = this.requireClient();
    for (const [index, definition] of Object.entries(indices).sort(([a], [b]) => a.localeCompare(b))) {
      const properties = definition.mappings?.properties ?? {};
      const conflicts = mappingConflicts(properties, mapping.properties);
      if (conflicts.length > 0) throw new IndexMappingConflictError(index, conflicts);
      const missing = missingFields(properties, mapping.properties);
      const names = Object.keys(missing);
      if (names.length === 0) continue;
      if (!this.spec.createIndex) {
        this.log(`opensearch sink '${this.name}': index ${index} has no mapping for ${names.join(', ')} (createIndex is off): those fields are stored but not searchable`);
        continue;
      }
      await this.withRetry(`add fields to the mapping of ${index}`, () => client.indices.putMapping({ index, body: clientMapping({ properties: missing }) }));
      this.log(`opensearch sink '${this.name}': fields ${names.join(', ')} added to the mapping of ${index}`);
    }
  }

  // ---------------------------------------------------------------- bulk requests

  /** Sends the gathered documents once a request slot is free. */
  private async dispatch(): Promise<void> {
    while (this.inFlight >= this.spec.concurrency && !this.failure) await new Promise<void>((resolve) => this.slotWaiters.push(resolve));
    this.throwIfFailed();
    const documents = this.buffer;
    this.buffer = [];
    this.bufferBytes = 0;
    this.inFlight++;
    void this.send(documents);
  }

  private async send(documents: PendingDocument[]): Promise<void> {
    try {
      await this.deliver(documents);
    } catch (error) {
      this.fail(error instanceof ExternalError ? error : toExternalError(error, `index into ${this.spec.index}`));
    } finally {
      this.inFlight--;
      wake(this.slotWaiters);
      if (this.inFlight === 0) wake(this.idleWaiters);
    }
  }

  /**
   * Sends documents until each one is stored or refused for good: the whole
   * request again after an outage, then only the items the server asked to
   * be sent again (429/503 per item).
   */
  private async deliver(documents: PendingDocument[]): Promise<void> {
    let remaining = documents;
    const context = () => `${remaining.length} document(s) left; ${this.retrying.waiting} request(s) waiting`;
    await this.retrying.run(
      `bulk request of ${documents.length} document(s) into ${this.spec.index}`,
      async () => {
        const client = this.requireClient();
        let body: unknown;
        try {
          // NDJSON text the client sends as it is (each document serialised once, however often it is sent).
          body = (await client.bulk({ body: remaining.map((document) => document.lines).join('') as never })).body;
        } catch (error) {
          if (error instanceof openSearch().errors.ResponseError && error.meta?.statusCode === 413) {
            const tooLarge = remaining;
            remaining = [];
            return this.splitTooLarge(tooLarge, responseReason(error));
          }
          throw toExternalError(error, `index ${remaining.length} document(s) into ${this.spec.index}`);
        }
        let outcomes;
        try {
          outcomes = readBulkItems(body, remaining.length);
        } catch (error) {
          if (error instanceof MalformedBulkResponse) throw new ExternalError(`cannot index into ${this.spec.index}: ${error.message}`, { retriable: false, cause: error });
          throw error;
        }
        const again: PendingDocument[] = [];
        let firstReason = '';
        for (let i = 0; i < outcomes.length; i++) {
          const outcome = outcomes[i];
          const document = remaining[i];
          if (outcome.kind === 'indexed') this.indexed++;
          else if (outcome.kind === 'retry') {
            again.push(document);
            firstReason ||= outcome.reason;
          } else this.reject(document.row, `OpenSearch index ${document.index} refused document ${document.id}: ${outcome.reason}`);
        }
        remaining = again;
        if (again.length > 0) {
          throw new ExternalError(`${again.length} document(s) of a bulk request into ${this.spec.index} refused for now (${firstReason})`, { retriable: true });
        }
      },
      { context },
    );
  }

  /** A request over the server's size limit: halves, down to the single document that is itself too large. */
  private async splitTooLarge(documents: PendingDocument[], reason: string): Promise<void> {
    if (documents.length === 1) {
      const [document] = documents;
      this.reject(document.row, `OpenSearch refused document ${document.id} for ${document.index}: ${reason} (the document alone is larger than the server's http.max_content_length)`);
      return;
    }
    const half = Math.ceil(documents.length / 2);
    await this.deliver(documents.slice(0, half));
    await this.deliver(documents.slice(half));
  }

  /** A document refused for good: to `onRejected`, or (without one) the sink fails. */
  private reject(row: Row, reason: string): void {
    this.rejected++;
    const handler = this.options.onRejected;
    if (!handler) {
      this.fail(new ExternalError(`${reason}; the sink has no dead-letter output, so it stops here`, { retriable: false }));
      return;
    }
    let result: void | Promise<void>;
    try {
      result = handler(row, reason);
    } catch (error) {
      this.fail(toExternalError(error, `hand a refused document to the dead-letter output`));
      return;
    }
    if (result instanceof Promise) {
      const pending: Promise<void> = result
        .catch((error: unknown) => {
          this.fail(toExternalError(error, `hand a refused document to the dead-letter output`));
        })
        .finally(() => this.rejections.delete(pending));
      this.rejections.add(pending);
    }
  }

  // ---------------------------------------------------------------- errors

  private async withRetry<T>(what: string, operation: () => Promise<T>): Promise<T> {
    return this.retrying.run(what, async () => {
      try {
        return await operation();
      } catch (error) {
        throw toExternalError(error, what);
      }
    });
  }

  private fail(error: TideflowError): TideflowError {
    if (!this.failure) {
      this.failure = error;
      wake(this.slotWaiters);
      wake(this.idleWaiters);
    }
    return this.failure;
  }

  private throwIfFailed(): void {
    if (this.failure) throw this.failure;
    if (this.closed) throw new ExternalError(`opensearch sink '${this.name}' is closed`, { retriable: false });
  }

  private requireClient(): Client {
    if (!this.client) throw new ExternalError(`opensearch sink '${this.name}' is not open`, { retriable: false });
    return this.client;
  }
}

/** Our mappings as the client's request type, which spells out every mapping parameter OpenSearch has (ours are a subset). */
function clientMapping(mapping: Partial<IndexMapping>): never {
  return mapping as never;
}

function describeMapping(mapping: IndexMapping): string {
  return Object.entries(mapping.properties)
    .map(([field, definition]) => `${field} ${definition.type ?? 'object'}`)
    .join(', ');
}

function wake(waiters: Array<() => void>): void {
  if (waiters.length === 0) return;
  const woken = waiters.splice(0, waiters.length);
  for (const resolve of woken) resolve();
}
