import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import type { Row } from '../core/batch';
import { ConsoleSink, InputSpans } from './console-sink';

const HOUR = 3_600_000;
const DAY0 = Date.UTC(2019, 0, 1);

/** A sink printing into a string. */
function consoleSink(spans?: InputSpans, rowsPerGroup = 2): { sink: ConsoleSink; text: () => string } {
  let text = '';
  const out = new Writable({
    write(chunk: Buffer, _encoding, done) {
      text += chunk.toString();
      done();
    },
  });
  const sink = new ConsoleSink({ format: 'table', groupBy: ['station'], rowsPerGroup, out, timestampFields: new Set(['t']), inputSpans: spans });
  return { sink, text: () => text };
}

/** Readings of `station` every hour from `fromHour` to `toHour` (hours after 2019-01-01T00:00Z). */
function readings(station: string, fromHour: number, toHour: number): Row[] {
  return Array.from({ length: toHour - fromHour + 1 }, (_, i) => ({ station, t: DAY0 + (fromHour + i) * HOUR, v: 1 }));
}

/** A 12-hour window row. */
function window(station: string, startHour: number, high: number, range: number): Row {
  return { station, window_start: new Date(DAY0 + startHour * HOUR), window_end: new Date(DAY0 + (startHour + 12) * HOUR), high, range };
}

test('one section per station with its labelled total, however the rows came in; a grand total', async () => {
  const { sink, text } = consoleSink(undefined, 1);
  await sink.open();
  // Rows of each station spread over many writes (the old table printed a section per 10,000 rows).
  for (let batch = 0; batch < 3; batch++) {
    const rows: Row[] = [];
    for (let i = 0; i < 6000; i++) rows.push({ station: i % 2 === 0 ? '8410140' : '8443970', t: DAY0 + (batch * 6000 + i) * HOUR, v: i % 7 });
    await sink.write(rows);
  }
  await sink.close();
  assert.equal(
    text(),
    '\n' +
      'station 8410140: 9,000 rows in total\n' +
      '                 t  v\n' +
      '  ----------------  -\n' +
      '  2019-01-01 00:00  0\n' +
      '  ... 8,999 more (all of them: --output FILE.jsonl or FILE.csv)\n' +
      '\n' +
      'station 8443970: 9,000 rows in total\n' +
      '                 t  v\n' +
      '  ----------------  -\n' +
      '  2019-01-01 01:00  1\n' +
      '  ... 8,999 more (all of them: --output FILE.jsonl or FILE.csv)\n' +
      '\n' +
      '2 stations, 18,000 rows in total\n',
  );
});

test('windows the input began or ended inside are marked, shown even past the first rows, and left out of the summary', async () => {
  // Station A: hourly from 03:00 on day 1 to 10:00 on day 2: it begins inside [00:00, 12:00) and ends inside [24:00, 36:00).
  // Station B: hourly from 00:00 to 23:00: its two windows are whole (the next reading, 24:00, is the next window's).
  const spans = new InputSpans(['station'], 't');
  spans.observe(readings('A', 3, 34));
  spans.observe(readings('B', 0, 23));
  const { sink, text } = consoleSink(spans, 1);
  await sink.open();
  await sink.write([window('A', 0, 2.5, 1.25), window('B', 0, 2.25, 2.75)]);
  await sink.write([window('A', 12, 3.5, 4.25), window('B', 12, 2.75, 2.25)]);
  await sink.write([window('A', 24, 9.5, 0.5)]);
  await sink.close();
  assert.equal(
    text(),
    '\n' +
      'station A: 3 windows in total, 2 partial (*); input 2019-01-01 03:00 .. 2019-01-02 10:00\n' +
      '  window_start      window_end         high  range\n' +
      '  ----------------  ----------------  -----  -----\n' +
      '* 2019-01-01 00:00  2019-01-01 12:00  2.500  1.250\n' +
      '  ... 1 more (all of them: --output FILE.jsonl or FILE.csv)\n' +
      '* 2019-01-02 00:00  2019-01-02 12:00  9.500  0.500\n' +
      '  summary of the 1 whole window: range 4.250..4.250 (mean 4.250); high 3.500..3.500 (mean 3.500)\n' +
      '\n' +
      'station B: 2 windows in total; input 2019-01-01 00:00 .. 2019-01-01 23:00\n' +
      '  window_start      window_end         high  range\n' +
      '  ----------------  ----------------  -----  -----\n' +
      '  2019-01-01 00:00  2019-01-01 12:00  2.250  2.750\n' +
      '  ... 1 more (all of them: --output FILE.jsonl or FILE.csv)\n' +
      '  summary of all 2 windows: range 2.250..2.750 (mean 2.500); high 2.250..2.750 (mean 2.500)\n' +
      '\n' +
      '2 stations, 5 windows in total, 2 partial\n' +
      '* partial: the input began or ended inside the window, so it holds fewer readings than a whole one; summaries leave it out\n',
  );
});

test('input spans: the usual spacing, not the odd gap; aligned data is whole; nothing is judged without spans or after aggregated input', () => {
  const spans = new InputSpans(['station'], 't');
  // Every 6 minutes from 00:00 to 23:54, one repeat and one reading out of order.
  const rows = Array.from({ length: 240 }, (_, i) => ({ station: 'S', t: DAY0 + i * 360_000 }));
  rows.splice(10, 0, { station: 'S', t: DAY0 + 9 * 360_000 });
  rows.splice(50, 0, { station: 'S', t: DAY0 + 3 * 360_000 });
  spans.observe(rows);
  assert.deepEqual(spans.span('S'), { first: DAY0, last: DAY0 + 239 * 360_000, spacing: 360_000 });
  const half = 1_800_000;
  assert.equal(spans.isPartial('S', DAY0, DAY0 + half), false, 'begins at the window start');
  assert.equal(spans.isPartial('S', DAY0 + 24 * HOUR - half, DAY0 + 24 * HOUR), false, 'the next reading would be the next window');
  assert.equal(spans.isPartial('S', DAY0 - HOUR, DAY0 + 11 * HOUR), true, 'a window reaching before the first reading');
  assert.equal(spans.isPartial('S', DAY0 + 23 * HOUR, DAY0 + 25 * HOUR), true, 'a window reaching past the last reading');
  assert.equal(spans.isPartial('unknown', DAY0, DAY0 + half), false);
  spans.markBlind();
  assert.equal(spans.isPartial('S', DAY0 - HOUR, DAY0 + 11 * HOUR), false);
});
