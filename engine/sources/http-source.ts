import type { ComponentContext, JsonSchema, Reporter } from '../config/component';
import { durationMs, durationSchema } from '../config/component';
import type { RawBatch, Row } from '../core/batch';
import type { DeadLetter } from '../core/operator';
import { RetryPolicy } from '../core/retry';
import { DecodeError, ExternalError, isRetriable } from '../core/errors';
import { decodeJsonLine } from '../codecs/jsonl';
import { quoteForReason } from '../codecs/decoded';
import { parseTimestampValue } from '../codecs/timestamps';
import type { Positions, Source } from '../core/source';

/**
 * HTTP polling source: asks one URL per key (a station, a sensor...) every
 * `interval`, decodes the answers itself and yields their rows, so a REST API
 * becomes a stream. The replacement for a Kafka Connect REST connector that
 * does not pass error pages on as data:
 *
 *   answer                                          outcome
 *   2xx with records                                rows (only those newer than the key's position)
 *   5xx, 429, 408, connection error, timeout        retried with backoff and jitter (Retry-After honoured),
 *                                                   then a dead letter if every attempt failed
 *   other 4xx, HTML page, JSON error body,          a dead letter carrying the URL, the status, the body's
 *   malformed or truncated body                     first bytes and the reason; polling goes on
 *   a record that cannot be read                    a dead letter for that record; the others are kept
 *
 * Positions (checkpointed per key, partition `http:<key>`): the event time
 * just after the last row delivered, so a restart asks from there: no gap,
 * and no repeat unless `lookback` asks for one (the job's dedupe step removes
 * such repeats). A key without a position starts `backfill` before now.
 *
 * Order: rows leave in event-time order across the keys, whatever order the
 * answers come in. A key's rows wait until every key has been read up to
 * their time, so a backfill of several keys, or a key catching up after an
 * outage, reaches a topic partition the keys share (a Kafka topic keyed by
 * station) in time order, not as one key's days after another's, which the
 * consumers' watermarks would call late. A key whose rows have stopped coming
 * for `keyIdleTimeout` no longer holds the others back.
 *
 * Politeness: at most `concurrency` requests in flight, and requests to one
 * host spaced by `rate` (e.g. 1 per 2 s), retries included.
 *
 * A failing source stays visible: every failed poll is a dead letter (counted
 * in the run's dead letters), `stats` counts polls, retries, failures and
 * failing keys, and `describeState()` names the failing keys and their last
 * error for the run's stall reports.
 *
 * The URL is a template: `{key}`, `{from}` / `{fromMs}` (the start of the
 * range to fetch, ISO-8601 / epoch ms) and `{to}` / `{toMs}` (now) are
 * replaced, percent-encoded. Braces, not `${...}`: job files substitute
 * `${NAME}` from the environment when they are loaded, which is how secrets
 * reach `auth` and `headers` (they are never logged or put in dead letters).
 *
 * @example
 * source:
 *   http:
 *     url: https://api.example.org/v1/gauges/{key}/readings?since={from}
 *     keys: ["8454000", "8443970"]
 *     interval: 5m
 *     auth: { bearer: "${GAUGES_TOKEN}" }
 *     records: data
 */

// ================================================================ config

export interface HttpRateConfig {
  requests: number;
  per: string;
}

export interface HttpRetryConfig {
  attempts?: number;
  initialDelay?: string;
  maxDelay?: string;
}

export interface HttpAuthConfig {
  bearer?: string;
  basic?: { username: string; password: string };
}

/** What every polling source (`http`, `noaa`) shares in its YAML. */
export interface HttpPollConfig {
  interval?: string;
  backfill?: string;
  lookback?: string;
  timeout?: string;
  concurrency?: number;
  rate?: HttpRateConfig;
  retry?: HttpRetryConfig;
  headers?: Record<string, string>;
  auth?: HttpAuthConfig;
  stopWhenCaughtUp?: boolean;
  keyIdleTimeout?: string;
}

export interface HttpSourceConfig extends HttpPollConfig {
  url: string;
  keys?: string[];
  format?: 'json' | 'jsonl';
  records?: string;
  timeField?: string;
}

export type HttpAuth = { kind: 'bearer'; token: string } | { kind: 'basic'; username: string; password: string };

/** Polling settings in the JobSpec form (milliseconds, defaults filled in). */
export interface HttpPollSpec {
  intervalMs: number;
  backfillMs: number;
  lookbackMs: number;
  timeoutMs: number;
  concurrency: number;
  /** Least time between two requests to one host (from `rate`). */
  requestGapMs: number;
  retry: { attempts: number; initialDelayMs: number; maxDelayMs: number };
  headers: Record<string, string>;
  auth?: HttpAuth;
  /** End the stream once every key has reached the present (a bounded backfill run). */
  stopWhenCaughtUp: boolean;
  /** How long a key whose records stopped coming holds the others' records back (absent: see defaultKeyIdleMs). */
  keyIdleMs?: number;
}

export interface HttpSourceSpec extends HttpPollSpec {
  url: string;
  /** One poll series per key; `['']` when the URL names no `{key}`. */
  keys: string[];
  format: 'json' | 'jsonl';
  /** Dotted path of the record array in a JSON answer (`data`, `result.items`); absent: the answer is the array. */
  records?: string;
  timeField: string;
}

/** Defaults of the generic source; the NOAA preset has its own, politer ones. */
export const HTTP_DEFAULTS = {
  interval: '1m',
  backfill: '0s',
  lookback: '0s',
  timeout: '30s',
  concurrency: 4,
  rate: { requests: 2, per: '1s' },
  retry: { attempts: 4, initialDelay: '1s', maxDelay: '30s' },
  format: 'json' as const,
  timeField: 't',
};

/** The schema properties every polling source shares, with the defaults given. */
export function pollProperties(defaults: { interval: string; backfill: string; concurrency: number; rate: HttpRateConfig; timeout: string }): Record<string, JsonSchema> {
  return {
    interval: durationSchema('Time between two polls of a key once it has caught up.', { default: defaults.interval, positive: true }),
    backfill: durationSchema('How far back a key without a checkpointed position starts (its first run).', { default: defaults.backfill, examples: ['30d'] }),
    lookback: durationSchema('Ask again for this much before the last row delivered, to pick up values filled in late; the repeats go downstream, for the job\'s dedupe step.', {
      default: '0s',
      examples: ['1h'],
    }),
    timeout: durationSchema('Longest wait for one answer (connection, headers and body).', { default: defaults.timeout, positive: true }),
    concurrency: { description: 'Most requests in flight at once.', type: 'integer', minimum: 1, default: defaults.concurrency },
    rate: {
      title: 'http rate',
      description: 'Per-host request rate limit, retries included: at most `requests` per `per`, evenly spaced.',
      type: 'object',
      required: ['requests', 'per'],
      additionalProperties: false,
      properties: {
        requests: { description: 'Requests allowed per period.', type: 'integer', minimum: 1, examples: [1] },
        per: durationSchema('The period the requests are spread over.', { positive: true, examples: ['2s'] }),
      },
      default: defaults.rate,
    },
    retry: {
      title: 'http retry',
      description: 'Retries of 5xx, 429, 408, connection errors and timeouts: exponential backoff with jitter, at least the Retry-After the server asks for.',
      type: 'object',
      additionalProperties: false,
      properties: {
        attempts: { description: 'Attempts per poll, the first included.', type: 'integer', minimum: 1, default: HTTP_DEFAULTS.retry.attempts },
        initialDelay: durationSchema('Wait before the first retry; doubles each time.', { default: HTTP_DEFAULTS.retry.initialDelay, positive: true }),
        maxDelay: durationSchema('Longest wait between attempts.', { default: HTTP_DEFAULTS.retry.maxDelay, positive: true }),
      },
    },
    headers: {
      description: 'Request headers; put secrets in environment references (`${API_TOKEN}`): they are never logged.',
      type: 'object',
      additionalProperties: { type: 'string' },
      examples: [{ Accept: 'application/json' }],
    },
    auth: {
      title: 'http auth',
      description: 'Authorization header from a bearer token or a user name and password; keep both in environment references.',
      type: 'object',
      selector: 'auth kind',
      exactlyOneOf: ['bearer', 'basic'],
      additionalProperties: false,
      properties: {
        bearer: { description: 'Token sent as `Authorization: Bearer <token>`.', type: 'string', minLength: 1, examples: ['${API_TOKEN}'] },
        basic: {
          title: 'http basic auth',
          description: 'User name and password sent as HTTP basic authentication.',
          type: 'object',
          required: ['username', 'password'],
          additionalProperties: false,
          properties: {
            username: { description: 'User name.', type: 'string', examples: ['${API_USER}'] },
            password: { description: 'Password.', type: 'string', examples: ['${API_PASSWORD}'] },
          },
        },
      },
    },
    stopWhenCaughtUp: {
      description: 'End the run once every key has caught up with the present (a backfill run whose windows then close).',
      type: 'boolean',
      default: false,
    },
    keyIdleTimeout: durationSchema(
      "Records leave the source in event-time order across keys (so keys sharing a topic partition stay in order): a key's records wait until every key has reached their time. A key whose records have stopped coming for this long no longer holds the others back. Default: three intervals, or three rounds of requests at the rate, at least 15 minutes.",
      { positive: true, examples: ['30m'] },
    ),
  };
}

export const schema: JsonSchema = {
  title: 'http source',
  description: 'Polls a URL per key on an interval and reads the records of each answer.',
  examples: [
    {
      url: 'https://api.example.org/v1/gauges/{key}/readings?since={from}',
      keys: ['8454000', '8443970'],
      records: 'data',
      interval: '5m',
      auth: { bearer: '${API_TOKEN}' },
    },
  ],
  type: 'object',
  required: ['url'],
  additionalProperties: false,
  properties: {
    url: {
      description: 'URL template: {key}, {from}, {fromMs}, {to}, {toMs} are filled in per request.',
      type: 'string',
      pattern: '^https?://',
      patternHint: 'an http:// or https:// URL',
      examples: ['https://api.example.org/v1/gauges/{key}/readings?since={from}'],
    },
    keys: {
      description: 'One poll series per key, each with its own position (e.g. station ids; quote them).',
      type: 'array',
      items: { type: 'string', minLength: 1 },
      minItems: 1,
      uniqueItems: true,
      examples: [['8454000', '8443970']],
    },
    format: { description: 'Answer encoding: a JSON array of records (or one under `records`), or JSON Lines.', type: 'string', enum: ['json', 'jsonl'], default: HTTP_DEFAULTS.format },
    records: { description: 'Dotted path of the record array in a JSON answer (default: the answer itself).', type: 'string', minLength: 1, examples: ['data'] },
    timeField: { description: 'Event-time field of the records (epoch ms or ISO-8601); positions follow it.', type: 'string', minLength: 1, default: HTTP_DEFAULTS.timeField },
    ...pollProperties(HTTP_DEFAULTS),
  },
};

const PLACEHOLDERS = new Set(['key', 'from', 'fromMs', 'to', 'toMs']);

/** Checks beyond the schema: the template's placeholders and the keys agree, auth is given once. */
export function check(raw: Partial<HttpSourceConfig>, report: Reporter): void {
  if (typeof raw.url === 'string') {
    const names = [...raw.url.matchAll(/\{([^{}]*)\}/g)].map((match) => match[1]);
    for (const name of names) if (!PLACEHOLDERS.has(name)) report.atValue(['url'], `unknown placeholder {${name}}: use {key}, {from}, {fromMs}, {to} or {toMs}`);
    const usesKey = names.includes('key');
    if (usesKey && raw.keys === undefined) report.atOwner([], 'the url uses {key}: list the keys to poll under `keys`');
    if (!usesKey && Array.isArray(raw.keys) && raw.keys.length > 1) report.atValue(['keys'], 'several keys but the url has no {key}: every key would ask the same URL');
  }
  checkPoll(raw, report);
}

/** Checks every polling source shares. */
export function checkPoll(raw: Partial<HttpPollConfig>, report: Reporter): void {
  if (raw.auth !== undefined && raw.headers !== undefined && Object.keys(raw.headers).some((name) => name.toLowerCase() === 'authorization')) {
    report.atKey(['auth'], 'both `auth` and an Authorization header are given: keep one');
  }
}

/** The shared polling settings, normalised. */
export function normalizePoll(raw: HttpPollConfig, defaults: { interval: string; backfill: string; concurrency: number; rate: HttpRateConfig; timeout: string }): HttpPollSpec {
  const rate = raw.rate ?? defaults.rate;
  const auth: HttpAuth | undefined =
    raw.auth?.bearer !== undefined
      ? { kind: 'bearer', token: raw.auth.bearer }
      : raw.auth?.basic !== undefined
        ? { kind: 'basic', username: raw.auth.basic.username, password: raw.auth.basic.password }
        : undefined;
  return {
    intervalMs: durationMs(raw.interval ?? defaults.interval),
    backfillMs: durationMs(raw.backfill ?? defaults.backfill),
    lookbackMs: durationMs(raw.lookback ?? HTTP_DEFAULTS.lookback),
    timeoutMs: durationMs(raw.timeout ?? defaults.timeout),
    concurrency: raw.concurrency ?? defaults.concurrency,
    requestGapMs: durationMs(rate.per) / rate.requests,
    retry: {
      attempts: raw.retry?.attempts ?? HTTP_DEFAULTS.retry.attempts,
      initialDelayMs: durationMs(raw.retry?.initialDelay ?? HTTP_DEFAULTS.retry.initialDelay),
      maxDelayMs: durationMs(raw.retry?.maxDelay ?? HTTP_DEFAULTS.retry.maxDelay),
    },
    headers: { ...(raw.headers ?? {}) },
    ...(auth === undefined ? {} : { auth }),
    stopWhenCaughtUp: raw.stopWhenCaughtUp ?? false,
    ...(raw.keyIdleTimeout === undefined ? {} : { keyIdleMs: durationMs(raw.keyIdleTimeout) }),
  };
}

/** Schema-validated YAML to the JobSpec form: defaults filled in, durations in milliseconds. */
export function normalize(raw: HttpSourceConfig, _context: ComponentContext): HttpSourceSpec {
  return {
    ...normalizePoll(raw, HTTP_DEFAULTS),
    url: raw.url,
    keys: raw.keys === undefined ? [''] : [...raw.keys],
    format: raw.format ?? HTTP_DEFAULTS.format,
    ...(raw.records === undefined ? {} : { records: raw.records }),
    timeField: raw.timeField ?? HTTP_DEFAULTS.timeField,
  };
}

// ================================================================ errors

/**
 * A poll that got no usable answer: an HTTP status, a connection problem or a
 * timeout. `retriable` for 5xx, 429, 408 and transport failures.
 */
export class HttpPollError extends ExternalError {
  /** The URL asked, with credentials and secret-looking query values masked. */
  readonly url: string;
  /** HTTP status, or null when no answer came. */
  readonly status: number | null;
  /** The first bytes of the answer's body ('' when none). */
  readonly bodyStart: string;
  /** Wait the server asked for (Retry-After), ms. */
  readonly retryAfterMs: number | undefined;
  /** Whether no answer came within the timeout. */
  readonly timedOut: boolean;
  constructor(message: string, options: { url: string; status: number | null; bodyStart?: string; retriable: boolean; retryAfterMs?: number; timedOut?: boolean; cause?: unknown }) {
    super(message, { retriable: options.retriable, cause: options.cause });
    this.url = options.url;
    this.status = options.status;
    this.bodyStart = options.bodyStart ?? '';
    this.retryAfterMs = options.retryAfterMs;
    this.timedOut = options.timedOut ?? false;
  }
}

/** The poll loop is closing: not a failure. */
class PollStopped extends Error {}

// ================================================================ endpoints

/** One request a key needs next. */
export interface PollRequest {
  key: string;
  url: string;
  /** Rows earlier than this were delivered before (or are not asked for): dropped. Usually the position, minus `lookback`. */
  from: number;
  /**
   * Set when the whole range asked for lies far enough in the past that the
   * source may not add to it: an answer without new rows then moves the
   * position here (after an empty answer is confirmed, see HttpPollingSource).
   */
  settledUntil?: number;
  /** The range stops short of the present: the key's next request is due at once (catching up). */
  more: boolean;
  /** For messages: what the request covers, e.g. `2019-01-01 00:00 .. 2019-01-31 23:59`. */
  label: string;
}

/** An answer with a 2xx status. */
export interface HttpAnswer {
  url: string;
  status: number;
  headers: Headers;
  body: string;
}

export interface DecodedAnswer {
  rows: Row[];
  /** Elements of the answer that could not be read; each becomes a dead letter. */
  rejected: Array<{ item: unknown; reason: string }>;
}

/**
 * What a polling source asks and how it reads the answers: the generic
 * template (`templateEndpoint`) or a preset (NOAA CO-OPS).
 */
export interface PollEndpoint {
  readonly description: string;
  readonly keys: readonly string[];
  /** Event-time field of the rows: positions follow it. */
  readonly timeField: string;
  /** Partition id of a key (its position in checkpoints). */
  partition(key: string): string;
  /** The next request of a key, from its position (exclusive: the first instant not read yet, i.e. neither delivered nor held for time order). */
  plan(key: string, position: number, now: number): PollRequest;
  /** Rows of a 2xx answer; throws DecodeError when the answer is not data (error body, HTML, malformed). */
  decode(answer: HttpAnswer, request: PollRequest): DecodedAnswer;
  /** Whether an error means "the range holds nothing" (NOAA's "No data was found"), rather than a bad answer. */
  isEmptyRange?(error: unknown): boolean;
  /** Rows a key is estimated to be behind, when it can tell (its sampling interval). */
  backlog?(key: string, position: number, now: number): number;
}

function fillTemplate(template: string, values: Record<string, string>): string {
  return template.replace(/\{([A-Za-z]+)\}/g, (whole, name: string) => (name in values ? encodeURIComponent(values[name]) : whole));
}

/** The record array at a dotted path of a JSON answer. */
function recordsAt(answer: unknown, path: string | undefined): unknown[] {
  let value = answer;
  for (const part of path === undefined ? [] : path.split('.')) {
    value = value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>)[part] : undefined;
  }
  if (!Array.isArray(value)) {
    const where = path === undefined ? 'the answer' : `"${path}"`;
    throw new DecodeError(`expected an array of records at ${where}, got ${quoteForReason(JSON.stringify(value) ?? 'nothing', 120)}`);
  }
  return value;
}

/**
 * The generic endpoint: the URL template per key, JSON or JSON Lines records.
 *
 * @example
 *   const endpoint = templateEndpoint(normalize({ url: 'https://api.example.org/{key}?since={fromMs}', keys: ['a'] }, { job: 'j' }));
 *   endpoint.plan('a', 1_000, 5_000).url; // 'https://api.example.org/a?since=1000'
 */
export function templateEndpoint(spec: HttpSourceSpec): PollEndpoint {
  const timeField = spec.timeField;
  const toRow = (item: unknown): Row => {
    if (item === null || typeof item !== 'object' || Array.isArray(item)) throw new DecodeError(`expected a JSON object, got ${quoteForReason(JSON.stringify(item) ?? String(item))}`);
    const row = { ...(item as Row) };
    const ms = parseTimestampValue(row[timeField]);
    if (ms === undefined) throw new DecodeError(`field "${timeField}" is missing or not a timestamp (epoch ms or ISO-8601): ${quoteForReason(JSON.stringify(row[timeField]) ?? 'missing')}`);
    row[timeField] = ms;
    return row;
  };
  return {
    description: `http ${redactUrl(spec.url)}`,
    keys: spec.keys,
    timeField,
    partition: (key) => (key === '' ? `http:${redactUrl(spec.url).replace(/\?.*$/, '')}` : `http:${key}`),
    plan(key, position, now) {
      const from = position - spec.lookbackMs;
      const url = fillTemplate(spec.url, { key, from: new Date(from).toISOString(), fromMs: String(from), to: new Date(now).toISOString(), toMs: String(now) });
      return { key, url, from, more: false, label: `since ${new Date(from).toISOString()}` };
    },
    decode(answer) {
      const body = answer.body.trim();
      if (body.startsWith('<')) throw new DecodeError(`the answer is HTML or XML, not ${spec.format === 'json' ? 'JSON' : 'JSON Lines'}: ${quoteForReason(body.replace(/\s+/g, ' '), 80)}`);
      const rows: Row[] = [];
      const rejected: DecodedAnswer['rejected'] = [];
      if (spec.format === 'jsonl') {
        for (const line of body.split(/\r?\n/)) {
          if (line.trim() === '') continue;
          try {
            const row = decodeJsonLine(line, timeField);
            if (typeof row[timeField] !== 'number') throw new DecodeError(`field "${timeField}" is missing`);
            rows.push(row);
          } catch (error) {
            if (!(error instanceof DecodeError)) throw error;
            rejected.push({ item: line, reason: error.message });
          }
        }
        return { rows, rejected };
      }
      let parsed: unknown;
      try {
        parsed = JSON.parse(body);
      } catch (error) {
        throw new DecodeError(`the answer is truncated or malformed JSON (${(error as Error).message}): ${quoteForReason(body, 80)}`);
      }
      for (const item of recordsAt(parsed, spec.records)) {
        try {
          rows.push(toRow(item));
        } catch (error) {
          if (!(error instanceof DecodeError)) throw error;
          rejected.push({ item, reason: error.message });
        }
      }
      return { rows, rejected };
    },
  };
}

// ================================================================ helpers

const SECRET_PARAM = /key|token|secret|passw|signature|sig$|auth|credential/i;

/**
 * A URL fit for logs and dead letters: user info and secret-looking query
 * values (key, token, secret, password, signature, auth...) masked.
 *
 * @example
 *   redactUrl('https://u:p@api.example.org/x?station=1&api_key=abc'); // 'https://***@api.example.org/x?station=1&api_key=***'
 */
export function redactUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return url;
  }
  const userInfo = parsed.username !== '' || parsed.password !== '';
  // The query as it was written, secret values masked: the URL stays recognisable in dead letters.
  const query = parsed.search
    .slice(1)
    .split('&')
    .filter((pair) => pair !== '')
    .map((pair) => {
      const equals = pair.indexOf('=');
      const name = equals === -1 ? pair : pair.slice(0, equals);
      return equals !== -1 && SECRET_PARAM.test(safeDecode(name)) ? `${name}=***` : pair;
    });
  return `${parsed.protocol}//${userInfo ? '***@' : ''}${parsed.host}${parsed.pathname}${query.length > 0 ? `?${query.join('&')}` : ''}`;
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** Retry-After as seconds or an HTTP date, in ms from `now`; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | null, now: number): number | undefined {
  if (value === null) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const date = Date.parse(text);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** `12:06:00Z` (the date too when not today by `now`). */
function clockTime(ms: number, now: number): string {
  const iso = new Date(ms).toISOString();
  return iso.slice(0, 10) === new Date(now).toISOString().slice(0, 10) ? `${iso.slice(11, 19)}Z` : `${iso.slice(0, 19)}Z`;
}

function describeMs(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 120_000) return `${Math.round(ms / 100) / 10} s`;
  return `${Math.round(ms / 60_000)} min`;
}

/** The transport error's code (undici wraps it: TypeError('fetch failed') with cause {code}). */
function transportProblem(error: unknown): string {
  const cause = (error as { cause?: { code?: unknown; message?: unknown } }).cause;
  const code = typeof cause?.code === 'string' ? cause.code : undefined;
  const message = typeof cause?.message === 'string' ? cause.message : (error as Error).message;
  return code === undefined ? message : `${code}${message.includes(code) ? '' : ` (${message})`}`;
}

function defaultSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** Spaces the requests to each host by a fixed gap (retries included). */
class HostRateLimiter {
  private readonly nextSlot = new Map<string, number>();
  constructor(
    private readonly gapMs: number,
    private readonly now: () => number,
    private readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>,
  ) {}

  async acquire(host: string, signal: AbortSignal): Promise<void> {
    const now = this.now();
    const slot = Math.max(now, this.nextSlot.get(host) ?? Number.NEGATIVE_INFINITY);
    this.nextSlot.set(host, slot + this.gapMs);
    if (slot > now) await this.sleep(slot - now, signal);
  }
}

// ================================================================ the source

/** Counters a polling source keeps (live; for metrics and progress lines). */
export interface HttpSourceStats {
  /** Polls finished (each: one request, retries included). */
  polls: number;
  /** HTTP requests sent, retries included. */
  requests: number;
  retries: number;
  /** Requests that got no answer within the timeout. */
  timeouts: number;
  /** 429 answers. */
  rateLimited: number;
  /** Polls that ended without data, each a dead letter. */
  failedPolls: number;
  /** Ranges given up as empty after two empty answers (each a dead letter). */
  skippedRanges: number;
  /** Rows handed downstream. */
  rowsDelivered: number;
  /** Rows in answers that were not new: before the position (already delivered) or repeated within an answer. */
  rowsSkipped: number;
  /** Elements of answers that could not be read (each a dead letter). */
  rejectedItems: number;
  /** Dead letters this source produced (failed polls, skipped ranges, rejected elements). */
  deadLetters: number;
  /** Keys whose latest poll failed. */
  failingKeys: number;
}

/** What the source knows about one key. */
export interface HttpKeyStatus {
  key: string;
  partition: string;
  /** Exclusive: the first event time not delivered yet. */
  position: number;
  consecutiveFailures: number;
  lastError: string | null;
  /** Clock time of the latest poll that brought an answer. */
  lastSuccessAt: number | null;
  nextPollAt: number;
  inFlight: boolean;
  /** Whether the key has reached the present at least once (it polls on the interval since). */
  caughtUp: boolean;
}

export interface HttpSourceOptions {
  /** Clock (epoch ms); tests pass a virtual one. */
  now?: () => number;
  /** Waits `ms` or until `signal` aborts; tests pass a virtual one so they never wait real minutes. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  random?: () => number;
  fetch?: typeof fetch;
  /** Retries, failures and recoveries, one line each (never headers or credentials). */
  log?: (line: string) => void;
}

interface KeyState {
  status: HttpKeyStatus;
  /** The settled range an empty answer was last seen for (begin of the request), awaiting confirmation. */
  unconfirmedEmpty: number | null;
  /** Rows read and not delivered yet, in time order: they wait until every key has been read up to their time. */
  held: Row[];
  /** Exclusive: every row of the key before this event time has been read (delivered or held). Requests start here. */
  readUpTo: number;
  /** Clock time `readUpTo` last moved (or the run started): a key quiet for keyIdleTimeout stops holding the others back. */
  readMovedAt: number;
}

/**
 * How long a quiet key holds the other keys' rows back unless configured:
 * three poll intervals, or three rounds of requests at the rate limit (with
 * many keys a key is asked less often than the interval), at least 15 minutes.
 *
 * @example
 *   defaultKeyIdleMs({ intervalMs: 360_000, requestGapMs: 3000 }, 5); // 1_080_000 (18 min)
 */
export function defaultKeyIdleMs(poll: Pick<HttpPollSpec, 'intervalMs' | 'requestGapMs'>, keys: number): number {
  return Math.max(15 * 60_000, 3 * poll.intervalMs, 3 * keys * poll.requestGapMs);
}

type PollResult = { key: string; batch: RawBatch | null };

/**
 * A `Source` that polls a `PollEndpoint`. One partition per key; see the
 * module comment for what happens to each kind of answer.
 *
 * Empty ranges: an answer with no element at all (or an error the endpoint
 * calls "empty range", NOAA's "No data was found") for a range that is
 * settled (wholly in the past) is only believed when the next poll of the same
 * range, one interval later, says so too; the range is then skipped and the
 * skip is a dead letter naming it. A glitch that answers "nothing" once
 * therefore loses nothing, and a real gap in a record does not stall the backfill.
 *
 * @example
 *   const source = new HttpPollingSource(templateEndpoint(spec), spec, { log: console.error });
 *   for await (const batch of source.batches({})) handle(batch.rows!, batch.deadLetters!);
 */
export class HttpPollingSource implements Source {
  readonly description: string;
  readonly stats: HttpSourceStats = {
    polls: 0,
    requests: 0,
    retries: 0,
    timeouts: 0,
    rateLimited: 0,
    failedPolls: 0,
    skippedRanges: 0,
    rowsDelivered: 0,
    rowsSkipped: 0,
    rejectedItems: 0,
    deadLetters: 0,
    failingKeys: 0,
  };
  private readonly states = new Map<string, KeyState>();
  private readonly now: () => number;
  private readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  private readonly random: () => number;
  private readonly fetch: typeof fetch;
  private readonly log: (line: string) => void;
  private readonly limiter: HostRateLimiter;
  private readonly retrying: RetryPolicy;
  private readonly headers: Record<string, string>;
  private readonly keyIdleMs: number;
  private stop = new AbortController();
  /** Polls in flight, by key. */
  private inFlight = new Map<string, Promise<PollResult>>();

  constructor(
    private readonly endpoint: PollEndpoint,
    private readonly poll: HttpPollSpec,
    options: HttpSourceOptions = {},
  ) {
    this.description = endpoint.description;
    this.now = options.now ?? Date.now;
    this.sleep = options.sleep ?? defaultSleep;
    this.random = options.random ?? Math.random;
    this.fetch = options.fetch ?? fetch;
    this.log = options.log ?? (() => {});
    this.limiter = new HostRateLimiter(poll.requestGapMs, this.now, this.sleep);
    this.keyIdleMs = poll.keyIdleMs ?? defaultKeyIdleMs(poll, endpoint.keys.length);
    this.retrying = new RetryPolicy({
      subject: this.description,
      log: this.log,
      backoff: { initialDelayMs: poll.retry.initialDelayMs, maxDelayMs: poll.retry.maxDelayMs },
      maxAttempts: poll.retry.attempts,
      // A server asking to wait longer than the poll interval gets the rest of the interval, not a retry.
      retriable: (error) => isRetriable(error) && ((error as HttpPollError).retryAfterMs ?? 0) <= poll.intervalMs,
      requestedDelayMs: (error) => (error as HttpPollError).retryAfterMs ?? 0,
      now: this.now,
      sleep: this.sleep,
      random: this.random,
    });
    this.headers = { ...poll.headers };
    if (poll.auth?.kind === 'bearer') this.headers.Authorization = `Bearer ${poll.auth.token}`;
    if (poll.auth?.kind === 'basic') this.headers.Authorization = `Basic ${Buffer.from(`${poll.auth.username}:${poll.auth.password}`).toString('base64')}`;
  }

  /** Every key's state, for status pages and tests. */
  keyStatus(): HttpKeyStatus[] {
    return [...this.states.values()].map((state) => ({ ...state.status }));
  }

  batches(from: Positions): AsyncIterable<RawBatch> {
    this.stop = new AbortController();
    const stop = this.stop;
    const generator = this.run(from, stop);
    // A stop request must end a wait for the next poll at once (it may be minutes away): abort first,
    // so the sleep and the requests in flight end, then let the generator finish.
    return {
      [Symbol.asyncIterator]: () => ({
        next: () => generator.next(),
        return: (value?: unknown) => {
          stop.abort();
          return generator.return(value as undefined);
        },
      }),
    };
  }

  lag(): Record<string, number> {
    const lag: Record<string, number> = {};
    const now = this.now();
    for (const { status } of this.states.values()) {
      // Only a key catching up has records waiting; one at the present is just waiting for the next reading.
      lag[status.partition] = !status.caughtUp && this.endpoint.backlog ? this.endpoint.backlog(status.key, status.position, now) : 0;
    }
    return lag;
  }

  describeState(): string | undefined {
    if (this.states.size === 0) return undefined;
    const now = this.now();
    const statuses = [...this.states.values()].map((state) => state.status);
    const parts = [`${this.description}: ${statuses.length} key${statuses.length === 1 ? '' : 's'}`];
    const inFlight = statuses.filter((status) => status.inFlight).map((status) => status.key || status.partition);
    if (inFlight.length > 0) parts.push(`polling ${inFlight.join(', ')}`);
    const failing = statuses.filter((status) => status.consecutiveFailures > 0);
    if (failing.length > 0) {
      parts.push(
        `${failing.length} failing (` +
          failing.map((status) => `${status.key || status.partition}: ${status.consecutiveFailures} failed poll${status.consecutiveFailures === 1 ? '' : 's'} in a row, last: ${status.lastError}`).join('; ') +
          ')',
      );
    }
    const behind = statuses.filter((status) => !status.caughtUp).length;
    if (behind > 0) parts.push(`${behind} catching up`);
    const holding = [...this.states.values()].filter((state) => state.held.length > 0);
    if (holding.length > 0) {
      const held = holding.reduce((sum, state) => sum + state.held.length, 0);
      const waitingFor = this.slowestKey(now);
      const names = holding.map((state) => state.status.key || state.status.partition).join(', ');
      parts.push(`holding ${held} records of ${names}${waitingFor === undefined ? '' : ` until ${waitingFor.status.key || waitingFor.status.partition} catches up`}`);
    }
    const idle = statuses.filter((status) => !status.inFlight);
    if (idle.length > 0) parts.push(`next poll ${clockTime(Math.min(...idle.map((status) => status.nextPollAt)), now)}`);
    return parts.join(', ');
  }

  /** Stops polling: requests in flight are abandoned (their ranges are asked again by the next run). */
  async close(): Promise<void> {
    this.stop.abort();
    await Promise.allSettled(this.inFlight.values());
  }

  // ------------------------------------------------------------ the loop

  private async *run(from: Positions, stop: AbortController): AsyncGenerator<RawBatch> {
    const signal = stop.signal;
    const start = this.now();
    this.states.clear();
    for (const key of this.endpoint.keys) {
      const partition = this.endpoint.partition(key);
      const saved = from[partition];
      this.states.set(key, {
        status: {
          key,
          partition,
          position: saved ?? start - this.poll.backfillMs,
          consecutiveFailures: 0,
          lastError: null,
          lastSuccessAt: null,
          nextPollAt: start,
          inFlight: false,
          caughtUp: false,
        },
        unconfirmedEmpty: null,
        held: [],
        readUpTo: saved ?? start - this.poll.backfillMs,
        readMovedAt: start,
      });
    }
    this.stats.failingKeys = 0;
    const inFlight = new Map<string, Promise<PollResult>>();
    this.inFlight = inFlight;
    try {
      while (!signal.aborted && this.states.size > 0) {
        // A bounded run starts no poll once every key has reached the present, and ends with the last answer.
        const ending = this.poll.stopWhenCaughtUp && [...this.states.values()].every((state) => state.status.caughtUp);
        if (ending && inFlight.size === 0) {
          for (const batch of this.release(Number.POSITIVE_INFINITY)) {
            this.stats.rowsDelivered += batch.rows!.length;
            yield batch;
          }
          return;
        }
        for (const batch of this.release(this.horizon(this.now()))) {
          if (signal.aborted) break;
          this.stats.rowsDelivered += batch.rows!.length;
          yield batch;
        }
        const now = this.now();
        // A key catching up reads its next range once the rows it holds are delivered: held rows stay few.
        const waiting = (state: KeyState) => state.status.inFlight || (!state.status.caughtUp && state.held.length > 0);
        // Due keys, longest waiting first, up to the concurrency limit.
        const due = ending
          ? []
          : [...this.states.values()].filter((state) => !waiting(state) && state.status.nextPollAt <= now).sort((a, b) => a.status.nextPollAt - b.status.nextPollAt);
        for (const state of due) {
          if (inFlight.size >= this.poll.concurrency) break;
          state.status.inFlight = true;
          inFlight.set(state.status.key, this.pollKey(state, signal));
        }
        const idle = ending ? [] : [...this.states.values()].filter((state) => !waiting(state));
        // Held rows are also due when the key they wait for has been quiet for keyIdleTimeout.
        const nextDue = Math.min(...idle.map((state) => state.status.nextPollAt), this.nextQuietAt(now));
        if (inFlight.size === 0) {
          await this.sleep(Math.max(0, nextDue - now), signal);
          continue;
        }
        // Wait for a poll to finish, or for another key to fall due while a slot is free. This wait
        // runs on the wall clock even when the source is given a virtual one: time passes for the
        // requests in flight, and a virtual sleep would skip ahead of them.
        const wake = new AbortController();
        const onStop = () => wake.abort();
        signal.addEventListener('abort', onStop, { once: true });
        const timer =
          inFlight.size < this.poll.concurrency && Number.isFinite(nextDue)
            ? defaultSleep(Math.min(Math.max(0, nextDue - now), MAX_TIMER_MS), wake.signal).then(() => null)
            : new Promise<null>((resolve) => wake.signal.addEventListener('abort', () => resolve(null), { once: true }));
        const result = await Promise.race([...inFlight.values(), timer]);
        wake.abort();
        signal.removeEventListener('abort', onStop);
        if (result === null) continue;
        inFlight.delete(result.key);
        if (result.batch !== null && !signal.aborted) yield result.batch;
      }
    } finally {
      // Ending (stopped, caught up, or failed): requests still in flight are abandoned.
      stop.abort();
      await Promise.allSettled(inFlight.values());
      for (const state of this.states.values()) state.status.inFlight = false;
    }
  }

  /** One poll of one key: request (with retries), decode, and the batch that carries the outcome. */
  private async pollKey(state: KeyState, signal: AbortSignal): Promise<PollResult> {
    const status = state.status;
    const request = this.endpoint.plan(status.key, state.readUpTo, this.now());
    let answer: HttpAnswer | undefined;
    let attempts = 0;
    try {
      answer = await this.requestWithRetry(request, signal, (n) => (attempts = n));
      const decoded = this.endpoint.decode(answer, request);
      return { key: status.key, batch: this.delivered(state, request, decoded) };
    } catch (error) {
      if (error instanceof PollStopped || signal.aborted) return { key: status.key, batch: null };
      if (!(error instanceof HttpPollError) && !(error instanceof DecodeError)) throw error;
      return { key: status.key, batch: this.failed(state, request, error, answer, attempts) };
    } finally {
      status.inFlight = false;
      this.stats.polls++;
      if (!request.more) status.caughtUp = true;
    }
  }

  private async requestWithRetry(request: PollRequest, signal: AbortSignal, onAttempt: (attempt: number) => void): Promise<HttpAnswer> {
    const host = new URL(request.url).host;
    return this.retrying.run(
      request.key === '' ? 'poll' : `poll of ${request.key}`,
      async (attempt) => {
        onAttempt(attempt);
        await this.limiter.acquire(host, signal);
        if (signal.aborted) throw new PollStopped();
        return this.requestOnce(request, signal);
      },
      { signal, onRetry: () => this.stats.retries++ },
    );
  }

  private async requestOnce(request: PollRequest, signal: AbortSignal): Promise<HttpAnswer> {
    const url = redactUrl(request.url);
    const timeout = AbortSignal.timeout(this.poll.timeoutMs);
    const combined = AbortSignal.any([signal, timeout]);
    this.stats.requests++;
    const transportError = (error: unknown, during: string): never => {
      if (signal.aborted) throw new PollStopped();
      if (timeout.aborted) {
        this.stats.timeouts++;
        throw new HttpPollError(`no answer within ${describeMs(this.poll.timeoutMs)} ${during}`, { url, status: null, retriable: true, timedOut: true, cause: error });
      }
      throw new HttpPollError(`connection failed ${during}: ${transportProblem(error)}`, { url, status: null, retriable: true, cause: error });
    };
    let response: Response;
    try {
      response = await this.fetch(request.url, { headers: this.headers, signal: combined, redirect: 'follow' });
    } catch (error) {
      return transportError(error, 'before the answer');
    }
    let body: string;
    try {
      body = await response.text();
    } catch (error) {
      return transportError(error, `while reading the answer (HTTP ${response.status})`);
    }
    const status = response.status;
    if (status >= 200 && status < 300) return { url: request.url, status, headers: response.headers, body };
    if (status === 429) this.stats.rateLimited++;
    const retriable = status >= 500 || status === 429 || status === 408;
    const retryAfterMs = parseRetryAfter(response.headers.get('retry-after'), this.now());
    const wait = retryAfterMs === undefined ? '' : ` (Retry-After ${describeMs(retryAfterMs)})`;
    throw new HttpPollError(`HTTP ${status}${response.statusText ? ` ${response.statusText}` : ''}${wait}`, {
      url,
      status,
      bodyStart: body.slice(0, BODY_START_CHARS),
      retriable,
      retryAfterMs,
    });
  }

  /**
   * A decoded answer: its new rows (once each) join the key's held rows, to be
   * delivered in time order across the keys (see `release`); rejected
   * elements become dead letters. Returns the batch of those dead letters, or
   * of a position moved past a range that holds nothing more.
   */
  private delivered(state: KeyState, request: PollRequest, decoded: DecodedAnswer): RawBatch | null {
    const status = state.status;
    const field = this.endpoint.timeField;
    const before = status.position;
    // Stable sort: of two rows with the same time, the first in the answer wins.
    const sorted = decoded.rows.slice().sort((a, b) => (a[field] as number) - (b[field] as number));
    const fresh: Row[] = [];
    let last = Number.NEGATIVE_INFINITY;
    for (const row of sorted) {
      const t = row[field] as number;
      if (t < request.from || t === last) continue;
      last = t;
      // Read before and still held (a lookback reaching past the position): not twice.
      if (t >= status.position && t < state.readUpTo) continue;
      fresh.push(row);
    }
    this.stats.rowsSkipped += decoded.rows.length - fresh.length;
    state.held = mergeByTime(state.held, fresh, field);
    const deadLetters: DeadLetter[] = decoded.rejected.map(({ item, reason }) => ({
      payload: typeof item === 'string' ? item : (item as Row),
      reason,
      partition: status.partition,
      offset: request.from,
      stage: 'decode',
    }));
    this.stats.rejectedItems += deadLetters.length;
    this.stats.deadLetters += deadLetters.length;
    let waitForConfirmation = false;
    if (last >= state.readUpTo) {
      this.readUpTo(state, last + 1);
      state.unconfirmedEmpty = null;
    } else if (request.settledUntil !== undefined && decoded.rows.length === 0 && decoded.rejected.length === 0) {
      // Not a single element for a range that should be final: believed only when the next poll says so too.
      const skip = this.confirmEmpty(state, request, 'an empty answer');
      if (skip === null) waitForConfirmation = true;
      else deadLetters.push(skip);
    } else if (request.settledUntil !== undefined) {
      // Elements came, none of them new: the range holds nothing more.
      this.readUpTo(state, request.settledUntil);
      state.unconfirmedEmpty = null;
    } else {
      state.unconfirmedEmpty = null;
    }
    this.settle(state);
    this.succeeded(status, request, waitForConfirmation);
    if (deadLetters.length === 0 && status.position === before) return null;
    return { rows: [], offsets: new Float64Array(0), deadLetters, source: { partition: status.partition, fromOffset: before, toOffset: status.position } };
  }

  /** Moves what a key has read up to (never back). */
  private readUpTo(state: KeyState, to: number): void {
    if (to <= state.readUpTo) return;
    state.readUpTo = to;
    state.readMovedAt = this.now();
  }

  /** A key holding no rows has delivered everything it read: its position moves up to there (past ranges that hold nothing). */
  private settle(state: KeyState): void {
    if (state.held.length === 0 && state.readUpTo > state.status.position) state.status.position = state.readUpTo;
  }

  /** Whether a key still holds the others' rows back: it has read something (or was started) within keyIdleTimeout. */
  private holdsBack(state: KeyState, now: number): boolean {
    return now - state.readMovedAt < this.keyIdleMs;
  }

  /** The event time every key that still holds the others back has been read up to: rows before it may be delivered. */
  private horizon(now: number): number {
    return this.slowestKey(now)?.readUpTo ?? Number.POSITIVE_INFINITY;
  }

  /** The key the others' held rows wait for. */
  private slowestKey(now: number): KeyState | undefined {
    let slowest: KeyState | undefined;
    for (const state of this.states.values()) {
      if (this.holdsBack(state, now) && (slowest === undefined || state.readUpTo < slowest.readUpTo)) slowest = state;
    }
    return slowest;
  }

  /** When held rows may go because a key they wait for turns quiet (infinity when no rows are held). */
  private nextQuietAt(now: number): number {
    const states = [...this.states.values()];
    if (!states.some((state) => state.held.length > 0)) return Number.POSITIVE_INFINITY;
    return Math.min(...states.filter((state) => this.holdsBack(state, now)).map((state) => state.readMovedAt + this.keyIdleMs));
  }

  /**
   * The held rows earlier than `horizon`, in event-time order across the keys:
   * one batch per run of one key's rows (ties: keys in their listed order).
   * Decided at once, so the keys' positions and held rows stay consistent
   * should the consumer stop before taking every batch.
   */
  private release(horizon: number): RawBatch[] {
    const field = this.endpoint.timeField;
    const states = [...this.states.values()];
    const taken = states.map(() => 0);
    const timeOf = (index: number) => (taken[index] < states[index].held.length ? (states[index].held[taken[index]][field] as number) : Number.POSITIVE_INFINITY);
    const batches: RawBatch[] = [];
    for (;;) {
      let first = -1;
      let firstTime = Number.POSITIVE_INFINITY;
      let secondTime = Number.POSITIVE_INFINITY;
      for (let index = 0; index < states.length; index++) {
        const t = timeOf(index);
        if (t < firstTime) {
          secondTime = firstTime;
          firstTime = t;
          first = index;
        } else if (t < secondTime) secondTime = t;
      }
      if (first === -1 || firstTime >= horizon) break;
      const state = states[first];
      const from = taken[first];
      while (taken[first] < state.held.length && timeOf(first) < horizon && timeOf(first) <= secondTime) taken[first]++;
      const rows = state.held.slice(from, taken[first]);
      const before = state.status.position;
      const newest = rows[rows.length - 1][field] as number;
      // A lookback repeat (before the position) does not move it.
      state.status.position = Math.max(before, newest + 1);
      batches.push({
        rows,
        offsets: Float64Array.from(rows, (row) => row[field] as number),
        deadLetters: [],
        source: { partition: state.status.partition, fromOffset: before, toOffset: state.status.position },
      });
    }
    states.forEach((state, index) => {
      if (taken[index] === 0) return;
      state.held = state.held.slice(taken[index]);
      const before = state.status.position;
      this.settle(state);
      if (state.status.position !== before) {
        batches.push({ rows: [], offsets: new Float64Array(0), deadLetters: [], source: { partition: state.status.partition, fromOffset: before, toOffset: state.status.position } });
      }
    });
    return batches;
  }

  /**
   * A settled range answered empty: the first time, wait an interval and ask
   * again; the second time in a row, skip it (position to its end) and return
   * the dead letter that records the skip.
   */
  private confirmEmpty(state: KeyState, request: PollRequest, what: string): DeadLetter | null {
    if (state.unconfirmedEmpty !== request.from) {
      state.unconfirmedEmpty = request.from;
      this.log(`${this.description} ${request.key}: ${what} for ${request.label}, which should be final; asking again in ${describeMs(this.poll.intervalMs)}`);
      return null;
    }
    state.unconfirmedEmpty = null;
    this.readUpTo(state, request.settledUntil!);
    this.stats.skippedRanges++;
    this.stats.deadLetters++;
    this.log(`${this.description} ${request.key}: ${what} again for ${request.label}: range skipped`);
    return {
      payload: { url: redactUrl(request.url), range: request.label },
      reason: `no observations in ${request.label} (${what}, twice an interval apart): range skipped`,
      partition: state.status.partition,
      offset: request.from,
      stage: 'poll',
    };
  }

  private succeeded(status: HttpKeyStatus, request: PollRequest, waitForConfirmation: boolean): void {
    const now = this.now();
    if (status.consecutiveFailures > 0) {
      this.stats.failingKeys--;
      this.log(`${this.description} ${status.key}: answering again after ${status.consecutiveFailures} failed poll${status.consecutiveFailures === 1 ? '' : 's'}`);
    }
    status.consecutiveFailures = 0;
    status.lastError = null;
    status.lastSuccessAt = now;
    status.nextPollAt = request.more && !waitForConfirmation ? now : now + this.poll.intervalMs;
  }

  /** A poll without data: the dead letter that says why; the position stays (or skips a confirmed empty range). */
  private failed(state: KeyState, request: PollRequest, error: HttpPollError | DecodeError, answer: HttpAnswer | undefined, attempts: number): RawBatch {
    const status = state.status;
    const before = status.position;
    const now = this.now();
    const http = error instanceof HttpPollError ? error : undefined;
    const attemptsNote = http !== undefined && http.retriable && attempts > 1 ? ` (${attempts} attempts)` : '';
    const reason = `${error.message}${attemptsNote}`;
    const deadLetters: DeadLetter[] = [
      {
        payload: {
          url: redactUrl(request.url),
          status: http?.status ?? answer?.status ?? null,
          body: http?.bodyStart ?? answer?.body.slice(0, BODY_START_CHARS) ?? '',
        },
        reason,
        partition: status.partition,
        offset: request.from,
        stage: 'poll',
      },
    ];
    this.stats.failedPolls++;
    this.stats.deadLetters++;
    let skipped = false;
    if (request.settledUntil !== undefined && this.endpoint.isEmptyRange?.(error) === true) {
      const skip = this.confirmEmpty(state, request, error.message);
      if (skip !== null) {
        deadLetters.push(skip);
        skipped = true;
      }
    } else {
      state.unconfirmedEmpty = null;
    }
    this.settle(state);
    if (status.consecutiveFailures === 0) this.stats.failingKeys++;
    status.consecutiveFailures++;
    status.lastError = reason;
    const notBefore = http?.retryAfterMs === undefined ? 0 : now + http.retryAfterMs;
    status.nextPollAt = skipped && request.more ? now : Math.max(now + this.poll.intervalMs, notBefore);
    this.log(`${this.description} ${status.key}: poll failed (${reason}); dead letter written; next poll at ${clockTime(status.nextPollAt, now)}`);
    return { rows: [], offsets: new Float64Array(0), deadLetters, source: { partition: status.partition, fromOffset: before, toOffset: status.position } };
  }
}

/** Two time-ordered row lists as one, stable: of equal times, `held`'s row first and `fresh`'s dropped. */
function mergeByTime(held: Row[], fresh: Row[], field: string): Row[] {
  if (fresh.length === 0) return held;
  if (held.length === 0 || (fresh[0][field] as number) > (held[held.length - 1][field] as number)) return held.concat(fresh);
  const merged: Row[] = [];
  let i = 0;
  let j = 0;
  while (i < held.length || j < fresh.length) {
    const a = i < held.length ? (held[i][field] as number) : Number.POSITIVE_INFINITY;
    const b = j < fresh.length ? (fresh[j][field] as number) : Number.POSITIVE_INFINITY;
    if (a <= b) {
      merged.push(held[i++]);
      if (a === b) j++;
    } else merged.push(fresh[j++]);
  }
  return merged;
}

/** setTimeout's limit (about 24.8 days); longer waits are taken in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** How much of a failed answer's body a dead letter keeps. */
export const BODY_START_CHARS = 512;

/**
 * The `http` source of a job.
 *
 * @example
 *   const source = httpSource(normalize({ url: 'https://api.example.org/{key}', keys: ['a', 'b'] }, { job: 'j' }));
 */
export function httpSource(spec: HttpSourceSpec, options: HttpSourceOptions = {}): HttpPollingSource {
  return new HttpPollingSource(templateEndpoint(spec), spec, options);
}
