import type { SchemaRegistryClient } from '@confluentinc/schemaregistry';
import type * as avro from 'avsc';
import { DecodeError, ExternalError } from '../core/errors';
import { parseAvroType } from './avro-schema';

/**
 * Schema Registry access for the Kafka source, sink and `tideflow produce`,
 * over `@confluentinc/schemaregistry` (Confluent REST API; Apicurio Registry
 * serves the same API under `/apis/ccompat/v7`).
 *
 * What callers rely on:
 * - a writer schema is fetched and parsed once per id, then served from
 *   memory, so a registry outage does not stop records whose schemas we know;
 * - an outage (connection refused, timeout, 5xx, 408/429) is a retriable
 *   ExternalError: the caller waits and retries with `retry()` and never
 *   turns good records into dead letters because the registry was down;
 * - "no such schema id" (HTTP 404 with Confluent error code 40403; Apicurio
 *   answers the same) is a DecodeError: the record goes to dead letters;
 * - a 404 without a registry error code means the URL does not point at a
 *   registry (e.g. Apicurio without `/apis/ccompat/v7`): a non-retriable
 *   ExternalError, so a misconfigured job stops instead of dead-lettering
 *   every record.
 *
 * The client's own axios retries are switched off: waiting is the job of the
 * engine's one retry helper, which can log, back off and be aborted.
 */

export interface SchemaRegistryOptions {
  /** Base URL, e.g. `http://localhost:8081` or `http://localhost:8080/apis/ccompat/v7`. */
  url: string;
  basicAuth?: { username: string; password: string };
  /** Per-request timeout (default 10 s): a hung registry is an outage, not a wait forever. */
  timeoutMs?: number;
}

/** Confluent's "schema not found" error code (GET /schemas/ids/{id}). */
const SCHEMA_NOT_FOUND = 40403;

interface RestErrorLike {
  status?: number;
  errorCode?: number;
  message?: string;
  code?: string;
}

/**
 * A cached Schema Registry client.
 *
 * @example
 *   const registry = new SchemaRegistry({ url: process.env.SCHEMA_REGISTRY_URL! });
 *   const id = await registry.register('tides.observations-value', schemaJson);
 *   const writerType = await registry.getWriterType(id); // parsed once, then cached
 */
/**
 * `@confluentinc/schemaregistry`, loaded when a registry is first asked
 * something. Loading it takes about 0.9 s here (it brings its client-side
 * field encryption and cloud KMS clients along), which every `tideflow`
 * command paid, `--help`, `lint` and runs on files included; and so did the
 * main thread of `--workers N`, which assembles the job but never decodes.
 */
let registryModule: typeof import('@confluentinc/schemaregistry') | undefined;

export class SchemaRegistry {
  readonly url: string;
  private made: SchemaRegistryClient | null = null;
  private readonly options: SchemaRegistryOptions;
  private readonly types = new Map<number, avro.Type>();
  /** Lookups in flight, so a batch with 5,000 records of a new id asks once. */
  private readonly fetching = new Map<number, { promise: Promise<avro.Type>; since: number }>();
  private readonly registered = new Map<string, number>();

  constructor(options: SchemaRegistryOptions) {
    this.url = options.url.replace(/\/+$/, '');
    this.options = options;
  }

  private get client(): SchemaRegistryClient {
    if (this.made !== null) return this.made;
    const options = this.options;
    registryModule ??= require('@confluentinc/schemaregistry') as typeof import('@confluentinc/schemaregistry');
    this.made = new registryModule.SchemaRegistryClient({
      baseURLs: [this.url],
      maxRetries: 0,
      createAxiosDefaults: { timeout: options.timeoutMs ?? 10_000 },
      ...(options.basicAuth
        ? { basicAuthCredentials: { credentialsSource: 'USER_INFO', userInfo: `${options.basicAuth.username}:${options.basicAuth.password}` } }
        : {}),
    });
    return this.made;
  }

  /** Lookups in flight and the ids held in memory, one line, for stall reports. */
  describeState(): string {
    const inFlight = [...this.fetching].map(([id, { since }]) => `id ${id} for ${((Date.now() - since) / 1000).toFixed(1)} s`);
    return `schema registry ${this.url}: ${inFlight.length > 0 ? `fetching ${inFlight.join(', ')}` : 'no lookup in flight'}; cached ids ${this.cachedIds.join(',') || 'none'}`;
  }

  /** Writer schema ids held in memory. */
  get cachedIds(): number[] {
    return [...this.types.keys()];
  }

  /**
   * The writer schema with this id, as an avsc Type (timestamps as epoch-ms numbers).
   * Throws DecodeError when the registry has no such id, ExternalError otherwise.
   */
  async getWriterType(id: number): Promise<avro.Type> {
    const cached = this.types.get(id);
    if (cached) return cached;
    let pending = this.fetching.get(id);
    if (!pending) {
      pending = { promise: this.fetchWriterType(id).finally(() => this.fetching.delete(id)), since: Date.now() };
      this.fetching.set(id, pending);
    }
    return pending.promise;
  }

  private async fetchWriterType(id: number): Promise<avro.Type> {
    let info: { schema: string; schemaType?: string };
    try {
      // An empty subject asks for the id alone (`/schemas/ids/{id}?subject=`), which both Confluent and Apicurio serve.
      info = await this.client.getBySubjectAndId('', id);
    } catch (error) {
      throw this.translate(error, `fetch writer schema ${id}`, id);
    }
    if (info.schemaType !== undefined && info.schemaType !== 'AVRO') {
      throw new DecodeError(`schema id ${id} is a ${info.schemaType} schema, not Avro`);
    }
    let type: avro.Type;
    try {
      type = parseAvroType(info.schema, `writer schema ${id}`);
    } catch (error) {
      throw new DecodeError(`schema id ${id}: ${(error as Error).message}`, error);
    }
    this.types.set(id, type);
    return type;
  }

  /**
   * Register an Avro schema (JSON text or object) under `subject`; resolves to its id.
   * Registering the same schema again returns the same id (cached here, and
   * idempotent in the registry).
   */
  async register(subject: string, schema: string | object): Promise<number> {
    // Sent as written (docs and all); `normalize` makes the registry compare canonical forms.
    const text = typeof schema === 'string' ? schema : JSON.stringify(schema);
    const key = `${subject}\u0000${text}`;
    const cached = this.registered.get(key);
    if (cached !== undefined) return cached;
    let id: number;
    try {
      // Without normalize, Apicurio matches schemas byte for byte: the same schema with other
      // whitespace would become a new version with a new id. Confluent accepts the flag too.
      id = await this.client.register(subject, { schemaType: 'AVRO', schema: text }, true);
    } catch (error) {
      throw this.translate(error, `register a schema under subject '${subject}'`);
    }
    this.registered.set(key, id);
    // We know this id's schema already: no fetch needed to decode what we produce.
    if (!this.types.has(id)) this.types.set(id, parseAvroType(text, `schema ${id}`));
    return id;
  }

  /** Forget cached schemas and ids (tests). */
  clearCache(): void {
    this.types.clear();
    this.registered.clear();
    this.made?.clearCaches();
  }

  close(): void {
    this.made?.close();
  }

  /** Sort a client error into "not found" (DecodeError), "outage" (retriable) or "will not pass" (non-retriable). */
  private translate(error: unknown, what: string, id?: number): Error {
    const e = (error ?? {}) as RestErrorLike;
    const status = typeof e.status === 'number' ? e.status : undefined;
    const detail = e.message ?? String(error);
    if (status === undefined) {
      // No HTTP answer at all: connection refused, reset, DNS, timeout. The code only when the text lacks it
      // (axios says 'connect ECONNREFUSED 127.0.0.1:8081', a timeout 'timeout of 10000ms exceeded').
      const code = e.code !== undefined && !detail.includes(e.code) ? e.code : '';
      return new ExternalError(`schema registry ${this.url} unreachable: cannot ${what}: ${code} ${detail}`.replace(/\s+/g, ' ').trim(), {
        retriable: true,
        cause: error,
      });
    }
    if (id !== undefined && status === 404 && e.errorCode === SCHEMA_NOT_FOUND) {
      return new DecodeError(`unknown schema id ${id}: the schema registry has no such schema`, error);
    }
    if (status === 404 && (e.errorCode === undefined || e.errorCode < 40400 || e.errorCode > 40499)) {
      return new ExternalError(
        `schema registry ${this.url} answered 404 without a registry error code: is the URL right? ` +
          `(Apicurio Registry serves the Confluent API under /apis/ccompat/v7)`,
        { retriable: false, cause: error },
      );
    }
    if (status === 408 || status === 429 || status >= 500) {
      return new ExternalError(`schema registry ${this.url} unavailable (HTTP ${status}): cannot ${what}: ${detail}`, { retriable: true, cause: error });
    }
    if (status === 401 || status === 403) {
      return new ExternalError(`schema registry ${this.url} refused access (HTTP ${status}): check basicAuth`, { retriable: false, cause: error });
    }
    return new ExternalError(`schema registry ${this.url}: cannot ${what}: HTTP ${status} ${e.errorCode ?? ''} ${detail}`, { retriable: false, cause: error });
  }
}
