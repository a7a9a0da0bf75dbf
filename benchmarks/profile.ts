/**
 * Why a target was missed: one end-to-end pass of a job in a child process
 * under `node --cpu-prof`, and the functions with the most self time.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { ROOT } from './kafka-topic';

export interface ProfileFrame {
  /** `decodeRows (engine/codecs/confluent-avro.ts:120)`, `(garbage collector)`. */
  frame: string;
  selfMs: number;
  selfPercent: number;
}

export interface ProfileResult {
  job: string;
  recordsPerSecond: number | null;
  totalMs: number;
  /** Share of samples where the main thread had nothing to run (waiting on Kafka or Cassandra). */
  idlePercent: number;
  top: ProfileFrame[];
}

interface CpuProfile {
  nodes: Array<{ id: number; callFrame: { functionName: string; url: string; lineNumber: number } }>;
  /** Microseconds on the monotonic clock (the one `process.hrtime` reads). */
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

/**
 * Self time per frame (function + location) of a .cpuprofile, largest first,
 * counting only samples inside `window` (monotonic µs) when given — so module
 * loading and the consumer-group join do not crowd out the steady state.
 */
export function topFrames(profile: CpuProfile, count: number, window?: { fromUs: number; toUs: number }): { top: ProfileFrame[]; totalMs: number; idlePercent: number } {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const self = new Map<string, number>();
  let total = 0;
  let at = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    at += profile.timeDeltas[i] ?? 0;
    if (window && (at < window.fromUs || at > window.toUs)) continue;
    const node = byId.get(profile.samples[i]);
    const delta = (profile.timeDeltas[i] ?? 0) / 1000;
    if (!node) continue;
    total += delta;
    const { functionName, url, lineNumber } = node.callFrame;
    let where = url.replace(/^file:\/\//, '');
    if (where.startsWith(ROOT)) {
      where = relative(ROOT, where);
      // Our compiled code: name the TypeScript source (line numbers are those of the .js).
      if (where.startsWith('dist/')) where = where.slice('dist/'.length).replace(/\.js$/, '.ts');
    }
    const frame = where ? `${functionName || '(anonymous)'} (${where}:${lineNumber + 1})` : functionName || '(anonymous)';
    self.set(frame, (self.get(frame) ?? 0) + delta);
  }
  const idle = self.get('(idle)') ?? 0;
  const top = [...self.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, count)
    .map(([frame, ms]) => ({ frame, selfMs: Math.round(ms), selfPercent: Math.round((1000 * ms) / total) / 10 }));
  return { top, totalMs: Math.round(total), idlePercent: Math.round((1000 * idle) / total) / 10 };
}

/** Runs `dist/benchmarks/end-to-end.js` for one job under the CPU profiler; the topic and keyspace must exist. */
export function profileEndToEnd(job: string, topic: string, keyspace: string, count = 15): ProfileResult {
  const dir = mkdtempSync(join(tmpdir(), 'tideflow-cpuprof-'));
  try {
    const child = spawnSync(
      process.execPath,
      // This process's V8 settings (npm run bench gives the CLI's young generation size) carry over.
      [...process.execArgv, '--cpu-prof', '--cpu-prof-dir', dir, join(ROOT, 'dist', 'benchmarks', 'end-to-end.js'), '--job', job, '--topic', topic, '--keyspace', keyspace],
      { cwd: ROOT, env: process.env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: 600_000 },
    );
    if (child.status !== 0) throw new Error(`profiled run of ${job} failed (exit ${child.status})`);
    const file = readdirSync(dir).find((name) => name.endsWith('.cpuprofile'));
    if (!file) throw new Error('node --cpu-prof wrote no profile');
    const profile = JSON.parse(readFileSync(join(dir, file), 'utf8')) as CpuProfile;
    const pass = JSON.parse(child.stdout.trim().split('\n').pop() ?? '{}') as { recordsPerSecond?: number; firstAtUs?: number; lastSaveAtUs?: number };
    const window = pass.firstAtUs && pass.lastSaveAtUs ? { fromUs: pass.firstAtUs, toUs: pass.lastSaveAtUs } : undefined;
    return { job, recordsPerSecond: pass.recordsPerSecond ?? null, ...topFrames(profile, count, window) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
