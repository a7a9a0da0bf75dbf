import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import fc from 'fast-check';
import { DecodeError } from '../core/errors';
import { NoaaApiError, isNoaaAnswer, isNoDataMessage, parseNoaaAnswer, parseNoaaCsv, parseNoaaJson, parseNoaaTime, splitSavedAnswers } from './noaa-api';

const PROVIDENCE = { id: '8454000', name: 'Providence', lat: 41.8072, lon: -71.4007 };
const METADATA = '{"id":"8454000","name":"Providence","lat":"41.8072","lon":"-71.4007"}';
const NO_DATA = 'No data was found. This product may not be offered at this station at the requested time.';

describe('NOAA API codec: JSON', () => {
  it('reads water_level answers: numbers and times from strings, the station from the metadata', () => {
    const body = `{"metadata":${METADATA},"data":[` +
      '{"t":"2019-01-01 00:00","v":"0.850","s":"0.003","f":"0,0,0,0","q":"v"},' +
      '{"t":"2019-01-01 00:06","v":"","s":"","f":"1,1,1,1","q":"p"}]}';
    const parsed = parseNoaaJson(body, { units: 'm', station: '8454000' });
    assert.deepEqual(parsed.station, PROVIDENCE);
    assert.deepEqual(parsed.rejected, []);
    assert.deepEqual(parsed.rows, [
      { station: '8454000', name: 'Providence', lat: 41.8072, lon: -71.4007, t: Date.UTC(2019, 0, 1, 0, 0), v: 0.85, s: 0.003, f: '0,0,0,0', q: 'v' },
      { station: '8454000', name: 'Providence', lat: 41.8072, lon: -71.4007, t: Date.UTC(2019, 0, 1, 0, 6), v: null, s: null, f: '1,1,1,1', q: 'p' },
    ]);
  });

  it('converts feet to metres only when told the answer is in feet', () => {
    const body = `{"metadata":${METADATA},"data":[{"t":"2018-09-09 00:00","v":"1.160","s":"0.075","f":"0,0"}]}`;
    const inFeet = parseNoaaJson(body, { units: 'ft' }).rows[0];
    assert.equal(inFeet.v, 0.353568);
    assert.equal(inFeet.s, 0.02286);
    assert.equal(inFeet.q, null, 'hourly_height has no quality field');
    assert.equal(parseNoaaJson(body, { units: 'm' }).rows[0].v, 1.16);
  });

  it('reads predictions (no metadata) with the station facts it is given, and refuses to guess them', () => {
    const body = '{"predictions":[{"t":"2019-01-01 00:00","v":"1.234"}]}';
    assert.deepEqual(parseNoaaJson(body, { units: 'm', stationInfo: PROVIDENCE }).rows, [
      { station: '8454000', name: 'Providence', lat: 41.8072, lon: -71.4007, t: Date.UTC(2019, 0, 1), v: 1.234, s: null, f: null, q: null },
    ]);
    assert.throws(() => parseNoaaJson(body, { units: 'm', station: '8454000' }), (error: Error) => error instanceof DecodeError && /give the station's name, lat and lon/.test(error.message));
  });

  it("turns NOAA's error body (sent with HTTP 200) into a NoaaApiError carrying NOAA's words", () => {
    const body = `{"error": {"message":" ${NO_DATA}"}}\n\n`;
    assert.throws(
      () => parseNoaaJson(body, { units: 'm' }),
      (error: unknown) => error instanceof NoaaApiError && error.noaaMessage === NO_DATA && error.noData && error.message === `NOAA CO-OPS API error: ${NO_DATA}` && !error.retriable,
    );
    assert.throws(
      () => parseNoaaJson('{"error":{"message":"Wrong Datum: Datum cannot be null or empty"}}', { units: 'm' }),
      (error: unknown) => error instanceof NoaaApiError && !error.noData && error.noaaMessage === 'Wrong Datum: Datum cannot be null or empty',
    );
  });

  it('refuses what is not an answer: HTML pages, truncated JSON, no data array, another station', () => {
    const refuses = (body: string, pattern: RegExp) =>
      assert.throws(() => parseNoaaJson(body, { units: 'm', station: '8454000' }), (error: unknown) => error instanceof DecodeError && !(error instanceof NoaaApiError) && pattern.test((error as Error).message));
    refuses('<!DOCTYPE html><html><body>Scheduled maintenance</body></html>', /HTML or XML, not JSON.*Scheduled maintenance/);
    refuses(`{"metadata":${METADATA},"data":[{"t":"2019-01-01 00:00","v":"0.8`, /truncated or malformed JSON/);
    refuses(`{"metadata":${METADATA}}`, /neither a "data" nor a "predictions" array/);
    refuses('', /empty/);
    refuses('[1,2]', /not a JSON object/);
    refuses('{"metadata":{"id":"8443970","name":"BOSTON","lat":"42.3539","lon":"-71.0503"},"data":[]}', /about station 8443970, but station 8454000 was asked for/);
    refuses('{"metadata":{"id":"8454000","name":"P","lat":"north","lon":"-71.4"},"data":[]}', /no usable lat/);
  });

  it('keeps the readable elements of an answer and rejects the others with a reason', () => {
    const body = `{"metadata":${METADATA},"data":[` +
      '{"t":"2019-01-01 00:00","v":"0.850"},{"t":"2019-01-01T00:06Z","v":"0.9"},{"t":"2019-01-01 00:12","v":"high"},{"t":"2019-01-01 00:18","v":0.7},"x",' +
      '{"t":"2019-01-01 00:24","v":"0.950"}]}';
    const parsed = parseNoaaJson(body, { units: 'm' });
    assert.deepEqual(parsed.rows.map((row) => row.v), [0.85, 0.95]);
    assert.deepEqual(
      parsed.rejected.map(({ index, reason }) => [index, reason]),
      [
        [1, 'field "t" is not a NOAA time (YYYY-MM-DD HH:MM): "2019-01-01T00:06Z"'],
        [2, 'field "v" is not a number: "high"'],
        [3, 'field "v" should be NOAA\'s number string, got 0.7'],
        [4, 'expected an object, got "x"'],
      ],
    );
    assert.deepEqual(parsed.rejected[2].item, { t: '2019-01-01 00:18', v: 0.7 });
  });

  it('reads back any observation written the way NOAA writes it (property)', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            minute: fc.integer({ min: 0, max: 60 * 24 * 365 * 30 }),
            v: fc.option(fc.integer({ min: -20_000, max: 20_000 }), { nil: null }),
            s: fc.option(fc.integer({ min: 0, max: 2_000 }), { nil: null }),
            q: fc.constantFrom('p', 'v'),
          }),
          { maxLength: 20 },
        ),
        (items) => {
          const noaaTime = (ms: number) => new Date(ms).toISOString().slice(0, 16).replace('T', ' ');
          const t = (minute: number) => Date.UTC(2000, 0, 1) + minute * 60_000;
          const data = items.map((item) => ({
            t: noaaTime(t(item.minute)),
            v: item.v === null ? '' : (item.v / 1000).toFixed(3),
            s: item.s === null ? '' : (item.s / 1000).toFixed(3),
            f: '0,0,0,0',
            q: item.q,
          }));
          const parsed = parseNoaaJson(JSON.stringify({ metadata: { id: '8454000', name: 'Providence', lat: '41.8072', lon: '-71.4007' }, data }), { units: 'm' });
          assert.deepEqual(parsed.rejected, []);
          assert.deepEqual(
            parsed.rows,
            items.map((item) => ({ ...PROVIDENCE, station: '8454000', t: t(item.minute), v: item.v === null ? null : item.v / 1000, s: item.s === null ? null : item.s / 1000, f: '0,0,0,0', q: item.q })).map(({ id: _id, ...row }) => row),
          );
        },
      ),
    );
  });
});

describe('NOAA API codec: CSV', () => {
  it('reads water_level CSV with flags and quality, in the units asked for', () => {
    const body = 'Date Time, Water Level, Sigma, O or I (for verified), F, R, L, Quality \n' +
      '2018-10-09 00:00,2.421,0.036,1,0,0,0,p\n2018-10-10 18:18,,,1,1,1,1,p\n';
    const parsed = parseNoaaCsv(body, { units: 'ft', stationInfo: { id: '8729108', name: 'Panama City', lat: 30.1497, lon: -85.6644 } });
    assert.deepEqual(parsed.rejected, []);
    assert.deepEqual(parsed.rows, [
      { station: '8729108', name: 'Panama City', lat: 30.1497, lon: -85.6644, t: Date.UTC(2018, 9, 9), v: 0.7379208, s: 0.0109728, f: '1,0,0,0', q: 'p' },
      { station: '8729108', name: 'Panama City', lat: 30.1497, lon: -85.6644, t: Date.UTC(2018, 9, 10, 18, 18), v: null, s: null, f: '1,1,1,1', q: 'p' },
    ]);
  });

  it('reads predictions CSV and rejects unreadable lines', () => {
    const parsed = parseNoaaCsv('Date Time, Prediction\n2019-01-01 00:00,1.234\n2019-01-01 00:06,abc\n2019-01-01 00:12\n', { units: 'm', stationInfo: PROVIDENCE });
    assert.deepEqual(parsed.rows.map((row) => [row.t, row.v, row.s, row.f]), [[Date.UTC(2019, 0, 1), 1.234, null, null]]);
    assert.deepEqual(parsed.rejected.map((item) => [item.index, item.reason]), [
      [1, 'column "Prediction" is not a number: "abc"'],
      [2, 'expected 2 fields, got 1'],
    ]);
  });

  it("turns NOAA's CSV error line into a NoaaApiError, and refuses HTML or unknown layouts", () => {
    assert.throws(() => parseNoaaCsv(`Error: ${NO_DATA}\n`, { units: 'm', stationInfo: PROVIDENCE }), (error: unknown) => error instanceof NoaaApiError && error.noData && error.noaaMessage === NO_DATA);
    assert.throws(() => parseNoaaCsv('<html>down</html>', { units: 'm', stationInfo: PROVIDENCE }), /HTML or XML, not CSV/);
    assert.throws(() => parseNoaaCsv('a,b\n1,2', { units: 'm', stationInfo: PROVIDENCE }), /not a CO-OPS CSV/);
    assert.throws(() => parseNoaaCsv('Date Time, Water Level\n2019-01-01 00:00,1.0', { units: 'm' }), /give the station's name, lat and lon/);
  });

  it('parseNoaaAnswer picks the parser by format', () => {
    assert.equal(parseNoaaAnswer('Date Time, Water Level\n2019-01-01 00:00,1.0', 'csv', { units: 'm', stationInfo: PROVIDENCE }).rows.length, 1);
    assert.equal(parseNoaaAnswer(`{"metadata":${METADATA},"data":[]}`, 'json', { units: 'm' }).rows.length, 0);
  });
});

describe('NOAA API codec: helpers', () => {
  it('parses only NOAA time strings, as UTC', () => {
    assert.equal(parseNoaaTime('2019-01-01 00:06'), Date.UTC(2019, 0, 1, 0, 6));
    assert.equal(parseNoaaTime('2019-02-30 00:00'), undefined);
    assert.equal(parseNoaaTime('2019-01-01T00:06Z'), undefined);
    assert.equal(parseNoaaTime('2019-01-01'), undefined);
  });

  it('tells "no data" answers from other errors', () => {
    assert.ok(isNoDataMessage(` ${NO_DATA}`));
    assert.ok(isNoDataMessage('No Predictions data was found. Please make sure the Datum input is valid.'));
    assert.ok(!isNoDataMessage('The station is not a valid station or there is system error.'));
  });
});

describe('NOAA API codec: saved answers', () => {
  it('tells answers from records', () => {
    assert.ok(isNoaaAnswer({ error: { message: NO_DATA } }));
    assert.ok(isNoaaAnswer({ metadata: {}, data: [] }));
    assert.ok(isNoaaAnswer({ predictions: [] }));
    assert.ok(!isNoaaAnswer({ station: '8454000', t: 0, v: 1, data: 'x' }));
    assert.ok(!isNoaaAnswer([]));
    assert.ok(!isNoaaAnswer(null));
  });

  it('splits a file into answers: one document (pretty-printed too), or one per line', () => {
    const pretty = `{\n  "metadata": ${METADATA},\n  "data": []\n}\n`;
    assert.deepEqual(splitSavedAnswers(`\n${pretty}`), [{ text: `\n${pretty}`, line: 2 }]);
    const log = `{"error":{"message":"${NO_DATA}"}}\n\n{"metadata":${METADATA},"data":[]}\n`;
    assert.deepEqual(splitSavedAnswers(log), [
      { text: `{"error":{"message":"${NO_DATA}"}}`, line: 1 },
      { text: `{"metadata":${METADATA},"data":[]}`, line: 3 },
    ]);
    // Neither: one answer, for the parser to say what is wrong with it.
    const cut = `{"metadata":${METADATA},\n"data":[{"t":"2019-01-01 00:00"`;
    assert.deepEqual(splitSavedAnswers(cut), [{ text: cut, line: 1 }]);
  });

  it('gives the element each row was read from', () => {
    const items = ['{"t":"2019-01-01 00:00","v":"0.850"}', '{"t":"bad","v":"1"}', '{"t":"2019-01-01 00:06","v":""}'];
    const parsed = parseNoaaJson(`{"metadata":${METADATA},"data":[${items.join(',')}]}`, { units: 'm' });
    assert.deepEqual(parsed.items.map((item) => JSON.stringify(item)), [items[0], items[2]]);
    assert.deepEqual(parsed.rejected.map((r) => r.index), [1]);
  });
});
