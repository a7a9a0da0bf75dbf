/**
 * Virtual time for sources that poll: `now` reads it, `sleep(ms)` moves it
 * forward by `ms` (on the next turn of the event loop, and only if not
 * aborted by then), so a test of hours of polling runs in milliseconds. Time
 * never goes back: overlapping sleeps end at the later wake-up time.
 *
 * @example
 *   const clock = new VirtualClock(Date.UTC(2019, 0, 2));
 *   const source = noaaSource(spec, { now: clock.now, sleep: clock.sleep });
 */
export class VirtualClock {
  /** Every sleep asked for, in ms, in order. */
  readonly sleeps: number[] = [];

  constructor(public time: number) {}

  readonly now = (): number => this.time;

  readonly sleep = async (ms: number, signal?: AbortSignal): Promise<void> => {
    this.sleeps.push(ms);
    const wake = this.time + ms;
    await new Promise<void>((resolve) => setImmediate(resolve));
    if (signal?.aborted) return;
    if (wake > this.time) this.time = wake;
  };
}
