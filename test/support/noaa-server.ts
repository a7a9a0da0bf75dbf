/**
 * A NOAA CO-OPS-like data API on 127.0.0.1 for tests: `GET .../datagetter`
 * answers the way api.tidesandcurrents.noaa.gov does, from real observations
 * (test/fixtures/noaa, copied from data/bundled/tides.avro; see its README),
 * and fails on request in every way a poller meets in the wild.
 *
 *   parameter               honoured as
 *   station, product        water_level (6-minute), hourly_height, predictions (the bundled harmonic model)
 *   begin_date, end_date    yyyyMMdd, yyyyMMdd HH:mm, MM/dd/yyyy, MM/dd/yyyy HH:mm; inclusive; a date-only end is that whole day
 *   date                    latest (last value within 18 minutes), today (since 00:00 GMT), recent (last 72 hours)
 *   range                   hours, alone (back from now) or with begin_date or end_date
 *   units                   metric (default) or english (feet, 3 decimals)
 *   time_zone               gmt (default); lst and lst_ldt are refused (this fake knows no station zones)
 *   datum                   required for the water-level products, as NOAA requires it; recorded, not applied
 *                           (each station has one series, on the datum given in test/fixtures/noaa/README.md)
 *   format                  json or csv; without it NOAA answers XML, and so does this server
 *   application             recorded
 *
 * Like NOAA: numbers are strings ("0.850", "" for none), times `YYYY-MM-DD HH:MM`,
 * errors are HTTP 200 with `{"error":{"message":" ..."}}` (leading space and
 * trailing blank lines included), a range longer than the product's maximum
 * span (31 days for 6-minute data, 365 days for hourly heights) is refused, and
 * a range without observations is "No data was found...". Observations later
 * than the server's clock (`now`) are not published yet.
 */
import * as fs from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import * as path from 'node:path';
import { splitCsvLine } from '../../engine/codecs/csv-line';
import { predictLevel, stationModel } from '../../engine/sources/generator-source';
import type { Row } from '../../engine/core/batch';

export type NoaaProduct = 'water_level' | 'hourly_height' | 'predictions';

/** One observation of the fixtures: metres, epoch ms. */
export interface FixtureObservation {
  t: number;
  v: number | null;
  s: number | null;
  f: string | null;
  q: string | null;
}

export interface FixtureStation {
  id: string;
  name: string;
  lat: number;
  lon: number;
}

export const NO_DATA_MESSAGE = 'No data was found. This product may not be offered at this station at the requested time.';

const MINUTE = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;
const FEET_PER_METRE = 1 / 0.3048;

/** The most a request may span, per product (NOAA: 1 month of 6-minute data, 1 year of hourly data). */
export const MAX_SPAN_MS: Record<NoaaProduct, number> = {
  water_level: 31 * DAY,
  hourly_height: 365 * DAY,
  predictions: 31 * DAY,
};

/** Ways the server can fail one request, the way NOAA and the network do. */
export type NoaaFault =
  /** HTTP 200 with NOAA's error body (default message: no data). */
  | { kind: 'error-body'; message?: string }
  /** Any status with a short text body (500, 404, 401...). */
  | { kind: 'status'; status: number }
  /** 503 with Retry-After (seconds). */
  | { kind: 'unavailable'; retryAfterSeconds?: number }
  /** 429 with Retry-After (seconds). */
  | { kind: 'rate-limited'; retryAfterSeconds?: number }
  /** HTTP 200 with an HTML maintenance page. */
  | { kind: 'html' }
  /** HTTP 200, a well-framed body holding the first half of the JSON answer. */
  | { kind: 'truncated' }
  /** The connection is cut halfway through the body. */
  | { kind: 'reset' }
  /** No answer at all, until the client gives up. */
  | { kind: 'hang' }
  /** HTTP 200 with the rows up to `until` only, as when a station's data trails the others'. */
  | { kind: 'short'; until: number }
  /** The right answer, held back until `until` settles (nothing if the client has gone by then). */
  | { kind: 'held'; until: Promise<unknown> }
  /** HTTP 200 with the metadata and an empty `data` array. */
  | { kind: 'empty-data' }
  /** The answer starts with `rows` observations before the range (again) and repeats each of its first `rows` ones. */
  | { kind: 'duplicate-overlap'; rows?: number };

/** Which requests a fault applies to, and how many of them. */
export interface FaultMatch {
  station?: string;
  product?: NoaaProduct;
  /** How many matching requests fail (default 1). */
  times?: number;
}

/** A request the server saw, with what it answered. */
export interface SeenRequest {
  /** Server clock when it arrived. */
  at: number;
  params: Record<string, string>;
  station: string | undefined;
  product: string | undefined;
  status: number;
  /** `rows:<n>`, `error:<NOAA message>`, or `fault:<kind>`. */
  outcome: string;
  /** The range answered, for data answers. */
  begin?: number;
  end?: number;
}

export interface FakeNoaaOptions {
  /** The server's clock: observations later than this are not published yet (default: the wall clock). */
  now?: () => number;
  /** Move every series of `product` in time so that it starts at `start` (whole minutes), e.g. to give five stations one period. */
  align?: { product: NoaaProduct; start: number };
}

/** The fixture folder, from the compiled module (dist/test/support) or the source (test/support). */
function fixtureDir(): string {
  const candidates = [path.resolve(__dirname, '..', '..', '..', 'test', 'fixtures', 'noaa'), path.resolve(__dirname, '..', 'fixtures', 'noaa')];
  return candidates.find((candidate) => fs.existsSync(path.join(candidate, 'stations.json'))) ?? candidates[0];
}

function nullableNumber(text: string): number | null {
  return text === '' ? null : Number(text);
}

/**
 * The fixture observations, per product and station, in time order.
 *
 * @example
 *   loadNoaaFixtures().series.get('water_level')!.get('9414290')!.length; // 1680
 */
export function loadNoaaFixtures(): { stations: Map<string, FixtureStation>; series: Map<NoaaProduct, Map<string, FixtureObservation[]>> } {
  const dir = fixtureDir();
  const stations = new Map<string, FixtureStation>(
    (JSON.parse(fs.readFileSync(path.join(dir, 'stations.json'), 'utf8')) as FixtureStation[]).map((station) => [station.id, station]),
  );
  const series = new Map<NoaaProduct, Map<string, FixtureObservation[]>>();
  for (const product of ['water_level', 'hourly_height'] as const) {
    const byStation = new Map<string, FixtureObservation[]>();
    const lines = fs.readFileSync(path.join(dir, `${product}.csv`), 'utf8').trim().split('\n').slice(1);
    for (const line of lines) {
      const [station, t, v, s, f, q] = splitCsvLine(line);
      let list = byStation.get(station);
      if (list === undefined) byStation.set(station, (list = []));
      list.push({ t: Date.parse(`${t.replace(' ', 'T')}:00Z`), v: nullableNumber(v), s: nullableNumber(s), f: f === '' ? null : f, q: q === '' ? null : q });
    }
    series.set(product, byStation);
  }
  return { stations, series };
}

/** NOAA's time format, GMT. */
export function noaaTime(ms: number): string {
  return new Date(ms).toISOString().slice(0, 16).replace('T', ' ');
}

/** A date parameter in one of the formats the API accepts; `endOfDay` for a date-only end_date. */
function parseDateParam(text: string, endOfDay: boolean): number | undefined {
  let m = /^(\d{4})(\d{2})(\d{2})(?: (\d{2}):(\d{2}))?$/.exec(text.trim());
  let year: number, month: number, day: number;
  if (m !== null) [year, month, day] = [+m[1], +m[2], +m[3]];
  else {
    m = /^(\d{2})\/(\d{2})\/(\d{4})(?: (\d{2}):(\d{2}))?$/.exec(text.trim());
    if (m === null) return undefined;
    [month, day, year] = [+m[1], +m[2], +m[3]];
  }
  const hasClock = m[4] !== undefined;
  const ms = Date.UTC(year, month - 1, day, hasClock ? +m[4] : 0, hasClock ? +m[5] : 0);
  const check = new Date(ms);
  if (check.getUTCFullYear() !== year || check.getUTCMonth() !== month - 1 || check.getUTCDate() !== day) return undefined;
  return !hasClock && endOfDay ? ms + DAY - MINUTE : ms;
}

function fmt(value: number | null, units: string): string {
  if (value === null) return '';
  return (units === 'english' ? value * FEET_PER_METRE : value).toFixed(3);
}

/** What the server serves for one observation, as NOAA's JSON element. */
function jsonItem(product: NoaaProduct, obs: FixtureObservation, units: string): Record<string, string> {
  if (product === 'predictions') return { t: noaaTime(obs.t), v: fmt(obs.v, units) };
  const item: Record<string, string> = { t: noaaTime(obs.t), v: fmt(obs.v, units), s: fmt(obs.s, units), f: obs.f ?? '' };
  if (product === 'water_level') item.q = obs.q ?? '';
  return item;
}

const CSV_HEADERS: Record<NoaaProduct, string> = {
  water_level: 'Date Time, Water Level, Sigma, O or I (for verified), F, R, L, Quality ',
  hourly_height: 'Date Time, Water Level, Sigma, I, L ',
  predictions: 'Date Time, Prediction',
};

function csvLine(product: NoaaProduct, obs: FixtureObservation, units: string): string {
  if (product === 'predictions') return `${noaaTime(obs.t)},${fmt(obs.v, units)}`;
  const flagCount = product === 'water_level' ? 4 : 2;
  const flags = obs.f === null ? new Array<string>(flagCount).fill('') : obs.f.split(',');
  const fields = [noaaTime(obs.t), fmt(obs.v, units), fmt(obs.s, units), ...flags];
  if (product === 'water_level') fields.push(obs.q ?? '');
  return fields.join(',');
}

const MAINTENANCE_PAGE = '<!DOCTYPE html>\n<html><head><title>Tides &amp; Currents - Maintenance</title></head>\n<body><h1>Scheduled maintenance</h1><p>CO-OPS data services are temporarily unavailable. Please try again later.</p></body></html>\n';

/** Faults that change an answer; the others replace it. */
const ANSWER_FAULTS = new Set<NoaaFault['kind']>(['empty-data', 'duplicate-overlap', 'truncated', 'reset', 'short']);

interface QueuedFault {
  fault: NoaaFault;
  match: FaultMatch;
  left: number;
}

/**
 * The fake API. `start()` listens on 127.0.0.1 on a free port.
 *
 * @example
 *   const noaa = await FakeNoaaServer.start({ now: () => clock.now() });
 *   noaa.inject({ kind: 'unavailable', retryAfterSeconds: 2 }, { station: '9414290' });
 *   // ... poll noaa.url ...
 *   await noaa.close();
 */
export class FakeNoaaServer {
  /** The datagetter URL (`http://127.0.0.1:<port>/api/prod/datagetter`). */
  readonly url: string;
  readonly requests: SeenRequest[] = [];
  private readonly faults: QueuedFault[] = [];
  private readonly sockets = new Set<Socket>();
  private readonly series: Map<NoaaProduct, Map<string, FixtureObservation[]>>;
  private readonly stations: Map<string, FixtureStation>;
  private readonly now: () => number;

  private constructor(
    private readonly server: Server,
    options: FakeNoaaOptions,
  ) {
    const address = server.address() as AddressInfo;
    this.url = `http://127.0.0.1:${address.port}/api/prod/datagetter`;
    this.now = options.now ?? Date.now;
    const fixtures = loadNoaaFixtures();
    this.stations = fixtures.stations;
    this.series = fixtures.series;
    if (options.align !== undefined) {
      const { product, start } = options.align;
      const byStation = this.series.get(product)!;
      for (const [station, list] of byStation) {
        const shift = start - list[0].t;
        byStation.set(station, list.map((obs) => ({ ...obs, t: obs.t + shift })));
      }
    }
  }

  static async start(options: FakeNoaaOptions = {}): Promise<FakeNoaaServer> {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const fake = new FakeNoaaServer(server, options);
    server.on('connection', (socket) => {
      fake.sockets.add(socket);
      socket.on('close', () => fake.sockets.delete(socket));
    });
    server.on('request', (request, response) => fake.handle(request, response));
    return fake;
  }

  /** Fail the next `match.times` (default 1) requests that match with `fault`; faults queue in order. */
  inject(fault: NoaaFault, match: FaultMatch = {}): void {
    this.faults.push({ fault, match, left: match.times ?? 1 });
  }

  /** Faults injected and not used yet. */
  pendingFaults(): number {
    return this.faults.reduce((sum, queued) => sum + queued.left, 0);
  }

  /** Stations the fixtures hold for a product. */
  stationsWith(product: Exclude<NoaaProduct, 'predictions'>): string[] {
    return [...this.series.get(product)!.keys()];
  }

  /** A station's name and position, as the metadata carries them. */
  station(id: string): FixtureStation {
    const station = this.stations.get(id);
    if (station === undefined) throw new Error(`no fixture station ${id}`);
    return station;
  }

  /** Every observation of a station (times as served, alignment included), published or not. */
  observations(product: Exclude<NoaaProduct, 'predictions'>, station: string): FixtureObservation[] {
    return this.series.get(product)!.get(station) ?? [];
  }

  /**
   * The rows a correct client makes of the metric answers for [from, to]
   * (inclusive; published ones only): values as served, i.e. 3 decimals,
   * hourly heights without quality.
   */
  expectedRows(product: Exclude<NoaaProduct, 'predictions'>, station: string, from: number, to: number): Row[] {
    const { name, lat, lon } = this.station(station);
    const published = Math.min(to, this.now());
    return this.observations(product, station)
      .filter((obs) => obs.t >= from && obs.t <= published)
      .map((obs) => ({
        station,
        name,
        lat,
        lon,
        t: obs.t,
        v: obs.v === null ? null : Number(obs.v.toFixed(3)),
        s: obs.s === null ? null : Number(obs.s.toFixed(3)),
        f: obs.f,
        q: product === 'water_level' ? obs.q : null,
      }));
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  // ------------------------------------------------------------ requests

  private takeFault(station: string | undefined, product: string | undefined): NoaaFault | undefined {
    const index = this.faults.findIndex(({ match }) => (match.station === undefined || match.station === station) && (match.product === undefined || match.product === product));
    if (index === -1) return undefined;
    const queued = this.faults[index];
    if (--queued.left <= 0) this.faults.splice(index, 1);
    return queued.fault;
  }

  private handle(request: IncomingMessage, response: ServerResponse): void {
    const url = new URL(request.url ?? '/', 'http://127.0.0.1');
    const params = Object.fromEntries(url.searchParams.entries());
    const seen: SeenRequest = { at: this.now(), params, station: params.station, product: params.product, status: 200, outcome: '' };
    this.requests.push(seen);
    if (!url.pathname.endsWith('/datagetter')) {
      seen.status = 404;
      seen.outcome = 'not found';
      response.writeHead(404, { 'content-type': 'text/html' }).end('<html><body>404 Not Found</body></html>');
      return;
    }
    const fault = this.takeFault(params.station, params.product);
    if (fault?.kind === 'held') {
      seen.outcome = 'fault:held';
      const answer = () => {
        if (!request.socket.destroyed) this.respond(request, response, params, seen, undefined);
      };
      fault.until.then(answer, answer);
      return;
    }
    this.respond(request, response, params, seen, fault);
  }

  private respond(request: IncomingMessage, response: ServerResponse, params: Record<string, string>, seen: SeenRequest, fault: NoaaFault | undefined): void {
    if (fault !== undefined && !ANSWER_FAULTS.has(fault.kind)) {
      seen.outcome = `fault:${fault.kind}`;
      this.fail(fault, seen, response);
      return;
    }
    const answer = this.answer(params, fault);
    seen.outcome = answer.outcome;
    seen.begin = answer.begin;
    seen.end = answer.end;
    if (fault !== undefined) seen.outcome = `fault:${fault.kind} (${answer.outcome})`;
    const body = answer.body;
    if (fault?.kind === 'truncated') {
      const cut = body.slice(0, Math.floor(body.length / 2));
      response.writeHead(200, { 'content-type': answer.contentType, 'content-length': Buffer.byteLength(cut) }).end(cut);
    } else if (fault?.kind === 'reset') {
      response.writeHead(200, { 'content-type': answer.contentType, 'content-length': Buffer.byteLength(body) });
      response.write(body.slice(0, Math.floor(body.length / 2)), () => request.socket.destroy());
    } else {
      response.writeHead(200, { 'content-type': answer.contentType }).end(body);
    }
  }

  private fail(fault: NoaaFault, seen: SeenRequest, response: ServerResponse): void {
    switch (fault.kind) {
      case 'error-body':
        response.writeHead(200, { 'content-type': 'application/json' }).end(errorBody(fault.message ?? NO_DATA_MESSAGE));
        return;
      case 'status':
        seen.status = fault.status;
        response.writeHead(fault.status, { 'content-type': 'text/plain' }).end(`HTTP ${fault.status} from the fake NOAA server\n`);
        return;
      case 'unavailable':
        seen.status = 503;
        response.writeHead(503, { 'content-type': 'text/html', 'retry-after': String(fault.retryAfterSeconds ?? 1) }).end(MAINTENANCE_PAGE);
        return;
      case 'rate-limited':
        seen.status = 429;
        response.writeHead(429, { 'content-type': 'text/plain', 'retry-after': String(fault.retryAfterSeconds ?? 1) }).end('Too Many Requests\n');
        return;
      case 'html':
        response.writeHead(200, { 'content-type': 'text/html' }).end(MAINTENANCE_PAGE);
        return;
      case 'hang':
        // Held open until the client gives up (or the server closes).
        return;
      default:
        throw new Error(`fault ${fault.kind} is applied to an answer`);
    }
  }

  private answer(params: Record<string, string>, fault: NoaaFault | undefined): { body: string; contentType: string; outcome: string; begin?: number; end?: number } {
    const format = (params.format ?? 'xml').toLowerCase();
    const error = (message: string) => {
      if (format === 'csv') return { body: `Error: ${message}\n`, contentType: 'text/csv', outcome: `error:${message}` };
      return { body: errorBody(message), contentType: 'application/json', outcome: `error:${message}` };
    };
    if (format !== 'json' && format !== 'csv') {
      return { body: '<?xml version="1.0" encoding="UTF-8" ?>\n<data><error>This fake serves format=json and format=csv only</error></data>\n', contentType: 'text/xml', outcome: 'xml' };
    }
    const asked = params.product;
    if (asked === undefined || asked === '') return error('Wrong Product : Product cannot be null or empty');
    if (!(asked in MAX_SPAN_MS)) return error(`Wrong Product : ${asked} is not a product this fake serves (water_level, hourly_height, predictions)`);
    const product = asked as NoaaProduct;
    const stationId = params.station;
    const station = stationId === undefined ? undefined : (this.stations.get(stationId) ?? undefined);
    if (station === undefined) return error('The station is not a valid station or there is system error.');
    if (params.datum === undefined || params.datum === '') return error('Wrong Datum: Datum cannot be null or empty');
    const units = (params.units ?? 'metric').toLowerCase();
    if (units !== 'metric' && units !== 'english') return error(`Wrong Units: ${params.units} (use metric or english)`);
    const zone = (params.time_zone ?? 'gmt').toLowerCase();
    if (zone !== 'gmt') return error(`This fake answers in GMT only: time_zone=${params.time_zone}`);

    const now = this.now();
    const range = this.requestedRange(params, now);
    if (typeof range === 'string') return error(range);
    const { begin, end } = range;
    if (end - begin > MAX_SPAN_MS[product]) {
      return error(`Range Limit Exceeded: the maximum range for ${product} is ${MAX_SPAN_MS[product] / DAY} days per request`);
    }

    let observations: FixtureObservation[];
    if (product === 'predictions') {
      const model = stationModel(station.id);
      observations = [];
      for (let t = Math.ceil(begin / (6 * MINUTE)) * 6 * MINUTE; t <= end; t += 6 * MINUTE) {
        observations.push({ t, v: Math.round(predictLevel(model, t) * 1000) / 1000, s: null, f: null, q: null });
      }
    } else {
      const list = this.series.get(product)!.get(station.id) ?? [];
      observations = list.filter((obs) => obs.t >= begin && obs.t <= end && obs.t <= now);
      if (params.date === 'latest') observations = observations.filter((obs) => obs.t >= now - 18 * MINUTE).slice(-1);
      if (fault?.kind === 'duplicate-overlap' && observations.length > 0) {
        const rows = fault.rows ?? 3;
        const before = list.filter((obs) => obs.t < begin && obs.t <= now).slice(-rows);
        observations = [...before, ...observations.slice(0, rows), ...observations];
        observations.sort((a, b) => a.t - b.t);
      }
    }
    if (fault?.kind === 'short') observations = observations.filter((obs) => obs.t <= fault.until);
    if (fault?.kind === 'empty-data') observations = [];
    else if (observations.length === 0) return { ...error(NO_DATA_MESSAGE), begin, end };

    const outcome = `rows:${observations.length}`;
    if (format === 'csv') {
      const lines = [CSV_HEADERS[product], ...observations.map((obs) => csvLine(product, obs, units))];
      return { body: `${lines.join('\n')}\n`, contentType: 'text/csv', outcome, begin, end };
    }
    const items = observations.map((obs) => jsonItem(product, obs, units));
    const metadata = { id: station.id, name: station.name, lat: station.lat.toFixed(4), lon: station.lon.toFixed(4) };
    const body = product === 'predictions' ? { predictions: items } : { metadata, data: items };
    return { body: JSON.stringify(body), contentType: 'application/json', outcome, begin, end };
  }

  /** The range a request names (see the table at the top), or NOAA's complaint. */
  private requestedRange(params: Record<string, string>, now: number): { begin: number; end: number } | string {
    const nowMinute = Math.floor(now / MINUTE) * MINUTE;
    if (params.date !== undefined) {
      switch (params.date.toLowerCase()) {
        case 'latest':
          return { begin: nowMinute - 18 * MINUTE, end: nowMinute };
        case 'today':
          return { begin: Math.floor(now / DAY) * DAY, end: nowMinute };
        case 'recent':
          return { begin: nowMinute - 72 * HOUR, end: nowMinute };
        default:
          return `Wrong Date: date=${params.date} (use latest, today or recent)`;
      }
    }
    const hours = params.range === undefined ? undefined : Number(params.range);
    if (hours !== undefined && !(Number.isInteger(hours) && hours > 0)) return `Wrong Range: range=${params.range} must be a whole number of hours`;
    const begin = params.begin_date === undefined ? undefined : parseDateParam(params.begin_date, false);
    const end = params.end_date === undefined ? undefined : parseDateParam(params.end_date, true);
    const format = 'The format is yyyyMMdd, yyyyMMdd HH:mm, MM/dd/yyyy, or MM/dd/yyyy HH:mm';
    if (params.begin_date !== undefined && begin === undefined) return `Wrong Begin Date: The Begin Date is Invalid. ${format}`;
    if (params.end_date !== undefined && end === undefined) return `Wrong End Date: The End Date is Invalid. ${format}`;
    if (begin !== undefined && end !== undefined) {
      if (end < begin) return 'Wrong Date: The end date is before the begin date';
      return { begin, end };
    }
    if (hours !== undefined) {
      if (begin !== undefined) return { begin, end: begin + hours * HOUR };
      if (end !== undefined) return { begin: end - hours * HOUR, end };
      return { begin: nowMinute - hours * HOUR, end: nowMinute };
    }
    return 'Wrong Date: give begin_date and end_date, a range, or date=latest|today|recent';
  }
}

function errorBody(message: string): string {
  return `{"error": {"message":" ${message}"}}\n\n`;
}
