/**
 * Cassandra outage: the results store (and checkpoint store) stops for at
 * least 30 s while the reference jobs read a live Kafka stream.
 *
 * Expected, and checked:
 * - the jobs wait: writes and checkpoint saves retry with backoff, the
 *   engine neither exits nor drops rows (the sink queue is bounded, so
 *   reading stops once it is full);
 * - no group offset is committed while Cassandra is down, and at no time is
 *   one committed past the last saved checkpoint (so never past unwritten
 *   results);
 * - resident memory stays under 1 GB;
 * - once Cassandra is back the jobs go on by themselves (recovery time =
 *   up.sh returned until the next commit past the pre-outage offsets);
 * - the result tables equal the plain computation, row for row.
 *
 * CI size (default): the lunar-day job on a quarter of the bundled
 * observations. Full size (FAULTS_SIZE=full): all three jobs on all of them.
 * Stops servers: runs in CI or on a private cluster (see support-servers.ts).
 */
import { test } from 'node:test';
import { requireCluster } from '../support/cluster';
import { faultsSize, JOBS, observationSlice } from './harness';
import { outageCluster } from './support-servers';
import { streamOutage } from './support-outage';

test('cassandra outage: >= 30 s mid-stream; jobs wait, commit nothing early, resume, results exact', { timeout: 600_000 }, async (t) => {
  const cluster = outageCluster();
  if (typeof cluster === 'string') return t.skip(cluster);
  if (!(await requireCluster(t))) return;
  const full = faultsSize() === 'full';
  await streamOutage(t, cluster, {
    scenario: 'cassandra-outage',
    server: 'cassandra',
    jobs: full ? JOBS : ['tides-lunar-day'],
    input: await observationSlice(full ? 1 : 4),
    outageMs: full ? 45_000 : 30_000,
    streamMs: full ? 90_000 : 50_000,
  });
});
