/**
 * Security basics against the real broker's SASL_PLAINTEXT listener (PLAIN):
 *
 * - a job whose source and side outputs authenticate with
 *   `sasl: { mechanism: plain, username: ${KAFKA_USERNAME}, password: ${KAFKA_PASSWORD} }`
 *   (block style) runs end to end with exact results;
 * - a wrong password fails with a clear message and exit code 1, no stack trace;
 * - the password never shows in stdout/stderr of any run, nor in the output
 *   of `tideflow lint` / `tideflow run` when the sasl block is wrong
 *   (wrong types, misspelled keys, bad mechanism), nor on the metrics page;
 * - the metrics endpoint (`--metrics-port`) listens on 127.0.0.1 only;
 * - over the SASL_SSL listener (TLS, SCRAM-SHA-512) and Cassandra over TLS,
 *   with the cluster's self-signed CA given the Node way (NODE_EXTRA_CA_CERTS),
 *   a job runs end to end with exact results; without the CA it fails clearly
 *   (Kafka, then Cassandra alone) instead of retrying;
 * - against a Cassandra node that demands a login (a node of its own, with
 *   PasswordAuthenticator), a job whose sink has `auth:` runs end to end with
 *   exact results and its checkpoints in that node; a wrong password fails
 *   at once with exit 1, and the password is never printed.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { errors as driverErrors } from 'cassandra-driver';
import { emptyCounters, type RunCounters } from '../../engine/core/operator';
import { createCassandraClient } from '../../engine/clients/cassandra';
import { CassandraCheckpointStore } from '../../engine/state/cassandra-checkpoint-store';
import { requireCluster } from '../support/cluster';
import { compareWithPlain, describeComparison, observationSlice, openFaultRun, RESULT_TABLE, runCli, selectAll, startCli, unaccountedOf, type CliExit, type JobName } from './harness';
import { recordOutcome } from './report';
import { sleep, startPrivateCassandra } from './support-servers';

const JOB: JobName = 'tides-dedupe';

/** Every Kafka connection of the job file (source, dead letters, late) goes through SASL/PLAIN, block style. */
function withSasl(text: string): string {
  const block = ['    brokers: ${KAFKA_SASL_BROKERS}', '    sasl:', '      mechanism: plain', '      username: ${KAFKA_USERNAME}', '      password: ${KAFKA_PASSWORD}'].join('\n');
  const out = text.split('    brokers: ${KAFKA_BROKERS:-localhost:9092}').join(block);
  if (out.split('sasl:').length - 1 !== 3) throw new Error('expected three Kafka connections in the job file');
  return out;
}

/** Every Kafka connection of the job file over TLS + SASL/SCRAM-SHA-512, block style. */
function withKafkaTls(text: string): string {
  const block = [
    '    brokers: ${KAFKA_TLS_BROKERS}',
    '    ssl: true',
    '    sasl:',
    '      mechanism: scram-sha-512',
    '      username: ${KAFKA_USERNAME}',
    '      password: ${KAFKA_PASSWORD}',
  ].join('\n');
  const out = text.split('    brokers: ${KAFKA_BROKERS:-localhost:9092}').join(block);
  if (out.split('ssl: true').length - 1 !== 3) throw new Error('expected three Kafka connections in the job file');
  return out;
}

/** The Cassandra sink over TLS (the local node's native port takes TLS optionally). */
function withCassandraTls(text: string): string {
  const line = '    contactPoints: ${CASSANDRA_CONTACT_POINTS:-localhost:9042}';
  if (text.split(line).length !== 2) throw new Error('expected one Cassandra sink in the job file');
  return text.replace(line, `${line}\n    ssl: true`);
}

/** The Cassandra sink (and so its checkpoints) logging in, block style. */
function withCassandraAuth(text: string): string {
  const line = '    contactPoints: ${CASSANDRA_CONTACT_POINTS:-localhost:9042}';
  if (text.split(line).length !== 2) throw new Error('expected one Cassandra sink in the job file');
  return text.replace(line, `${line}\n    auth:\n      username: \${CASSANDRA_USERNAME}\n      password: \${CASSANDRA_PASSWORD}`);
}

/** The report fields of a run compared with the plain computation (no recovery in these scenarios). */
function resultFields(comparison: ReturnType<typeof compareWithPlain>, counters: Parameters<typeof unaccountedOf>[1] | undefined) {
  return {
    recordsIn: counters?.recordsIn ?? 0,
    resultsExact: comparison.exact,
    lost: comparison.lost,
    duplicated: comparison.duplicated,
    recoveryMs: null,
    unaccounted: counters ? unaccountedOf(JOB, counters) : Number.NaN,
  };
}

/** Runs the CLI to its exit; killed after `limitMs` if it hangs on (a failure that is retried instead of reported). */
async function runCliWithin(args: string[], env: NodeJS.ProcessEnv, limitMs = 90_000): Promise<CliExit> {
  const cli = startCli(args, env);
  const timer = setTimeout(() => cli.kill('SIGKILL'), limitMs);
  try {
    return await cli.exited;
  } finally {
    clearTimeout(timer);
  }
}

/** The CLI's own message (`tideflow: ...`), else the first line of its stderr. */
function messageOf(exit: CliExit): string {
  const lines = exit.stderr.trim().split('\n');
  return lines.find((line) => line.startsWith('tideflow:')) ?? lines[0];
}

function leaks(exit: CliExit, secrets: string[]): string[] {
  return secrets.filter((secret) => exit.stdout.includes(secret) || exit.stderr.includes(secret));
}

function canConnect(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(2000, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(port));
    });
  });
}

test('security: SASL/PLAIN end to end, wrong password exits 1 clearly, the password never printed, metrics on loopback only', { timeout: 300_000 }, async (t) => {
  if (!(await requireCluster(t))) return;
  const run = await openFaultRun('sasl', t);
  const started = Date.now();
  const password = run.cluster.kafkaSaslPassword;
  const wrongPassword = `wrong-${password}-x9`;
  const secrets = [password, wrongPassword];
  const runs: Array<{ what: string; exit: CliExit }> = [];
  const notes: string[] = [];
  try {
    const input = await observationSlice(32);
    await run.produce(input);
    const plainJob = readFileSync(run.jobFile(JOB), 'utf8');
    const jobFile = run.jobFile(JOB, withSasl, 'sasl.yaml');
    const saslEnv = (pass: string, group: string) =>
      run.env({ KAFKA_SASL_BROKERS: run.cluster.kafkaSaslBrokers.join(','), KAFKA_USERNAME: run.cluster.kafkaSaslUsername, KAFKA_PASSWORD: pass, FAULTS_GROUP: group });

    // 1. The right password: end to end, exact.
    const good = await runCli(['run', jobFile, '--until-end'], saslEnv(password, `faults-sasl-${run.id}`));
    runs.push({ what: 'run, right password', exit: good });
    const comparison = compareWithPlain(JOB, input, await run.table(RESULT_TABLE[JOB]));
    const counters = (await run.lastCheckpoint(JOB))?.counters;

    // 2. A wrong password: a clear failure, exit 1.
    const bad = await runCli(['run', jobFile, '--until-end', '--reset-state'], saslEnv(wrongPassword, `faults-sasl-bad-${run.id}`));
    runs.push({ what: 'run, wrong password', exit: bad });
    t.diagnostic(`wrong password: exit ${bad.code} after ${bad.durationMs} ms: ${bad.stderr.trim()}`);

    // 3. Config errors around the secret, from lint and from run.
    const broken: Array<{ what: string; edit: (text: string) => string }> = [
      { what: 'password as a list', edit: (text) => text.replace('password: ${KAFKA_PASSWORD}', `password: [${password}]`) },
      { what: 'password as a map', edit: (text) => text.replace('password: ${KAFKA_PASSWORD}', `password: { value: ${password} }`) },
      { what: 'password key misspelled', edit: (text) => text.replace('password: ${KAFKA_PASSWORD}', `pasword: ${password}`) },
      { what: 'password as a number', edit: (text) => text.replace('password: ${KAFKA_PASSWORD}', 'password: 918273645') },
      { what: 'unknown mechanism, password from the environment', edit: (text) => text.replace('mechanism: plain', 'mechanism: plaintext') },
      { what: 'sasl block with an extra field', edit: (text) => text.replace('password: ${KAFKA_PASSWORD}', 'password: ${KAFKA_PASSWORD}\n      token: ${KAFKA_PASSWORD}') },
      { what: 'YAML syntax error: unclosed quote in the password', edit: (text) => text.replace('password: ${KAFKA_PASSWORD}', `password: "${password}`) },
      { what: 'YAML syntax error on the password line', edit: (text) => text.replace('password: ${KAFKA_PASSWORD}', `password: ${password}: x`) },
    ];
    const configSecrets = [...secrets, '918273645'];
    for (const [index, { what, edit }] of broken.entries()) {
      const file = join(run.dir, `broken-${index}.yaml`);
      writeFileSync(file, edit(withSasl(plainJob)));
      const env = saslEnv(password, `faults-sasl-broken-${run.id}`);
      const lint = await runCli(['lint', file], env);
      runs.push({ what: `lint, ${what}`, exit: lint });
      const tried = await runCli(['run', file, '--until-end'], env);
      runs.push({ what: `run, ${what}`, exit: tried });
      if (lint.code !== 2) notes.push(`lint of "${what}" exited ${lint.code}`);
      if (tried.code !== 2) notes.push(`run of "${what}" exited ${tried.code}`);
    }

    // 4. The metrics endpoint, if this build has one: loopback only, no secrets on the page.
    let metricsNote = '';
    const help = await runCli(['run', '--help'], run.env());
    if (!help.stdout.includes('--metrics-port')) {
      metricsNote = 'metrics check skipped: this build has no --metrics-port';
      t.diagnostic(metricsNote);
    } else {
      const port = await freePort();
      const cli = startCli(['run', jobFile, '--metrics-port', String(port), '--checkpoint-interval', '1s'], saslEnv(password, `faults-sasl-metrics-${run.id}`));
      if ((await cli.waitForStderr(/metrics at|kafka: joined group/)) === null) assert.fail(`the job did not start: ${(await cli.exited).stderr}`);
      const loopback = await canConnect('127.0.0.1', port);
      const external = Object.values(networkInterfaces())
        .flat()
        .filter((info): info is NonNullable<typeof info> => info !== undefined && !info.internal && info.family === 'IPv4')
        .map((info) => info.address);
      const reachableFrom = [];
      for (const address of external) if (await canConnect(address, port)) reachableFrom.push(address);
      const page = loopback ? await fetch(`http://127.0.0.1:${port}/metrics`).then((response) => response.text()).catch((error: Error) => `fetch failed: ${error.message}`) : '';
      cli.kill('SIGTERM');
      const exit = await cli.exited;
      runs.push({ what: 'run with --metrics-port', exit });
      metricsNote =
        `metrics on 127.0.0.1:${port}: ${loopback ? 'reachable' : 'NOT reachable'}; ` +
        (external.length === 0 ? 'no non-loopback IPv4 address to probe' : `from ${external.join(', ')}: ${reachableFrom.length === 0 ? 'refused' : `REACHABLE from ${reachableFrom.join(', ')}`}`);
      t.diagnostic(metricsNote);
      assert.ok(loopback, metricsNote);
      assert.deepEqual(reachableFrom, [], metricsNote);
      assert.ok(!configSecrets.some((secret) => page.includes(secret)), 'the metrics page shows no password');
      assert.match(page, /^# (HELP|TYPE) /m, `a Prometheus page: ${page.slice(0, 200)}`);
    }

    const leaked = runs.flatMap(({ what, exit }) => leaks(exit, configSecrets).map(() => what));
    recordOutcome({
      scenario: 'security basics',
      job: JOB,
      faultsInjected: 1 + broken.length,
      faults: ['wrong SASL password', ...broken.map((b) => `config error: ${b.what}`)],
      ...resultFields(comparison, counters),
      notes:
        `SASL/PLAIN on ${run.cluster.kafkaSaslBrokers.join(',')}: exit ${good.code}, ${describeComparison(comparison)}; ` +
        `wrong password: exit ${bad.code} in ${bad.durationMs} ms ("${bad.stderr.trim().split('\n')[0]}"); ` +
        `${runs.length} runs checked, password ${leaked.length === 0 ? 'never printed' : `PRINTED by: ${leaked.join(', ')}`}; ${metricsNote}` +
        (notes.length > 0 ? `; ${notes.join('; ')}` : ''),
      durationMs: Date.now() - started,
    });

    assert.equal(good.code, 0, good.stderr);
    assert.ok(comparison.exact, describeComparison(comparison));
    assert.equal(counters && unaccountedOf(JOB, counters), 0);
    assert.equal(bad.code, 1, `a wrong password is a runtime failure (exit 1): ${bad.stderr}`);
    assert.match(bad.stderr, /auth|SASL/i, 'the message says authentication failed');
    assert.doesNotMatch(bad.stderr, /\n\s+at |internal error/, 'no stack trace');
    assert.deepEqual(leaked, [], 'the password appears in no output');
    assert.deepEqual(notes, [], 'config errors exit 2');
  } finally {
    await run.close();
  }
});

test('security: TLS to Kafka (SASL_SSL, SCRAM-SHA-512) and Cassandra end to end with the CA from NODE_EXTRA_CA_CERTS; an untrusted certificate fails clearly', { timeout: 300_000 }, async (t) => {
  if (!(await requireCluster(t))) return;
  const run = await openFaultRun('tls', t);
  const started = Date.now();
  try {
    const input = await observationSlice(16);
    await run.produce(input);
    const jobFile = run.jobFile(JOB, (text) => withCassandraTls(withKafkaTls(text)), 'tls.yaml');
    const kafkaOnly = run.jobFile(JOB, withKafkaTls, 'kafka-tls.yaml');
    const cassandraOnly = run.jobFile(JOB, withCassandraTls, 'cassandra-tls.yaml');
    const tlsEnv = (group: string, ca: boolean) => {
      const env = run.env({
        KAFKA_TLS_BROKERS: run.cluster.kafkaTlsBrokers.join(','),
        KAFKA_USERNAME: run.cluster.kafkaSaslUsername,
        KAFKA_PASSWORD: run.cluster.kafkaSaslPassword,
        FAULTS_GROUP: group,
        ...(ca ? { NODE_EXTRA_CA_CERTS: run.cluster.tlsCa } : {}),
      });
      if (!ca) delete env.NODE_EXTRA_CA_CERTS;
      return env;
    };

    // 1. The CA trusted: end to end, exact.
    const good = await runCli(['run', jobFile, '--until-end'], tlsEnv(`faults-tls-${run.id}`, true));
    const comparison = compareWithPlain(JOB, input, await run.table(RESULT_TABLE[JOB]));
    const counters = (await run.lastCheckpoint(JOB))?.counters;

    // 2. Only Kafka over TLS, its certificate not trusted: a configuration problem no retry fixes
    //    (after kafkajs' own connection retries). Killed after 90 s if it hangs on.
    const untrusted = await runCliWithin(['run', kafkaOnly, '--until-end', '--reset-state'], tlsEnv(`faults-tls-untrusted-${run.id}`, false));
    t.diagnostic(`untrusted certificate: exit ${untrusted.code ?? untrusted.signal} after ${untrusted.durationMs} ms: ${untrusted.stderr.trim().split('\n').slice(0, 3).join(' | ')}`);

    // 3. Kafka in plaintext, only Cassandra over TLS, the certificate not trusted: the sink refuses, at once.
    const cassandraUntrusted = await runCliWithin(['run', cassandraOnly, '--until-end', '--reset-state'], tlsEnv(`faults-tls-cassandra-${run.id}`, false));
    t.diagnostic(`Cassandra certificate not trusted: exit ${cassandraUntrusted.code ?? cassandraUntrusted.signal} after ${cassandraUntrusted.durationMs} ms: ${messageOf(cassandraUntrusted)}`);

    recordOutcome({
      scenario: 'TLS (SASL_SSL)',
      job: JOB,
      faultsInjected: 2,
      faults: ['Kafka certificate not trusted', 'Cassandra certificate not trusted'],
      ...resultFields(comparison, counters),
      notes:
        `SASL_SSL/SCRAM-SHA-512 on ${run.cluster.kafkaTlsBrokers.join(',')} and Cassandra over TLS, with NODE_EXTRA_CA_CERTS: exit ${good.code}, ${describeComparison(comparison)}; ` +
        `without the CA: exit ${untrusted.code ?? untrusted.signal} in ${untrusted.durationMs} ms ("${messageOf(untrusted)}"); ` +
        `Cassandra alone without the CA: exit ${cassandraUntrusted.code ?? cassandraUntrusted.signal} in ${cassandraUntrusted.durationMs} ms ("${messageOf(cassandraUntrusted)}")`,
      durationMs: Date.now() - started,
    });

    assert.equal(good.code, 0, good.stderr);
    assert.ok(comparison.exact, describeComparison(comparison));
    assert.equal(counters && unaccountedOf(JOB, counters), 0);
    assert.equal(untrusted.code, 1, `an untrusted certificate is a runtime failure (exit 1): ${untrusted.stderr}`);
    assert.match(untrusted.stderr, /broker's certificate is not accepted/, 'the message names the certificate problem');
    assert.doesNotMatch(untrusted.stderr, /\n\s+at |internal error/, 'no stack trace');
    assert.equal(cassandraUntrusted.code, 1, `an untrusted Cassandra certificate is a runtime failure (exit 1): ${cassandraUntrusted.stderr}`);
    assert.match(cassandraUntrusted.stderr, /Cassandra node's certificate is not accepted/, 'the message names the certificate problem');
    assert.ok(cassandraUntrusted.durationMs < 30_000, `not retried like an outage: ${cassandraUntrusted.durationMs} ms`);
    assert.doesNotMatch(cassandraUntrusted.stderr, /\n\s+at |internal error/, 'no stack trace');
  } finally {
    await run.close();
  }
});

test('security: Cassandra password authentication (a node of its own) end to end; a wrong password exits 1 at once, never printed', { timeout: 480_000 }, async (t) => {
  if (!(await requireCluster(t))) return;
  const run = await openFaultRun('cassandra-auth', t);
  const started = Date.now();
  const node = await startPrivateCassandra('auth', 200, { CASSANDRA_AUTHENTICATOR: 'PasswordAuthenticator' });
  t.diagnostic(`Cassandra with PasswordAuthenticator on ${node.contactPoint}, up in ${node.startMs} ms`);
  const localDataCenter = run.cluster.cassandraLocalDc;
  const superuser = createCassandraClient({ contactPoints: [node.contactPoint], localDataCenter, auth: { username: 'cassandra', password: 'cassandra' } });
  const login = { username: 'tideflow', password: 'tideflow-cql-secret' };
  const wrongPassword = 'not-the-cql-secret-7q';
  try {
    // The default superuser exists once the node has set up its roles, just after it starts listening.
    for (let attempt = 0; ; attempt++) {
      try {
        await superuser.connect();
        break;
      } catch (error) {
        if (attempt >= 60) throw error;
        await sleep(1000);
      }
    }
    // The job's own login (the node's authorizer allows every logged-in role everything).
    await superuser.execute(`CREATE ROLE IF NOT EXISTS tideflow WITH PASSWORD = '${login.password}' AND LOGIN = true`);
    // The node really demands a login: without one it refuses.
    const anonymous = createCassandraClient({ contactPoints: [node.contactPoint], localDataCenter });
    const refused = await anonymous.connect().then(
      () => null,
      (error: unknown) => error,
    );
    await anonymous.shutdown().catch(() => {});
    assert.ok(refused instanceof driverErrors.NoHostAvailableError, `a client without a login is refused: ${String(refused)}`);

    const input = await observationSlice(32);
    await run.produce(input);
    const jobFile = run.jobFile(JOB, withCassandraAuth, 'cassandra-auth.yaml');
    const authEnv = (password: string, group: string) =>
      run.env({ CASSANDRA_CONTACT_POINTS: node.contactPoint, CASSANDRA_USERNAME: login.username, CASSANDRA_PASSWORD: password, FAULTS_GROUP: group });

    // 1. The right password: end to end, exact; the checkpoints are in the same node, under the same login.
    const good = await runCli(['run', jobFile, '--until-end'], authEnv(login.password, `faults-cassandra-auth-${run.id}`));
    const comparison = compareWithPlain(JOB, input, await selectAll(superuser, run.keyspace, RESULT_TABLE[JOB]));
    const store = new CassandraCheckpointStore({ contactPoints: [node.contactPoint], localDataCenter, keyspace: run.keyspace, table: 'tideflow_checkpoints', auth: login });
    let counters: RunCounters | undefined;
    try {
      // One checkpoint per partition (a task each): their counters together are the job's.
      const keys = await store.list(`${JOB}/`);
      for (const key of keys) {
        const saved = await store.load(key);
        if (!saved) continue;
        counters ??= emptyCounters();
        for (const [name, value] of Object.entries(saved.counters)) (counters as unknown as Record<string, number>)[name] += value;
      }
    } finally {
      await store.close();
    }

    // 2. A wrong password: no retry can fix it; exit 1 at once. Killed after 90 s if it hangs on.
    const bad = await runCliWithin(['run', jobFile, '--until-end'], authEnv(wrongPassword, `faults-cassandra-auth-bad-${run.id}`));
    const firstLine = messageOf(bad);
    t.diagnostic(`wrong Cassandra password: exit ${bad.code ?? bad.signal} after ${bad.durationMs} ms: ${firstLine}`);
    const leaked = [good, bad].filter((exit) => leaks(exit, [login.password, wrongPassword]).length > 0).length;

    recordOutcome({
      scenario: 'Cassandra authentication',
      job: JOB,
      faultsInjected: 1,
      faults: ['wrong Cassandra password'],
      ...resultFields(comparison, counters),
      notes:
        `a node of its own with PasswordAuthenticator (${node.contactPoint}, up in ${node.startMs} ms), login without a password refused; ` +
        `the right password: exit ${good.code}, ${describeComparison(comparison)}, checkpoints in that node; ` +
        `a wrong password: exit ${bad.code ?? bad.signal} in ${bad.durationMs} ms ("${firstLine}"); password ${leaked === 0 ? 'never printed' : 'PRINTED'}`,
      durationMs: Date.now() - started,
    });

    assert.equal(good.code, 0, good.stderr);
    assert.ok(comparison.exact, describeComparison(comparison));
    assert.ok(counters, 'a checkpoint was saved in the authenticated node');
    assert.equal(unaccountedOf(JOB, counters), 0);
    assert.equal(bad.code, 1, `a wrong password is a runtime failure (exit 1): ${bad.stderr}`);
    assert.match(bad.stderr, /refused the login: check the username and password/, 'the message says the login failed and what to check');
    assert.ok(bad.durationMs < 30_000, `not retried like an outage: ${bad.durationMs} ms`);
    assert.doesNotMatch(bad.stderr, /\n\s+at |internal error/, 'no stack trace');
    assert.equal(leaked, 0, 'the password appears in no output');
  } finally {
    await superuser.execute(`DROP KEYSPACE IF EXISTS ${run.keyspace}`).catch(() => {});
    await superuser.shutdown().catch(() => {});
    await node.stop();
    await run.close();
  }
});
