import type { GeneratorSourceSpec } from '../config/job';
import type { RawBatch, Row } from '../core/batch';
import { UsageError } from '../core/errors';
import type { ConstituentName, StationInfo } from '../codecs/stations';
import { CONSTITUENT_NAMES, loadStations } from '../codecs/stations';
import { durationMs, durationSchema, timestampMs, timestampSchema } from '../config/component';
import type { ComponentContext, JsonSchema } from '../config/component';

/**
 * Synthetic tide observations from a harmonic model, delivered the way a
 * fleet of pollers delivers real ones: interleaved across stations, a little
 * out of order, sometimes twice, occasionally very late, sometimes without a
 * reading.
 *
 * Water level (metres above MLLW, the chart datum NOAA publishes by default):
 *
 *   v(t) = (MSL - MLLW) + sum over c in {M2, S2, N2, K1, O1} of A_c cos(V_c(t) - kappa_c) + noise
 *
 * with the station's published amplitude A_c and Greenwich phase kappa_c
 * (bundled in data/bundled/stations.json), and V_c(t) the constituent's
 * equilibrium argument: its value at J2000 (from the mean longitudes of the
 * Moon s, Sun h and lunar perigee p) plus speed x hours since. Using the real
 * astronomical argument, not just speed x t, is what puts spring tides at new
 * and full moon and keeps the constituents in their true relation. Nodal
 * corrections (f, u: up to ~4% on M2, ~19% on O1 over 18.6 years) are left
 * out; the result tracks NOAA's own predictions to within decimetres.
 *
 * Arrival model (what makes the stream realistic and testable):
 *   - each record arrives at t + d, d uniform in [0, disorderMs], so no record
 *     arrives more than disorderMs behind the newest event time seen;
 *   - with probability lateRate, instead d > 2 disorderMs + max(1 h, 2 intervals),
 *     plus up to 24 h: late for any watermark that trusts disorderMs;
 *   - with probability duplicateRate, the same record arrives again later,
 *     still within its own disorder bound (as re-polling "latest" does);
 *   - with probability nullRate the reading is missing (v and s null, all flags set,
 *     as in NOAA's Hurricane Michael file).
 * Records are delivered in arrival order (ties: generation order). Everything
 * is a pure function of the spec: same seed, same records, same order.
 */

// ---------------------------------------------------------------- randomness

/**
 * mulberry32: a tiny, fast 32-bit PRNG, good enough for synthetic data and
 * deterministic across platforms. Returns floats in [0, 1).
 *
 * @example
 *   const random = mulberry32(42);
 *   random(); // the same first value on every run
 */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 15), z | 1);
    z ^= z + Math.imul(z ^ (z >>> 7), z | 61);
    return ((z ^ (z >>> 14)) >>> 0) / 4294967296;
  };
}

/** FNV-1a hash of a string, to derive a seed from a station id. */
function hashString(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193);
  return hash >>> 0;
}

// ---------------------------------------------------------------- harmonic model

/** Speeds in degrees per hour (NOAA). */
export const CONSTITUENT_SPEEDS: Record<ConstituentName, number> = {
  M2: 28.9841042,
  S2: 30.0,
  N2: 28.4397295,
  K1: 15.0410686,
  O1: 13.9430356,
};

/** J2000.0 (2000-01-01 12:00 UTC), the epoch of the mean longitudes below. */
const J2000_MS = Date.UTC(2000, 0, 1, 12);

/**
 * Equilibrium arguments V0 (degrees) at J2000, from the mean longitudes of the
 * Moon (s), Sun (h) and lunar perigee (p) at that instant; the hour angle of the
 * mean Sun T is 180 + 15 x 12 = 0 (mod 360) at 12:00 UT. Schureman's formulas.
 */
function equilibriumArgumentsAtJ2000(): Record<ConstituentName, number> {
  const s = 218.3165;
  const h = 280.4661;
  const p = 83.3532;
  const T = 0;
  return {
    M2: 2 * T - 2 * s + 2 * h,
    S2: 2 * T,
    N2: 2 * T - 3 * s + 2 * h + p,
    K1: T + h - 90,
    O1: T - 2 * s + h + 90,
  };
}

const DEG = Math.PI / 180;
const HOUR_MS = 3_600_000;

/** Everything the generator needs per station, precomputed once. */
export interface StationModel {
  station: string;
  name: string;
  lat: number;
  lon: number;
  /** Mean sea level above MLLW, metres. */
  meanLevel: number;
  /** Per constituent: amplitude (m), speed (radians per ms), phase at J2000 minus Greenwich phase (radians). */
  amplitudes: Float64Array;
  speeds: Float64Array;
  phases: Float64Array;
  /** Whether the constituents are NOAA's (true) or invented for an unknown station. */
  published: boolean;
}

/**
 * Build the model of a station: NOAA's constituents when bundled, otherwise
 * deterministic pseudo-random ones derived from the station id (so an unknown
 * id still gives a plausible mixed semidiurnal tide, the same every run).
 *
 * @example
 *   const model = stationModel('9414290');
 *   predictLevel(model, Date.UTC(2019, 0, 1)); // ~0.5 m above MLLW
 */
export function stationModel(id: string, known: Map<string, StationInfo> = loadStations()): StationModel {
  const info = known.get(id);
  const v0 = equilibriumArgumentsAtJ2000();
  const amplitudes = new Float64Array(CONSTITUENT_NAMES.length);
  const speeds = new Float64Array(CONSTITUENT_NAMES.length);
  const phases = new Float64Array(CONSTITUENT_NAMES.length);
  let meanLevel: number;
  let published: boolean;
  if (info?.constituents !== undefined && info.datums !== undefined) {
    CONSTITUENT_NAMES.forEach((name, k) => {
      amplitudes[k] = info.constituents![name].amplitude;
      phases[k] = (v0[name] - info.constituents![name].phase) * DEG;
    });
    meanLevel = info.datums.MSL - info.datums.MLLW;
    published = true;
  } else {
    const random = mulberry32(hashString(id));
    const m2 = 0.2 + random() * 1.2;
    const k1 = 0.05 + random() * 0.4;
    const invented: Record<ConstituentName, number> = { M2: m2, S2: m2 * (0.15 + random() * 0.2), N2: m2 * (0.15 + random() * 0.1), K1: k1, O1: k1 * (0.6 + random() * 0.3) };
    CONSTITUENT_NAMES.forEach((name, k) => {
      amplitudes[k] = invented[name];
      phases[k] = (v0[name] - random() * 360) * DEG;
    });
    // MLLW sits roughly this far below MSL for a mixed tide.
    meanLevel = m2 + invented.S2 + 0.5 * (k1 + invented.O1);
    published = false;
  }
  CONSTITUENT_NAMES.forEach((name, k) => {
    speeds[k] = (CONSTITUENT_SPEEDS[name] * DEG) / HOUR_MS;
  });
  const random = mulberry32(hashString(`${id}/position`));
  return {
    station: id,
    name: info?.name ?? `Synthetic station ${id}`,
    lat: info?.lat ?? Math.round((-60 + random() * 120) * 1e4) / 1e4,
    lon: info?.lon ?? Math.round((-180 + random() * 360) * 1e4) / 1e4,
    meanLevel,
    amplitudes,
    speeds,
    phases,
    published,
  };
}

/** The noiseless model level (metres above MLLW) at `tMs`. */
export function predictLevel(model: StationModel, tMs: number): number {
  const sinceJ2000Ms = tMs - J2000_MS;
  let level = model.meanLevel;
  for (let k = 0; k < model.amplitudes.length; k++) level += model.amplitudes[k] * Math.cos(model.speeds[k] * sinceJ2000Ms + model.phases[k]);
  return level;
}

// ---------------------------------------------------------------- arrival order

/** One generated record with what the generator knows about it (for tests and the CLI summary). */
export interface GeneratedRecord {
  row: Row;
  /** When it arrives (epoch ms, simulated): the delivery order is by this, then by generation order. */
  arrivalMs: number;
  /** A re-send of a record delivered earlier (identical fields). */
  duplicate: boolean;
  /** Delayed beyond `disorderMs` on purpose. */
  late: boolean;
}

interface Pending {
  arrival: number;
  seq: number;
  record: GeneratedRecord;
}

/** Min-heap on (arrival, seq): records wait here until nothing generated later can arrive before them. */
class ArrivalQueue {
  private readonly items: Pending[] = [];

  get size(): number {
    return this.items.length;
  }

  private static before(a: Pending, b: Pending): boolean {
    return a.arrival < b.arrival || (a.arrival === b.arrival && a.seq < b.seq);
  }

  push(item: Pending): void {
    const items = this.items;
    let i = items.length;
    items.push(item);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!ArrivalQueue.before(item, items[parent])) break;
      items[i] = items[parent];
      i = parent;
    }
    items[i] = item;
  }

  peek(): Pending | undefined {
    return this.items[0];
  }

  pop(): Pending {
    const items = this.items;
    const top = items[0];
    const last = items.pop()!;
    if (items.length > 0) {
      let i = 0;
      const n = items.length;
      for (;;) {
        const left = 2 * i + 1;
        if (left >= n) break;
        const right = left + 1;
        const child = right < n && ArrivalQueue.before(items[right], items[left]) ? right : left;
        if (!ArrivalQueue.before(items[child], last)) break;
        items[i] = items[child];
        i = child;
      }
      items[i] = last;
    }
    return top;
  }
}

/** Spec problems, all at once, in the words a CLI user or job author needs. */
export function checkGeneratorSpec(spec: GeneratorSourceSpec): string[] {
  const problems: string[] = [];
  const rate = (name: string, value: number) => {
    if (!(value >= 0 && value <= 1)) problems.push(`${name} must be a probability between 0 and 1, got ${value}`);
  };
  if (spec.stations.length === 0) problems.push('stations: give at least one station id');
  if (new Set(spec.stations).size !== spec.stations.length) problems.push('stations: a station id is listed twice');
  if (!Number.isSafeInteger(spec.startMs)) problems.push(`startMs must be whole epoch milliseconds, got ${spec.startMs}`);
  if (!Number.isSafeInteger(spec.count) || spec.count < 0) problems.push(`count must be a whole number >= 0, got ${spec.count}`);
  if (!Number.isSafeInteger(spec.intervalMs) || spec.intervalMs < 1) problems.push(`intervalMs must be a whole number of milliseconds >= 1, got ${spec.intervalMs}`);
  if (!Number.isSafeInteger(spec.disorderMs) || spec.disorderMs < 0) problems.push(`disorderMs must be a whole number of milliseconds >= 0, got ${spec.disorderMs}`);
  rate('duplicateRate', spec.duplicateRate);
  rate('lateRate', spec.lateRate);
  rate('nullRate', spec.nullRate);
  if (!Number.isSafeInteger(spec.seed)) problems.push(`seed must be a whole number, got ${spec.seed}`);
  if (!Number.isSafeInteger(spec.batchSize) || spec.batchSize < 1) problems.push(`batchSize must be a whole number >= 1, got ${spec.batchSize}`);
  return problems;
}

/**
 * Every record the spec describes, with its arrival time and kind, in
 * delivery order. Synchronous and allocation-light: 5 M records take a few
 * seconds.
 *
 * @example
 *   for (const { row, duplicate, late } of generateRecords(spec)) { ... }
 */
export function* generateRecords(spec: GeneratorSourceSpec): Generator<GeneratedRecord> {
  const problems = checkGeneratorSpec(spec);
  if (problems.length > 0) throw new UsageError(`invalid generator settings:\n  ${problems.join('\n  ')}`);
  const known = loadStations();
  const models = spec.stations.map((id) => stationModel(id, known));
  const random = mulberry32(spec.seed);
  const { intervalMs, disorderMs, duplicateRate, lateRate, nullRate, count, startMs } = spec;
  // Strictly more than 2 x disorder + 2 intervals: by then a record of a later tick, more than
  // disorderMs newer, has surely arrived, so the watermark has passed this one.
  const lateBase = 2 * disorderMs + Math.max(HOUR_MS, 2 * intervalMs) + 1;
  const lateSpread = 24 * HOUR_MS;
  // Per-station noise: a gauge's stilling well and sensor add a few millimetres to centimetres.
  const noise = models.map((model) => 0.004 + 0.004 * (model.amplitudes[0] + model.amplitudes[3]));
  const queue = new ArrivalQueue();
  let seq = 0;

  for (let i = 0; i < count; i++) {
    const t = startMs + i * intervalMs;
    // Everything still queued that arrives by now precedes every record generated from here on.
    while (queue.size > 0 && queue.peek()!.arrival <= t) yield queue.pop().record;
    for (let k = 0; k < models.length; k++) {
      const model = models[k];
      let row: Row;
      if (nullRate > 0 && random() < nullRate) {
        row = { station: model.station, name: model.name, lat: model.lat, lon: model.lon, t, v: null, s: null, f: '1,1,1,1', q: 'p' };
      } else {
        // Irwin-Hall with 3 uniforms: close enough to Gaussian noise, much cheaper than Box-Muller.
        const jitter = (random() + random() + random() - 1.5) * 2 * noise[k];
        const v = Math.round((predictLevel(model, t) + jitter) * 1000) / 1000;
        const s = Math.round((0.002 + random() * 0.06) * 1000) / 1000;
        row = { station: model.station, name: model.name, lat: model.lat, lon: model.lon, t, v, s, f: '0,0,0,0', q: 'p' };
      }
      const late = lateRate > 0 && random() < lateRate;
      const delay = late ? lateBase + Math.floor(random() * lateSpread) : Math.floor(random() * (disorderMs + 1));
      const arrival = t + delay;
      queue.push({ arrival, seq: seq++, record: { row, arrivalMs: arrival, duplicate: false, late } });
      if (duplicateRate > 0 && random() < duplicateRate) {
        // A re-poll: later than the original, but (unless the original was late) still within disorderMs of t.
        const again = late ? arrival + Math.floor(random() * (disorderMs + 1)) : arrival + Math.floor(random() * (disorderMs - delay + 1));
        queue.push({ arrival: again, seq: seq++, record: { row: { ...row }, arrivalMs: again, duplicate: true, late } });
      }
    }
  }
  while (queue.size > 0) yield queue.pop().record;
}

/**
 * Just the rows, in delivery order (tests, benchmarks).
 *
 * @example
 *   const rows = [...generateRows({ stations: ['8454000'], startMs: 0, count: 240, intervalMs: 360_000,
 *     duplicateRate: 0, disorderMs: 0, lateRate: 0, nullRate: 0, seed: 1, batchSize: 1000 })];
 */
export function* generateRows(spec: GeneratorSourceSpec): Generator<Row> {
  for (const record of generateRecords(spec)) yield record.row;
}

/**
 * The generator as a source: one partition `generator:<seed>`, offsets are
 * positions in delivery order (duplicates included), so resuming from an
 * offset regenerates and skips the same records.
 *
 * @example
 *   for await (const batch of openGeneratorSource(spec, { fromOffset: 0 })) handle(batch.rows!);
 */
export async function* openGeneratorSource(spec: GeneratorSourceSpec, options: { fromOffset: number }): AsyncGenerator<RawBatch> {
  const partition = `generator:${spec.seed}`;
  const from = options.fromOffset;
  let rows: Row[] = [];
  let offsets: number[] = [];
  let batchStart = from;
  let offset = 0;
  for (const record of generateRecords(spec)) {
    if (offset >= from) {
      rows.push(record.row);
      offsets.push(offset);
      if (rows.length >= spec.batchSize) {
        yield { rows, offsets: Float64Array.from(offsets), source: { partition, fromOffset: batchStart, toOffset: offset + 1 } };
        batchStart = offset + 1;
        rows = [];
        offsets = [];
        // Let timers and I/O run between batches: the generator never waits on anything itself.
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
    }
    offset++;
  }
  if (rows.length > 0) yield { rows, offsets: Float64Array.from(offsets), source: { partition, fromOffset: batchStart, toOffset: offset } };
}

// ---------------------------------------------------------------- job-file configuration

/**
 * Generator source: synthetic tide observations from a harmonic model, with
 * controlled duplicates, disorder, late records and null readings, for demos,
 * tests and benchmarks. Deterministic for a given `seed`.
 *
 * @example
 * source:
 *   generator: { stations: ["8454000"], start: 2024-01-01T00:00:00Z, count: 10000, interval: 6m }
 */

export interface GeneratorSourceConfig {
  stations: string[];
  start: string;
  count: number;
  interval?: string;
  duplicateRate?: number;
  disorder?: string;
  lateRate?: number;
  nullRate?: number;
  seed?: number;
  batchSize?: number;
}

const DEFAULTS = {
  interval: '6m',
  duplicateRate: 0,
  disorder: '0s',
  lateRate: 0,
  nullRate: 0,
  seed: 42,
  batchSize: 4096,
};

const rate = (description: string): JsonSchema => ({ description, type: 'number', minimum: 0, maximum: 1, default: 0, examples: [0.05] });

export const schema: JsonSchema = {
  title: 'generator source',
  description: 'Generates synthetic observations.',
  examples: [{ stations: ['8454000', '8443970'], start: '2024-01-01T00:00:00Z', count: 10000, duplicateRate: 0.05, disorder: '5m' }],
  type: 'object',
  required: ['stations', 'start', 'count'],
  additionalProperties: false,
  properties: {
    stations: {
      description: 'NOAA station ids to simulate (quote them: they are strings).',
      type: 'array',
      items: { type: 'string', minLength: 1 },
      minItems: 1,
      uniqueItems: true,
      examples: [['8454000']],
    },
    start: timestampSchema('Event time of the first observation.'),
    count: { description: 'Observations per station.', type: 'integer', minimum: 1, examples: [10000] },
    interval: durationSchema('Event time between observations of a station.', { default: DEFAULTS.interval, positive: true }),
    duplicateRate: rate('Share of observations sent twice.'),
    disorder: durationSchema('Largest event-time disorder introduced (keep within eventTime.maxOutOfOrder to avoid late records).', {
      default: DEFAULTS.disorder,
      examples: ['5m'],
    }),
    lateRate: rate('Share of observations held back beyond the disorder, so they arrive late.'),
    nullRate: rate('Share of observations whose reading `v` is null.'),
    seed: { description: 'Random seed.', type: 'integer', default: DEFAULTS.seed },
    batchSize: { description: 'Rows per batch.', type: 'integer', minimum: 1, default: DEFAULTS.batchSize },
  },
};

/** Schema-validated YAML to the JobSpec form: defaults filled in, durations and timestamps in milliseconds. */
export function normalize(raw: GeneratorSourceConfig, _context: ComponentContext): GeneratorSourceSpec {
  return {
    stations: [...raw.stations],
    startMs: timestampMs(raw.start),
    count: raw.count,
    intervalMs: durationMs(raw.interval ?? DEFAULTS.interval),
    duplicateRate: raw.duplicateRate ?? DEFAULTS.duplicateRate,
    disorderMs: durationMs(raw.disorder ?? DEFAULTS.disorder),
    lateRate: raw.lateRate ?? DEFAULTS.lateRate,
    nullRate: raw.nullRate ?? DEFAULTS.nullRate,
    seed: raw.seed ?? DEFAULTS.seed,
    batchSize: raw.batchSize ?? DEFAULTS.batchSize,
  };
}
