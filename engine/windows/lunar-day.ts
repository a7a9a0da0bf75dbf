import { Body, Observer, SearchHourAngle } from 'astronomy-engine';
import type { Row } from '../core/batch';
import { alignedStart, type WindowAssigner } from './assigner';

/**
 * Lunar-day windows: the natural period of semidiurnal tides. A tide gauge
 * sees two highs and two lows per lunar day, so per-lunar-day highs and lows
 * do not slide against the window edges the way per-calendar-day ones do.
 */

/**
 * Mean lunar day: twice the M2 tidal period (12.4206012 h), rounded to the
 * millisecond: 24 h 50 min 28.329 s.
 */
export const LUNAR_DAY_MS = 89_428_329;

/**
 * Lunar-day windows, mode `mean`: tumbling windows of exactly
 * {@link LUNAR_DAY_MS}, aligned to `anchor` (before it too).
 *
 * ```
 * //  t:  anchor - L     anchor       anchor + L    anchor + 2L
 * //       [-----w-1-----)[-----w0-----)[-----w1-----)
 * ```
 *
 * @example
 * const out: number[] = [];
 * new LunarDayMeanAssigner(0).assign(LUNAR_DAY_MS + 1, {}, out); // out: [LUNAR_DAY_MS, 2 * LUNAR_DAY_MS]
 */
export class LunarDayMeanAssigner implements WindowAssigner {
  readonly merging = false as const;
  readonly stateKey: string;
  readonly anchorMs: number;

  constructor(anchorMs = 0) {
    if (!Number.isFinite(anchorMs)) throw new RangeError(`lunar day anchor must be finite, got ${anchorMs}`);
    this.anchorMs = anchorMs;
    this.stateKey = `lunarDay(mean,size=${LUNAR_DAY_MS},anchor=${anchorMs})`;
  }

  assign(eventTime: number, _row: Row, out: number[]): undefined {
    const start = alignedStart(eventTime, LUNAR_DAY_MS, this.anchorMs);
    out.push(start, start + LUNAR_DAY_MS);
    return undefined;
  }
}

const HOUR_MS = 3_600_000;
/**
 * Transits are computed in pages of 8 days (about 7-8 transits) so a lookup
 * far from earlier ones costs a handful of searches, not a walk from the
 * first time ever seen.
 */
const PAGE_MS = 8 * 24 * HOUR_MS;

/**
 * Upper transits of the Moon over one place (hour angle 0), computed lazily
 * and cached, answering "which transit-to-transit window contains t?" by
 * binary search.
 *
 * Determinism: a numeric search started from different times converges to
 * slightly different instants (tens of ms apart). So every transit is always
 * computed by the same search: page k begins with the first transit found
 * searching from the fixed instant k * PAGE_MS (call it Y_k), continues with
 * each next transit searched from one hour after the previous one, and stops
 * at the transit that is (to within hours) Y_{k+1}, which page k + 1 owns. The
 * sequence is contiguous and the same whatever order pages are visited in,
 * in any process, before or after a restore.
 *
 * @example
 * const table = new MoonTransitTable(-71.4012, 41.5043); // Newport, RI
 * table.find(Date.UTC(2020, 8, 24));
 * [table.start, table.end]; // the transits around that instant, ~24 h 50 min apart
 */
export class MoonTransitTable {
  readonly lon: number;
  readonly lat: number;
  /** Result of the last {@link find}. */
  start = NaN;
  end = NaN;
  private readonly observer: Observer;
  /** Page index -> Y_k, the first transit at or after k * PAGE_MS. */
  private readonly pageFirst = new Map<number, number>();
  /** Page index -> [Y_k, ...transits..., Y_{k+1}]. */
  private readonly pages = new Map<number, Float64Array>();

  constructor(lon: number, lat: number) {
    this.lon = lon;
    this.lat = lat;
    this.observer = new Observer(lat, lon, 0);
  }

  /** Set `start`/`end` to the transits t lies between: start <= t < end. */
  find(t: number): void {
    // Most lookups hit the window of the previous record of the same station.
    if (t >= this.start && t < this.end) return;
    let index = Math.floor(t / PAGE_MS);
    if (t < this.firstOfPage(index)) index--;
    const page = this.page(index);
    // Largest i with page[i] <= t; page[0] <= t < page[last] holds by construction.
    let lo = 0;
    let hi = page.length - 1;
    while (hi - lo > 1) {
      const mid = (lo + hi) >>> 1;
      if (page[mid] <= t) lo = mid;
      else hi = mid;
    }
    this.start = page[lo];
    this.end = page[lo + 1];
  }

  private search(fromMs: number): number {
    return SearchHourAngle(Body.Moon, this.observer, 0, new Date(fromMs)).time.date.getTime();
  }

  private firstOfPage(index: number): number {
    let first = this.pageFirst.get(index);
    if (first === undefined) {
      first = this.search(index * PAGE_MS);
      this.pageFirst.set(index, first);
    }
    return first;
  }

  private page(index: number): Float64Array {
    let page = this.pages.get(index);
    if (page !== undefined) return page;
    const first = this.firstOfPage(index);
    const next = this.firstOfPage(index + 1);
    const transits = [first];
    // Successive transits are >= 24.5 h apart, so anything within 12 h of
    // Y_{k+1} is Y_{k+1} itself, found along a different path.
    for (let t = this.search(first + HOUR_MS); t < next - 12 * HOUR_MS; t = this.search(t + HOUR_MS)) transits.push(t);
    transits.push(next);
    page = Float64Array.from(transits);
    this.pages.set(index, page);
    return page;
  }
}

/**
 * Lunar-day windows, mode `transit`: per station, from one upper transit of
 * the Moon over the station's meridian to the next (24 h 50 min on average,
 * varying by roughly ±15 min). The station's position comes from the row.
 *
 * ```
 * //  t:   transit k        transit k+1        transit k+2
 * //       [------------------)[------------------)
 * //            ~24h50m              ~24h50m
 * ```
 *
 * @example
 * const out: number[] = [];
 * new LunarTransitAssigner('lon', 'lat').assign(Date.UTC(2020, 8, 24), { lon: -71.4, lat: 41.5 }, out);
 * // out: [start, end] of the transit window containing the instant
 */
export class LunarTransitAssigner implements WindowAssigner {
  readonly merging = false as const;
  readonly stateKey: string;
  readonly lonField: string;
  readonly latField: string;
  /** lon -> lat -> table; numeric keys avoid building a string per record. */
  private readonly tables = new Map<number, Map<number, MoonTransitTable>>();
  private recent: MoonTransitTable | null = null;

  constructor(lonField: string, latField: string) {
    this.lonField = lonField;
    this.latField = latField;
    // `v1` names the paging scheme: a different scheme moves transits by milliseconds.
    this.stateKey = `lunarDay(transit/v1,lon=${lonField},lat=${latField})`;
  }

  assign(eventTime: number, row: Row, out: number[]): string | undefined {
    const lon = row[this.lonField];
    const lat = row[this.latField];
    if (typeof lon !== 'number' || !Number.isFinite(lon) || lon < -180 || lon > 360) {
      return `lunar transit window needs a longitude in degrees in field '${this.lonField}', got ${String(lon)}`;
    }
    if (typeof lat !== 'number' || !Number.isFinite(lat) || lat < -90 || lat > 90) {
      return `lunar transit window needs a latitude in degrees in field '${this.latField}', got ${String(lat)}`;
    }
    const table = this.tableFor(lon, lat);
    table.find(eventTime);
    out.push(table.start, table.end);
    return undefined;
  }

  /** The shared transit table for a place (exposed for tests and diagnostics). */
  tableFor(lon: number, lat: number): MoonTransitTable {
    const recent = this.recent;
    if (recent !== null && recent.lon === lon && recent.lat === lat) return recent;
    let byLat = this.tables.get(lon);
    if (byLat === undefined) {
      byLat = new Map();
      this.tables.set(lon, byLat);
    }
    let table = byLat.get(lat);
    if (table === undefined) {
      table = new MoonTransitTable(lon, lat);
      byLat.set(lat, table);
    }
    this.recent = table;
    return table;
  }
}
