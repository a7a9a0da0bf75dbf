import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readAvscFields, readContainerFields } from './avro-fields';

const schema = {
  type: 'record',
  name: 'TideObservation',
  namespace: 'noaa.coops',
  fields: [
    { name: 'station', type: 'string' },
    { name: 't', type: { type: 'long', logicalType: 'timestamp-millis' } },
    { name: 'v', type: ['null', 'double'], default: null },
  ],
};

/** A minimal object container header: magic, metadata map, sync marker (no blocks needed). */
function containerHeader(schemaJson: string): Buffer {
  const long = (n: number) => {
    let zigzag = n >= 0 ? n * 2 : -n * 2 - 1;
    const bytes: number[] = [];
    do {
      let byte = zigzag % 128;
      zigzag = Math.floor(zigzag / 128);
      if (zigzag > 0) byte |= 0x80;
      bytes.push(byte);
    } while (zigzag > 0);
    return Buffer.from(bytes);
  };
  const bytes = (b: Buffer) => Buffer.concat([long(b.length), b]);
  return Buffer.concat([
    Buffer.from('Obj\x01', 'latin1'),
    long(2),
    bytes(Buffer.from('avro.codec')),
    bytes(Buffer.from('null')),
    bytes(Buffer.from('avro.schema')),
    bytes(Buffer.from(schemaJson)),
    long(0),
    Buffer.alloc(16, 7),
  ]);
}

const TYPES = { station: 'string', t: 'timestamp', v: 'number' };

test('reads the field names of a reader schema file, and what expressions see in them', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tideflow-avro-'));
  writeFileSync(join(dir, 'x.avsc'), JSON.stringify(schema));
  assert.deepEqual(readAvscFields('x.avsc', dir), { ok: true, record: { name: 'noaa.coops.TideObservation', fields: ['station', 't', 'v'], types: TYPES } });
  const more = {
    type: 'record',
    name: 'R',
    fields: [
      { name: 'micros', type: { type: 'long', logicalType: 'timestamp-micros' } },
      { name: 'flag', type: ['null', 'boolean'] },
      { name: 'kind', type: { type: 'enum', name: 'K', symbols: ['A'] } },
      { name: 'either', type: ['string', 'double'] },
      { name: 'count', type: 'int' },
      { name: 'constructor', type: 'constructor' },
    ],
  };
  writeFileSync(join(dir, 'more.avsc'), JSON.stringify(more));
  const read = readAvscFields('more.avsc', dir);
  assert.deepEqual(read.ok && read.record.types, { micros: 'unknown', flag: 'boolean', kind: 'string', either: 'unknown', count: 'number', constructor: 'unknown' });
});

test('says why a reader schema cannot be used', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tideflow-avro-'));
  writeFileSync(join(dir, 'bad.avsc'), '{ not json');
  writeFileSync(join(dir, 'enum.avsc'), JSON.stringify({ type: 'enum', name: 'E', symbols: ['A'] }));
  const missing = readAvscFields('absent.avsc', dir);
  assert.equal(missing.ok, false);
  if (!missing.ok) assert.match(missing.message, /cannot read reader schema 'absent.avsc': no such file/);
  const bad = readAvscFields('bad.avsc', dir);
  assert.equal(!bad.ok && bad.message.startsWith("reader schema 'bad.avsc' is not valid JSON"), true);
  const notRecord = readAvscFields('enum.avsc', dir);
  assert.equal(!notRecord.ok && notRecord.message.includes('must be an Avro record schema'), true);
});

test("a relative reader schema path starts at the job file's directory; one the working directory has gets the path to write", () => {
  // project/schemas/x.avsc and project/jobs/job.yaml.
  const project = mkdtempSync(join(tmpdir(), 'tideflow-project-'));
  const elsewhere = mkdtempSync(join(tmpdir(), 'tideflow-elsewhere-'));
  mkdirSync(join(project, 'schemas'));
  mkdirSync(join(project, 'jobs'));
  writeFileSync(join(project, 'schemas', 'x.avsc'), JSON.stringify(schema));
  const jobDir = join(project, 'jobs');
  // From the job file's directory it reads, whatever the working directory.
  assert.equal(readAvscFields('../schemas/x.avsc', jobDir, elsewhere).ok, true);
  // Written as from the project directory, and run from there: the path to write instead.
  assert.deepEqual(readAvscFields('schemas/x.avsc', jobDir, project), {
    ok: false,
    message: `cannot read reader schema 'schemas/x.avsc': no such file (relative paths in a job file start at the job file's directory, jobs; the working directory has 'schemas/x.avsc': write it as ../schemas/x.avsc)`,
  });
  // Nowhere to be found: the rule alone, the directory absolute when it is outside the working directory.
  assert.deepEqual(readAvscFields('schemas/x.avsc', jobDir, elsewhere), {
    ok: false,
    message: `cannot read reader schema 'schemas/x.avsc': no such file (relative paths in a job file start at the job file's directory, ${jobDir})`,
  });
  // An absolute path: no rule at all.
  const absolute = join(elsewhere, 'absent.avsc');
  assert.deepEqual(readAvscFields(absolute, jobDir, project), { ok: false, message: `cannot read reader schema '${absolute}': no such file` });
});

test('reads the writer schema from an Avro container header, and ignores files that are not one', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tideflow-avro-'));
  writeFileSync(join(dir, 'data.avro'), containerHeader(JSON.stringify(schema)));
  writeFileSync(join(dir, 'text.avro'), 'station,t,v\n');
  assert.deepEqual(readContainerFields('data.avro', dir), { name: 'noaa.coops.TideObservation', fields: ['station', 't', 'v'], types: TYPES });
  assert.equal(readContainerFields('text.avro', dir), undefined);
  assert.equal(readContainerFields('absent.avro', dir), undefined);
});
