import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { loadAvroType, tideObservationSchemaPath } from './avro-schema';
import { createRowValidator } from './validate';

const validate = createRowValidator(loadAvroType(tideObservationSchemaPath()), 't');
const good = { station: '8454000', name: 'Providence, State Pier no.1', lat: 41.8072, lon: -71.4007, t: Date.UTC(2020, 8, 24, 4, 18), v: 1.2, s: 0.01, f: '0,0,0,0', q: 'p' };

describe('createRowValidator', () => {
  it('accepts a good row, null readings and absent nullable fields', () => {
    assert.equal(validate(good), null);
    assert.equal(validate({ ...good, v: null, s: null, f: null, q: null }), null);
    const { f: _f, q: _q, ...withoutFlags } = good;
    assert.equal(validate(withoutFlags), null);
  });

  it('gives exact reasons', () => {
    const { station: _station, ...noStation } = good;
    assert.equal(validate(noStation), 'missing field "station"');
    assert.equal(validate({ ...good, name: null }), 'field "name" is null but the schema does not allow null');
    assert.equal(validate({ ...good, lat: '41.8' }), 'field "lat" must be a number, got a string "41.8"');
    assert.equal(validate({ ...good, v: Number.NaN }), 'field "v" is not a finite number: NaN');
    assert.equal(validate({ ...good, s: Number.POSITIVE_INFINITY }), 'field "s" is not a finite number: Infinity');
    assert.equal(validate({ ...good, v: '1.2' }), 'field "v" must be a number, got a string "1.2"');
    assert.equal(validate({ ...good, q: 7 }), 'field "q" must be a string, got 7');
    assert.equal(validate({ ...good, name: 'x'.repeat(1025) }), 'field "name" is too long (1025 characters, at most 1024)');
    assert.equal(validate({ ...good, t: '2020-09-24' }), 'event time "t" must be epoch milliseconds (a number), got a string "2020-09-24"');
    assert.equal(validate({ ...good, t: 1.5 }), 'event time "t" must be an integer number of epoch milliseconds, got 1.5');
  });

  it('rejects timestamps decades away (seconds or microseconds by mistake)', () => {
    const seconds = Math.floor(good.t / 1000);
    assert.match(validate({ ...good, t: seconds })!, /^timestamp decades away: "t" = 1600921080 \(1970-01-19T12:42:01\.080Z\)/);
    assert.match(validate({ ...good, t: good.t * 1000 })!, /^timestamp decades away: "t" = 1600921080000000 /);
    assert.equal(validate({ ...good, t: Date.UTC(1990, 0, 1) }), null);
  });
});
