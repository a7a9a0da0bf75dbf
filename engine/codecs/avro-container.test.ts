import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as avro from 'avsc';
import { DecodeError, UsageError } from '../core/errors';
import type { Row } from '../core/batch';
import { AvroContainerWriter, readAvroContainerBlocks, readAvroContainerFile, type ContainerBlock } from './avro-container';
import { loadAvroType, tideObservationSchemaPath } from './avro-schema';

const type = loadAvroType(tideObservationSchemaPath());
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tideflow-avro-'));

/** A buffer as a stream of chunks of 97 bytes (a prime: blocks straddle chunks every which way). */
async function* chunks(bytes: Buffer): AsyncGenerator<Buffer> {
  for (let i = 0; i < bytes.length; i += 97) yield bytes.subarray(i, i + 97);
}

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

  it('refuses files that are not Avro', async () => {
    const notAvro = path.join(dir, 'not.avro');
    fs.writeFileSync(notAvro, '{"t":1}\n');
    await assert.rejects(readAvroContainerFile(notAvro), (e: unknown) => e instanceof UsageError && /bad magic bytes/.test(e.message));
  });

  it('reads every whole block of a truncated file, then reports the torn tail with its byte range', async () => {
    const good = path.join(dir, 'good.avro');
    const rows = sampleRows(10);
    const writer = new AvroContainerWriter(good, type, { codec: 'null', blockBytes: 200 });
    for (const row of rows) writer.append(row);
    // Blocks already flushed: the last one is written by close().
    const tailStart = writer.bytesWritten;
    writer.close();
    const whole: ContainerBlock[] = [];
    for await (const block of readAvroContainerBlocks(fs.createReadStream(good))) whole.push(block);
    assert.ok(whole.length >= 3, `${whole.length} blocks`);
    const size = fs.statSync(good).size;
    const truncated = path.join(dir, 'truncated.avro');
    // Cut 20 bytes into the last block's data: its count and size still read, its data and sync marker do not.
    fs.writeFileSync(truncated, fs.readFileSync(good).subarray(0, size - 20));
    const blocks: ContainerBlock[] = [];
    for await (const block of readAvroContainerBlocks(fs.createReadStream(truncated, { highWaterMark: 64 }))) blocks.push(block);
    const lastWhole = whole.at(-1)!;
    assert.deepEqual(blocks.slice(0, -1), whole.slice(0, -1));
    const tail = blocks.at(-1)!;
    assert.deepEqual(tail, {
      firstIndex: lastWhole.firstIndex,
      count: 1,
      rows: [],
      corruptFrom: 0,
      reason:
        `truncated Avro container: the file ends inside a block (a block of ${lastWhole.count} records by its count): ` +
        `bytes ${tailStart} to ${size - 20} (the last ${size - 20 - tailStart} bytes) do not form a whole block; the ${lastWhole.firstIndex} records before them were read`,
      torn: { fromByte: tailStart, toByte: size - 20 },
    });
    // Read whole, a truncated file is still an error (tools that need every record).
    await assert.rejects(readAvroContainerFile(truncated), (e: unknown) => e instanceof DecodeError && e.message.startsWith(`${truncated}: truncated Avro container: the file ends inside a block`));
    // Cut inside the header: nothing can be read.
    fs.writeFileSync(truncated, fs.readFileSync(good).subarray(0, 30));
    await assert.rejects(readAvroContainerFile(truncated), (e: unknown) => e instanceof DecodeError && e.message === 'truncated Avro container: the file ends inside its header');
  });

  it('at any cut, yields exactly the blocks that end before it, and a torn tail unless it falls between blocks', async () => {
    const file = path.join(dir, 'cuts.avro');
    const writer = new AvroContainerWriter(file, type, { codec: 'deflate', blockBytes: 200 });
    // File positions where blocks end (the first one: the end of the header).
    const boundaries = [writer.bytesWritten];
    for (const row of sampleRows(24)) {
      writer.append(row);
      if (writer.bytesWritten !== boundaries.at(-1)) boundaries.push(writer.bytesWritten);
    }
    writer.close();
    const bytes = fs.readFileSync(file);
    if (boundaries.at(-1) !== bytes.length) boundaries.push(bytes.length);
    const whole: ContainerBlock[] = [];
    for await (const block of readAvroContainerBlocks(chunks(bytes))) whole.push(block);
    assert.equal(whole.length, boundaries.length - 1);
    for (let cut = boundaries[0]; cut <= bytes.length; cut++) {
      const blocks: ContainerBlock[] = [];
      for await (const block of readAvroContainerBlocks(chunks(bytes.subarray(0, cut)))) blocks.push(block);
      const complete = boundaries.filter((end) => end <= cut).length - 1;
      assert.deepEqual(blocks.slice(0, complete), whole.slice(0, complete), `cut at ${cut}`);
      if (boundaries.includes(cut)) {
        assert.equal(blocks.length, complete, `cut at ${cut}`);
      } else {
        assert.equal(blocks.length, complete + 1, `cut at ${cut}`);
        const tail = blocks.at(-1)!;
        assert.deepEqual(tail.torn, { fromByte: boundaries[complete], toByte: cut });
        assert.equal(tail.firstIndex, complete === 0 ? 0 : whole[complete - 1].firstIndex + whole[complete - 1].count);
      }
    }
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
