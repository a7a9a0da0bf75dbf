import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Row } from '../core/batch';
import { AvroContainerWriter } from '../codecs/avro-container';
import { loadAvroType, tideObservationSchemaPath } from '../codecs/avro-schema';
import type { LengthUnit } from '../codecs/csv';
import { createCsvDecoder } from '../codecs/csv';
import { encodeJsonLine } from '../codecs/jsonl';
import type { ConstituentName, StationInfo, StationsFile } from '../codecs/stations';
import { CONSTITUENT_NAMES, stationIdFromFileName } from '../codecs/stations';

/**
 * Builds `data/bundled/` from the shared NOAA folder (real observations and
 * NOAA's published harmonic constituents, provenance in that folder's
 * SOURCES.md):
 *
 *   stations.json          id, name, lat, lon (+ datums and M2/S2/N2/K1/O1) per station
 *   tides.avro             every observation row, metres, sorted by (t, station), deflate
 *   sample-8729108.jsonl   the Hurricane Michael file as readable JSONL
 *   README.md              what is in it
 *
 * Run after a build:  node dist/engine/cli/bundle-data.js [NOAA_DIR] [OUT_DIR]
 * (defaults: ../shared/data/noaa next to the checkout, and data/bundled).
 * The output is reproducible: a fixed sync marker and a stable sort make the
 * same inputs give the same bytes.
 */

const ROOT = path.resolve(__dirname, '..', '..', '..');

/**
 * Units of the files whose header does not say (CO-OPS API CSV and t,v,s).
 * Evidence for each is in SOURCES.md: 8443970 is feet (a 13.6 spread is
 * impossible in metres), 8729108 was downloaded with units=standard,
 * 8761724 and 9454460 are metric.
 */
const API_UNITS: Record<string, LengthUnit> = {
  '8443970': 'ft',
  '8729108': 'ft',
  '8761724': 'm',
  '9454460': 'm',
};

/** The vertical datum each station's observations are relative to (SOURCES.md section 1). */
const OBSERVATION_DATUM: Record<string, string> = {
  '9414290': 'MLLW',
  '9410230': 'MSL',
  '8443970': 'not recorded (MSL-like: mean +0.08 m)',
  '8410140': 'not recorded (inferred MLLW)',
  '8761724': 'MHHW (probable)',
  '9454460': 'MLLW',
  '8729108': 'MLLW',
};

interface HarmonicFile {
  name: string;
  latitude: number;
  longitude: number;
  source: { id: string };
  datums: Record<string, number>;
  harmonic_constituents: Array<{ name: string; amplitude: number; phase: number }>;
}

const round4 = (x: number) => Math.round(x * 1e4) / 1e4;

function buildStations(noaaDir: string): StationInfo[] {
  const stations = new Map<string, StationInfo>();
  for (const file of fs.readdirSync(noaaDir).filter((f) => f.endsWith('_harmonic_constituents_datums.json')).sort()) {
    const json = JSON.parse(fs.readFileSync(path.join(noaaDir, file), 'utf8')) as HarmonicFile;
    const byName = new Map(json.harmonic_constituents.map((c) => [c.name, c]));
    const constituents = {} as Record<ConstituentName, { amplitude: number; phase: number }>;
    for (const name of CONSTITUENT_NAMES) {
      const c = byName.get(name);
      if (c === undefined) throw new Error(`${file}: no ${name} constituent`);
      constituents[name] = { amplitude: c.amplitude, phase: c.phase };
    }
    stations.set(json.source.id, {
      id: json.source.id,
      name: json.name,
      lat: round4(json.latitude),
      lon: round4(json.longitude),
      datums: { MSL: json.datums.MSL, MLLW: json.datums.MLLW, MHHW: json.datums.MHHW },
      constituents,
    });
  }
  // Stations with observations but no published harmonics (short-term 9454460, its neighbour 9454050).
  const metadataFile = fs.readdirSync(noaaDir).find((f) => f.endsWith('_station_metadata.csv'));
  if (metadataFile !== undefined) {
    const lines = fs.readFileSync(path.join(noaaDir, metadataFile), 'utf8').split('\n').filter((l) => l.trim() !== '');
    for (const line of lines.slice(1)) {
      const [id, name, lat, lon] = line.split(',');
      if (!stations.has(id)) stations.set(id, { id, name, lat: round4(Number(lat)), lon: round4(Number(lon)) });
    }
  }
  return [...stations.values()].sort((a, b) => a.id.localeCompare(b.id));
}

function decodeObservationFile(filePath: string): { rows: Row[]; layout: string } {
  const id = stationIdFromFileName(filePath)!;
  const lines = fs.readFileSync(filePath, 'utf8').split('\n');
  const decoder = createCsvDecoder(lines[0], { fileName: filePath, units: API_UNITS[id] });
  if (decoder.layout !== 'noaa-web-export' && API_UNITS[id] === undefined) {
    throw new Error(`${filePath}: ${decoder.layout} files do not state their units; add station ${id} to API_UNITS`);
  }
  const rows: Row[] = [];
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i].replace(/\r$/, '');
    if (line.trim() === '') continue;
    // decode throws on a bad row: the bundle must be clean, so stop loudly.
    rows.push(decoder.decode(line));
  }
  return { rows, layout: decoder.layout };
}

function main(argv: string[]): void {
  const noaaDir = path.resolve(argv[0] ?? path.join(ROOT, '..', 'shared', 'data', 'noaa'));
  const outDir = path.resolve(argv[1] ?? path.join(ROOT, 'data', 'bundled'));
  fs.mkdirSync(outDir, { recursive: true });

  // 1. Stations first: the CSV decoder looks names and positions up in the bundled table.
  const stations = buildStations(noaaDir);
  const stationsFile: StationsFile = {
    description:
      'NOAA CO-OPS stations known to tideflow: id, name, position (4 decimals); for stations with published harmonics also ' +
      'datums (metres above station datum) and the M2, S2, N2, K1, O1 constituents (amplitude in metres, phase in degrees, Greenwich/UTC). ' +
      'Built by engine/cli/bundle-data.ts from NOAA mdapi station files and the Columbia Glacier metadata file.',
    stations,
  };
  fs.writeFileSync(path.join(outDir, 'stations.json'), JSON.stringify(stationsFile, null, 2) + '\n');

  // 2. Every observation file with a known station (the TADC example has none: skipped).
  const files = fs.readdirSync(noaaDir).filter((f) => f.endsWith('.csv') && !f.endsWith('_station_metadata.csv')).sort();
  const all: Row[] = [];
  const perStation = new Map<string, { rows: number; nulls: number; files: string[]; layouts: Set<string>; first: number; last: number }>();
  const skipped: string[] = [];
  for (const file of files) {
    if (stationIdFromFileName(file) === undefined) {
      skipped.push(file);
      continue;
    }
    const { rows, layout } = decodeObservationFile(path.join(noaaDir, file));
    for (const row of rows) {
      const id = row.station as string;
      let stats = perStation.get(id);
      if (stats === undefined) {
        stats = { rows: 0, nulls: 0, files: [], layouts: new Set(), first: Infinity, last: -Infinity };
        perStation.set(id, stats);
      }
      stats.rows++;
      if (row.v === null) stats.nulls++;
      stats.first = Math.min(stats.first, row.t as number);
      stats.last = Math.max(stats.last, row.t as number);
      all.push(row);
    }
    const stats = perStation.get(rows[0].station as string)!;
    stats.files.push(file);
    stats.layouts.add(layout);
  }

  // 3. The order a poller would deliver: by time, then station. Array.prototype.sort is stable,
  //    so the overlapping 8761724 rows stay as two identical records, the first file's first.
  all.sort((a, b) => (a.t as number) - (b.t as number) || (a.station as string).localeCompare(b.station as string));
  const duplicateKeys = countDuplicates(all);

  // 4. The Avro file, reproducible: fixed sync marker.
  const type = loadAvroType(tideObservationSchemaPath());
  const syncMarker = crypto.createHash('sha256').update('tideflow data/bundled/tides.avro').digest().subarray(0, 16);
  const avroPath = path.join(outDir, 'tides.avro');
  const writer = new AvroContainerWriter(avroPath, type, {
    codec: 'deflate',
    syncMarker,
    metadata: { 'tideflow.description': 'NOAA CO-OPS observations, metres, sorted by (t, station); see data/bundled/README.md' },
  });
  for (const row of all) writer.append(row);
  const { records, bytes } = writer.close();

  // 5. A readable sample: the Hurricane Michael storm surge at Panama City.
  const sample = all.filter((row) => row.station === '8729108');
  const samplePath = path.join(outDir, 'sample-8729108.jsonl');
  fs.writeFileSync(samplePath, sample.map((row) => encodeJsonLine(row)).join('\n') + '\n');

  // 6. README.
  fs.writeFileSync(path.join(outDir, 'README.md'), readme(stations, perStation, records, bytes, duplicateKeys, skipped, sample.length));

  process.stdout.write(
    `stations.json: ${stations.length} stations\n` +
      `tides.avro: ${records} records, ${bytes} bytes (${(bytes / 1024).toFixed(1)} KiB), ${duplicateKeys} duplicate (station, t)\n` +
      [...perStation].map(([id, s]) => `  ${id}: ${s.rows} rows (${s.nulls} null readings)\n`).join('') +
      `sample-8729108.jsonl: ${sample.length} rows, ${fs.statSync(samplePath).size} bytes\n` +
      (skipped.length > 0 ? `skipped (no station): ${skipped.join(', ')}\n` : ''),
  );
}

function countDuplicates(rows: Row[]): number {
  const seen = new Set<string>();
  let duplicates = 0;
  for (const row of rows) {
    const key = `${row.station}|${row.t}`;
    if (seen.has(key)) duplicates++;
    else seen.add(key);
  }
  return duplicates;
}

function iso(ms: number): string {
  return new Date(ms).toISOString().slice(0, 16).replace('T', ' ');
}

function readme(
  stations: StationInfo[],
  perStation: Map<string, { rows: number; nulls: number; files: string[]; layouts: Set<string>; first: number; last: number }>,
  records: number,
  bytes: number,
  duplicates: number,
  skipped: string[],
  sampleRows: number,
): string {
  const names = new Map(stations.map((s) => [s.id, s.name]));
  const rows = [...perStation.entries()].sort(([a], [b]) => a.localeCompare(b));
  return `# Bundled data

Real NOAA CO-OPS tide-gauge observations and station facts, small enough to
commit, for the demo (\`npm start\`), golden tests and reading. Generated by
\`engine/cli/bundle-data.ts\` (\`npm run build && node dist/engine/cli/bundle-data.js\`)
from the shared NOAA data folder next to this repository. That folder's
SOURCES.md records where each file came from (public GitHub repositories that
committed NOAA downloads, with commits and git blob hashes), its units, datum
and time zone, and its caveats. Nothing here is needed at run time except
\`stations.json\`; the engine never reads the shared folder.

## Files

| file | what |
|---|---|
| \`tides.avro\` | ${records.toLocaleString('en-US')} observations, Avro object container (deflate), schema \`schemas/tide_observation.avsc\` (\`noaa.coops.TideObservation\`), ${(bytes / 1024).toFixed(0)} KiB |
| \`stations.json\` | ${stations.length} stations: id, name, lat, lon; for the ${stations.filter((s) => s.constituents).length} with NOAA harmonics also MSL/MLLW/MHHW (m above station datum) and M2, S2, N2, K1, O1 (amplitude m, phase deg GMT). Used by the CSV decoder (station name/position) and the generator |
| \`sample-8729108.jsonl\` | the ${sampleRows} rows of Panama City, FL during Hurricane Michael (2018-10-09 to 10-12), one JSON object per line, \`t\` as ISO-8601 |

## tides.avro

Order: by \`t\`, then \`station\`, the order a poller of all stations would
deliver them. Values: \`v\` water level and \`s\` sigma in **metres**
(files in feet were multiplied by 0.3048 and rounded to 7 decimals, which is
exact for NOAA's 3-decimal feet), \`t\` epoch milliseconds UTC. From NOAA web
exports (Predicted / Preliminary / Verified) the Verified value is used, else
the Preliminary one (\`q\` = \`v\` or \`p\`); Predicted is never used. \`f\` holds
the CO-OPS API CSV flag columns comma-joined in file order (e.g. \`O,F,R,L\` ->
\`"1,0,0,0"\`, \`I,L\` -> \`"0,0"\`), and \`q\` its Quality column.

| station | name | rows | null readings | first (UTC) | last (UTC) | datum of v | source files |
|---|---|---|---|---|---|---|---|
${rows
  .map(([id, s]) => `| ${id} | ${names.get(id) ?? ''} | ${s.rows.toLocaleString('en-US')} | ${s.nulls} | ${iso(s.first)} | ${iso(s.last)} | ${OBSERVATION_DATUM[id] ?? 'see SOURCES.md'} | ${s.files.join(', ')} |`)
  .join('\n')}

Real-world defects kept on purpose, because the engine must handle them:

- **Duplicates**: ${duplicates} (station, t) pairs occur twice: the two Grand
  Isle (8761724) files overlap on all of 2016-11-02 with identical values. The
  dedupe job drops the second copy.
- **Null readings**: one Panama City row (2018-10-10 18:18) has no value and
  all flags set; it is a record with \`v: null\`, not an error.
- **Different datums**: stations are on different vertical datums (column
  above), so compare a station with itself, not levels across stations.
- **Gaps between files**: stations cover different periods (2005 to 2019), so
  a job's watermark jumps by years when one station's data ends and the next
  begins; windows close as they should.

Left out: ${skipped.length > 0 ? skipped.map((f) => `\`${f}\``).join(', ') : 'nothing'} (NOAA's TADC example input: the station
is not identified and has no position, so it cannot be a \`TideObservation\`;
the CSV decoder still reads it when given a station).
`;
}

if (require.main === module) {
  try {
    main(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`bundle-data: ${(error as Error).stack ?? String(error)}\n`);
    process.exitCode = 1;
  }
}
