import type { ComponentContext, JsonSchema, Reporter } from '../config/component';
import { durationSchema } from '../config/component';
import { UsageError } from '../core/errors';
import type { NoaaStation } from '../codecs/noaa-api';
import { NoaaApiError, parseNoaaAnswer } from '../codecs/noaa-api';
import { findStation } from '../codecs/stations';
import type { HttpPollConfig, HttpPollSpec, HttpSourceOptions, PollEndpoint } from './http-source';
import { HttpPollingSource, checkPoll, normalizePoll, pollProperties } from './http-source';

/**
 * NOAA CO-OPS preset of the HTTP polling source: water levels (6-minute
 * preliminary/verified, or verified hourly heights) or tide predictions of a
 * list of stations, from the CO-OPS data API's `datagetter`, as rows of
 * `schemas/tide_observation.avsc` in metres and UTC.
 *
 * Requests: `begin_date`/`end_date` as `yyyyMMdd HH:mm` (GMT), never more
 * than the API serves at once (31 days of 6-minute data or predictions, 365
 * days of hourly heights), so a backfill is a run of back-to-back requests and
 * live polling one request per station per `interval`. `time_zone=gmt`,
 * `format=json` (or csv), the `datum`, `units` and `application` of the config.
 *
 * Positions (checkpointed per station, partition `noaa:<station>/<product>`):
 * the instant after the last observation delivered; the next request starts
 * at its minute, so NOAA's answer repeats the last observation, which is
 * dropped (and proves the station still answers). A restart resumes there:
 * neither the backfill is read again nor a gap left. With `lookback`, the last
 * stretch is asked and delivered again each poll, for the job's dedupe step.
 *
 * Answers: NOAA's error bodies (sent with HTTP 200), HTML maintenance pages
 * and cut-off bodies are dead letters with NOAA's message or the reason; a
 * range more than a day old that NOAA calls empty ("No data was found") is
 * asked again an interval later and skipped only if the answer is the same.
 *
 * Politeness (defaults): one request per 3 s to the API host (NOAA's own
 * sample code pauses 3 s between requests), at most 2 in flight, a poll per
 * station every 6 minutes (hourly heights: every hour), and `application`
 * naming the caller so CO-OPS can reach whoever runs a misbehaving poller.
 *
 * @example
 * source:
 *   noaa:
 *     stations: ["8454000", "8443970"]
 *     product: water_level
 *     datum: MLLW
 *     backfill: 30d
 *     application: my-org-tides
 */

export type NoaaProduct = 'water_level' | 'hourly_height' | 'predictions';
export type NoaaDatum = 'MHHW' | 'MHW' | 'MTL' | 'MSL' | 'MLW' | 'MLLW' | 'NAVD' | 'STND' | 'IGLD' | 'LWD' | 'CRD';

export interface NoaaSourceConfig extends HttpPollConfig {
  stations: Array<string | { id: string; name: string; lat: number; lon: number }>;
  product?: NoaaProduct;
  datum?: NoaaDatum;
  units?: 'metric' | 'english';
  application?: string;
  baseUrl?: string;
  format?: 'json' | 'csv';
}

export interface NoaaSourceSpec extends HttpPollSpec {
  stations: string[];
  /** Name and position per station where the job or the bundled table gives them (answers without metadata need them). */
  stationInfo: Record<string, NoaaStation>;
  product: NoaaProduct;
  datum: NoaaDatum;
  units: 'metric' | 'english';
  application: string;
  baseUrl: string;
  format: 'json' | 'csv';
}

const MINUTE = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;

/** Per product: the most one request may span (CO-OPS' limits), the sampling step, the default poll interval. */
export const NOAA_PRODUCTS: Record<NoaaProduct, { maxSpanMs: number; stepMs: number; interval: string }> = {
  water_level: { maxSpanMs: 31 * DAY, stepMs: 6 * MINUTE, interval: '6m' },
  hourly_height: { maxSpanMs: 365 * DAY, stepMs: HOUR, interval: '1h' },
  predictions: { maxSpanMs: 31 * DAY, stepMs: 6 * MINUTE, interval: '6m' },
};

/** A range whose end is older than this is final: NOAA publishes preliminary 6-minute data within hours. */
export const NOAA_SETTLED_AFTER_MS = DAY;

export const NOAA_DEFAULTS = {
  product: 'water_level' as NoaaProduct,
  datum: 'MLLW' as NoaaDatum,
  units: 'metric' as const,
  application: 'tideflow',
  baseUrl: 'https://api.tidesandcurrents.noaa.gov/api/prod/datagetter',
  format: 'json' as const,
  backfill: '30d',
  timeout: '30s',
  concurrency: 2,
  rate: { requests: 1, per: '3s' },
};

const DATUMS: readonly NoaaDatum[] = ['MHHW', 'MHW', 'MTL', 'MSL', 'MLW', 'MLLW', 'NAVD', 'STND', 'IGLD', 'LWD', 'CRD'];

const shared = pollProperties({ ...NOAA_DEFAULTS, interval: NOAA_PRODUCTS.water_level.interval });

export const schema: JsonSchema = {
  title: 'noaa source',
  description: 'Polls NOAA CO-OPS water levels or predictions of a list of stations (the datagetter API).',
  examples: [
    { stations: ['8454000', '8443970'], interval: '6m', backfill: '30d', application: '${NOAA_APPLICATION:-tideflow}' },
    { stations: [{ id: '8454000', name: 'Providence', lat: 41.8072, lon: -71.4007 }], product: 'predictions' },
  ],
  type: 'object',
  required: ['stations'],
  additionalProperties: false,
  properties: {
    stations: {
      description: 'CO-OPS station ids (quoted), or { id, name, lat, lon } for a station whose answers carry no metadata (predictions, CSV) and that is not bundled.',
      type: 'array',
      minItems: 1,
      items: {
        title: 'noaa station',
        type: ['string', 'object'],
        minLength: 1,
        required: ['id', 'name', 'lat', 'lon'],
        additionalProperties: false,
        properties: {
          id: { description: 'CO-OPS station id.', type: 'string', minLength: 1, examples: ['8454000'] },
          name: { description: 'Station name.', type: 'string', minLength: 1, examples: ['Providence'] },
          lat: { description: 'Latitude, degrees north.', type: 'number', minimum: -90, maximum: 90, examples: [41.8072] },
          lon: { description: 'Longitude, degrees east.', type: 'number', minimum: -180, maximum: 180, examples: [-71.4007] },
        },
      },
      examples: [['8454000', '8443970']],
    },
    product: {
      description: 'water_level: 6-minute levels (preliminary, then verified); hourly_height: verified hourly heights (published monthly); predictions: 6-minute tide predictions.',
      type: 'string',
      enum: ['water_level', 'hourly_height', 'predictions'],
      default: NOAA_DEFAULTS.product,
    },
    datum: { description: 'Vertical datum of the levels (NOAA requires one).', type: 'string', enum: DATUMS, default: NOAA_DEFAULTS.datum },
    units: { description: 'Units asked of the API; rows are in metres either way (feet are converted).', type: 'string', enum: ['metric', 'english'], default: NOAA_DEFAULTS.units },
    application: {
      description: 'Sent as `application=`: names the caller, so CO-OPS can contact whoever runs a poller that misbehaves. Use your organisation or project.',
      type: 'string',
      minLength: 1,
      pattern: '^[A-Za-z0-9._-]+$',
      patternHint: 'letters, digits, ".", "_" or "-"',
      default: NOAA_DEFAULTS.application,
    },
    baseUrl: { description: 'The datagetter URL (a mirror, or a test server).', type: 'string', pattern: '^https?://', patternHint: 'an http:// or https:// URL', default: NOAA_DEFAULTS.baseUrl },
    format: { description: 'Answer format asked for; json carries the station metadata, csv does not.', type: 'string', enum: ['json', 'csv'], default: NOAA_DEFAULTS.format },
    ...shared,
    interval: durationSchema('Time between two polls of a station once caught up (default 6m; 1h for hourly_height).', { positive: true, examples: ['6m'] }),
  },
};

function stationId(entry: NoaaSourceConfig['stations'][number]): string {
  return typeof entry === 'string' ? entry : entry.id;
}

/** Whether answers of this product and format come without station metadata. */
function needsStationInfo(product: NoaaProduct | undefined, format: 'json' | 'csv' | undefined): boolean {
  return product === 'predictions' || format === 'csv';
}

/** Checks beyond the schema: stations listed once, and known where answers will not name them. */
export function check(raw: Partial<NoaaSourceConfig>, report: Reporter): void {
  if (Array.isArray(raw.stations)) {
    const seen = new Set<string>();
    raw.stations.forEach((entry, index) => {
      if (entry === null || (typeof entry !== 'string' && typeof entry !== 'object')) return;
      const id = stationId(entry);
      if (typeof id !== 'string') return;
      if (seen.has(id)) report.atValue(['stations', index], `station ${id} is listed twice`);
      seen.add(id);
      if (typeof entry === 'string' && needsStationInfo(raw.product, raw.format) && findStation(id) === undefined) {
        report.atValue(
          ['stations', index],
          `${raw.product === 'predictions' ? 'predictions' : 'CSV'} answers carry no station metadata and ${id} is not in data/bundled/stations.json: write it as { id: "${id}", name: ..., lat: ..., lon: ... }`,
        );
      }
    });
  }
  checkPoll(raw, report);
}

/** Schema-validated YAML to the JobSpec form: defaults filled in, durations in milliseconds. */
export function normalize(raw: NoaaSourceConfig, _context: ComponentContext): NoaaSourceSpec {
  const product = raw.product ?? NOAA_DEFAULTS.product;
  const stationInfo: Record<string, NoaaStation> = {};
  for (const entry of raw.stations) {
    const id = stationId(entry);
    const known = typeof entry === 'string' ? findStation(id) : entry;
    if (known !== undefined) stationInfo[id] = { id, name: known.name, lat: known.lat, lon: known.lon };
  }
  return {
    ...normalizePoll(raw, { ...NOAA_DEFAULTS, interval: NOAA_PRODUCTS[product].interval }),
    stations: raw.stations.map(stationId),
    stationInfo,
    product,
    datum: raw.datum ?? NOAA_DEFAULTS.datum,
    units: raw.units ?? NOAA_DEFAULTS.units,
    application: raw.application ?? NOAA_DEFAULTS.application,
    baseUrl: raw.baseUrl ?? NOAA_DEFAULTS.baseUrl,
    format: raw.format ?? NOAA_DEFAULTS.format,
  };
}

/**
 * A time as the datagetter takes it: `yyyyMMdd HH:mm`, GMT.
 *
 * @example
 *   datagetterTime(Date.UTC(2019, 0, 31, 23, 59)); // '20190131 23:59'
 */
export function datagetterTime(ms: number): string {
  const iso = new Date(ms).toISOString();
  return `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)} ${iso.slice(11, 16)}`;
}

function readableTime(ms: number): string {
  return new Date(ms).toISOString().slice(0, 16).replace('T', ' ');
}

/**
 * The range the next request of a station asks for: from the minute of its
 * position (less `lookback`) up to now, cut at the product's maximum span.
 *
 * @example
 *   noaaRange('water_level', Date.UTC(2019, 0, 1), Date.UTC(2019, 2, 1), 0);
 *   // { begin: 2019-01-01 00:00, end: 2019-01-31 23:59, more: true, settled: true } (as epoch ms)
 */
export function noaaRange(product: NoaaProduct, position: number, now: number, lookbackMs: number): { begin: number; end: number; more: boolean; settled: boolean } {
  const begin = Math.floor((position - lookbackMs) / MINUTE) * MINUTE;
  const live = Math.floor(now / MINUTE) * MINUTE;
  // Both ends are inclusive, to the minute: a span of exactly the maximum would be one minute too long.
  const end = Math.max(begin, Math.min(live, begin + NOAA_PRODUCTS[product].maxSpanMs - MINUTE));
  return { begin, end, more: end < live, settled: end + MINUTE <= now - NOAA_SETTLED_AFTER_MS };
}

/** The datagetter endpoint of a NOAA spec: requests, parsing, empty ranges. */
export function noaaEndpoint(spec: NoaaSourceSpec): PollEndpoint {
  const units = spec.units === 'english' ? 'ft' : 'm';
  const host = (() => {
    try {
      return new URL(spec.baseUrl).host;
    } catch {
      return spec.baseUrl;
    }
  })();
  return {
    description: `NOAA CO-OPS ${spec.product} (${spec.stations.length} station${spec.stations.length === 1 ? '' : 's'}, ${host})`,
    keys: spec.stations,
    timeField: 't',
    partition: (station) => `noaa:${station}/${spec.product}`,
    plan(station, position, now) {
      const range = noaaRange(spec.product, position, now, spec.lookbackMs);
      const params: Array<[string, string]> = [
        ['station', station],
        ['product', spec.product],
        ['begin_date', datagetterTime(range.begin)],
        ['end_date', datagetterTime(range.end)],
        ['datum', spec.datum],
        ['units', spec.units],
        ['time_zone', 'gmt'],
        ['format', spec.format],
        ['application', spec.application],
      ];
      // %20, not '+', for the space in the dates: unambiguous to any server.
      const query = params.map(([name, value]) => `${name}=${encodeURIComponent(value)}`).join('&');
      return {
        key: station,
        url: `${spec.baseUrl}?${query}`,
        from: position - spec.lookbackMs,
        ...(range.settled ? { settledUntil: range.end + MINUTE } : {}),
        more: range.more,
        label: `${readableTime(range.begin)} .. ${readableTime(range.end)}`,
      };
    },
    decode(answer, request) {
      const parsed = parseNoaaAnswer(answer.body, spec.format, { units, station: request.key, stationInfo: spec.stationInfo[request.key] });
      return { rows: parsed.rows, rejected: parsed.rejected.map(({ item, reason }) => ({ item, reason })) };
    },
    isEmptyRange: (error) => error instanceof NoaaApiError && error.noData,
    backlog: (_station, position, now) => Math.max(0, Math.floor((now - position) / NOAA_PRODUCTS[spec.product].stepMs)),
  };
}

/**
 * The `noaa` source of a job.
 *
 * @example
 *   const source = noaaSource(normalize({ stations: ['8454000'], backfill: '2d' }, { job: 'noaa-to-kafka' }), { log: console.error });
 *   for await (const batch of source.batches({})) console.log(batch.source.partition, batch.rows!.length);
 */
export function noaaSource(spec: NoaaSourceSpec, options: HttpSourceOptions = {}): HttpPollingSource {
  if (needsStationInfo(spec.product, spec.format)) {
    const missing = spec.stations.filter((id) => spec.stationInfo[id] === undefined);
    if (missing.length > 0) {
      throw new UsageError(
        `NOAA ${spec.product === 'predictions' ? 'predictions' : 'CSV'} answers carry no station metadata, and ${missing.join(', ')} ${missing.length === 1 ? 'is' : 'are'} not in data/bundled/stations.json: ` +
          'list such stations as { id, name, lat, lon }',
      );
    }
  }
  return new HttpPollingSource(noaaEndpoint(spec), spec, options);
}
