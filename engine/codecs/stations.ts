import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * The bundled station table (`data/bundled/stations.json`): id, name and
 * position of every station the bundled data and the generator know about,
 * plus NOAA's published harmonic constituents where available.
 *
 * The engine reads this bundled copy, never `../shared`, so a checkout (or an
 * installed package, which ships `data/bundled`) works on its own.
 */

/** Amplitude (metres) and Greenwich phase (degrees, UTC) of one tidal constituent. */
export interface Constituent {
  amplitude: number;
  phase: number;
}

/** Names of the constituents the generator sums; the bundle keeps only these. */
export const CONSTITUENT_NAMES = ['M2', 'S2', 'N2', 'K1', 'O1'] as const;
export type ConstituentName = (typeof CONSTITUENT_NAMES)[number];

export interface StationInfo {
  id: string;
  name: string;
  lat: number;
  lon: number;
  /** Published datums, metres above station datum (STND); absent for stations without harmonics. */
  datums?: { MSL: number; MLLW: number; MHHW: number };
  /** Absent for stations NOAA publishes no harmonics for (e.g. short-term 9454460). */
  constituents?: Record<ConstituentName, Constituent>;
}

export interface StationsFile {
  description: string;
  stations: StationInfo[];
}

/** Where the bundled table lives, relative to the compiled module (dist/engine/codecs) or the source. */
export function bundledStationsPath(): string {
  // Compiled: <root>/dist/engine/codecs; source (ts-node style): <root>/engine/codecs.
  const candidates = [
    path.resolve(__dirname, '..', '..', '..', 'data', 'bundled', 'stations.json'),
    path.resolve(__dirname, '..', '..', 'data', 'bundled', 'stations.json'),
  ];
  for (const candidate of candidates) if (fs.existsSync(candidate)) return candidate;
  return candidates[0];
}

let cached: Map<string, StationInfo> | undefined;

/**
 * All bundled stations by id (loaded once, on first use).
 *
 * @example
 *   const sf = loadStations().get('9414290'); // { name: 'SAN FRANCISCO (Golden Gate)', lat: 37.8063, ... }
 */
export function loadStations(): Map<string, StationInfo> {
  if (cached !== undefined) return cached;
  const file = bundledStationsPath();
  let parsed: StationsFile;
  try {
    parsed = JSON.parse(fs.readFileSync(file, 'utf8')) as StationsFile;
  } catch (error) {
    // A missing table is a broken checkout, not bad input: say how to rebuild it.
    throw new Error(`cannot read the bundled station table ${file}: ${(error as Error).message}. Rebuild it with \`node dist/engine/cli/bundle-data.js\`.`);
  }
  cached = new Map(parsed.stations.map((station) => [station.id, station]));
  return cached;
}

/** Look a station up by id; `undefined` when it is not bundled. */
export function findStation(id: string): StationInfo | undefined {
  return loadStations().get(id);
}

/**
 * The station id a NOAA file name starts with (`9414290_2019-01_...csv`,
 * `CO-OPS__8761724__hr.csv`), or `undefined`. CO-OPS ids are 7 digits.
 *
 * @example
 *   stationIdFromFileName('/data/9414290_2019-01_water_level_6min.csv'); // '9414290'
 */
export function stationIdFromFileName(filePath: string): string | undefined {
  const base = path.basename(filePath);
  const match = /^(?:CO-OPS_+)?(\d{7})(?=[_.\-\s])/.exec(base);
  return match === null ? undefined : match[1];
}
