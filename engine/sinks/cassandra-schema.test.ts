import assert from 'node:assert/strict';
import { test } from 'node:test';
import { errors as driverErrors, types } from 'cassandra-driver';
import { ExternalError } from '../core/errors';
import { ColumnValueError, createTableCql, inferColumnDefinitions, inferColumnType, insertCql, resolveColumns, valueConverter, WriteClock } from './cassandra-schema';
import { createKeyspaceCql, createCassandraClient, describeCassandraError, isRetriableCassandraError, quoteIdentifier } from '../clients/cassandra';

const KEY = { partition: ['station'], clustering: ['window_start'] };

test('inferColumnType: the first non-null value decides', () => {
  assert.deepEqual(inferColumnType(['8454000'], false), { type: 'text', fromNullsOnly: false });
  assert.deepEqual(inferColumnType([null, undefined, 1.25], false), { type: 'double', fromNullsOnly: false });
  assert.deepEqual(inferColumnType([12], false), { type: 'double', fromNullsOnly: false }, 'integers too: a later 0.5 must fit');
  assert.deepEqual(inferColumnType([1_600_000_000_000], true), { type: 'timestamp', fromNullsOnly: false });
  assert.deepEqual(inferColumnType([new Date(0)], false), { type: 'timestamp', fromNullsOnly: false });
  assert.deepEqual(inferColumnType([true], false), { type: 'boolean', fromNullsOnly: false });
  assert.deepEqual(inferColumnType([10n], false), { type: 'bigint', fromNullsOnly: false });
  assert.deepEqual(inferColumnType([Buffer.from('x')], false), { type: 'blob', fromNullsOnly: false });
  assert.deepEqual(inferColumnType([{ a: 1 }], false), { type: 'text', fromNullsOnly: false });
  assert.deepEqual(inferColumnType([null, null], false), { type: 'double', fromNullsOnly: true });
  assert.deepEqual(inferColumnType([], true), { type: 'timestamp', fromNullsOnly: true });
});

test('resolveColumns: explicit mapping keeps its fields and adds missing key columns first', () => {
  const bindings = resolveColumns({ high: 'maxV', window_start: 'window_start' }, KEY, null, []);
  assert.deepEqual(bindings, [
    { column: 'station', field: 'station' },
    { column: 'window_start', field: 'window_start' },
    { column: 'high', field: 'maxV' },
  ]);
});

test('resolveColumns: an existing table takes all its columns by name', () => {
  assert.deepEqual(resolveColumns({}, KEY, ['station', 'window_start', 'mean'], [{ other: 1 }]), [
    { column: 'station', field: 'station' },
    { column: 'window_start', field: 'window_start' },
    { column: 'mean', field: 'mean' },
  ]);
});

test('resolveColumns: a new table takes every sampled field, key columns first, then first-seen order', () => {
  const rows = [{ mean: 1, station: 'a', window_start: 0 }, { station: 'b', window_start: 1, count: 3, mean: 2 }];
  assert.deepEqual(
    resolveColumns({}, KEY, null, rows).map((binding) => binding.column),
    ['station', 'window_start', 'mean', 'count'],
  );
});

test('inferColumnDefinitions: explicit types win; all-null columns are reported', () => {
  const bindings = resolveColumns({}, KEY, null, [{ station: 'a', window_start: 0, count: 3, f: null }]);
  const { columns, guessedFromNulls } = inferColumnDefinitions(
    bindings,
    [{ station: 'a', window_start: 0, count: 3, f: null }, { station: 'b', window_start: 5, count: 4, f: null }],
    new Set(['window_start']),
    { count: 'int' },
  );
  assert.deepEqual(columns, [
    { name: 'station', type: 'text' },
    { name: 'window_start', type: 'timestamp' },
    { name: 'count', type: 'int' },
    { name: 'f', type: 'double' },
  ]);
  assert.deepEqual(guessedFromNulls, ['f']);
});

test('CQL text: quoted names, composite keys, write time as the last parameter', () => {
  assert.equal(quoteIdentifier('a"b'), '"a""b"');
  assert.equal(
    createKeyspaceCql('tides', 3),
    `CREATE KEYSPACE IF NOT EXISTS "tides" WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 3}`,
  );
  assert.equal(
    createTableCql('tides', 'avg_30m', [{ name: 'station', type: 'text' }, { name: 'window_start', type: 'timestamp' }, { name: 'avg', type: 'double' }], KEY),
    'CREATE TABLE IF NOT EXISTS "tides"."avg_30m" ("station" text, "window_start" timestamp, "avg" double, PRIMARY KEY (("station"), "window_start"))',
  );
  assert.equal(
    createTableCql('k', 't', [{ name: 'a', type: 'text' }, { name: 'b', type: 'int' }], { partition: ['a', 'b'], clustering: [] }),
    'CREATE TABLE IF NOT EXISTS "k"."t" ("a" text, "b" int, PRIMARY KEY (("a", "b")))',
  );
  assert.throws(() => createTableCql('k', 't', [{ name: 'station', type: 'text' }], KEY), /primary key column 'window_start'/);
  assert.equal(insertCql('k', 't', ['a', 'b']), 'INSERT INTO "k"."t" ("a", "b") VALUES (?, ?) USING TIMESTAMP ?');
});

test('valueConverter: timestamps', () => {
  const convert = valueConverter({ column: 't', field: 't' }, 'timestamp', false);
  assert.equal(convert(1_600_000_000_123), 1_600_000_000_123, 'epoch ms go through as numbers (no Date per value)');
  assert.equal(convert(1.9), 1, 'truncated like new Date(1.9)');
  assert.equal(convert(-1.9), -1);
  const date = new Date(5);
  assert.equal(convert(date), date);
  assert.deepEqual(convert('2020-09-24T04:18:00.000Z'), new Date('2020-09-24T04:18:00.000Z'));
  assert.throws(() => convert('yesterday'), ColumnValueError);
  assert.throws(() => convert(new Date(Number.NaN)), /column 't' \(timestamp, from field 't'\) cannot take a Date \(invalid\)/);
});

test('valueConverter: null, missing, and key columns', () => {
  const value = valueConverter({ column: 'v', field: 'level' }, 'double', false);
  assert.equal(value(null), null, 'null is written as null');
  assert.equal(value(undefined), types.unset, 'a missing field leaves the column alone');
  assert.equal(value(1.5), 1.5);
  assert.throws(() => value('1.5'), /column 'v' \(double, from field 'level'\) cannot take a string \("1.5"\)/);
  const key = valueConverter({ column: 'station', field: 'station' }, 'text', true);
  assert.throws(() => key(null), /column 'station' .* is a primary key column and cannot be null/);
  assert.throws(() => key(undefined), /primary key column but the row has no such field/);
});

test('valueConverter: text takes JSON for objects and ISO strings for timestamps', () => {
  const text = valueConverter({ column: 'record', field: 'record' }, 'text', false);
  assert.equal(text({ station: 'a', v: 1 }), '{"station":"a","v":1}');
  assert.equal(text(new Date(0)), '1970-01-01T00:00:00.000Z');
  assert.throws(() => text(12), /cannot take a number \(12\)/);
  const time = valueConverter({ column: 'at', field: 't' }, 'text', false, true);
  assert.equal(time(0), '1970-01-01T00:00:00.000Z');
});

test('valueConverter: integers, bigints, booleans, blobs, unknown types', () => {
  const int = valueConverter({ column: 'n', field: 'n' }, 'int', false);
  assert.equal(int(3), 3);
  assert.throws(() => int(0.5), /cannot take a number with a fraction \(0.5\)/);
  assert.throws(() => int(2 ** 31), ColumnValueError);
  const big = valueConverter({ column: 'n', field: 'n' }, 'bigint', false);
  assert.equal(big(3), 3n);
  assert.equal(big(2n ** 60n), 2n ** 60n);
  assert.equal(valueConverter({ column: 'b', field: 'b' }, 'boolean', false)(false), false);
  assert.deepEqual(valueConverter({ column: 'b', field: 'b' }, 'blob', false)(new Uint8Array([1, 2])), Buffer.from([1, 2]));
  assert.deepEqual(valueConverter({ column: 'l', field: 'l' }, 'list<text>', false)(['a']), ['a']);
});

test('isRetriableCassandraError: outages yes, rejections no', () => {
  const response = (code: number) => new driverErrors.ResponseError(code, 'x');
  assert.equal(isRetriableCassandraError(new driverErrors.NoHostAvailableError({})), true);
  assert.equal(isRetriableCassandraError(new driverErrors.NoHostAvailableError({ '127.0.0.1:9042': new Error('ECONNREFUSED') })), true);
  assert.equal(
    isRetriableCassandraError(new driverErrors.NoHostAvailableError({ '127.0.0.1:9042': new driverErrors.AuthenticationError('bad credentials') })),
    false,
    'wrong password on every node is configuration, not an outage',
  );
  const wrongLogin = new driverErrors.NoHostAvailableError({ '127.0.0.1:9042': new driverErrors.AuthenticationError('Provided username tideflow and/or password are incorrect') });
  assert.match(describeCassandraError(wrongLogin), /password are incorrect.*\(Cassandra refused the login: check the username and password under the Cassandra sink's auth\)$/);
  assert.doesNotMatch(describeCassandraError(new driverErrors.NoHostAvailableError({ '127.0.0.1:9042': new Error('ECONNREFUSED') })), /refused the login/);
  assert.equal(isRetriableCassandraError(new driverErrors.NoHostAvailableError(null as never, 'Connecting after shutdown is not supported')), false);
  // A certificate Node does not trust, on every node: configuration; the description says what to do.
  const untrusted = () => Object.assign(new Error('self-signed certificate'), { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' });
  const noTrust = new driverErrors.NoHostAvailableError({ '127.0.0.1:9042': untrusted(), '127.0.0.2:9042': untrusted() });
  assert.equal(isRetriableCassandraError(noTrust), false);
  assert.match(describeCassandraError(noTrust), /TLS: the Cassandra node's certificate is not accepted \(DEPTH_ZERO_SELF_SIGNED_CERT\).*NODE_EXTRA_CA_CERTS/);
  const oneDown = new driverErrors.NoHostAvailableError({ '127.0.0.1:9042': untrusted(), '127.0.0.2:9042': Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }) });
  assert.equal(isRetriableCassandraError(oneDown), true, 'one node unreachable, not refused: an outage may pass');
  assert.equal(isRetriableCassandraError(new driverErrors.OperationTimedOutError('timed out')), true);
  assert.equal(isRetriableCassandraError(response(types.responseErrorCodes.unavailableException)), true);
  assert.equal(isRetriableCassandraError(response(types.responseErrorCodes.writeTimeout)), true);
  assert.equal(isRetriableCassandraError(response(types.responseErrorCodes.overloaded)), true);
  assert.equal(isRetriableCassandraError(response(types.responseErrorCodes.invalid)), false);
  assert.equal(isRetriableCassandraError(response(types.responseErrorCodes.syntaxError)), false);
  assert.equal(isRetriableCassandraError(response(types.responseErrorCodes.unauthorized)), false);
  const DriverError = driverErrors.DriverError as unknown as new (message: string) => Error;
  assert.equal(isRetriableCassandraError(new DriverError('Socket was closed')), true);
  assert.equal(isRetriableCassandraError(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })), true);
  assert.equal(isRetriableCassandraError(new TypeError('Expected Number, obtained "x"')), false);
  assert.equal(isRetriableCassandraError(new ExternalError('x', { retriable: true })), true);
});

test('WriteClock never goes back or repeats, even when the wall clock does', () => {
  let now = 1_000;
  const clock = new WriteClock(() => now);
  assert.equal(clock.nextMicros(), 1_000_000);
  assert.equal(clock.nextMicros(), 1_000_001);
  now = 999;
  assert.equal(clock.nextMicros(), 1_000_002);
  now = 2_000;
  assert.equal(clock.nextMicros(), 2_000_000);
});

test('createCassandraClient: ssl verifies the certificate (the driver alone would accept any)', async () => {
  const tls = createCassandraClient({ contactPoints: ['127.0.0.1:9042'], localDataCenter: 'datacenter1', ssl: true });
  // The driver keeps its effective options on the client (not in its typings).
  const sslOf = (client: unknown) => (client as { options: { sslOptions?: { rejectUnauthorized?: boolean } } }).options.sslOptions;
  assert.equal(sslOf(tls)?.rejectUnauthorized, true);
  const plain = createCassandraClient({ contactPoints: ['127.0.0.1:9042'], localDataCenter: 'datacenter1' });
  assert.equal(sslOf(plain), undefined);
  await Promise.all([tls.shutdown(), plain.shutdown()]);
});
