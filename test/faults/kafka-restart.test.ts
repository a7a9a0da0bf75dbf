/**
 * Kafka broker restart: the only broker stops (controlled shutdown) and
 * starts again with its data kept, while the reference jobs consume a live
 * stream from it.
 *
 * Expected, and checked: the engine does not exit; its consumer reconnects
 * and rejoins its group by itself, at exactly the positions it had (nothing
 * skipped, nothing read twice); no group offset is ever committed past the
 * saved checkpoint; memory stays under 1 GB; the result tables equal the
 * plain computation. Recovery time = up.sh returned until the job's next
 * commit past its pre-outage offsets. The test's own producer pauses while
 * the broker is down (see support-stream.ts).
 *
 * CI size: the lunar-day job, broker down 20 s. Full: all three jobs, 45 s
 * (longer than kafkajs' own retries, ~40 s, last).
 */
import { test } from 'node:test';
import { requireCluster } from '../support/cluster';
import { faultsSize, JOBS, observationSlice } from './harness';
import { outageCluster } from './support-servers';
import { streamOutage } from './support-outage';

test('kafka restart: broker stopped mid-stream; consumer resumes exactly; results exact', { timeout: 600_000 }, async (t) => {
  const cluster = outageCluster();
  if (typeof cluster === 'string') return t.skip(cluster);
  if (!(await requireCluster(t))) return;
  const full = faultsSize() === 'full';
  await streamOutage(t, cluster, {
    scenario: 'kafka-restart',
    server: 'kafka',
    jobs: full ? JOBS : ['tides-lunar-day'],
    input: await observationSlice(full ? 1 : 4),
    outageMs: full ? 45_000 : 20_000,
    streamMs: full ? 90_000 : 40_000,
  });
});
