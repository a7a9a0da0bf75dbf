import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { Piscina } from 'piscina';

/**
 * The engine's worker threads (docs/architecture.md): a piscina pool sized
 * by `--workers`. Work is handed over in chunks of >= 1,000 records as
 * transferred ArrayBuffers, never one task per record: a task hop costs far
 * more than a record's decoding.
 *
 * `--workers 1` means "decode in the run loop's thread": no pool is created
 * at all, so a single-threaded run pays nothing for the option.
 */

/** The compiled decode worker next to this file (dist/engine/codecs/decode-worker.js). */
export const DECODE_WORKER_FILE = join(__dirname, 'decode-worker.js');

/** Default for `--workers`: the cores this process may use. */
export function defaultWorkerCount(): number {
  return Math.max(1, availableParallelism());
}

export interface WorkerPoolOptions {
  /** Worker threads (>= 1). All start at once: a chunk must not wait for a thread to boot. */
  threads: number;
  /** The worker script; default the decode worker. */
  filename?: string;
}

/**
 * A fixed-size pool of worker threads running one script.
 *
 * @example
 *   const pool = new WorkerPool({ threads: 2 });
 *   const result = await pool.run(task, [task.bytes]);
 *   await pool.close();
 */
export class WorkerPool {
  readonly threads: number;
  private readonly piscina: Piscina;
  private closing: Promise<void> | null = null;

  constructor(options: WorkerPoolOptions) {
    if (!Number.isInteger(options.threads) || options.threads < 1) throw new RangeError(`a worker pool needs >= 1 thread, got ${options.threads}`);
    this.threads = options.threads;
    this.piscina = new Piscina({
      filename: options.filename ?? DECODE_WORKER_FILE,
      minThreads: options.threads,
      maxThreads: options.threads,
      // Workers live as long as the run; the run closes the pool.
      idleTimeout: Number.POSITIVE_INFINITY,
      // Two tasks per thread: the next chunk is posted to a busy thread at once, so it starts the
      // moment the current one ends. With one, piscina only sends it after the run loop's thread has
      // handled the answer, and that thread is busy with the operators then: measured with timestamps
      // taken in the worker (30-minute job, --workers 2), the thread idled 1.0-1.1 ms between chunks
      // of ~4 ms, against 0.6-0.8 ms with two. The run loop reads at most one batch ahead, so memory
      // stays bounded at about two chunks per thread.
      concurrentTasksPerWorker: 2,
      // A stop must not wait for a slow chunk: close() terminates the threads.
      closeTimeout: 1000,
    });
  }

  /** Run one task; `transfer` lists buffers to move (not copy) to the worker. */
  run<Task, Result>(task: Task, transfer: ArrayBuffer[] = []): Promise<Result> {
    if (this.closing) return Promise.reject(new Error('worker pool is closed'));
    return this.piscina.run(task, { transferList: transfer }) as Promise<Result>;
  }

  /** Terminate every thread (idempotent). Tasks still running reject. */
  close(): Promise<void> {
    this.closing ??= this.piscina.destroy();
    return this.closing;
  }
}
