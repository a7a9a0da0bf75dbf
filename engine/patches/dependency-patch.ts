/**
 * The rules every stand-in of tideflow's inside a dependency follows (the
 * Kafka source's record-batch reader in kafkajs, the Cassandra sink's batch
 * request writer in cassandra-driver): an environment variable leaves the
 * dependency as it is, and the stand-in goes in only for the one version of
 * the dependency it was written and tested against. Either way the result is
 * the same; only the speed differs, so callers log the reason when inactive.
 */

export interface DependencyPatchState {
  active: boolean;
  /** 'installed', or why the dependency does the work itself. */
  reason: string;
}

export interface DependencyPatch {
  /** npm package name, and the one version of it the stand-in is for. */
  dependency: string;
  version: string;
  /** What the stand-in replaces, for the reason given: "record-batch decoder". */
  replaces: string;
  /** What happens without it, for the reason given: "kafkajs reads record batches itself". */
  otherwise: string;
  /** The environment variable, and its value, that leave the dependency as it is. */
  offSwitch: { variable: string; value: string };
  /** Puts the stand-in in place (it may still find it cannot, and say why). */
  install(): DependencyPatchState;
}

/** Installs `patch` unless switched off or the dependency's version differs. */
export function applyDependencyPatch(patch: DependencyPatch): DependencyPatchState {
  const { variable, value } = patch.offSwitch;
  if (process.env[variable] === value) return { active: false, reason: `${variable}=${value}: ${patch.otherwise}` };
  const version = (require(`${patch.dependency}/package.json`) as { version: string }).version;
  if (version !== patch.version) {
    return { active: false, reason: `${patch.dependency} ${version} is not ${patch.version}, whose ${patch.replaces} tideflow's stands in for: ${patch.otherwise}` };
  }
  return patch.install();
}
