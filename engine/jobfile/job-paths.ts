import { dirname, isAbsolute, resolve } from 'node:path';
import type { JobSpec, SinkSpec } from '../config/job';

/**
 * Paths written in a job file (reader schemas, data files, output files, a
 * checkpoint directory) are relative to the job file's directory, so a job
 * runs the same from any working directory, including from an installed
 * package (`npx tideflow run node_modules/tideflow/jobs/...`). Paths given on
 * the command line (`--input`, `--output`, `--checkpoint-dir`) and defaults
 * the job file does not write (`.tideflow/...`) stay relative to the working
 * directory, as a shell user expects.
 */

/**
 * The directory relative paths of job file `file` start at.
 *
 * @example
 *   jobFileDirectory('jobs/tides-lunar-day.yaml', '/home/me/tideflow'); // '/home/me/tideflow/jobs'
 */
export function jobFileDirectory(file: string, cwd: string): string {
  return dirname(resolve(cwd, file));
}

/**
 * `spec` with every path its job file wrote made absolute against `jobDir`.
 * `written` is the validated YAML the spec came from: it tells a checkpoint
 * directory the file wrote from the default the normaliser filled in.
 *
 * @example
 *   resolveJobPaths(spec, yaml, '/home/me/tideflow/jobs').source; // { kind: 'kafka', kafka: { format: { readerSchema: '/home/me/tideflow/schemas/tide_observation.avsc', ... } } }
 */
export function resolveJobPaths(spec: JobSpec, written: Record<string, unknown>, jobDir: string): JobSpec {
  const at = (path: string) => (isAbsolute(path) ? path : resolve(jobDir, path));
  const result: JobSpec = { ...spec };
  const source = spec.source;
  if (source.kind === 'kafka') {
    result.source = { kind: 'kafka', kafka: { ...source.kafka, format: { ...source.kafka.format, readerSchema: at(source.kafka.format.readerSchema) } } };
  } else if (source.kind === 'file') {
    result.source = { kind: 'file', file: { ...source.file, path: at(source.file.path), ...(source.file.stations === undefined ? {} : { stations: at(source.file.stations) }) } };
  }
  result.sink = sinkPaths(spec.sink, at);
  result.sinks = Object.fromEntries(Object.entries(spec.sinks).map(([name, sink]) => [name, sinkPaths(sink, at)]));
  if (spec.deadLetters !== undefined) result.deadLetters = sinkPaths(spec.deadLetters, at);
  if (spec.late !== undefined) result.late = sinkPaths(spec.late, at);
  const checkpoint = written.checkpoint as { file?: { dir?: unknown } } | undefined;
  if (spec.checkpoint.kind === 'file' && typeof checkpoint?.file?.dir === 'string') {
    result.checkpoint = { ...spec.checkpoint, dir: at(spec.checkpoint.dir) };
  }
  return result;
}

function sinkPaths(sink: SinkSpec, at: (path: string) => string): SinkSpec {
  switch (sink.kind) {
    case 'jsonl':
      return { kind: 'jsonl', jsonl: { ...sink.jsonl, path: at(sink.jsonl.path) } };
    case 'csv':
      return { kind: 'csv', csv: { ...sink.csv, path: at(sink.csv.path) } };
    case 'kafka': {
      const format = sink.kafka.format;
      // An empty reader schema means "derive one from the rows" (kafka-sink.ts), not a file.
      if (format.kind !== 'avro-registry' || format.readerSchema === '') return sink;
      return { kind: 'kafka', kafka: { ...sink.kafka, format: { ...format, readerSchema: at(format.readerSchema) } } };
    }
    case 'all':
      return { kind: 'all', all: { sinks: sink.all.sinks.map((each) => sinkPaths(each, at)) } };
    default:
      return sink;
  }
}
