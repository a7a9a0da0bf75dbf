import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { UiHub } from './hub';
import type { JobPoint, JobView } from './job-monitor';
import { bundledStations, type LevelRow, type LunarDayRow } from './results';

/**
 * The web UI's HTTP server (node:http): the page, its scripts, the chart and
 * map libraries' prebuilt browser files straight from node_modules, and the
 * JSON API under /api/ that the page itself uses:
 *
 *   GET /api/jobs                      every job: live runs, then jobs seen in checkpoint stores
 *   GET /api/jobs/<job>                one job
 *   GET /api/tasks                     one task per job run, with its partitions
 *   GET /api/metrics[?job=<job>]       history of live runs: records/s, lag, watermark delay
 *   GET /api/stations                  every bundled station, with its results' first/last window and latest lunar day
 *   GET /api/results/levels?station=<id>[&station=<id>...]&from=<iso>&to=<iso>       30-minute rows
 *   GET /api/results/lunar-days?station=<id>[&station=<id>...]&from=<iso>&to=<iso>   lunar-day rows
 *   GET /api/events                    server-sent events: `job` (a job changed), `results` (results changed)
 *
 * Bound to 127.0.0.1 unless told otherwise, like the metrics endpoint.
 */
export interface UiServer {
  /** `http://127.0.0.1:8080/` */
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

export interface UiServerOptions {
  port: number;
  host?: string;
  /** Directory of index.html and the page's modules (default: engine/ui/static of this package). */
  staticDir?: string;
}

/** Browser files of the libraries the page uses, by URL path under /vendor/ (see docs/ui.md for why these). */
const VENDOR: Record<string, string> = {
  'uPlot.esm.js': 'uplot/dist/uPlot.esm.js',
  'uPlot.min.css': 'uplot/dist/uPlot.min.css',
  'd3-array.min.mjs': 'd3-array/dist/d3-array.min.mjs',
  'd3-geo.min.mjs': 'd3-geo/dist/d3-geo.min.mjs',
  'topojson-client/feature.js': 'topojson-client/src/feature.js',
  'topojson-client/reverse.js': 'topojson-client/src/reverse.js',
  'topojson-client/transform.js': 'topojson-client/src/transform.js',
  'topojson-client/identity.js': 'topojson-client/src/identity.js',
  'land-50m.json': 'world-atlas/land-50m.json',
};

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
};

/**
 * A library file in node_modules. Found by walking up the module search paths
 * rather than require.resolve: packages such as d3-geo declare `exports` that
 * hide their browser builds from Node's resolver.
 */
export function vendorFile(target: string): string {
  for (const directory of require.resolve.paths(target) ?? []) {
    const candidate = join(directory, target);
    if (existsSync(candidate)) return candidate;
  }
  return join('node_modules', target);
}

/** Where the page's files are: beside this module's source (engine/ui/static), from dist/engine/ui or engine/ui. */
export function defaultStaticDir(): string {
  const candidates = [resolve(__dirname, '..', '..', '..', 'engine', 'ui', 'static'), resolve(__dirname, 'static')];
  return candidates.find((candidate) => existsSync(join(candidate, 'index.html'))) ?? candidates[0];
}

/**
 * Starts the UI server. Port 0 picks a free port (tests).
 *
 * @example
 *   const server = await serveUi(hub, { port: 8080 });   // http://127.0.0.1:8080/
 *   ...
 *   await server.close();
 */
export function serveUi(hub: UiHub, options: UiServerOptions): Promise<UiServer> {
  const host = options.host ?? '127.0.0.1';
  const staticDir = options.staticDir ?? defaultStaticDir();
  const files = new FileCache();
  const events = new Set<ServerResponse>();
  const server: Server = createServer((request, response) => {
    handle(request, response).catch((error: unknown) => {
      if (!response.headersSent) sendJson(response, 500, { error: (error as Error).message });
      else response.end();
    });
  });

  const handle = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    const url = new URL(request.url ?? '/', 'http://localhost');
    const path = decodeURIComponent(url.pathname);
    if (path === '/api/events') return openEvents(request, response);
    if (path.startsWith('/api/')) return sendJson(response, ...(await api(hub, path, url.searchParams)));
    if (path === '/' || path === '/index.html') return files.send(request, response, join(staticDir, 'index.html'), false);
    if (path.startsWith('/vendor/')) {
      const target = VENDOR[path.slice('/vendor/'.length)];
      if (target === undefined) return sendJson(response, 404, { error: `no such file: ${path}` });
      return files.send(request, response, vendorFile(target), true);
    }
    if (path.startsWith('/static/')) {
      const file = normalize(join(staticDir, path.slice('/static/'.length)));
      if (!file.startsWith(staticDir + sep)) return sendJson(response, 404, { error: `no such file: ${path}` });
      return files.send(request, response, file, false);
    }
    sendJson(response, 404, { error: `no such page: ${path} (the UI is at /, its API under /api/)` });
  };

  const openEvents = (request: IncomingMessage, response: ServerResponse): void => {
    response.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
    response.write(`retry: 2000\n\n`);
    events.add(response);
    hub.watch();
    // Proxies close connections that stay silent; a comment line every 25 s is nothing to the page.
    const keepAlive = setInterval(() => response.write(': keep-alive\n\n'), 25_000);
    keepAlive.unref();
    request.on('close', () => {
      clearInterval(keepAlive);
      events.delete(response);
      hub.unwatch();
    });
  };
  const broadcast = (event: string, data: unknown): void => {
    const text = `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
    for (const response of events) response.write(text);
  };
  const onJob = (view: JobView, point: JobPoint | null) => broadcast('job', { view, point });
  const onResults = (status: unknown) => broadcast('results', status);
  hub.on('job', onJob);
  hub.on('results', onResults);

  return new Promise((resolvePromise, reject) => {
    server.once('error', reject);
    server.listen(options.port, host, () => {
      server.off('error', reject);
      const port = (server.address() as AddressInfo).port;
      const shownHost = host.includes(':') ? `[${host}]` : host;
      resolvePromise({
        url: `http://${shownHost}:${port}/`,
        port,
        close: () =>
          new Promise<void>((done) => {
            hub.off('job', onJob);
            hub.off('results', onResults);
            for (const response of events) response.end();
            server.close(() => done());
            server.closeAllConnections();
          }),
      });
    });
  });
}

type ApiAnswer = [status: number, body: unknown];

/** The JSON API (see serveUi). */
export async function api(hub: UiHub, path: string, query: URLSearchParams): Promise<ApiAnswer> {
  if (path === '/api/jobs') {
    const { jobs, storeError } = await hub.jobs();
    return [200, { now: Date.now(), jobs, storeError }];
  }
  if (path.startsWith('/api/jobs/')) {
    const name = path.slice('/api/jobs/'.length);
    const view = (await hub.jobs()).jobs.find((candidate) => candidate.job === name);
    return view ? [200, view] : [404, { error: `no job named '${name}' is running here or has a checkpoint in the configured stores` }];
  }
  if (path === '/api/tasks') return [200, { tasks: await hub.tasks() }];
  if (path === '/api/metrics') return [200, { now: Date.now(), jobs: hub.metrics(query.get('job') ?? undefined) }];
  if (path === '/api/stations') return stations(hub);
  if (path === '/api/results/levels' || path === '/api/results/lunar-days') return results(hub, path.endsWith('levels') ? 'levels' : 'lunarDays', query);
  return [404, { error: `no such API: ${path}` }];
}

async function stations(hub: UiHub): Promise<ApiAnswer> {
  const status = hub.resultsStatus();
  const source = hub.resultSource();
  const known = bundledStations();
  const found = source ? await source.stations() : { value: [], queryMs: 0, query: '' };
  const byId = new Map(found.value.map((entry) => [entry.station, entry]));
  // Stations with results that the bundled table does not know still appear (without a position).
  const ids = [...new Set([...known.map((station) => station.id), ...byId.keys()])];
  return [
    200,
    {
      results: status,
      queryMs: found.queryMs,
      query: found.query,
      stations: ids.map((id) => {
        const meta = known.find((station) => station.id === id);
        const entry = byId.get(id);
        return {
          id,
          name: meta?.name ?? id,
          lat: meta?.lat ?? null,
          lon: meta?.lon ?? null,
          first: iso(entry?.first ?? null),
          last: iso(entry?.last ?? null),
          latestLunarDay: entry?.latestLunarDay ? lunarDayJson(entry.latestLunarDay) : null,
        };
      }),
    },
  ];
}

async function results(hub: UiHub, kind: 'levels' | 'lunarDays', query: URLSearchParams): Promise<ApiAnswer> {
  const source = hub.resultSource();
  if (!source) return [503, { error: `no results yet: ${hub.resultsStatus().detail}`, results: hub.resultsStatus() }];
  const stations = query.getAll('station').flatMap((value) => value.split(',')).map((value) => value.trim()).filter(Boolean);
  if (stations.length === 0) return [400, { error: 'name at least one station: ?station=9414290 (repeat for more)' }];
  if (stations.length > 20) return [400, { error: 'at most 20 stations at once' }];
  const from = parseTime(query.get('from'));
  const to = parseTime(query.get('to'));
  if (from === null || to === null) return [400, { error: 'give the range as from=<ISO-8601 or epoch ms>&to=<...> (window_start in [from, to))' }];
  if (!(to > from)) return [400, { error: '`to` must be after `from`' }];
  const series = await Promise.all(
    stations.map(async (station) => {
      const answer = kind === 'levels' ? await source.levels(station, from, to) : await source.lunarDays(station, from, to);
      const rows = kind === 'levels' ? (answer.value as LevelRow[]).map(levelJson) : (answer.value as LunarDayRow[]).map(lunarDayJson);
      return { station, rows, queryMs: round(answer.queryMs), query: answer.query };
    }),
  );
  return [200, { source: source.description, from: iso(from), to: iso(to), series }];
}

function parseTime(text: string | null): number | null {
  if (text === null || text.trim() === '') return null;
  if (/^-?\d+$/.test(text.trim())) return Number(text);
  const parsed = Date.parse(text);
  return Number.isNaN(parsed) ? null : parsed;
}

function iso(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}

/** Result rows as the JSONL output has them: timestamps as ISO-8601 UTC. */
function levelJson(row: LevelRow): Record<string, unknown> {
  return { ...row, window_start: iso(row.window_start), window_end: iso(row.window_end) };
}

function lunarDayJson(row: LunarDayRow): Record<string, unknown> {
  return { ...row, window_start: iso(row.window_start), window_end: iso(row.window_end), high_time: iso(row.high_time), low_time: iso(row.low_time) };
}

/** JSON has no Infinity: infinite numbers (a watermark at the end of input) are sent as null. */
function sendJson(response: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body, (_key, value: unknown) => (typeof value === 'number' && !Number.isFinite(value) ? null : value));
  const data = Buffer.from(text, 'utf8');
  const gzip = data.length > 1024 && /\bgzip\b/.test(String(response.req.headers['accept-encoding'] ?? ''));
  response.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'cache-control': 'no-store',
    ...(gzip ? { 'content-encoding': 'gzip', vary: 'accept-encoding' } : {}),
  });
  response.end(gzip ? gzipSync(data, { level: 6 }) : data);
}

/** Static files read once, kept with their gzip form (the page and its libraries are a few hundred KB). */
class FileCache {
  private readonly entries = new Map<string, { data: Buffer; gzip: Buffer; etag: string }>();

  async send(request: IncomingMessage, response: ServerResponse, file: string, immutable: boolean): Promise<void> {
    let entry = this.entries.get(file);
    if (!entry) {
      let data: Buffer;
      try {
        data = await readFile(file);
      } catch {
        sendJson(response, 404, { error: `no such file: ${request.url}` });
        return;
      }
      entry = { data, gzip: gzipSync(data, { level: 9 }), etag: `"${createHash('sha1').update(data).digest('base64url')}"` };
      // The page's own files are read again after an edit only when the cache is new; a restart picks them up.
      this.entries.set(file, entry);
    }
    const headers: Record<string, string> = {
      'content-type': TYPES[extname(file)] ?? 'application/octet-stream',
      etag: entry.etag,
      // Library files change only with an npm install; the page's own files are checked each load.
      'cache-control': immutable ? 'public, max-age=86400' : 'no-cache',
      vary: 'accept-encoding',
    };
    if (request.headers['if-none-match'] === entry.etag) {
      response.writeHead(304, headers).end();
      return;
    }
    const gzip = /\bgzip\b/.test(String(request.headers['accept-encoding'] ?? ''));
    if (gzip) headers['content-encoding'] = 'gzip';
    const body = gzip ? entry.gzip : entry.data;
    headers['content-length'] = String(body.length);
    response.writeHead(200, headers);
    response.end(request.method === 'HEAD' ? undefined : body);
  }
}

