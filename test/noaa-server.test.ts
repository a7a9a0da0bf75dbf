import { after, before, describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { FakeNoaaServer, NO_DATA_MESSAGE, loadNoaaFixtures } from './support/noaa-server';

/** The fake NOAA API answers as NOAA does; the HTTP source tests rely on it. */
describe('fake NOAA CO-OPS server', () => {
  let now = Date.UTC(2019, 0, 3, 12, 0);
  let noaa: FakeNoaaServer;
  const get = async (query: string) => {
    const response = await fetch(`${noaa.url}?${query}`);
    return { status: response.status, headers: response.headers, text: await response.text() };
  };
  const base = 'station=9414290&product=water_level&datum=MLLW&units=metric&time_zone=gmt&application=tideflow-test&format=json';

  before(async () => {
    noaa = await FakeNoaaServer.start({ now: () => now });
  });
  after(() => noaa.close());

  it('holds a few thousand real observations of seven stations', () => {
    const { stations, series } = loadNoaaFixtures();
    assert.equal(stations.size, 7);
    const counts = [...series.values()].flatMap((byStation) => [...byStation.values()].map((list) => list.length));
    assert.deepEqual(counts, [1680, 725, 720, 720, 720, 720, 788]);
  });

  it("answers in NOAA's JSON layout, numbers as strings, only what is published by its clock", async () => {
    const answer = await get(`${base}&begin_date=20190101 00:00&end_date=20190105 00:00`);
    assert.equal(answer.status, 200);
    const body = JSON.parse(answer.text);
    assert.deepEqual(body.metadata, { id: '9414290', name: 'SAN FRANCISCO (Golden Gate)', lat: '37.8063', lon: '-122.4659' });
    assert.deepEqual(body.data[0], { t: '2019-01-01 00:00', v: '0.433', s: '', f: '', q: 'v' });
    // 2019-01-01 00:00 .. 2019-01-03 12:00 (the clock), every 6 minutes.
    assert.equal(body.data.length, 2.5 * 240 + 1);
    assert.equal(body.data.at(-1).t, '2019-01-03 12:00');
    assert.equal(noaa.requests.at(-1)!.params.application, 'tideflow-test');
  });

  it('accepts the date formats and shortcuts the API accepts', async () => {
    const count = async (query: string) => JSON.parse((await get(`${base}&${query}`)).text).data.length;
    assert.equal(await count('begin_date=20190102&end_date=20190102'), 240, 'a date-only end is the whole day');
    assert.equal(await count('begin_date=01/02/2019 00:00&end_date=01/02/2019 01:00'), 11);
    assert.equal(await count('begin_date=20190102 00:00&range=2'), 21);
    assert.equal(await count('end_date=20190102 00:00&range=1'), 11);
    assert.equal(await count('range=1'), 11);
    assert.equal(await count('date=latest'), 1);
    assert.equal(await count('date=today'), 121);
    assert.equal(await count('date=recent'), 601);
  });

  it("refuses what NOAA refuses, with NOAA's error body and HTTP 200", async () => {
    const message = async (query: string) => {
      const answer = await get(query);
      assert.equal(answer.status, 200);
      return JSON.parse(answer.text).error.message.trim();
    };
    assert.match(await message(`${base}&begin_date=20181101 00:00&end_date=20181203 00:00`), /^Range Limit Exceeded/);
    assert.equal(await message(`${base}&begin_date=20181101 00:00&end_date=20181102 00:00`), NO_DATA_MESSAGE);
    assert.equal(await message(base.replace('datum=MLLW&', '') + '&date=today'), 'Wrong Datum: Datum cannot be null or empty');
    assert.match(await message(`${base}&begin_date=2019-01-01&end_date=20190102`), /^Wrong Begin Date/);
    assert.equal(await message(base.replace('9414290', '1234567') + '&date=today'), 'The station is not a valid station or there is system error.');
    const hourly = 'station=8443970&product=hourly_height&datum=MLLW&format=json';
    now = Date.UTC(2019, 11, 31);
    assert.match(await message(`${hourly}&begin_date=20180101&end_date=20190102`), /^Range Limit Exceeded/);
    assert.equal(JSON.parse((await get(`${hourly}&begin_date=20180909&end_date=20180909`)).text).data.length, 24);
    now = Date.UTC(2019, 0, 3, 12, 0);
  });

  it('answers CSV and predictions in their own layouts', async () => {
    const csv = await get(`${base.replace('format=json', 'format=csv')}&begin_date=20190101 00:00&end_date=20190101 00:06&units=english`);
    assert.equal(csv.text, 'Date Time, Water Level, Sigma, O or I (for verified), F, R, L, Quality \n2019-01-01 00:00,1.420,,,,,,v\n2019-01-01 00:06,1.500,,,,,,v\n');
    const predictions = JSON.parse((await get('station=8443970&product=predictions&datum=MLLW&format=json&begin_date=20190101 00:00&end_date=20190101 00:12')).text);
    assert.equal(predictions.metadata, undefined);
    assert.deepEqual(predictions.predictions.map((item: { t: string }) => item.t), ['2019-01-01 00:00', '2019-01-01 00:06', '2019-01-01 00:12']);
    assert.ok(predictions.predictions.every((item: { v: string }) => /^-?\d+\.\d{3}$/.test(item.v)));
  });

  it('fails on request, for matching requests only, and logs what it saw', async () => {
    const query = `${base}&begin_date=20190101 00:00&end_date=20190101 01:00`;
    noaa.inject({ kind: 'unavailable', retryAfterSeconds: 7 }, { station: '9414290' });
    noaa.inject({ kind: 'rate-limited' }, { station: '9414290' });
    noaa.inject({ kind: 'truncated' });
    noaa.inject({ kind: 'empty-data' });
    noaa.inject({ kind: 'duplicate-overlap', rows: 2 });
    noaa.inject({ kind: 'html' });
    noaa.inject({ kind: 'error-body', message: 'Something NOAA says' });
    const unavailable = await get(query);
    assert.equal(unavailable.status, 503);
    assert.equal(unavailable.headers.get('retry-after'), '7');
    assert.equal((await get(query)).status, 429);
    const truncated = await get(query);
    assert.throws(() => JSON.parse(truncated.text));
    assert.deepEqual(JSON.parse((await get(query)).text).data, []);
    const overlap = JSON.parse((await get(`${base}&begin_date=20190101 01:00&end_date=20190101 01:30`)).text).data.map((item: { t: string }) => item.t.slice(11));
    assert.deepEqual(overlap, ['00:48', '00:54', '01:00', '01:00', '01:06', '01:06', '01:12', '01:18', '01:24', '01:30']);
    assert.match((await get(query)).text, /^<!DOCTYPE html>/);
    assert.equal(JSON.parse((await get(query)).text).error.message, ' Something NOAA says');
    assert.equal(noaa.pendingFaults(), 0);
    assert.deepEqual(noaa.requests.slice(-7).map((seen) => seen.outcome.replace(/ \(.*\)$/, '')), [
      'fault:unavailable', 'fault:rate-limited', 'fault:truncated', 'fault:empty-data', 'fault:duplicate-overlap', 'fault:html', 'fault:error-body',
    ]);
  });

  it('cuts the connection or hangs when asked to', async () => {
    noaa.inject({ kind: 'reset' });
    await assert.rejects(get(`${base}&date=today`));
    noaa.inject({ kind: 'hang' });
    await assert.rejects(fetch(`${noaa.url}?${base}&date=today`, { signal: AbortSignal.timeout(100) }), /TimeoutError|aborted/);
  });
});
