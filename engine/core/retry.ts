import { isRetriable } from './errors';

export interface RetryOptions {
  /** First delay; doubles each attempt up to `maxDelayMs`. */
  initialDelayMs: number;
  maxDelayMs: number;
  /** Give up after this long (ms); Infinity = retry while the error stays retriable. */
  maxElapsedMs: number;
  /** Decides whether an error is worth another attempt (default: `isRetriable`). */
  retriable?: (error: unknown) => boolean;
  /** Called before each wait, e.g. to log "Cassandra unavailable, retrying in 800 ms". */
  onRetry?: (error: unknown, attempt: number, delayMs: number) => void;
  /** Stops retrying (graceful shutdown, a closed client): a wait in progress ends at once and the last error is thrown. */
  signal?: AbortSignal;
  /** Waits `ms`, or less once `signal` aborts (tests pass their own). */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  random?: () => number;
}

export const DEFAULT_RETRY: RetryOptions = { initialDelayMs: 100, maxDelayMs: 10_000, maxElapsedMs: Number.POSITIVE_INFINITY };

/**
 * The one retry helper: exponential backoff with full jitter (a random delay
 * in [delay/2, delay]) so many writers recovering from the same outage do not
 * hammer the server in lockstep. Non-retriable errors are rethrown at once.
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
      if (Date.now() - started + delay > options.maxElapsedMs) throw error;
      const wait = Math.round(delay / 2 + (random() * delay) / 2);
      options.onRetry?.(error, attempt, wait);
      await sleep(wait, options.signal);
      if (options.signal?.aborted) throw error;
      delay = Math.min(delay * 2, options.maxDelayMs);
    }
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
