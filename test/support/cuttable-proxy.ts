/**
 * A TCP proxy on 127.0.0.1 whose link can be cut and mended, to play a
 * network partition between one client and a server without touching the
 * server or other clients.
 *
 * Two ways to cut:
 * - `blackhole` (a partition: cable pulled, a switch dropping packets):
 *   connections stay open but nothing passes either way; new connections
 *   are accepted and then hang. The client learns of it only from its own
 *   timeouts. Data already sent waits (TCP backpressure) and flows on when
 *   the link is mended, as after a partition that heals before TCP gives up.
 * - `reset` (the far side gone): open connections are reset and new ones
 *   refused until the link is mended.
 *
 * @example
 *   const link = new CuttableProxy('127.0.0.1', 9396);
 *   await link.start();            // link.port: where the client connects
 *   link.cut('blackhole');         // nothing passes
 *   await link.mend();             // forwarding again
 *   await link.close();
 */
import net from 'node:net';

export type CutMode = 'blackhole' | 'reset';

interface Link {
  readonly client: net.Socket;
  upstream: net.Socket | null;
  forwarding: boolean;
}

export class CuttableProxy {
  private server: net.Server | null = null;
  private readonly links = new Set<Link>();
  private listenPort = 0;
  private state: 'open' | CutMode = 'open';
  /** Connections accepted, in total. */
  connections = 0;
  /** Connections accepted while the link was cut (blackholed: held until mended). */
  connectionsWhileCut = 0;
  /** Bytes passed each way. */
  bytesUp = 0;
  bytesDown = 0;

  constructor(
    private readonly targetHost: string,
    private readonly targetPort: number,
    /** Port to listen on; 0 (default): a free one, kept across `reset` cuts. */
    port = 0,
  ) {
    this.listenPort = port;
  }

  /** Where clients connect (after `start`). */
  get port(): number {
    return this.listenPort;
  }

  /** `open`, or how the link is cut now. */
  get status(): 'open' | CutMode {
    return this.state;
  }

  /** Listens on 127.0.0.1 (a free port the first time unless one was given). */
  async start(): Promise<void> {
    if (this.server) return;
    const server = net.createServer((client) => this.accept(client));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.listenPort, '127.0.0.1', () => resolve());
    });
    this.listenPort = (server.address() as net.AddressInfo).port;
    this.server = server;
  }

  /** Stops forwarding (see the module comment for the two modes). */
  async cut(mode: CutMode = 'blackhole'): Promise<void> {
    if (this.state !== 'open') throw new Error(`the link is already cut (${this.state})`);
    this.state = mode;
    if (mode === 'blackhole') {
      for (const link of this.links) this.hold(link);
      return;
    }
    const server = this.server;
    this.server = null;
    const closed = server ? new Promise<void>((resolve) => server.close(() => resolve())) : Promise.resolve();
    for (const link of [...this.links]) this.drop(link, true);
    await closed;
  }

  /** Forwards again: held connections flow on; after a `reset` cut, the same port listens again. */
  async mend(): Promise<void> {
    const was = this.state;
    this.state = 'open';
    if (was === 'reset') {
      await this.start();
      return;
    }
    for (const link of this.links) this.forward(link);
  }

  /** Stops listening and closes every connection. */
  async close(): Promise<void> {
    const server = this.server;
    this.server = null;
    const closed = server ? new Promise<void>((resolve) => server.close(() => resolve())) : Promise.resolve();
    for (const link of [...this.links]) this.drop(link, false);
    await closed;
  }

  private accept(client: net.Socket): void {
    this.connections++;
    const link: Link = { client, upstream: null, forwarding: false };
    this.links.add(link);
    client.on('error', () => this.drop(link, false));
    client.on('close', () => this.drop(link, false));
    client.on('data', (chunk: Buffer) => {
      this.bytesUp += chunk.length;
      if (!link.upstream!.write(chunk)) client.pause();
    });
    if (this.state === 'open') this.forward(link);
    else {
      this.connectionsWhileCut++;
      client.pause();
    }
  }

  /** Connects upstream on first use, then lets data flow both ways. */
  private forward(link: Link): void {
    if (link.forwarding) return;
    link.forwarding = true;
    if (link.upstream === null) {
      const upstream = net.connect({ host: this.targetHost, port: this.targetPort });
      link.upstream = upstream;
      upstream.on('error', () => this.drop(link, false));
      upstream.on('close', () => this.drop(link, false));
      upstream.on('data', (chunk: Buffer) => {
        this.bytesDown += chunk.length;
        if (!link.client.write(chunk)) upstream.pause();
      });
      upstream.on('drain', () => link.forwarding && link.client.resume());
      link.client.on('drain', () => link.forwarding && upstream.resume());
    }
    link.client.resume();
    link.upstream.resume();
  }

  /** Reads nothing more from either side: what they send waits in their buffers. */
  private hold(link: Link): void {
    link.forwarding = false;
    link.client.pause();
    link.upstream?.pause();
  }

  private drop(link: Link, reset: boolean): void {
    if (!this.links.delete(link)) return;
    link.forwarding = false;
    for (const socket of [link.client, link.upstream]) {
      if (socket === null) continue;
      try {
        // A reset (RST), as from a host that is gone; a plain close otherwise.
        if (reset) socket.resetAndDestroy();
        else socket.destroy();
      } catch {
        socket.destroy();
      }
    }
  }
}
