/**
 * OpenSearch outage: jobs/tides-lunar-day-search.yaml (lunar days into
 * Cassandra and OpenSearch at once, `sink: { all: [...] }`) reads Kafka
 * through the real CLI while OpenSearch is unreachable for 30 s (a proxy in
 * front of it stops forwarding). The job waits (bulk requests retried, no
 * checkpoint past what OpenSearch holds), goes on by itself, and ends with
 * both stores equal to the plain computation: OpenSearch documents typed by
 * the derived mapping (dates, long counts, a geo_point), found by a
 * geo-distance query; Cassandra rows unchanged by the second sink.
 *
 * Does not stop a server (a proxy goes away, not OpenSearch): runs in npm test.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { requireCluster } from '../support/cluster';
import { allDocuments, opensearch, opensearchUrl, requireOpenSearch } from '../support/opensearch';
import { expectedLunarDays } from '../support/plain';
import { compareWithPlain, describeComparison, faultsSize, observationSlice, openFaultRun, startCli, unaccountedOf, type JobName } from './harness';
import { recordOutcome } from './report';
import { TcpProxy } from './support-servers';

const SEARCH_JOB = 'tides-lunar-day-search' as JobName;
const OUTAGE_MS = 30_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

test('opensearch outage: unreachable for 30 s mid-stream; the job into Cassandra and OpenSearch at once waits, resumes, both exact', { timeout: 600_000 }, async (t) => {
  if (!(await requireCluster(t)) || !(await requireOpenSearch(t))) return;
  const started = Date.now();
  const run = await openFaultRun('opensearch-outage', t);
  const indices = `tideflow-faults-${run.id}`;
  const target = new URL(opensearchUrl());
  // A slow link (50 KB/s, about 12 s for the CI run's documents) keeps indexing behind the job, so the outage lands mid-stream however fast the job reads.
  const proxy = new TcpProxy(target.hostname, Number(target.port || 9200), { bytesPerSecond: 50 * 1024 });
  await proxy.start();
  try {
    const input = await observationSlice(faultsSize() === 'full' ? 1 : 2);
    await run.produce(input, 3);
    await run.prepareKeyspace();
    const file = run.jobFile(SEARCH_JOB, (text) =>
      text.replace(/index: tides-lunar-day-\{window_start:yyyy\}/, `index: ${indices}-{window_start:yyyy}`) + '\ncheckpoint:\n  cassandra:\n    interval: 500ms\n',
    );
    const cli = startCli(['run', file, '--until-end', '--batch-size', '200'], run.env({ OPENSEARCH_URL: `http://127.0.0.1:${proxy.port}` }));
    const indexed = async () => (await opensearch('GET', `/${indices}-*/_count`)).body?.count ?? 0;
    while ((await indexed()) === 0) {
      assert.equal(cli.child.exitCode, null, `the job ended before indexing anything: ${cli.stderrSoFar()}`);
      await sleep(100);
    }
    await proxy.stop();
    const stoppedAt = Date.now();
    const before = await indexed();
    await sleep(OUTAGE_MS);
    const waited = cli.child.exitCode === null && cli.child.signalCode === null;
    await proxy.start();
    const exit = await cli.exited;
    const recoveryLine = cli.lines.find(({ at, line }) => at > stoppedAt && /succeeded again/.test(line));

    const cassandra = compareWithPlain('tides-lunar-day', input, await run.table('lunar_day'));
    const expected = expectedLunarDays(input);
    const position = new Map(input.map((row) => [row.station, { lat: row.lat, lon: row.lon }]));
    const documents = await allDocuments(`${indices}-*`);
    const wrong: string[] = [];
    for (const row of expected) {
      const id = `${row.station as string}|${row.window_start as string}`;
      const document = documents.get(id);
      const { lat, lon } = position.get(row.station as string)!;
      const want = { ...row, lat, lon, location: { lat, lon } };
      if (document === undefined) wrong.push(`${id}: missing`);
      // Sums in another order may differ in the last bits: mean within 1e-9, everything else exact.
      else if (Math.abs((document.mean as number) - (row.mean as number)) > 1e-9 || JSON.stringify({ ...document, mean: 0 }) !== JSON.stringify({ ...want, mean: 0 })) {
        wrong.push(`${id}: ${JSON.stringify(document)} != ${JSON.stringify(want)}`);
      }
    }
    const mapping = (await opensearch('GET', `/${indices}-*/_mapping`)).body as Record<string, { mappings: { properties: Record<string, { type: string }> } }>;
    const types = Object.values(mapping).map(({ mappings }) => Object.fromEntries(Object.entries(mappings.properties).map(([field, { type }]) => [field, type])));
    // Stations within 50 km of the Golden Gate: San Francisco only.
    const near = await opensearch('POST', `/${indices}-*/_search`, {
      size: 0,
      query: { geo_distance: { distance: '50km', location: { lat: 37.81, lon: -122.47 } } },
      aggs: { stations: { terms: { field: 'station' } } },
    });
    const nearStations = (near.body.aggregations.stations.buckets as Array<{ key: string }>).map((bucket) => bucket.key);
    const final = await run.lastCheckpoint('tides-lunar-day-search');
    const unaccounted = final ? unaccountedOf('tides-lunar-day', final.counters) : Number.NaN;

    recordOutcome({
      scenario: 'opensearch outage (30 s, Cassandra + OpenSearch at once)',
      job: 'tides-lunar-day-search',
      faultsInjected: 1,
      faults: [`OpenSearch unreachable ${OUTAGE_MS / 1000} s (proxy stopped)`],
      recordsIn: final?.counters.recordsIn ?? 0,
      resultsExact: cassandra.exact && wrong.length === 0 && documents.size === expected.length,
      lost: cassandra.lost,
      duplicated: cassandra.duplicated,
      recoveryMs: recoveryLine ? { median: recoveryLine.at - stoppedAt - OUTAGE_MS, max: recoveryLine.at - stoppedAt - OUTAGE_MS, samples: 1 } : null,
      unaccounted,
      notes: `${before} documents before the outage; Cassandra ${describeComparison(cassandra)}; OpenSearch ${documents.size}/${expected.length} documents, ${wrong.length} wrong; exit ${exit.code}`,
      durationMs: Date.now() - started,
    });
    t.diagnostic(`${before} documents indexed before the outage; ${documents.size} after; exit ${exit.code} ${Math.round((Date.now() - stoppedAt) / 1000)} s after the outage began`);

    assert.ok(waited, `the job waited out the outage instead of ending: ${cli.stderrSoFar()}`);
    assert.equal(exit.code, 0, exit.stderr);
    assert.match(exit.stderr, /opensearch .*retrying in \d+ ms/i, 'the retries are logged');
    assert.ok(before < expected.length, 'the outage began before the last document');
    assert.ok(cassandra.exact, describeComparison(cassandra));
    assert.deepEqual(wrong, []);
    assert.equal(documents.size, expected.length, 'one document per result, no duplicates');
    for (const fields of types) {
      assert.equal(fields.window_start, 'date');
      assert.equal(fields.high_time, 'date');
      assert.equal(fields.count, 'long');
      assert.equal(fields.mean, 'double');
      assert.equal(fields.station, 'keyword');
      assert.equal(fields.location, 'geo_point');
    }
    assert.deepEqual(nearStations, input.some((row) => row.station === '9414290') ? ['9414290'] : []);
    assert.equal(unaccounted, 0);
  } finally {
    await proxy.stop();
    await opensearch('DELETE', `/${indices}-*`).catch(() => {});
    await opensearch('DELETE', `/_index_template/*${indices}*`).catch(() => {});
    await run.close();
  }
});
