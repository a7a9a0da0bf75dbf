// Shared by the UI's real-server and browser tests: reference job results in a
// Cassandra keyspace of the test's own, computed from a data file.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadJobFile } from '../../engine/jobfile';
import { assemble } from '../../engine/jobfile/assemble';
import { runJob } from '../../engine/runtime/run-job';
import { NullSink } from '../../engine/sinks/null-sink';
import { LEVELS_JOB, LUNAR_DAY_JOB, packageRoot } from '../../engine/ui/bundled-results';
import { clusterEnv } from '../support/cluster';

/**
 * Runs tides-30m-average and tides-lunar-day over `input` into Cassandra
 * keyspace `keyspace` (tables avg_30m and lunar_day, as in production). Dead
 * letters and late records are discarded: the jobs send them to Kafka, which
 * these tests do not need.
 */
export async function loadResultsIntoCassandra(keyspace: string, input: string): Promise<void> {
  const root = packageRoot();
  const cluster = clusterEnv();
  const env = { ...process.env, CASSANDRA_KEYSPACE: keyspace, CASSANDRA_CONTACT_POINTS: cluster.cassandraContactPoints.join(','), CASSANDRA_LOCAL_DC: cluster.cassandraLocalDc };
  const checkpointDir = await mkdtemp(join(tmpdir(), 'tideflow-ui-load-'));
  try {
    for (const file of [LEVELS_JOB, LUNAR_DAY_JOB]) {
      const job = loadJobFile(join(root, file), { cwd: root, env });
      const parts = await assemble(job, { input, checkpointDir });
      parts.sinks.set('dead-letters', new NullSink());
      parts.sinks.set('late', new NullSink());
      await runJob(parts);
    }
  } finally {
    await rm(checkpointDir, { recursive: true, force: true });
  }
}
