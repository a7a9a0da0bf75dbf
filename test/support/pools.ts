import { after } from 'node:test';
import { WorkerPool } from '../../engine/runtime/worker-pool';

/**
 * One worker pool per thread count for a whole test file: starting threads
 * for every property run would dominate its time. Closed after the file.
 *
 * @example
 *   const decoder = new ParallelConfluentDecoder(reader, registry, { threads: 2, pool: sharedPool(2) });
 */
const pools = new Map<number, WorkerPool>();

// Registered when a test file imports this module, so it runs after that file's tests.
after(async () => {
  for (const pool of pools.values()) await pool.close();
  pools.clear();
});

export function sharedPool(threads: number): WorkerPool {
  let pool = pools.get(threads);
  if (!pool) pools.set(threads, (pool = new WorkerPool({ threads })));
  return pool;
}
