import { isRetriable } from './errors';

/** How long to wait between attempts, and for how long in all. */
export interface Backoff {
  /** First delay; doubles each attempt up to `maxDelayMs`. */
  initialDelayMs: number;
  maxDelayMs: number;
  /** Give up after this long (ms); Infinity = retry while the error stays retriable. */
  maxElapsedMs: number;
}

export interface RetryOptions extends Backoff {
  /** Give up after this many attempts in all (default: no limit). */
  maxAttempts?: number;
  /** Decides whether an error is worth another attempt (default: `isRetriable`). */
  retriable?: (error: unknown) => boolean;
  /** A wait the failure itself asks for (an HTTP Retry-After): the backoff never waits less. */
  requestedDelayMs?: (error: unknown) => number;
  /** Called before each wait, e.g. to log "Cassandra unavailable, retrying in 800 ms". */
  onRetry?: (error: unknown, attempt: number, delayMs: number) => void;
  /** Stops retrying (graceful shutdown, a closed client): a wait in progress ends at once and the last error is thrown. */
  signal?: AbortSignal;
  /** Waits `ms`, or less once `signal` aborts (tests pass their own). */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  random?: () => number;
}

export const DEFAULT_RETRY: Backoff = { initialDelayMs: 100, maxDelayMs: 10_000, maxElapsedMs: Number.POSITIVE_INFINITY };

/**
 * The one retry helper: exponential backoff with full jitter (a random delay
 * in [delay/2, delay]) so many writers recovering from the same outage do not
 * hammer the server in lockstep. Non-retriable errors are rethrown at once.
 * Components waiting out outages use a RetryPolicy (below), which also says
 * so in their log; `retry` alone is for waits nobody needs to hear about.
 *
 * @example
 *   await retry(() => session.execute(query), { ...DEFAULT_RETRY, onRetry: logRetry });
 */
export async function retry<T>(operation: (attempt: number) => Promise<T>, options: RetryOptions = DEFAULT_RETRY): Promise<T> {
  const started = Date.now();
  const retriable = options.retriable ?? isRetriable;
  const sleep = options.sleep ?? defaultSleep;
  const random = options.random ?? Math.random;
  let delay = options.initialDelayMs;
  for (let attempt = 1; ; attempt++) {
    try {
      return await operation(attempt);
    } catch (error) {
      if (!retriable(error) || options.signal?.aborted) throw error;
      if (options.maxAttempts !== undefined && attempt >= options.maxAttempts) throw error;
      if (Date.now() - started + delay > options.maxElapsedMs) throw error;
      const jittered = Math.round(delay / 2 + (random() * delay) / 2);
      const wait = options.requestedDelayMs ? Math.max(jittered, options.requestedDelayMs(error)) : jittered;
      options.onRetry?.(error, attempt, wait);
      await sleep(wait, options.signal);
      if (options.signal?.aborted) throw error;
      delay = Math.min(delay * 2, options.maxDelayMs);
    }
  }
}

/** Retry lines of one component during an outage: at most one per this interval, with a count of the others. */
const RETRY_LOG_INTERVAL_MS = 1_000;

export interface RetryPolicyOptions {
  /** Names the component at the start of each line, e.g. `cassandra sink 'main'`. */
  subject: string;
  log: (line: string) => void;
  /** Default `DEFAULT_RETRY`: 100 ms doubling to 10 s, for as long as the failure may pass. */
  backoff?: Partial<Backoff>;
  /** Attempts in all before the last error is thrown (default: no limit, an outage is waited out). */
  maxAttempts?: number;
  /** Default `isRetriable`. */
  retriable?: (error: unknown) => boolean;
  /** A wait the failure itself asks for (an HTTP Retry-After): the backoff never waits less. */
  requestedDelayMs?: (error: unknown) => number;
  /** Ends every wait of this component (its close or stop); `run` can add one per operation. */
  signal?: AbortSignal;
  /** The failure as a line says it (default: the error's message). */
  describeError?: (error: unknown) => string;
  /** Clock for the line interval (default `Date.now`); `sleep` and `random` as in RetryOptions (tests pass their own). */
  now?: () => number;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  random?: () => number;
}

export interface RetryRunOptions {
  /** Ends this operation's waits too (a poll that is abandoned). */
  signal?: AbortSignal;
  /** More about the state of things for the retry line, e.g. `120 row(s) queued`. */
  context?: () => string;
  /** Called before each wait, after the line (counters of the caller). */
  onRetry?: (error: unknown, attempt: number, delayMs: number) => void;
}

/**
 * How one component (a sink, a source, a store) waits out failures that may
 * pass, shared by all of its operations: the backoff, the limits, and one
 * way of saying so.
 *
 * Lines: `<subject>: <what> failed (<reason>); retrying in <N> ms (attempt
 * <n>[ of <max>][; <context>][; <k> more retries since the last line])`:
 * the first when an outage starts (no other operation was waiting), then at
 * most one per RETRY_LOG_INTERVAL_MS for the whole component, so an outage
 * with many requests in flight does not flood the log. When a retried
 * operation passes and no other is waiting: `<subject>: <what> succeeded
 * again (<n> retries so far)`.
 *
 * @example
 *   const retrying = new RetryPolicy({ subject: "cassandra sink 'main'", log, signal: stopping.signal, retriable: isRetriableCassandraError });
 *   await retrying.run(`write of ${rows.length} row(s) to tides.avg_30m`, () => client.batch(queries, { prepare: true }));
 *   // cassandra sink 'main': write of 32 row(s) to tides.avg_30m failed (NoHostAvailableError: ...); retrying in 87 ms (attempt 1)
 */
export class RetryPolicy {
  private readonly retryOptions: RetryOptions;
  private readonly now: () => number;
  private retryCount = 0;
  private waitingCount = 0;
  private lastLineAt = Number.NEGATIVE_INFINITY;
  private retriesSinceLine = 0;

  constructor(private readonly options: RetryPolicyOptions) {
    this.now = options.now ?? Date.now;
    this.retryOptions = {
      ...DEFAULT_RETRY,
      ...options.backoff,
      maxAttempts: options.maxAttempts,
      retriable: options.retriable,
      requestedDelayMs: options.requestedDelayMs,
      sleep: options.sleep,
      random: options.random,
    };
  }

  /** Failed attempts retried so far, by every operation. */
  get retries(): number {
    return this.retryCount;
  }

  /** Operations waiting to be tried again now. */
  get waiting(): number {
    return this.waitingCount;
  }

  /**
   * `operation`, tried again with backoff while it fails in a way that may
   * pass; `what` names it in lines ("write of 32 row(s) to tides.avg_30m",
   * "connect the producer"). Throws the last error when it will not pass,
   * the limits are reached, or a signal ends the wait.
   */
  async run<T>(what: string, operation: (attempt: number) => Promise<T>, options: RetryRunOptions = {}): Promise<T> {
    const signals = [this.options.signal, options.signal].filter((signal): signal is AbortSignal => signal !== undefined);
    let retried = false;
    let passed = false;
    try {
      const result = await retry(operation, {
        ...this.retryOptions,
        signal: signals.length > 1 ? AbortSignal.any(signals) : signals[0],
        onRetry: (error, attempt, delayMs) => {
          const outageStarts = !retried && this.waitingCount === 0;
          if (!retried) {
            retried = true;
            this.waitingCount++;
          }
          this.retryCount++;
          this.retriesSinceLine++;
          this.sayRetry(what, error, attempt, delayMs, options.context, outageStarts);
          options.onRetry?.(error, attempt, delayMs);
        },
      });
      passed = true;
      return result;
    } finally {
      if (retried) {
        this.waitingCount--;
        if (passed && this.waitingCount === 0) this.options.log(`${this.options.subject}: ${what} succeeded again (${this.retryCount} retries so far)`);
      }
    }
  }

  private sayRetry(what: string, error: unknown, attempt: number, delayMs: number, context: (() => string) | undefined, outageStarts: boolean): void {
    const now = this.now();
    if (!outageStarts && now - this.lastLineAt < RETRY_LOG_INTERVAL_MS) return;
    const others = this.retriesSinceLine - 1;
    const reason = this.options.describeError ? this.options.describeError(error) : (error as Error)?.message ?? String(error);
    const max = this.options.maxAttempts === undefined ? '' : ` of ${this.options.maxAttempts}`;
    const more = context ? `; ${context()}` : '';
    const skipped = others > 0 ? `; ${others} more retries since the last line` : '';
    this.options.log(`${this.options.subject}: ${what} failed (${reason}); retrying in ${delayMs} ms (attempt ${attempt}${max}${more}${skipped})`);
    this.lastLineAt = now;
    this.retriesSinceLine = 0;
  }
}

function defaultSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

/**
 * `promise`'s value, or undefined when `ms` pass first (the timer is cleared
 * either way; `promise` itself keeps running and can be awaited again).
 *
 * @example
 *   const batch = await raceTimeout(source.next(), 500); // undefined: nothing within 500 ms
 */
export function raceTimeout<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
