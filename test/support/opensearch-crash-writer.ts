// A stand-in for a job writing to the OpenSearch sink, for the SIGKILL test
// (test/integration/opensearch-crash.test.ts): it writes the rows of a JSON
// file (crashWriterRows, saved by the test) in batches, and after every
// CHECKPOINT_EVERY rows flushes the sink and only then records the next row
// to write in a checkpoint file, exactly the order the runtime follows. A
// restart resumes from that row: what the killed run wrote after its last
// checkpoint is written again.
//
//   node dist/test/support/opensearch-crash-writer.js <index> <checkpoint-file> <rows.json>
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import type { Row } from '../../engine/core/batch';
import { OpenSearchSink } from '../../engine/sinks/opensearch-sink';
import { LUNAR_DAY_SEARCH_FIELDS, lunarDayRows, opensearchUrl } from './opensearch';

const BATCH = 50;
const CHECKPOINT_EVERY = 500;

/** The rows every run writes, in the same order. */
export async function crashWriterRows(copies: number): Promise<Row[]> {
  const rows = await lunarDayRows();
  const all: Row[] = [];
  for (let copy = 0; copy < copies; copy++) for (const row of rows) all.push({ ...row, station: `${row.station as string}-${copy}` });
  return all;
}

const TIMESTAMP_FIELDS = ['window_start', 'window_end', 'high_time', 'low_time'];

/** Rows saved with JSON.stringify, their timestamps Dates again (as the window step emits them). */
export function readRowsFile(path: string): Row[] {
  const rows = JSON.parse(readFileSync(path, 'utf8')) as Row[];
  for (const row of rows) for (const field of TIMESTAMP_FIELDS) row[field] = new Date(row[field] as string);
  return rows;
}

async function main(): Promise<void> {
  const [index, checkpointFile, rowsFile] = process.argv.slice(2);
  const rows = readRowsFile(rowsFile);
  let next = existsSync(checkpointFile) ? Number(readFileSync(checkpointFile, 'utf8')) : 0;
  const sink = new OpenSearchSink(
    { nodes: [opensearchUrl()], index, fieldTypes: {}, createIndex: true, replicas: 0, bulkDocuments: 200, bulkBytes: 1024 * 1024, concurrency: 2, requestTimeoutMs: 10_000 },
    'main',
    { timestampFields: new Set(), fields: LUNAR_DAY_SEARCH_FIELDS, idFields: ['station', 'window_start'] },
  );
  await sink.open();
  // The parent times its SIGKILL from here, so it lands while documents are being indexed.
  process.stdout.write(`indexing from row ${next}\n`);
  let sinceCheckpoint = 0;
  while (next < rows.length) {
    const batch = rows.slice(next, next + BATCH);
    await sink.write(batch);
    next += batch.length;
    sinceCheckpoint += batch.length;
    if (sinceCheckpoint >= CHECKPOINT_EVERY || next === rows.length) {
      await sink.flush();
      writeFileSync(`${checkpointFile}.tmp`, String(next));
      renameSync(`${checkpointFile}.tmp`, checkpointFile);
      sinceCheckpoint = 0;
      process.stdout.write(`checkpoint ${next}\n`);
    }
  }
  await sink.close();
  process.stdout.write('done\n');
}

if (require.main === module) {
  main().catch((error: unknown) => {
    process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
    process.exit(1);
  });
}
