import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import fc from 'fast-check';
import type { FileSourceSpec } from '../config/job';
import type { RawBatch, Row } from '../core/batch';
import type { DeadLetter } from '../core/operator';
import { UsageError } from '../core/errors';
import { AvroContainerWriter } from '../codecs/avro-container';
import { loadAvroType, tideObservationSchemaPath } from '../codecs/avro-schema';
import { deadLetterRow, receivedOf } from '../codecs/dead-letter-row';
import { formatFromPath, openFileSource } from './file-source';
import * as fileSourceSpec from './file-source';
import type { FileSourceOptions } from './file-source';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const FIXTURES = path.join(ROOT, 'engine', 'codecs', 'fixtures');
const BUNDLED = path.join(ROOT, 'data', 'bundled', 'tides.avro');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tideflow-file-source-'));

interface Collected {
  batches: RawBatch[];
  rows: Row[];
  offsets: number[];
  deadLetters: DeadLetter[];
}

async function collect(spec: FileSourceSpec, options: FileSourceOptions): Promise<Collected> {
  const out: Collected = { batches: [], rows: [], offsets: [], deadLetters: [] };
  for await (const batch of openFileSource(spec, options)) {
    out.batches.push(batch);
    out.rows.push(...batch.rows!);
    out.offsets.push(...batch.offsets);
    out.deadLetters.push(...batch.deadLetters!);
  }
  return out;
}

/** Batches must tile the offset range: each starts where the previous ended. */
function assertContiguous(batches: RawBatch[], from: number): void {
  let expected = from;
  for (const batch of batches) {
    assert.equal(batch.source.fromOffset, expected);
    assert.ok(batch.source.toOffset > batch.source.fromOffset);
    expected = batch.source.toOffset;
  }
}

const JSONL_LINES = [
  '{"station":"8454000","t":"2020-09-24T04:18:00Z","v":1.2}',
  '{"station":"8454000","t":1600921440000,"v":null}',
  'not json',
  '',
  '{"station":"8454000","t":"soon"}',
  '{"station":"9414290","t":1600921080000,"v":0.5}',
  '[]',
  '{"station":"9414290","t":1600921440000,"v":0.6}',
];

describe('file source', () => {
  it('streams JSONL in batches, with dead letters at their line index', async () => {
    const file = path.join(dir, 'mixed.jsonl');
    fs.writeFileSync(file, JSONL_LINES.join('\n') + '\n');
    const out = await collect({ path: file, batchSize: 2 }, { fromOffset: 0 });
    assert.deepEqual(out.offsets, [0, 1, 5, 7]);
    assert.deepEqual(out.rows[0], { station: '8454000', t: 1600921080000, v: 1.2 });
    assert.deepEqual(out.deadLetters.map((d) => [d.offset, d.reason.replace(/^invalid JSON: .*/, 'invalid JSON')]), [
      [2, 'invalid JSON'],
      [4, 'field "t" is not a timestamp (epoch ms or ISO-8601): "soon"'],
      [6, 'expected a JSON object, got an array'],
    ]);
    assert.deepEqual(out.deadLetters[0], { payload: 'not json', reason: out.deadLetters[0].reason, partition: `file:${file}`, offset: 2, stage: 'decode', line: 3 });
    assertContiguous(out.batches, 0);
    assert.equal(out.batches.at(-1)!.source.toOffset, 8);
    assert.ok(out.batches.every((b) => b.rows!.length + b.deadLetters!.length <= 2));
  });

  it('remembers the line each row was read from, so a rejected row is dead-lettered as it was received', async () => {
    const file = path.join(dir, 'received.jsonl');
    fs.writeFileSync(file, JSONL_LINES.join('\r\n'));
    const partition = `file:${file}`;
    const received: Array<[number, string | Buffer | undefined, number | undefined]> = [];
    for await (const batch of openFileSource({ path: file, batchSize: 2 }, { fromOffset: 0 })) {
      // While the run processes a batch, what its rows were read from is known.
      const decoded = { offsets: batch.offsets, rows: batch.rows!, payloadAt: (i: number) => batch.received![i], lineOfOffsetZero: batch.lineOfOffsetZero };
      for (const [i, row] of batch.rows!.entries()) {
        const letter = { payload: row, reason: 'invalid', partition, offset: batch.offsets[i], stage: 'validate' };
        received.push([batch.offsets[i], receivedOf(letter, decoded)?.payload, deadLetterRow(letter, receivedOf(letter, decoded)).line as number]);
      }
    }
    assert.deepEqual(received, [
      [0, JSONL_LINES[0], 1],
      [1, JSONL_LINES[1], 2],
      [5, JSONL_LINES[5], 6],
      [7, JSONL_LINES[7], 8],
    ]);
  });

  it('gives CSV dead letters the line of the file they start on (the header is line 1)', async () => {
    const file = path.join(dir, 'lines.csv');
    fs.writeFileSync(file, 'station,name,t,v\n9414290,"Golden\nGate",0,oops\n\n9414290,x,60000,\n9414290,y,bad,1\n');
    const partition = `file:${file}`;
    let kept: string | Buffer | undefined;
    const out: Collected = { batches: [], rows: [], offsets: [], deadLetters: [] };
    for await (const batch of openFileSource({ path: file, batchSize: 10 }, { fromOffset: 0 })) {
      out.deadLetters.push(...batch.deadLetters!);
      const decoded = { offsets: batch.offsets, rows: batch.rows!, payloadAt: (i: number) => batch.received![i], lineOfOffsetZero: batch.lineOfOffsetZero };
      kept = receivedOf({ payload: batch.rows![0], reason: '', partition, offset: batch.offsets[0], stage: 'validate' }, decoded)?.payload;
    }
    assert.deepEqual(out.deadLetters.map((d) => deadLetterRow(d)), [
      { reason: 'column "v" is not a number: "oops"', stage: 'decode', partition, offset: 0, line: 2, payload: '9414290,"Golden\nGate",0,oops', payload_encoding: 'utf8' },
      { reason: 'column "t" is not a timestamp (epoch ms or ISO-8601): "bad"', stage: 'decode', partition, offset: 4, line: 6, payload: '9414290,y,bad,1', payload_encoding: 'utf8' },
    ]);
    assert.equal(kept, '9414290,x,60000,');
  });

  it('resuming from any offset gives the tail of a full read (JSONL, any batch size)', async () => {
    const file = path.join(dir, 'resume.jsonl');
    fs.writeFileSync(file, JSONL_LINES.join('\n'));
    const full = await collect({ path: file, batchSize: 1000 }, { fromOffset: 0 });
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: JSONL_LINES.length + 1 }), fc.integer({ min: 1, max: 5 }), async (from, batchSize) => {
        const tail = await collect({ path: file, batchSize }, { fromOffset: from });
        assert.deepEqual(tail.offsets, full.offsets.filter((o) => o >= from));
        assert.deepEqual(tail.rows, full.rows.filter((_, i) => full.offsets[i] >= from));
        assert.deepEqual(tail.deadLetters, full.deadLetters.filter((d) => d.offset >= from));
        assertContiguous(tail.batches, from);
      }),
      { numRuns: 40 },
    );
  });

  it('reads NOAA CSV with the station from the file name and units from the options', async () => {
    const file = path.join(FIXTURES, '8729108_2018-10_excerpt.csv');
    const out = await collect({ path: file, batchSize: 4 }, { fromOffset: 0, csv: { units: 'ft' } });
    assert.equal(out.rows.length, 6);
    assert.deepEqual(out.offsets, [0, 1, 2, 3, 4, 5]);
    assert.equal(out.rows[4].v, null);
    assert.equal(out.rows[0].v, 0.7379208);
    const tail = await collect({ path: file, batchSize: 4 }, { fromOffset: 3, csv: { units: 'ft' } });
    assert.deepEqual(tail.rows, out.rows.slice(3));
    // spec.station wins over the file name.
    const other = await collect({ path: path.join(FIXTURES, 'UNKNOWN-STATION_2016-10_excerpt.csv'), batchSize: 10, station: '9414290' }, { fromOffset: 0 });
    assert.deepEqual(other.rows.map((r) => [r.station, r.v]), [['9414290', 7.402], ['9414290', 7.414], ['9414290', 7.381]]);
  });

  it('refuses a station option where records name their own stations: it is not a filter', async () => {
    const jsonl = path.join(dir, 'stations.jsonl');
    fs.writeFileSync(jsonl, JSONL_LINES.join('\n'));
    const withColumn = path.join(dir, 'with-station-column.csv');
    fs.writeFileSync(withColumn, 'station,t,v\n9414290,0,1\n');
    const hint = `To keep one station, add a step: - filter: { when: "station == '9414290'" }`;
    const refused = (file: string, why: string) => (error: unknown) =>
      error instanceof UsageError &&
      error.message === `station 9414290 (--station, or station: in the file source) names the station of a CSV file that has none; ${file} ${why}. ${hint}`;
    // Avro and JSONL: refused before reading.
    assert.throws(() => openFileSource({ path: BUNDLED, batchSize: 10, station: '9414290' }, { fromOffset: 0 }), refused(BUNDLED, 'is an Avro file: its records name their own stations'));
    assert.throws(() => openFileSource({ path: jsonl, batchSize: 10, station: '9414290' }, { fromOffset: 0 }), refused(jsonl, 'is a JSONL file: its records name their own stations'));
    // A CSV file: once its header shows a station column.
    await assert.rejects(collect({ path: withColumn, batchSize: 10, station: '9414290' }, { fromOffset: 0 }), refused(withColumn, 'has a station column'));
    // Without the option all three read.
    assert.equal((await collect({ path: withColumn, batchSize: 10 }, { fromOffset: 0 })).rows.length, 1);
  });

  it('joins CSV records quoted across lines and keeps offsets at their first line', async () => {
    const file = path.join(dir, 'multiline.csv');
    fs.writeFileSync(file, 'station,name,t,v\r\n9414290,"Golden\nGate",0,1\r\n9414290,x,60000,oops\r\n9414290,y,120000,\r\n');
    const out = await collect({ path: file, batchSize: 10 }, { fromOffset: 0 });
    assert.deepEqual(out.offsets, [0, 3]);
    assert.equal(out.rows[0].name, 'Golden\nGate');
    assert.equal(out.rows[1].v, null);
    assert.deepEqual(out.deadLetters.map((d) => [d.offset, d.reason]), [[2, 'column "v" is not a number: "oops"']]);
  });

  it('reads the bundled Avro file and resumes mid-file', async () => {
    const spec = { path: BUNDLED, batchSize: 4096 };
    const full = await collect(spec, { fromOffset: 0 });
    assert.equal(full.rows.length, 81409);
    assert.equal(full.deadLetters.length, 0);
    assertContiguous(full.batches, 0);
    for (let i = 1; i < full.rows.length; i++) assert.ok((full.rows[i].t as number) >= (full.rows[i - 1].t as number));
    const tail = await collect({ ...spec, batchSize: 1000 }, { fromOffset: 50_001 });
    assert.equal(tail.rows.length, 81409 - 50_001);
    assert.deepEqual(tail.rows[0], full.rows[50_001]);
    assert.deepEqual(tail.rows.at(-1), full.rows.at(-1));
    assert.deepEqual(tail.offsets.slice(0, 3), [50_001, 50_002, 50_003]);
  });

  it('reads a truncated Avro file up to its last whole block; the torn tail is one dead letter with its byte range', async () => {
    const cut = path.join(dir, 'cut.avro');
    fs.writeFileSync(cut, fs.readFileSync(BUNDLED).subarray(0, 300_000));
    const full = await collect({ path: BUNDLED, batchSize: 4096 }, { fromOffset: 0 });
    const out = await collect({ path: cut, batchSize: 1000 }, { fromOffset: 0 });
    assert.equal(out.rows.length, 30_202);
    assert.deepEqual(out.rows, full.rows.slice(0, 30_202));
    assert.deepEqual(out.deadLetters, [
      {
        payload: null,
        reason:
          'truncated Avro container: the file ends inside a block (a block of 921 records by its count): ' +
          'bytes 298964 to 300000 (the last 1036 bytes) do not form a whole block; the 30202 records before them were read',
        partition: `file:${cut}`,
        offset: 30_202,
        stage: 'decode',
      },
    ]);
    assertContiguous(out.batches, 0);
    assert.equal(out.batches.at(-1)!.source.toOffset, 30_203);
    // Resuming after the tail reads nothing more.
    assert.equal((await collect({ path: cut, batchSize: 1000 }, { fromOffset: 30_203 })).batches.length, 0);
  });

  it('turns a corrupt Avro block into dead letters for exactly its records', async () => {
    const type = loadAvroType(tideObservationSchemaPath());
    const rows = Array.from({ length: 20 }, (_, i) => ({ station: 'x', name: 'y', lat: 0, lon: 0, t: i, v: null, s: null, f: null, q: null }));
    const file = path.join(dir, 'corrupt.avro');
    const writer = new AvroContainerWriter(file, type, { codec: 'null', blockBytes: 100, syncMarker: Buffer.alloc(16, 0xab) });
    for (const row of rows) writer.append(row);
    writer.close();
    // Find the first block: it follows the header, which ends with the sync marker.
    const bytes = fs.readFileSync(file);
    const headerEnd = bytes.indexOf(Buffer.alloc(16, 0xab)) + 16;
    let pos = headerEnd;
    const readLong = () => {
      let n = 0;
      let shift = 1;
      let byte: number;
      do {
        byte = bytes[pos++];
        n += (byte & 0x7f) * shift;
        shift *= 128;
      } while (byte & 0x80);
      return n / 2; // zig-zag of a non-negative number
    };
    const count = readLong();
    const size = readLong();
    assert.ok(count > 1 && count < 20);
    bytes.fill(0xff, pos, pos + size);
    fs.writeFileSync(file, bytes);
    const out = await collect({ path: file, batchSize: 7 }, { fromOffset: 0 });
    assert.deepEqual(out.deadLetters.map((d) => d.offset), Array.from({ length: count }, (_, i) => i));
    assert.ok(out.deadLetters.every((d) => d.reason.startsWith('corrupt Avro')));
    assert.deepEqual(out.rows, rows.slice(count));
    assert.deepEqual(out.offsets, rows.slice(count).map((r) => r.t));
  });

  describe('answers saved from NOAA\'s API', () => {
    const METADATA = '{"id":"8454000","name":"Providence","lat":"41.8072","lon":"-71.4007"}';
    const item = (t: string, v: string) => `{"t":"2019-01-01 ${t}","v":"${v}","s":"0.003","f":"0,0,0,0","q":"v"}`;
    const providence = { station: '8454000', name: 'Providence', lat: 41.8072, lon: -71.4007 };
    const row = (minute: number, v: number) => ({ ...providence, t: Date.UTC(2019, 0, 1, 0, minute), v, s: 0.003, f: '0,0,0,0', q: 'v' });
    const NO_DATA = 'No data was found. This product may not be offered at this station at the requested time.';

    it('reads one answer, pretty-printed or not: station from the metadata, numbers from strings, units as told', async () => {
      const file = path.join(dir, 'answer.json');
      fs.writeFileSync(file, `{"metadata":${METADATA},\n"data": [${item('00:00', '0.850')},\n${item('00:06', 'abc')},\n${item('00:12', '0.900')}]}\n`);
      const out = await collect({ path: file, batchSize: 2, units: 'm' }, { fromOffset: 0 });
      // What could not be read first, then the observations by event time.
      assert.deepEqual(out.deadLetters.map((d) => deadLetterRow(d)), [
        {
          reason: 'element 1 of the answer: field "v" is not a number: "abc"',
          stage: 'decode',
          partition: `file:${file}`,
          offset: 0,
          line: null,
          payload: item('00:06', 'abc'),
          payload_encoding: 'utf8',
        },
      ]);
      assert.deepEqual(out.rows, [row(0, 0.85), row(12, 0.9)]);
      assert.deepEqual(out.offsets, [1, 2]);
      assertContiguous(out.batches, 0);
      // A row rejected later (validation) is dead-lettered as the element NOAA sent.
      for await (const batch of openFileSource({ path: file, batchSize: 10, units: 'm' }, { fromOffset: 0 })) {
        const letter = { payload: batch.rows![1], reason: 'invalid', partition: `file:${file}`, offset: batch.offsets[1], stage: 'validate' };
        const decoded = { offsets: batch.offsets, rows: batch.rows!, payloadAt: (i: number) => batch.received![i], lineOfOffsetZero: batch.lineOfOffsetZero };
        assert.equal(deadLetterRow(letter, receivedOf(letter, decoded)).payload, item('00:12', '0.900'));
      }
      const inFeet = await collect({ path: file, batchSize: 10, units: 'ft' }, { fromOffset: 2 });
      assert.deepEqual(inFeet.rows.map((r) => r.v), [0.27432]);
    });

    it('needs the units, and refuses a file that is nothing but NOAA\'s error answer, in NOAA\'s words', async () => {
      const file = path.join(dir, 'no-units.json');
      fs.writeFileSync(file, `{"metadata":${METADATA},"data":[${item('00:00', '0.850')}]}`);
      assert.throws(
        () => openFileSource({ path: file, batchSize: 10 }, { fromOffset: 0 }),
        (e: unknown) => e instanceof UsageError && e.message.startsWith(`${file}: answers of NOAA's API do not say the units of their water levels`) && e.message.endsWith('Say which: --units m or --units ft (units: in the job\'s file source)'),
      );
      const refusal = path.join(dir, 'refusal.json');
      fs.writeFileSync(refusal, `{"error": {"message":" ${NO_DATA}"}}\n\n`);
      await assert.rejects(collect({ path: refusal, batchSize: 10, units: 'm' }, { fromOffset: 0 }), (e: unknown) => e instanceof UsageError && e.message === `${refusal} is NOAA's error answer, not observations: NOAA CO-OPS API error: ${NO_DATA}`);
      const page = path.join(dir, 'page.json');
      fs.writeFileSync(page, '<!DOCTYPE html>\n<html><body>Scheduled maintenance</body></html>\n');
      await assert.rejects(collect({ path: page, batchSize: 10, units: 'm' }, { fromOffset: 0 }), (e: unknown) => e instanceof UsageError && e.message.startsWith(`${page} cannot be read as an answer of NOAA's API: the answer is HTML or XML`));
    });

    it('reads one answer per line; an error answer among them is a dead letter with NOAA\'s message', async () => {
      const file = path.join(dir, 'answers.jsonl');
      fs.writeFileSync(file, [`{"metadata":${METADATA},"data":[${item('00:06', '0.860')}]}`, `{"error": {"message":" ${NO_DATA}"}}`, `{"metadata":${METADATA},"data":[${item('00:00', '0.850')}]}`].join('\n'));
      const out = await collect({ path: file, batchSize: 10, units: 'm' }, { fromOffset: 0 });
      assert.deepEqual(out.deadLetters.map((d) => [d.offset, d.reason]), [[0, `line 2: NOAA CO-OPS API error: ${NO_DATA}`]]);
      assert.deepEqual(out.rows, [row(0, 0.85), row(6, 0.86)]);
    });

    it('reads predictions (no metadata) for the station named, with its facts from an option or a table', async () => {
      const file = path.join(dir, 'predictions.json');
      fs.writeFileSync(file, '{"predictions":[{"t":"2019-01-01 00:00","v":"1.234"}]}');
      const read = async (spec: Partial<FileSourceSpec>) => (await collect({ path: file, batchSize: 10, units: 'm', ...spec }, { fromOffset: 0 })).rows[0];
      assert.deepEqual(await read({ station: '8454000' }), { station: '8454000', name: 'Providence, State Pier no.1', lat: 41.8072, lon: -71.4007, t: Date.UTC(2019, 0, 1), v: 1.234, s: null, f: null, q: null });
      assert.equal((await read({ station: '8454000', stationInfo: { name: 'Fox Point', lat: 41.81, lon: -71.4 } })).name, 'Fox Point');
      await assert.rejects(read({}), (e: unknown) => e instanceof UsageError && /names no station/.test(e.message));
    });

    it('reads a directory of answers in event-time order, whatever order they were saved in', async () => {
      const answers = path.join(dir, 'answers');
      fs.mkdirSync(answers);
      fs.writeFileSync(path.join(answers, 'a.json'), `{"metadata":${METADATA},"data":[${item('00:06', '0.860')},${item('00:12', '0.870')}]}`);
      fs.writeFileSync(path.join(answers, 'b.json'), `{"metadata":${METADATA},"data":[${item('00:00', '0.850')}]}`);
      fs.writeFileSync(path.join(answers, 'c.json'), `{"error": {"message":" ${NO_DATA}"}}`);
      fs.writeFileSync(path.join(answers, 'README.md'), 'answers saved by hand');
      const out = await collect({ path: answers, batchSize: 2, units: 'm' }, { fromOffset: 0 });
      assert.deepEqual(out.deadLetters.map((d) => [d.offset, d.partition, d.reason]), [[0, `file:${answers}`, `c.json: NOAA CO-OPS API error: ${NO_DATA}`]]);
      assert.deepEqual(out.rows, [row(0, 0.85), row(6, 0.86), row(12, 0.87)]);
      assert.deepEqual(out.offsets, [1, 2, 3]);
      const tail = await collect({ path: answers, batchSize: 2, units: 'm' }, { fromOffset: 2 });
      assert.deepEqual(tail.rows, [row(6, 0.86), row(12, 0.87)]);
      // Records among the answers: refused, not guessed at.
      fs.writeFileSync(path.join(answers, 'd.json'), JSONL_LINES[0]);
      assert.throws(() => openFileSource({ path: answers, batchSize: 2, units: 'm' }, { fromOffset: 0 }), (e: unknown) => e instanceof UsageError && e.message.startsWith(`${answers} holds d.json, which is not an answer saved from NOAA's API`));
    });
  });

  it('takes station facts and a stations file in the job file, and reports a malformed station where it is written', () => {
    const context = { job: 'j' };
    assert.deepEqual(fileSourceSpec.normalize({ path: 'x.csv', station: '9454460,Columbia Glacier,61.0233,-147.085', stations: 'stations.csv', units: 'ft' }, context), {
      path: 'x.csv',
      format: 'csv',
      station: '9454460',
      stationInfo: { name: 'Columbia Glacier', lat: 61.0233, lon: -147.085 },
      stations: 'stations.csv',
      units: 'ft',
      batchSize: 4096,
    });
    // A .json file's content says whether it holds records or NOAA answers.
    assert.equal(fileSourceSpec.normalize({ path: 'answer.json' }, context).format, undefined);
    const reported: Array<[ReadonlyArray<string | number>, string]> = [];
    const reporter = { atValue: (at: ReadonlyArray<string | number>, message: string) => reported.push([at, message]), atKey: () => {}, atOwner: () => {} };
    fileSourceSpec.check({ path: 'x.csv', station: '9454460,Columbia Glacier' }, reporter);
    fileSourceSpec.check({ path: dir }, reporter);
    assert.deepEqual(reported, [[['station'], 'station "9454460,Columbia Glacier" has 2 fields; give the station id, or id,name,lat,lon (e.g. "9454460,Columbia Glacier,61.0233,-147.085")']]);
  });

  it('picks the format from the extension, and says what to do when it cannot', () => {
    assert.equal(formatFromPath('a/b.NDJSON'), 'jsonl');
    assert.equal(formatFromPath('x.csv'), 'csv');
    assert.throws(() => formatFromPath('x.parquet'), (e: unknown) => e instanceof UsageError && /use \.jsonl/.test(e.message));
    assert.throws(() => openFileSource({ path: path.join(dir, 'missing.jsonl'), batchSize: 1 }, { fromOffset: 0 }), /input file not found/);
  });
});
