import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { test, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { CuttableProxy } from './cuttable-proxy';

/** An echo server on a free port of 127.0.0.1, closed after the test. */
async function echoServer(t: TestContext): Promise<number> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    socket.pipe(socket);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => server.close(resolve));
  });
  return (server.address() as net.AddressInfo).port;
}

/** A client of the proxy that collects what comes back. */
async function client(t: TestContext, port: number): Promise<{ socket: net.Socket; received: () => string; ended: Promise<string> }> {
  const socket = net.connect({ host: '127.0.0.1', port });
  let text = '';
  socket.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
  const ended = new Promise<string>((resolve) => {
    socket.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
    socket.on('close', () => resolve('closed'));
  });
  t.after(() => socket.destroy());
  await once(socket, 'connect');
  return { socket, received: () => text, ended };
}

async function until(what: string, condition: () => boolean, ms = 2000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

test('blackhole: nothing passes while cut, open and new connections hang; mended, what waited arrives in order', async (t) => {
  const proxy = new CuttableProxy('127.0.0.1', await echoServer(t));
  await proxy.start();
  t.after(() => proxy.close());
  const open = await client(t, proxy.port);
  open.socket.write('a');
  await until('the echo of a', () => open.received() === 'a');

  await proxy.cut('blackhole');
  assert.equal(proxy.status, 'blackhole');
  open.socket.write('b');
  const late = await client(t, proxy.port);
  late.socket.write('c');
  await sleep(300);
  assert.equal(open.received(), 'a', 'nothing passed on the open connection');
  assert.equal(late.received(), '', 'nothing passed on a connection made while cut');
  assert.equal(proxy.connectionsWhileCut, 1);

  await proxy.mend();
  await until('the echoes after mending', () => open.received() === 'ab' && late.received() === 'c');
  open.socket.write('d');
  await until('the echo of d', () => open.received() === 'abd');
});

test('reset: open connections are reset and new ones refused; mended, the same port forwards again', async (t) => {
  const proxy = new CuttableProxy('127.0.0.1', await echoServer(t));
  await proxy.start();
  t.after(() => proxy.close());
  const port = proxy.port;
  const open = await client(t, port);
  open.socket.write('a');
  await until('the echo of a', () => open.received() === 'a');

  await proxy.cut('reset');
  assert.equal(await open.ended, 'ECONNRESET');
  const refused = net.connect({ host: '127.0.0.1', port });
  const [error] = (await once(refused, 'error').catch((e: unknown) => [e])) as [NodeJS.ErrnoException];
  assert.equal(error.code, 'ECONNREFUSED');

  await proxy.mend();
  assert.equal(proxy.port, port);
  const again = await client(t, port);
  again.socket.write('b');
  await until('the echo after mending', () => again.received() === 'b');
});
