import { installBatchRequestWriter } from './cassandra-batch-request';
import type { DependencyPatchState } from './dependency-patch';
import { installRecordBatchReader } from './kafkajs-record-batches';

/**
 * Puts tideflow's stand-ins inside its dependencies in place: the kafkajs
 * record-batch reader and the cassandra-driver batch request writer (see
 * their files for what each saves). The runtime calls this before a job
 * starts; it must run before the first Kafka fetch. Once per process; later
 * calls report the same states. Results are the same either way, only the
 * speed differs: the Kafka source and the Cassandra sink log why a stand-in
 * is not in use.
 *
 * @example
 *   installDependencyPatches(); // { kafkajsRecordBatchReader: { active: true, reason: 'installed' }, ... }
 */
export function installDependencyPatches(): Record<'kafkajsRecordBatchReader' | 'cassandraBatchRequestWriter', DependencyPatchState> {
  return { kafkajsRecordBatchReader: installRecordBatchReader(), cassandraBatchRequestWriter: installBatchRequestWriter() };
}
