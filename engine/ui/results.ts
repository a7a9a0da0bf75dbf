import { readFile } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import type { Client } from 'cassandra-driver';
import { loadStations } from '../codecs/stations';
import { qualifiedName } from '../clients/cassandra';

/**
 * The results the Tides view draws: rows of the two reference window jobs
 * (tides-30m-average: `avg_30m`, tides-lunar-day: `lunar_day`), keyed by
 * ((station), window_start). Every read names one station and a half-open
 * range of window starts, so against Cassandra it is one partition slice;
 * each answer carries the query and the time it took.
 */
export interface ResultSource {
  /** `results of the bundled data (computed in this process)`, `Cassandra keyspace tides (127.0.0.1:9042)`. */
  readonly description: string;
  /** Stations with results, with their first/last window and latest lunar day. */
  stations(): Promise<Timed<StationResults[]>>;
  /** 30-minute rows of one station with `from <= window_start < to`. */
  levels(station: string, from: number, to: number): Promise<Timed<LevelRow[]>>;
  /** Lunar-day rows of one station with `from <= window_start < to`. */
  lunarDays(station: string, from: number, to: number): Promise<Timed<LunarDayRow[]>>;
  close(): Promise<void>;
}

/** An answer, how long it took, and what was asked (CQL for Cassandra). */
export interface Timed<T> {
  value: T;
  queryMs: number;
  query: string;
}

/** A row of tides-30m-average; times are epoch ms. */
export interface LevelRow {
  station: string;
  window_start: number;
  window_end: number;
  avg: number | null;
  min: number | null;
  max: number | null;
  count: number;
}

/** A row of tides-lunar-day; times are epoch ms. */
export interface LunarDayRow {
  station: string;
  window_start: number;
  window_end: number;
  high: number | null;
  high_time: number | null;
  low: number | null;
  low_time: number | null;
  range: number | null;
  mean: number | null;
  count: number;
}

export interface StationResults {
  station: string;
  /** First and last 30-minute window start with a result. */
  first: number | null;
  last: number | null;
  /** The station's last lunar day with a result (its range sizes the map marker). */
  latestLunarDay: LunarDayRow | null;
}

/** Station facts for the page: every bundled station, with or without results. */
export interface StationMeta {
  id: string;
  name: string;
  lat: number;
  lon: number;
}

/** Every bundled station (data/bundled/stations.json): the map shows them all. */
export function bundledStations(): StationMeta[] {
  return [...loadStations().values()].map(({ id, name, lat, lon }) => ({ id, name, lat, lon }));
}

export const LEVEL_COLUMNS = ['station', 'window_start', 'window_end', 'avg', 'min', 'max', 'count'] as const;
export const LUNAR_DAY_COLUMNS = ['station', 'window_start', 'window_end', 'high', 'high_time', 'low', 'low_time', 'range', 'mean', 'count'] as const;

// ---------------------------------------------------------------- in memory

/**
 * Results held in memory, sorted per station by window start (the same order
 * Cassandra's clustering key gives), read by binary search. Built from the
 * JSONL files `tideflow run --output` writes.
 *
 * @example
 *   const results = await MemoryResults.fromJsonl('/tmp/avg_30m.jsonl', '/tmp/lunar_day.jsonl');
 *   (await results.levels('9414290', Date.parse('2019-03-01'), Date.parse('2019-03-08'))).value.length  // 336
 */
export class MemoryResults implements ResultSource {
  private readonly levelsByStation: Map<string, LevelRow[]>;
  private readonly lunarDaysByStation: Map<string, LunarDayRow[]>;

  constructor(
    levels: LevelRow[],
    lunarDays: LunarDayRow[],
    readonly description = 'results in memory',
  ) {
    this.levelsByStation = byStation(levels);
    this.lunarDaysByStation = byStation(lunarDays);
  }

  /** Reads the JSONL results of tides-30m-average and tides-lunar-day. */
  static async fromJsonl(levelsPath: string, lunarDaysPath: string, description?: string): Promise<MemoryResults> {
    const [levels, lunarDays] = await Promise.all([readJsonl(levelsPath), readJsonl(lunarDaysPath)]);
    return new MemoryResults(levels.map(toLevelRow), lunarDays.map(toLunarDayRow), description ?? `results files ${levelsPath}, ${lunarDaysPath}`);
  }

  async stations(): Promise<Timed<StationResults[]>> {
    const started = performance.now();
    const ids = [...new Set([...this.levelsByStation.keys(), ...this.lunarDaysByStation.keys()])].sort();
    const value = ids.map((station) => {
      const levels = this.levelsByStation.get(station) ?? [];
      const days = this.lunarDaysByStation.get(station) ?? [];
      return {
        station,
        first: levels[0]?.window_start ?? null,
        last: levels[levels.length - 1]?.window_start ?? null,
        latestLunarDay: days[days.length - 1] ?? null,
      };
    });
    return { value, queryMs: performance.now() - started, query: 'in memory: first and last row per station' };
  }

  async levels(station: string, from: number, to: number): Promise<Timed<LevelRow[]>> {
    return slice(this.levelsByStation.get(station) ?? [], from, to, `in memory: ${station}, window_start in [from, to)`);
  }

  async lunarDays(station: string, from: number, to: number): Promise<Timed<LunarDayRow[]>> {
    return slice(this.lunarDaysByStation.get(station) ?? [], from, to, `in memory: ${station}, window_start in [from, to)`);
  }

  async close(): Promise<void> {}
}

function byStation<T extends { station: string; window_start: number }>(rows: T[]): Map<string, T[]> {
  const map = new Map<string, T[]>();
  for (const row of rows) {
    let list = map.get(row.station);
    if (!list) map.set(row.station, (list = []));
    list.push(row);
  }
  for (const list of map.values()) list.sort((a, b) => a.window_start - b.window_start);
  return map;
}

function slice<T extends { window_start: number }>(rows: T[], from: number, to: number, query: string): Timed<T[]> {
  const started = performance.now();
  const value = rows.slice(lowerBound(rows, from), lowerBound(rows, to));
  return { value, queryMs: performance.now() - started, query };
}

/** The first index whose window_start >= t. */
function lowerBound(rows: ReadonlyArray<{ window_start: number }>, t: number): number {
  let low = 0;
  let high = rows.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (rows[middle].window_start < t) low = middle + 1;
    else high = middle;
  }
  return low;
}

async function readJsonl(path: string): Promise<Array<Record<string, unknown>>> {
  const text = await readFile(path, 'utf8');
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

// ---------------------------------------------------------------- Cassandra

/** Most rows one station's read returns; a longer range is cut (and says so in its query text). */
export const MAX_ROWS_PER_READ = 50_000;

/**
 * Results in the reference jobs' Cassandra tables. Reads are prepared
 * statements on the primary key: `WHERE station = ? AND window_start >= ? AND
 * window_start < ?` (one partition, a clustering slice). The station list is
 * one `SELECT DISTINCT station` over the lunar-day table's partitions, and per
 * station three one-row reads (first and last 30-minute window, latest lunar day).
 *
 * @example
 *   const results = new CassandraResults(client, 'tides', { levels: 'avg_30m', lunarDays: 'lunar_day' });
 */
export class CassandraResults implements ResultSource {
  readonly description: string;
  private readonly levelsTable: string;
  private readonly lunarDaysTable: string;

  constructor(
    private readonly client: Client,
    keyspace: string,
    tables: { levels: string; lunarDays: string },
    contactPoints: string[] = [],
  ) {
    this.levelsTable = qualifiedName(keyspace, tables.levels);
    this.lunarDaysTable = qualifiedName(keyspace, tables.lunarDays);
    this.description = `Cassandra keyspace ${keyspace}${contactPoints.length > 0 ? ` (${contactPoints.join(', ')})` : ''}`;
  }

  async stations(): Promise<Timed<StationResults[]>> {
    const started = performance.now();
    const query = `SELECT DISTINCT station FROM ${this.lunarDaysTable}; per station: first/last window_start of ${this.levelsTable}, last row of ${this.lunarDaysTable}`;
    const distinct = await this.execute(`SELECT DISTINCT station FROM ${this.lunarDaysTable}`, []);
    const ids = distinct.map((row) => String(row['station'])).sort();
    const value = await Promise.all(
      ids.map(async (station) => {
        const [first, last, latest] = await Promise.all([
          this.execute(`SELECT window_start FROM ${this.levelsTable} WHERE station = ? ORDER BY window_start ASC LIMIT 1`, [station]),
          this.execute(`SELECT window_start FROM ${this.levelsTable} WHERE station = ? ORDER BY window_start DESC LIMIT 1`, [station]),
          this.execute(`SELECT ${LUNAR_DAY_COLUMNS.join(', ')} FROM ${this.lunarDaysTable} WHERE station = ? ORDER BY window_start DESC LIMIT 1`, [station]),
        ]);
        return {
          station,
          first: first[0] ? toMillis(first[0]['window_start']) : null,
          last: last[0] ? toMillis(last[0]['window_start']) : null,
          latestLunarDay: latest[0] ? toLunarDayRow(latest[0]) : null,
        };
      }),
    );
    return { value, queryMs: performance.now() - started, query };
  }

  async levels(station: string, from: number, to: number): Promise<Timed<LevelRow[]>> {
    return this.slice(this.levelsTable, LEVEL_COLUMNS, station, from, to, toLevelRow);
  }

  async lunarDays(station: string, from: number, to: number): Promise<Timed<LunarDayRow[]>> {
    return this.slice(this.lunarDaysTable, LUNAR_DAY_COLUMNS, station, from, to, toLunarDayRow);
  }

  async close(): Promise<void> {}

  private async slice<T>(table: string, columns: readonly string[], station: string, from: number, to: number, convert: (row: Record<string, unknown>) => T): Promise<Timed<T[]>> {
    const cql = `SELECT ${columns.join(', ')} FROM ${table} WHERE station = ? AND window_start >= ? AND window_start < ? LIMIT ${MAX_ROWS_PER_READ}`;
    const started = performance.now();
    const rows = await this.execute(cql, [station, new Date(from), new Date(to)]);
    return { value: rows.map(convert), queryMs: performance.now() - started, query: cql };
  }

  /** Every page of a prepared statement's result (the driver pages at 5,000 rows). */
  private async execute(cql: string, params: unknown[]): Promise<Array<Record<string, unknown>>> {
    const rows: Array<Record<string, unknown>> = [];
    let pageState: string | undefined;
    do {
      const result = await this.client.execute(cql, params, { prepare: true, fetchSize: 5000, pageState });
      for (const row of result.rows) rows.push(row as unknown as Record<string, unknown>);
      pageState = result.pageState ?? undefined;
    } while (pageState);
    return rows;
  }
}

// ---------------------------------------------------------------- row conversion

/** Epoch ms from a Date, an ISO string, a number or a bigint; null when absent. */
export function toMillis(value: unknown): number | null {
  if (value === null || value === undefined) return null;
  if (value instanceof Date) return value.getTime();
  if (typeof value === 'number') return value;
  if (typeof value === 'bigint') return Number(value);
  if (typeof value === 'string') {
    const parsed = Date.parse(value);
    return Number.isNaN(parsed) ? null : parsed;
  }
  return null;
}

function toNumber(value: unknown): number | null {
  if (value === null || value === undefined) return null;
  const number = typeof value === 'bigint' ? Number(value) : Number(value);
  return Number.isFinite(number) ? number : null;
}

export function toLevelRow(row: Record<string, unknown>): LevelRow {
  return {
    station: String(row['station']),
    window_start: toMillis(row['window_start']) ?? 0,
    window_end: toMillis(row['window_end']) ?? 0,
    avg: toNumber(row['avg']),
    min: toNumber(row['min']),
    max: toNumber(row['max']),
    count: toNumber(row['count']) ?? 0,
  };
}

export function toLunarDayRow(row: Record<string, unknown>): LunarDayRow {
  return {
    station: String(row['station']),
    window_start: toMillis(row['window_start']) ?? 0,
    window_end: toMillis(row['window_end']) ?? 0,
    high: toNumber(row['high']),
    high_time: toMillis(row['high_time']),
    low: toNumber(row['low']),
    low_time: toMillis(row['low_time']),
    range: toNumber(row['range']),
    mean: toNumber(row['mean']),
    count: toNumber(row['count']) ?? 0,
  };
}
