/**
 * Where a scenario's CPU went: this process (the engine, kafkajs and the
 * Cassandra driver, all its threads) and the local servers started by
 * `npm run cluster:up` (their pids are in .cluster/<name>/<name>.pid). On a
 * machine whose cores the servers share with the engine, this is what bounds
 * a throughput ratio: what the servers spend per record is not available to
 * the engine.
 *
 * @example
 *   const before = sampleCpu();
 *   ... run ...
 *   const cpu = cpuPerRecord(before, sampleCpu(), records); // { usPerRecord: { engine: 8.6, kafka: 1.2, ... }, coresBusy: 1.9 }
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { ROOT } from './kafka-topic';

export const SERVERS = ['kafka', 'registry', 'cassandra'] as const;

export interface CpuSample {
  atMs: number;
  /** CPU time of this process, all threads (ms). */
  engineMs: number;
  /** CPU time of each local server found (ms); absent when not started from this checkout. */
  servers: Partial<Record<(typeof SERVERS)[number], number>>;
}

export interface CpuBreakdown {
  /** CPU microseconds per record: `engine` is this process; the servers by name. */
  usPerRecord: Record<string, number>;
  /** Average number of cores busy (all of the above) over the span. */
  coresBusy: number;
}

/** USER_HZ, the unit of utime/stime in /proc/<pid>/stat (100 on Linux unless told otherwise); read once, not mid-measurement. */
const TICKS_PER_SECOND = ((): number => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** utime + stime of a process in ms, or null when it is gone or not readable. */
function processCpuMs(pid: string): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may contain spaces) start at state: utime is the 12th, stime the 13th.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_SECOND;
  } catch {
    return null;
  }
}

function serverPid(name: string): string | null {
  const file = join(ROOT, '.cluster', name, `${name}.pid`);
  return existsSync(file) ? readFileSync(file, 'utf8').trim() : null;
}

export function sampleCpu(): CpuSample {
  const usage = process.cpuUsage();
  const servers: CpuSample['servers'] = {};
  for (const name of SERVERS) {
    const pid = serverPid(name);
    const ms = pid === null ? null : processCpuMs(pid);
    if (ms !== null) servers[name] = ms;
  }
  return { atMs: performance.now(), engineMs: (usage.user + usage.system) / 1000, servers };
}

export function cpuPerRecord(before: CpuSample, after: CpuSample, records: number): CpuBreakdown {
  const spent: Record<string, number> = { engine: after.engineMs - before.engineMs };
  for (const name of SERVERS) {
    const from = before.servers[name];
    const to = after.servers[name];
    if (from !== undefined && to !== undefined) spent[name] = to - from;
  }
  const usPerRecord: Record<string, number> = {};
  let total = 0;
  for (const [name, ms] of Object.entries(spent)) {
    usPerRecord[name] = (ms * 1000) / Math.max(records, 1);
    total += ms;
  }
  return { usPerRecord, coresBusy: total / Math.max(after.atMs - before.atMs, 1e-3) };
}

/**
 * The most records/s the machine's `cores` allow when the engine adds no
 * work beyond the client (`clientUs`, the ceiling scenario's own CPU per
 * record): what the servers spend per record in the end-to-end run is taken
 * from the same cores.
 */
export function cpuBoundRecordsPerSecond(endToEnd: CpuBreakdown, clientUs: number, cores: number): number | null {
  const serversUs = SERVERS.reduce((sum, name) => sum + (endToEnd.usPerRecord[name] ?? 0), 0);
  if (!SERVERS.some((name) => name in endToEnd.usPerRecord)) return null;
  return (cores * 1e6) / (serversUs + clientUs);
}
