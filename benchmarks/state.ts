/**
 * Scenario "state": what keyed state costs at 100,000 stations.
 *
 * - Memory per open window (30-minute and lunar-day windows: one open window
 *   per station) and per remembered dedupe key (a 2 h horizon of 6-minute
 *   readings: 20 keys per station), as (heap + array buffers after GC, minus
 *   before) / count. Rows are fed in chunks and dropped, so only what the
 *   operator keeps is counted.
 * - Restart from a checkpoint with that state: snapshot -> JSON text (what
 *   a checkpoint store writes) -> parse -> restore into a fresh operator.
 *
 * Nothing closes or expires during the fill: every row carries the watermark
 * -Infinity, as if the stations had just reported their first readings.
 */
import { performance } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { join } from 'node:path';
import { loadJobFile } from '../engine/jobfile';
import { createOperators } from '../engine/jobfile/components';
import type { RecordBatch, Row } from '../engine/core/batch';
import { emptyCounters, type Operator, type OperatorContext } from '../engine/core/operator';
import { ROOT } from './kafka-topic';

export interface StateMeasurement {
  /** `window avg-30m (tides-30m-average)`, `dedupe dedupe-observations (tides-lunar-day)`. */
  state: string;
  /** Open windows or remembered keys. */
  entries: number;
  bytesPerEntry: number;
  totalMiB: number;
  snapshotMs: number;
  stringifyMs: number;
  jsonMiB: number;
  parseMs: number;
  restoreMs: number;
  /** snapshot + stringify + parse + restore. */
  restartMs: number;
}

export interface StateResult {
  stations: number;
  measurements: StateMeasurement[];
}

const MINUTE = 60_000;
const CHUNK_STATIONS = 10_000;

/** Node's collector, without requiring `--expose-gc` on the command line. */
function collector(): () => void {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  return () => {
    gc();
    gc();
  };
}

function retained(): number {
  const usage = process.memoryUsage();
  return usage.heapUsed + usage.arrayBuffers;
}

function context(): OperatorContext {
  return { counters: emptyCounters(), late: () => {}, deadLetter: () => {}, emitTo: () => {}, now: () => 0, setTimer: () => {} };
}

/** `perStation` readings, 6 minutes apart, for stations [first, first + count). */
function rowsFor(first: number, count: number, perStation: number, startMs: number): Row[] {
  const rows: Row[] = [];
  for (let s = first; s < first + count; s++) {
    const station = String(1_000_000 + s);
    for (let k = 0; k < perStation; k++) {
      rows.push({ station, name: `Station ${station}`, lat: 40 + (s % 100) / 10, lon: -70 - (s % 100) / 10, t: startMs + k * 6 * MINUTE, v: 1 + Math.sin(s + k), s: 0.01, f: '0,0,0,0', q: 'v' });
    }
  }
  return rows;
}

function batchOf(rows: Row[], offset: number): RecordBatch {
  return {
    rows,
    watermarks: new Float64Array(rows.length).fill(Number.NEGATIVE_INFINITY),
    watermark: Number.NEGATIVE_INFINITY,
    offsets: Float64Array.from(rows, (_, i) => offset + i),
    source: { partition: 'bench/0', fromOffset: offset, toOffset: offset + rows.length },
  };
}

function operatorOf(jobName: string, kind: 'dedupe' | 'window'): { operator: Operator; make: () => Operator } {
  const job = loadJobFile(join(ROOT, 'jobs', `${jobName}.yaml`), { cwd: ROOT });
  const index = job.steps.findIndex((step) => step.kind === kind);
  const make = () => createOperators(job)[index];
  return { operator: make(), make };
}

function measure(label: string, jobName: string, kind: 'dedupe' | 'window', stations: number, perStation: number, gc: () => void): StateMeasurement {
  const { operator, make } = operatorOf(jobName, kind);
  // Half an hour into a 30-minute window and a lunar day: all readings of a station share one window.
  const startMs = Date.UTC(2024, 0, 1, 0, 0);
  gc();
  const before = retained();
  let offset = 0;
  const ctx = context();
  for (let first = 0; first < stations; first += CHUNK_STATIONS) {
    const rows = rowsFor(first, Math.min(CHUNK_STATIONS, stations - first), perStation, startMs);
    operator.process(batchOf(rows, offset), ctx);
    offset += rows.length;
  }
  gc();
  const bytes = retained() - before;
  const entries = kind === 'window' ? stations : stations * perStation;

  let started = performance.now();
  const snapshot = operator.snapshot!();
  const snapshotMs = performance.now() - started;
  started = performance.now();
  const json = JSON.stringify(snapshot);
  const stringifyMs = performance.now() - started;
  started = performance.now();
  const parsed: unknown = JSON.parse(json);
  const parseMs = performance.now() - started;
  const fresh = make();
  started = performance.now();
  fresh.restore!(parsed);
  const restoreMs = performance.now() - started;
  // The restored operator must hold the same state, or the timing means nothing.
  if (JSON.stringify(fresh.snapshot!()) !== json) throw new Error(`${label}: restored state differs from the snapshot`);
  return {
    state: label,
    entries,
    bytesPerEntry: bytes / entries,
    totalMiB: bytes / 2 ** 20,
    snapshotMs,
    stringifyMs,
    jsonMiB: Buffer.byteLength(json) / 2 ** 20,
    parseMs,
    restoreMs,
    restartMs: snapshotMs + stringifyMs + parseMs + restoreMs,
  };
}

export function benchState(stations = 100_000): StateResult {
  const gc = collector();
  const measurements = [
    measure('open windows, tumbling 30 min (tides-30m-average)', 'tides-30m-average', 'window', stations, 5, gc),
    measure('open windows, lunar day (tides-lunar-day)', 'tides-lunar-day', 'window', stations, 5, gc),
    // 2 h horizon / 6-minute readings = 20 keys per station in steady state.
    measure('dedupe keys, 2 h horizon (tides-dedupe)', 'tides-dedupe', 'dedupe', stations, 20, gc),
  ];
  return { stations, measurements };
}
