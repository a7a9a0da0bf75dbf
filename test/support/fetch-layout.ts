/**
 * How payloads lie in memory when kafkajs hands them out: views into the one
 * buffer of the fetch response, each value after its record's framing. The
 * decoders copy such payloads to their worker threads as one region, and
 * payloads in any other layout one by one; tests and the bench use this to
 * exercise the first.
 */
export type PayloadLayout = 'separate' | 'one buffer' | 'one buffer, out of order';

/**
 * The same payloads laid out as `layout` says: `separate` returns them as
 * they are; `one buffer` copies every Buffer into one shared buffer, in
 * order, `gap(i)` bytes before payload i (record framing); `... out of
 * order` puts them in that buffer back to front. Nulls and strings stay as
 * they are, in place.
 *
 * @example
 *   const views = laidOut(payloads, 'one buffer', () => 8);
 */
export function laidOut<T extends Buffer | string | null>(payloads: T[], layout: PayloadLayout, gap: (index: number) => number = () => 0): T[] {
  if (layout === 'separate') return payloads;
  let size = 0;
  for (let i = 0; i < payloads.length; i++) {
    const payload = payloads[i];
    if (Buffer.isBuffer(payload)) size += gap(i) + payload.length;
  }
  const region = Buffer.alloc(size);
  const views = payloads.slice();
  const order = payloads.map((_, i) => i);
  if (layout === 'one buffer, out of order') order.reverse();
  let at = 0;
  for (const i of order) {
    const payload = payloads[i];
    if (!Buffer.isBuffer(payload)) continue;
    at += gap(i);
    payload.copy(region, at);
    views[i] = region.subarray(at, at + payload.length) as T;
    at += payload.length;
  }
  return views;
}
