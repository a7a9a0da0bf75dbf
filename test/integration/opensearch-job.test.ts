// The tides-lunar-day job run by the engine (runJob, checkpoints every 50 ms)
// on the bundled data, its results going to a JSONL file and to OpenSearch
// at once through a FanOutSink, as `sink:` as a list will once the job
// schema takes it: both equal the plain computation.
//
//   set -a; . .cluster/env; set +a; node --test dist/test/integration/opensearch-job.test.js
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadJobFile } from '../../engine/jobfile';
import { assemble } from '../../engine/jobfile/assemble';
import { runJob } from '../../engine/runtime/run-job';
import { FanOutSink } from '../../engine/sinks/fan-out-sink';
import { OpenSearchSink } from '../../engine/sinks/opensearch-sink';
import { expectedLunarDays, readBundled } from '../support/plain';
import { allDocuments, LUNAR_DAY_SEARCH_FIELDS, opensearchUrl, requireOpenSearch, scratchIndices } from '../support/opensearch';
import { BUNDLED, job, readJsonl, temporaryDirectory } from '../support/run-local';

const scratch = scratchIndices();

test('tides-lunar-day through the engine into OpenSearch and a JSONL file at once: both equal the plain computation', async (t) => {
  if (!(await requireOpenSearch(t))) return;
  const index = scratch.index('job');
  const dir = temporaryDirectory();
  const output = join(dir, 'out.jsonl');
  const parts = await assemble(loadJobFile(job('tides-lunar-day')), { input: BUNDLED, output, checkpointDir: join(dir, 'checkpoints'), checkpointIntervalMs: 50, batchSize: 2000 });
  const search = new OpenSearchSink(
    { nodes: [opensearchUrl()], index, fieldTypes: {}, createIndex: true, replicas: 0, bulkDocuments: 500, bulkBytes: 1024 * 1024, concurrency: 2, requestTimeoutMs: 10_000 },
    'main',
    {
      timestampFields: new Set(['t']),
      // What the engine will derive from the window step: key, bounds, aggregates (counts long, times timestamps).
      fields: LUNAR_DAY_SEARCH_FIELDS.filter((field) => field.name !== 'lat' && field.name !== 'lon'),
      idFields: ['station', 'window_start'],
      log: (line) => t.diagnostic(line),
    },
  );
  parts.sinks.set('main', new FanOutSink([parts.sinks.get('main')!, search]));
  const result = await runJob(parts);
  t.diagnostic(`${result.rowsBySink.main} rows`);

  const expected = expectedLunarDays(await readBundled());
  const fromFile = readJsonl(output);
  const documents = await allDocuments(index);
  assert.equal(fromFile.length, expected.length);
  assert.equal(documents.size, expected.length);
  assert.equal(search.documentsIndexed, expected.length);
  for (const row of expected) {
    const id = `${row.station as string}|${row.window_start as string}`;
    const document = documents.get(id);
    assert.ok(document, id);
    // Sums in another order may differ in the last bits: mean within 1e-9, everything else exact.
    assert.ok(Math.abs((document.mean as number) - (row.mean as number)) <= 1e-9, `mean of ${id}`);
    assert.deepEqual({ ...document, mean: 0 }, { ...row, mean: 0 }, id);
  }
  // The document and the JSONL line of each result are the same values.
  for (const line of fromFile) assert.deepEqual(documents.get(`${line.station as string}|${line.window_start as string}`), line);
});
