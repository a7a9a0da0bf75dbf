import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as avro from 'avsc';
import { DecodeError, UsageError } from '../core/errors';
import type { Row } from '../core/batch';
import { AvroContainerWriter, readAvroContainerBlocks, readAvroContainerFile } from './avro-container';
import { loadAvroType, tideObservationSchemaPath } from './avro-schema';

const type = loadAvroType(tideObservationSchemaPath());
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tideflow-avro-'));

function sampleRows(n: number): Row[] {
  return Array.from({ length: n }, (_, i) => ({
    station: i % 2 === 0 ? '8454000' : '9414290',
    name: i % 2 === 0 ? 'Providence, State Pier no.1' : 'SAN FRANCISCO (Golden Gate)',
    lat: 41.8072,
    lon: -71.4007,
    t: Date.UTC(2024, 0, 1) + i * 360_000,
    v: i % 7 === 0 ? null : Math.round(Math.sin(i) * 1000) / 1000,
    s: i % 5 === 0 ? null : 0.01,
    f: i % 3 === 0 ? null : '0,0,0,0',
    q: 'p',
  }));
}

describe('avro container files', () => {
  it('round-trips through our writer and reader, with t as an epoch-ms number', async () => {
    const file = path.join(dir, 'roundtrip.avro');
    const rows = sampleRows(5000);
    const writer = new AvroContainerWriter(file, type, { codec: 'deflate', blockBytes: 4096 });
    for (const row of rows) writer.append(row);
    const { records, bytes } = writer.close();
    assert.equal(records, 5000);
    assert.equal(bytes, fs.statSync(file).size);
    const read = await readAvroContainerFile(file);
    assert.deepEqual(read.rows, rows);
    assert.equal(typeof read.rows[0].t, 'number');
    assert.equal(Object.getPrototypeOf(read.rows[0]), Object.prototype);
  });

  it('writes files avsc reads, and reads files avsc writes', async () => {
    const ours = path.join(dir, 'ours.avro');
    const rows = sampleRows(300);
    const writer = new AvroContainerWriter(ours, type, { codec: 'deflate', blockBytes: 1000 });
    for (const row of rows) writer.append(row);
    writer.close();
    const byAvsc: Row[] = await new Promise((resolve, reject) => {
      const out: Row[] = [];
      avro.createFileDecoder(ours).on('data', (r: Row) => out.push({ ...r })).on('end', () => resolve(out)).on('error', reject);
    });
    assert.deepEqual(byAvsc, rows);

    const theirs = path.join(dir, 'theirs.avro');
    await new Promise<void>((resolve, reject) => {
      const encoder = avro.createFileEncoder(theirs, type.schema() as avro.Schema, { codec: 'deflate', blockSize: 512 });
      encoder.on('error', reject);
      (encoder as unknown as NodeJS.EventEmitter).on('finish', () => setTimeout(resolve, 50));
      for (const row of rows) encoder.write(row);
      encoder.end();
    });
    assert.deepEqual((await readAvroContainerFile(theirs)).rows, rows);
  });

  it('skips whole blocks before skipBefore without decoding them', async () => {
    const file = path.join(dir, 'skip.avro');
    const writer = new AvroContainerWriter(file, type, { blockBytes: 500 });
    for (const row of sampleRows(400)) writer.append(row);
    writer.close();
    let decoded = 0;
    let skipped = 0;
    for await (const block of readAvroContainerBlocks(fs.createReadStream(file, { highWaterMark: 333 }), { skipBefore: 250 })) {
      if (block.rows.length === 0) skipped += block.count;
      else decoded += block.rows.length;
      assert.ok(block.rows.length === 0 || block.firstIndex + block.count > 250);
    }
    assert.ok(skipped > 0 && skipped <= 250);
    assert.equal(skipped + decoded, 400);
  });

  it('resolves the file schema to a reader schema (a field added with a default)', async () => {
    const v1 = avro.Type.forSchema({ type: 'record', name: 'noaa.coops.TideObservation', fields: [{ name: 'station', type: 'string' }, { name: 't', type: 'long' }] });
    const file = path.join(dir, 'v1.avro');
    const writer = new AvroContainerWriter(file, v1);
    writer.append({ station: 'a', t: 1 });
    writer.close();
    const reader = avro.Type.forSchema({ type: 'record', name: 'noaa.coops.TideObservation', fields: [{ name: 'station', type: 'string' }, { name: 't', type: 'long' }, { name: 'q', type: ['null', 'string'], default: null }] });
    assert.deepEqual((await readAvroContainerFile(file, { readerType: reader })).rows, [{ station: 'a', t: 1, q: null }]);
  });

  it('refuses files that are not Avro, and reports truncation', async () => {
    const notAvro = path.join(dir, 'not.avro');
    fs.writeFileSync(notAvro, '{"t":1}\n');
    await assert.rejects(readAvroContainerFile(notAvro), (e: unknown) => e instanceof UsageError && /bad magic bytes/.test(e.message));
    const good = path.join(dir, 'good.avro');
    const writer = new AvroContainerWriter(good, type, { codec: 'null' });
    for (const row of sampleRows(10)) writer.append(row);
    writer.close();
    const truncated = path.join(dir, 'truncated.avro');
    fs.writeFileSync(truncated, fs.readFileSync(good).subarray(0, fs.statSync(good).size - 20));
    await assert.rejects(readAvroContainerFile(truncated), (e: unknown) => e instanceof DecodeError && /^truncated Avro container: \d+ bytes after record 0 do not form a whole block$/.test(e.message));
  });

  it('reproduces the same bytes with a fixed sync marker', () => {
    const syncMarker = Buffer.alloc(16, 7);
    const write = (name: string) => {
      const file = path.join(dir, name);
      const writer = new AvroContainerWriter(file, type, { syncMarker });
      for (const row of sampleRows(100)) writer.append(row);
      writer.close();
      return fs.readFileSync(file);
    };
    assert.ok(write('a.avro').equals(write('b.avro')));
  });
});
