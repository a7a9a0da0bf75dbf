import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { UsageError } from '../core/errors';
import { loadStationTable, parseStationOption } from './station-table';

// Compiled to dist/engine/codecs: the fixtures stay in the source tree.
const FIXTURES = path.resolve(__dirname, '..', '..', '..', 'engine', 'codecs', 'fixtures');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tideflow-stations-'));

function write(name: string, text: string): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, text);
  return file;
}

const refused = (message: string) => (error: unknown) => error instanceof UsageError && error.message === message;

describe('station tables', () => {
  it("read CO-OPS' station metadata CSV", () => {
    const table = loadStationTable(path.join(FIXTURES, '9454460_9454240_9454050_station_metadata.csv'));
    assert.deepEqual([...table], [
      ['9454050', { name: 'Cordova', lat: 60.5583, lon: -145.753 }],
      ['9454240', { name: 'Valdez', lat: 61.125, lon: -146.362 }],
      ['9454460', { name: 'Columbia Glacier', lat: 61.0233, lon: -147.085 }],
    ]);
  });

  it('read other column names, quoted names and JSON (an array, or {"stations": [...]} with lng)', () => {
    const csv = write('other.csv', '\ufeffStation_ID,Latitude,Longitude,Name\r\n8454000,41.8072,-71.4007,"Providence, State Pier no.1"\r\n\r\n');
    assert.deepEqual([...loadStationTable(csv)], [['8454000', { name: 'Providence, State Pier no.1', lat: 41.8072, lon: -71.4007 }]]);
    const array = write('array.json', JSON.stringify([{ id: '8638610', name: 'Sewells Point', lat: 36.9467, lon: -76.33 }]));
    assert.deepEqual([...loadStationTable(array)], [['8638610', { name: 'Sewells Point', lat: 36.9467, lon: -76.33 }]]);
    const mdapi = write('mdapi.json', JSON.stringify({ count: 1, stations: [{ id: '8638610', name: 'Sewells Point', lat: 36.9467, lng: -76.33 }] }));
    assert.deepEqual([...loadStationTable(mdapi)], [['8638610', { name: 'Sewells Point', lat: 36.9467, lon: -76.33 }]]);
  });

  it('say which line of which file is wrong', () => {
    const missing = path.join(dir, 'missing.csv');
    assert.throws(() => loadStationTable(missing), refused(`cannot read the stations file ${missing}: no such file`));
    const noHeader = write('no-header.csv', '8638610,Sewells Point,36.9467,-76.33\n');
    assert.throws(() => loadStationTable(noHeader), refused(`${noHeader}:1: a stations CSV needs a header with columns id, name, lat and lon (CO-OPS station metadata: id,name,lat,lon); this one has 8638610,Sewells Point,36.9467,-76.33`));
    const badLat = write('bad-lat.csv', 'id,name,lat,lon\n8638610,Sewells Point,36.9467,-76.33\n1,x,95,0\n');
    assert.throws(() => loadStationTable(badLat), refused(`${badLat}:3: station 1: lat must be a number of degrees from -90 to 90, got "95"`));
    const twice = write('twice.csv', 'id,name,lat,lon\n1,a,0,0\n1,b,0,0\n');
    assert.throws(() => loadStationTable(twice), refused(`${twice}:3: station 1 is listed twice`));
    const empty = write('empty.csv', 'id,name,lat,lon\n');
    assert.throws(() => loadStationTable(empty), refused(`${empty}: the stations file lists no station`));
    const json = write('bad.json', '[{"id":"1","name":"a","lat":0}]');
    assert.throws(() => loadStationTable(json), refused(`${json}: entry 1: station 1: lon must be a number of degrees from -180 to 180, got undefined`));
  });
});

describe('--station', () => {
  it('takes an id, or id,name,lat,lon', () => {
    assert.deepEqual(parseStationOption('9414290'), { id: '9414290' });
    assert.deepEqual(parseStationOption('8454000,"Providence, State Pier no.1",41.8072,-71.4007'), {
      id: '8454000',
      facts: { name: 'Providence, State Pier no.1', lat: 41.8072, lon: -71.4007 },
    });
    const usage = 'give the station id, or id,name,lat,lon (e.g. "9454460,Columbia Glacier,61.0233,-147.085")';
    assert.throws(() => parseStationOption('8454000,Providence'), refused(`station "8454000,Providence" has 2 fields; ${usage}`));
    assert.throws(() => parseStationOption('8454000,Providence,north,-71'), refused(`station "8454000,Providence,north,-71": lat must be a number of degrees from -90 to 90, got "north"; ${usage}`));
    assert.throws(() => parseStationOption(''), refused(`station "": the id is empty; ${usage}`));
  });
});
