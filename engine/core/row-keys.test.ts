import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import type { Row } from './batch';
import { keyIdOfRow, keyIdOfValues, keyValuesOfRow, KeySplitter } from './row-keys';

test('key texts: strings as they are, other values tagged by type, parts joined by U+001F', () => {
  assert.equal(keyIdOfRow({ station: '8454000', t: 0 }, ['station']), '8454000');
  assert.equal(keyIdOfRow({ station: '8454000', t: 5 }, ['station', 't']), '8454000\u001f\u0000number:5');
  assert.equal(keyIdOfValues(['8454000', 5]), '8454000\u001f\u0000number:5');
  assert.equal(keyIdOfRow({ a: null, b: true, c: new Date(7) }, ['a', 'b', 'c', 'absent']), '\u0000null\u001f\u0000boolean:true\u001f\u0000date:7\u001f\u0000null');
  assert.notEqual(keyIdOfRow({ a: 5 }, ['a']), keyIdOfRow({ a: '5' }, ['a']));
  assert.deepEqual(keyValuesOfRow({ a: 1 }, ['a', 'b']), [1, null]);
});

/** Values of every kind, and strings that hold the separator or look like tags. */
const value = fc.oneof(
  fc.constantFrom<unknown>('', 'A', '5', 'null', '\u001f', 'a\u001fb', 'b\u001f', '\u001fa', '\u0000number:5', '\u0000number:05', '\u0000null', '\u0000', 'a\u0000b'),
  fc.constantFrom<unknown>(5, 0, -0, NaN, Infinity, 1e21, 1.5, null, undefined, true, false, 5n, new Date(5)),
  fc.string({ maxLength: 4 }),
  fc.double(),
);
const fields = fc.constantFrom(['a'], ['a', 'b'], ['a', 'b', 'c']);
const row = fc.record({ a: value, b: value, c: value });

test('property: KeySplitter splits the key text at its last separator, one to one', () => {
  fc.assert(
    fc.property(fields, row, row, (keyFields, x, y) => {
      const keys = new KeySplitter(keyFields);
      const split = (r: Row) => {
        const last = keys.split(r);
        return { prefix: keys.prefix, last };
      };
      const sx = split(x);
      const sy = split(y);
      const text = keyIdOfRow(x, keyFields);
      assert.equal(keys.join(sx.prefix, sx.last), text);
      // From the text (a snapshot entry) back to the same two levels.
      const lastOfText = keys.splitText(text);
      assert.equal(keys.prefix, sx.prefix);
      assert.ok(new Map([[sx.last, 1]]).has(lastOfText), `${String(sx.last)} vs ${String(lastOfText)}`);
      // Equal keys exactly when equal texts.
      const sameSplit = sx.prefix === sy.prefix && new Map([[sx.last, 1]]).has(sy.last);
      assert.equal(sameSplit, text === keyIdOfRow(y, keyFields));
    }),
    { numRuns: 2000 },
  );
});

test('KeySplitter: a number last part stays a number, a string containing the separator is split like its text', () => {
  const keys = new KeySplitter(['s', 'u']);
  assert.equal(keys.split({ s: 'A', u: 1_700_000_000_000 }), 1_700_000_000_000);
  assert.equal(keys.prefix, 'A');
  assert.equal(keys.split({ s: 'A', u: 'b\u001fc' }), 'c');
  assert.equal(keys.prefix, 'A\u001fb');
  assert.equal(keys.split({ s: 'A', u: '\u0000number:7' }), 7, 'a string printing as a tagged number is that key text');
  const whole = new KeySplitter(['s']);
  assert.equal(whole.split({ s: 'b\u001fc' }), 'b\u001fc');
  assert.equal(whole.prefix, '');
});
