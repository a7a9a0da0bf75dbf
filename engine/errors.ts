/**
 * One small error hierarchy for the whole engine.
 *
 * Every error says which side of the fence the problem is on (`domain`), and
 * whether trying again can help (`retriable`). The runtime uses `retriable`
 * to decide between "wait and retry" (sink outage, registry down) and
 * "route to dead letters / stop with a message" (bad data, bad config).
 */

/** Who has to act: the user (fix the job or data), an external system (wait), or us (a bug). */
export type ErrorDomain = 'user' | 'external' | 'internal';

export class TideflowError extends Error {
  readonly domain: ErrorDomain;
  readonly retriable: boolean;
  constructor(message: string, options: { domain: ErrorDomain; retriable?: boolean; cause?: unknown }) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.domain = options.domain;
    this.retriable = options.retriable ?? false;
  }
}

/** One problem in a job file, with the place it was found. */
export interface ConfigProblem {
  file: string;
  line: number;
  col: number;
  message: string;
}

/** A job file (or CLI arguments) that cannot run. Carries every problem found, not just the first. */
export class ConfigError extends TideflowError {
  readonly problems: ConfigProblem[];
  constructor(problems: ConfigProblem[]) {
    super(problems.map(formatProblem).join('\n'), { domain: 'user' });
    this.problems = problems;
  }
}

export function formatProblem(problem: ConfigProblem): string {
  return `${problem.file}:${problem.line}:${problem.col} ${problem.message}`;
}

/** Bad command-line usage (exit code 2, like a config error). */
export class UsageError extends TideflowError {
  constructor(message: string) {
    super(message, { domain: 'user' });
  }
}

/** A record that cannot be decoded or is not a valid input record. Never retriable: it goes to dead letters. */
export class DecodeError extends TideflowError {
  constructor(message: string, cause?: unknown) {
    super(message, { domain: 'user', retriable: false, cause });
  }
}

/** An external system (Kafka, registry, Cassandra, disk) failed in a way that may pass. */
export class ExternalError extends TideflowError {
  constructor(message: string, options: { retriable: boolean; cause?: unknown }) {
    super(message, { domain: 'external', ...options });
  }
}

/** Saved state cannot be used with this job (changed window size, unknown format version...). */
export class StateIncompatibleError extends TideflowError {
  constructor(message: string) {
    super(message, { domain: 'user' });
  }
}

/** Something that should not happen. */
export class InternalError extends TideflowError {
  constructor(message: string, cause?: unknown) {
    super(message, { domain: 'internal', cause });
  }
}

/** Whether trying again may help, for any thrown value (library errors included). */
export function isRetriable(error: unknown): boolean {
  if (error instanceof TideflowError) return error.retriable;
  return false;
}
