import { WorkerPool } from '../../engine/codecs/worker-pool';

/**
 * One worker pool per thread count for a whole test file: starting threads
 * for every property run would dominate its time. The file closes them
 * with `after(closeSharedPools)`.
 *
 * @example
 *   after(closeSharedPools);
 *   const decoder = new ParallelConfluentDecoder(reader, registry, { threads: 2, pool: sharedPool(2) });
 */
const pools = new Map<number, WorkerPool>();

export async function closeSharedPools(): Promise<void> {
  for (const pool of pools.values()) await pool.close();
  pools.clear();
}

export function sharedPool(threads: number): WorkerPool {
  let pool = pools.get(threads);
  if (!pool) pools.set(threads, (pool = new WorkerPool({ threads })));
  return pool;
}
