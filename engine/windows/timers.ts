/**
 * "Look at this key again once the watermark passes time E": a min-heap of
 * distinct times, each with the bucket of keys waiting for it.
 *
 * Closing windows by scanning every key per batch would cost O(keys) per
 * batch (100k stations); with timers a batch touches only keys whose window
 * can close. Aligned windows (tumbling, lunar mean) share one end across all
 * stations, so they share one bucket and one heap entry.
 *
 * Entries are never removed early: a caller that re-registers a key keeps
 * its own note of the current time and ignores stale entries when they fire.
 *
 * @example
 * const timers = new WindowTimers<string>();
 * timers.add(20, 'b'); timers.add(10, 'a');
 * const due: string[] = [];
 * timers.popDue(15, due); // due: ['a']
 */
export class WindowTimers<T> {
  private readonly heap: number[] = [];
  private readonly buckets = new Map<number, T[]>();

  /** Number of distinct pending times. */
  get size(): number {
    return this.heap.length;
  }

  add(time: number, item: T): void {
    const bucket = this.buckets.get(time);
    if (bucket !== undefined) {
      bucket.push(item);
      return;
    }
    this.buckets.set(time, [item]);
    const heap = this.heap;
    let i = heap.push(time) - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (heap[parent] <= time) break;
      heap[i] = heap[parent];
      i = parent;
    }
    heap[i] = time;
  }

  /** Earliest pending time, or +Infinity. */
  peek(): number {
    return this.heap.length > 0 ? this.heap[0] : Infinity;
  }

  /**
   * Move every item whose time is <= `until` into `out`, earliest time first
   * (items of one time in registration order). Returns the number moved.
   */
  popDue(until: number, out: T[]): number {
    let moved = 0;
    while (this.heap.length > 0 && this.heap[0] <= until) {
      const time = this.popMin();
      const bucket = this.buckets.get(time) as T[];
      this.buckets.delete(time);
      for (let i = 0; i < bucket.length; i++) out.push(bucket[i]);
      moved += bucket.length;
    }
    return moved;
  }

  clear(): void {
    this.heap.length = 0;
    this.buckets.clear();
  }

  private popMin(): number {
    const heap = this.heap;
    const top = heap[0];
    const lastValue = heap.pop() as number;
    if (heap.length > 0) {
      let i = 0;
      const n = heap.length;
      for (;;) {
        const left = 2 * i + 1;
        if (left >= n) break;
        const right = left + 1;
        const child = right < n && heap[right] < heap[left] ? right : left;
        if (heap[child] >= lastValue) break;
        heap[i] = heap[child];
        i = child;
      }
      heap[i] = lastValue;
    }
    return top;
  }
}
