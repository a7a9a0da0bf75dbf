import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';

/**
 * Who runs a job: written into the job's claim in its checkpoint store, so
 * a second instance can say which instance it met, and a restart after a
 * crash on the same host can tell that the holder is gone.
 */
export interface InstanceIdentity {
  /** Unique per run of a process: a restarted process is another instance. */
  id: string;
  host: string;
  pid: number;
  /** When this instance claimed the job (ISO-8601). */
  since: string;
}

export function thisInstance(): InstanceIdentity {
  return { id: randomUUID(), host: hostname(), pid: process.pid, since: new Date().toISOString() };
}

/**
 * True when `holder` certainly no longer runs: it was on this host and its
 * process is gone. An instance on another host cannot be checked from here.
 */
export function holderIsGone(holder: Pick<InstanceIdentity, 'host' | 'pid'>): boolean {
  if (holder.host !== hostname() || !(holder.pid > 0)) return false;
  if (holder.pid === process.pid) return false;
  try {
    process.kill(holder.pid, 0);
    return false;
  } catch (error) {
    // EPERM: the process exists, it just is not ours to signal.
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

/** `host 'x' (pid 123) since 2026-12-07T03:00:00.000Z`, for messages. */
export function describeHolder(holder: Partial<InstanceIdentity>): string {
  return `host '${holder.host ?? '?'}' (pid ${holder.pid ?? '?'})${holder.since ? ` since ${holder.since}` : ''}`;
}
