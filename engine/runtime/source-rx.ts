import { Observable } from 'rxjs';

/**
 * Backpressure for a pulled source: how many items may be between "read"
 * and "done" at once. The source reads the next item only while an item's
 * worth of room is free; `release` frees it once the pipeline is done with one.
 */
export class Credits {
  private free: number;
  private waiter: (() => void) | null = null;

  constructor(readonly limit: number) {
    this.free = limit;
  }

  /** Resolves once an item may be read (and takes the room for it). */
  take(): Promise<void> {
    if (this.free > 0) {
      this.free--;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      this.waiter = () => {
        this.free--;
        resolve();
      };
    });
  }

  release(): void {
    this.free++;
    const waiter = this.waiter;
    this.waiter = null;
    waiter?.();
  }
}

/**
 * An async iterable as an Observable that reads the next item only when
 * `credits` allow: what the Kafka source's rendezvous does for kafkajs
 * (the next fetch waits until the engine took the previous batch), the
 * dataflow does for every source. Unsubscribing ends a wait for the next
 * item at once (`iterator.return`), so a stop is not held up by a quiet stream.
 *
 * @example
 *   const credits = new Credits(1);
 *   pulled(source.batches(positions), credits).pipe(...process, tap(() => credits.release()))
 */
export function pulled<T>(iterable: AsyncIterable<T>, credits: Credits): Observable<T> {
  return new Observable<T>((subscriber) => {
    const iterator = iterable[Symbol.asyncIterator]();
    let closed = false;
    void (async () => {
      try {
        for (;;) {
          await credits.take();
          if (closed) return;
          const result = await iterator.next();
          if (closed) return;
          if (result.done) break;
          subscriber.next(result.value);
        }
        subscriber.complete();
      } catch (error) {
        if (!closed) subscriber.error(error);
      }
    })();
    return () => {
      closed = true;
      void Promise.resolve(iterator.return?.()).catch(() => {});
    };
  });
}
