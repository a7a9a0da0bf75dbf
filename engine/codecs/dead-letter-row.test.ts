import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { deadLetterRow, receivedOf } from './dead-letter-row';

const LINE = '{"station":"8729108","t":"2018-10-09T05:00:00Z","v":"oops"}';

describe('dead-letter rows', () => {
  it('write a rejected row as the line it was read from, with its line number', () => {
    const partition = 'file:received.jsonl';
    const row = { station: '8729108', t: 1539061200000, v: 'oops' };
    const other = { station: '8729108', t: 1539061560000, v: 1 };
    const lines = ['{"v":1}', LINE];
    const batch = { offsets: [3, 5], rows: [other, row], payloadAt: (i: number) => lines[i], lineOfOffsetZero: 1 };
    const letter = { payload: row, reason: 'field "v" must be a number', partition, offset: 5, stage: 'validate' };
    assert.deepEqual(deadLetterRow(letter, receivedOf(letter, batch)), {
      reason: 'field "v" must be a number',
      stage: 'validate',
      partition,
      offset: 5,
      line: 6,
      payload: LINE,
      payload_encoding: 'utf8',
    });
    // A copy of the row (a map step made a new one) is not what was received: it is written as JSON.
    const copy = { ...row, v_ft: 1 };
    assert.equal(receivedOf({ payload: copy, reason: 'x', partition, offset: 5, stage: 'w' }, batch), undefined);
    assert.deepEqual(deadLetterRow({ payload: copy, reason: 'x', partition, offset: 5, stage: 'w' }), {
      reason: 'x',
      stage: 'w',
      partition,
      offset: 5,
      line: null,
      payload: JSON.stringify(copy),
      payload_encoding: 'json',
    });
    // A row of another batch (same offset, another object) is not this batch's.
    assert.equal(receivedOf({ payload: { ...row }, reason: 'x', partition, offset: 5, stage: 'validate' }, batch), undefined);
  });

  it('have one layout whatever the payload: text, bytes, nothing, a row', () => {
    const base = { reason: 'r', partition: 'tides/0', offset: 7, stage: 'decode' };
    assert.deepEqual(deadLetterRow({ ...base, payload: Buffer.from('{"a":1}') }), { ...base, line: null, payload: '{"a":1}', payload_encoding: 'utf8' });
    assert.deepEqual(deadLetterRow({ ...base, payload: Buffer.from([0, 0, 0, 0, 7, 2]) }), { ...base, line: null, payload: 'AAAAAAcC', payload_encoding: 'base64' });
    assert.deepEqual(deadLetterRow({ ...base, payload: null }), { ...base, line: null, payload: null, payload_encoding: 'utf8' });
    assert.deepEqual(deadLetterRow({ ...base, payload: { t: 1 } }), { ...base, line: null, payload: '{"t":1}', payload_encoding: 'json' });
    assert.deepEqual(deadLetterRow({ ...base, payload: 'not json', line: 4 }), { ...base, line: 4, payload: 'not json', payload_encoding: 'utf8' });
    const keys = ['reason', 'stage', 'partition', 'offset', 'line', 'payload', 'payload_encoding'];
    assert.deepEqual(Object.keys(deadLetterRow({ ...base, payload: null })), keys);
    assert.deepEqual(Object.keys(deadLetterRow({ ...base, payload: 'x', line: 1 })), keys);
  });
});
