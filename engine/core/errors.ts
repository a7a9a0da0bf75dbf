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

/** `file:line:col message`; a problem without a place in a file (line 0: a job built in code) as `file: message`. */
export function formatProblem(problem: ConfigProblem): string {
  return problem.line > 0 ? `${problem.file}:${problem.line}:${problem.col} ${problem.message}` : `${problem.file}: ${problem.message}`;
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

/**
 * Another instance runs this job already: two instances would overwrite each
 * other's checkpoints and results, so the second is refused at start.
 */
export class JobAlreadyRunningError extends TideflowError {
  constructor(message: string) {
    super(message, { domain: 'user' });
  }
}

/**
 * This instance no longer holds its job (another instance claimed it while
 * this one was paused or cut off): it must not write a checkpoint.
 */
export class ClaimLostError extends TideflowError {
  constructor(message: string) {
    super(message, { domain: 'external', retriable: false });
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

/** TLS errors (Node / OpenSSL codes) that waiting does not fix: the server's certificate is not trusted or does not match, or the port does not speak TLS. */
const UNTRUSTED_CERTIFICATE_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'CERT_SIGNATURE_FAILURE',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/**
 * What to do about a TLS problem anywhere in the error's cause chain (kafkajs
 * wraps the socket error's code in KafkaJSConnectionError, and that in
 * KafkaJSNumberOfRetriesExceeded), or null: retrying forever would only hide
 * a configuration mistake. `peer` names the server in the hint ('broker', 'Cassandra node').
 */
export function tlsConfigurationProblem(error: unknown, peer: string): string | null {
  let current = error as { code?: unknown; cause?: unknown } | null | undefined;
  for (let depth = 0; depth < 8 && current !== null && typeof current === 'object'; depth++) {
    const code = typeof current.code === 'string' ? current.code : '';
    if (UNTRUSTED_CERTIFICATE_CODES.has(code)) {
      return `TLS: the ${peer}'s certificate is not accepted (${code}); for a private CA give Node its certificate with NODE_EXTRA_CA_CERTS=/path/to/ca.pem`;
    }
    if (code === 'ERR_SSL_WRONG_VERSION_NUMBER') return `TLS: the ${peer} answered without TLS (${code}); is \`ssl: true\` meant for this port?`;
    current = current.cause as typeof current;
  }
  return null;
}
