import type { FileSourceSpec, GeneratorSourceSpec } from '../config/job';
import { openFileSource } from './file-source';
import { openGeneratorSource } from './generator-source';
import type { Positions, Source } from '../core/source';
import { fileIdentity, specIdentity } from './input-identity';

/** A data file as a source: one partition, offsets are record indexes. */
export function fileSource(spec: FileSourceSpec): Source {
  const partition = `file:${spec.path}`;
  return {
    description: `file ${spec.path}`,
    batches: (from: Positions) => openFileSource(spec, { fromOffset: from[partition] ?? 0, csv: spec.units ? { units: spec.units } : undefined }),
    identity: () => fileIdentity(spec.path),
    close: async () => {},
  };
}

/** The synthetic tide generator as a source: one partition per seed. */
export function generatorSource(spec: GeneratorSourceSpec): Source {
  const partition = `generator:${spec.seed}`;
  return {
    description: `generator (seed ${spec.seed}, ${spec.stations.length} stations)`,
    batches: (from: Positions) => openGeneratorSource(spec, { fromOffset: from[partition] ?? 0 }),
    // Its records follow from the spec; how they are cut into batches does not change them.
    identity: async () => specIdentity('generator', `the generator (seed ${spec.seed}, ${spec.stations.length} stations)`, { ...spec, batchSize: undefined }),
    close: async () => {},
  };
}
