import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { DecodeError, ExternalError } from '../core/errors';
import { SchemaRegistry } from './registry';

/**
 * How the registry's answers are sorted (outage, unknown id, wrong URL),
 * through the real client library against a local HTTP server that answers
 * one fixed way. The real registry (Apicurio) is in test/integration.
 */
async function answering(status: number, body: unknown): Promise<{ url: string; server: Server }> {
  const server = createServer((_request, response) => {
    response.writeHead(status, { 'content-type': 'application/json' });
    response.end(JSON.stringify(body));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

/** A port nothing listens on: one the OS just gave out and took back. */
async function closedPort(): Promise<number> {
  const { server } = await answering(200, {});
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

test('registry: connection refused is a retriable outage, its cause said once', async () => {
  const port = await closedPort();
  const registry = new SchemaRegistry({ url: `http://127.0.0.1:${port}` });
  await assert.rejects(registry.getWriterType(1), (error: unknown) => {
    assert.ok(error instanceof ExternalError);
    assert.equal(error.retriable, true);
    assert.equal(error.message, `schema registry http://127.0.0.1:${port} unreachable: cannot fetch writer schema 1: connect ECONNREFUSED 127.0.0.1:${port}`);
    return true;
  });
  registry.close();
});

test('registry: an unknown id is a dead letter; a 404 that is not the registry is a wrong URL; 503 is an outage', async (t) => {
  const unknown = await answering(404, { error_code: 40403, message: 'Schema not found' });
  const notRegistry = await answering(404, { message: 'no route' });
  const unavailable = await answering(503, { message: 'busy' });
  t.after(() => [unknown, notRegistry, unavailable].forEach(({ server }) => server.close()));

  await assert.rejects(new SchemaRegistry({ url: unknown.url }).getWriterType(7), (error: unknown) => {
    assert.ok(error instanceof DecodeError);
    assert.equal(error.message, 'unknown schema id 7: the schema registry has no such schema');
    return true;
  });
  await assert.rejects(new SchemaRegistry({ url: notRegistry.url }).getWriterType(7), (error: unknown) => {
    assert.ok(error instanceof ExternalError);
    assert.equal(error.retriable, false);
    assert.match(error.message, /answered 404 without a registry error code: is the URL right\?/);
    return true;
  });
  await assert.rejects(new SchemaRegistry({ url: unavailable.url }).getWriterType(7), (error: unknown) => {
    assert.ok(error instanceof ExternalError);
    assert.equal(error.retriable, true);
    assert.match(error.message, new RegExp(`^schema registry ${unavailable.url} unavailable \\(HTTP 503\\): cannot fetch writer schema 7`));
    return true;
  });
});
