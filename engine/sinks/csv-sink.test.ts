import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { UsageError } from '../core/errors';
import type { Row } from '../core/batch';
import { CsvSink, csvLine } from './csv-sink';

const options = { timestampFields: new Set(['t']) };

function file(): string {
  return join(mkdtempSync(join(tmpdir(), 'tideflow-csv-')), 'out', 'rows.csv');
}

/** A reference RFC 4180 reader for the tests: records of fields, quoted fields may hold commas, quotes and line breaks. */
function parseCsv(text: string): string[][] {
  const records: string[][] = [];
  let record: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const char = text[i];
    if (quoted) {
      if (char === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (char === '"') quoted = false;
      else field += char;
    } else if (char === '"') quoted = true;
    else if (char === ',') {
      record.push(field);
      field = '';
    } else if (char === '\r' && text[i + 1] === '\n') {
      record.push(field);
      records.push(record);
      record = [];
      field = '';
      i++;
    } else field += char;
  }
  assert.equal(field === '' && record.length === 0, true, 'the text ends with a whole record and CRLF');
  return records;
}

test('a header, then one CRLF line per row: ISO timestamps with milliseconds, empty nulls, RFC 4180 quoting', async () => {
  const path = file();
  const sink = new CsvSink(path, options);
  await sink.open();
  await sink.write([
    { station: '8454000', name: 'Providence, RI', t: Date.UTC(2020, 8, 24, 4, 18), window_end: new Date(Date.UTC(2020, 8, 24, 4, 30)), v: 1.25, s: null, q: 'say "v"' },
    { station: '8454000', name: 'two\nlines', t: 0, window_end: new Date(0), v: Number.NaN, s: -0.5, q: '' },
  ]);
  await sink.write([{ station: '9414290', name: 'San Francisco', t: 1, window_end: null, v: 0, s: 2e-7, q: true, extra: undefined } as Row]);
  await sink.close();
  assert.equal(
    readFileSync(path, 'utf8'),
    'station,name,t,window_end,v,s,q\r\n' +
      '8454000,"Providence, RI",2020-09-24T04:18:00.000Z,2020-09-24T04:30:00.000Z,1.25,,"say ""v"""\r\n' +
      '8454000,"two\nlines",1970-01-01T00:00:00.000Z,1970-01-01T00:00:00.000Z,,-0.5,\r\n' +
      '9414290,San Francisco,1970-01-01T00:00:00.001Z,,0,2e-7,true\r\n',
  );
  assert.equal(sink.rows, 3);
});

test('a row with a field the header does not have stops the run, naming it', async () => {
  const sink = new CsvSink(file(), options);
  await sink.open();
  await sink.write([{ station: '1', v: 1 }]);
  await sink.flush();
  await sink.write([{ station: '2', v: 2, alert: true }]);
  await assert.rejects(sink.flush(), (error: unknown) => {
    assert.ok(error instanceof UsageError);
    assert.match(error.message, /a row has the field 'alert', which is not among the columns of its header \(station, v\)/);
    return true;
  });
});

test('resuming from a checkpointed position truncates what came after and keeps the header: a crash duplicates nothing', async () => {
  const rows = (from: number, to: number): Row[] => Array.from({ length: to - from }, (_, i) => ({ station: 's', t: (from + i) * 60_000, v: from + i }));
  // Uninterrupted: 0-10, checkpoint, 10-20, checkpoint.
  const reference = file();
  const clean = new CsvSink(reference, options);
  await clean.open();
  await clean.write(rows(0, 10));
  await clean.flush();
  await clean.write(rows(10, 20));
  await clean.close();
  // Crashed after writing 10-15 past the first checkpoint; the replay writes 10-20 again.
  const path = file();
  const first = new CsvSink(path, options);
  await first.open();
  await first.write(rows(0, 10));
  await first.flush();
  const checkpointed = first.position();
  await first.write(rows(10, 15));
  await first.close();
  assert.deepEqual(checkpointed, { length: 'station,t,v\r\n'.length + 10 * 'x,1970-01-01T00:00:00.000Z,0\r\n'.length, columns: ['station', 't', 'v'] });
  const second = new CsvSink(path, options);
  await second.open(JSON.parse(JSON.stringify(checkpointed)));
  // Opening cuts the lines written after the checkpoint: rows 10-14 are gone until the replay writes them.
  assert.equal(readFileSync(path, 'utf8'), readFileSync(reference, 'utf8').slice(0, (checkpointed as { length: number }).length));
  await second.write(rows(10, 20));
  await second.close();
  assert.equal(readFileSync(path, 'utf8'), readFileSync(reference, 'utf8'));
  // A checkpoint taken before any row: no header yet, and the resumed run writes it.
  const empty = file();
  const before = new CsvSink(empty, options);
  await before.open();
  await before.flush();
  assert.deepEqual(before.position(), { length: 0 });
  await before.close();
  const after = new CsvSink(empty, options);
  await after.open({ length: 0 });
  await after.write(rows(0, 1));
  await after.close();
  assert.equal(readFileSync(empty, 'utf8'), 'station,t,v\r\ns,1970-01-01T00:00:00.000Z,0\r\n');
});

test('property: any text survives the quoting (a reference RFC 4180 reader reads the fields back)', () => {
  const text = fc.string({ unit: fc.constantFrom('a', 'b', ',', '"', '\r', '\n', ' ', 'é', '😀'), maxLength: 12 });
  fc.assert(
    fc.property(fc.array(fc.array(text, { minLength: 1, maxLength: 5 }), { minLength: 1, maxLength: 8 }), (records) => {
      const width = records[0].length;
      const rectangular = records.map((record) => Array.from({ length: width }, (_, i) => record[i] ?? ''));
      const written = rectangular.map((record) => csvLine(record) + '\r\n').join('');
      // One empty field alone on a line reads back as an empty line: RFC 4180 cannot tell them apart either.
      fc.pre(!rectangular.some((record) => record.length === 1 && record[0] === ''));
      assert.deepEqual(parseCsv(written), rectangular);
    }),
    { numRuns: 500 },
  );
});
