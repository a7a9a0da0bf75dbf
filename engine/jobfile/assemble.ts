import { extname, join } from 'node:path';
import { cassandraSinkOf, leafSinks, type DedupeStepSpec, type JobSpec, type SinkSpec, type WindowStepSpec } from '../config/job';
import type { Decoder } from '../codecs/decoder';
import { UsageError } from '../core/errors';
import type { Sink } from '../core/sink';
import type { Source } from '../core/source';
import { installDependencyPatches } from '../patches';
import { DEAD_LETTERS, LATE, type JobParts } from '../runtime/run-job';
import { InputSpans } from '../sinks/console-sink';
import { CassandraCheckpointStore } from '../state/cassandra-checkpoint-store';
import type { CheckpointStore } from '../state/checkpoint';
import { FileCheckpointStore } from '../state/file-checkpoint-store';
import { createOperators, SINKS, sourceOf } from './components';
import { createRecordParts } from './record-parts';

/** Command-line overrides of a job file's source, sinks and checkpoints. */
export interface Overrides {
  /** Replace the job's source with this file (JSONL, CSV, Avro container). */
  input?: string;
  /** Station id for CSV inputs that do not name one. */
  station?: string;
  /** Name and position of `station` (`--station id,name,lat,lon`). */
  stationInfo?: { name: string; lat: number; lon: number };
  /** Stations file for inputs that do not carry names and positions (`--stations`). */
  stations?: string;
  /** Units of inputs that do not say (CO-OPS API CSV, NOAA JSON answers). */
  units?: 'm' | 'ft';
  /** Replace the job's sink: a `.jsonl`/`.json` or `.csv` path, `console` (a table), `-` (JSONL on stdout) or `null`. */
  output?: string;
  emit?: 'final' | 'update';
  /** Directory for local checkpoints (default `.tideflow/checkpoints`). */
  checkpointDir?: string;
  /** Checkpoint every this many ms (overrides the job's interval). */
  checkpointIntervalMs?: number;
  /** Kafka sources: stop at the end offsets seen at start-up (a bounded backfill run). */
  untilEnd?: boolean;
  /** Rows per batch for file inputs; at most this many per batch for Kafka. */
  batchSize?: number;
  /** Threads that decode Kafka Avro (`--workers`); default 1: in-thread, no worker pool. */
  workers?: number;
  stdout?: NodeJS.WritableStream;
  /** Informational lines from sources and sinks (retries during outages...). */
  log?: (line: string) => void;
}

const DEFAULT_CHECKPOINT_DIR = '.tideflow/checkpoints';

/** Applies CLI overrides to a validated job: the same job file runs on Kafka or on any data file. */
export function applyOverrides(job: JobSpec, overrides: Overrides): JobSpec {
  let result: JobSpec = { ...job };
  if (overrides.emit) {
    result.steps = result.steps.map((step) => (step.kind === 'window' ? { ...step, emit: overrides.emit! } : step));
  }
  if (overrides.untilEnd && result.source.kind === 'kafka') {
    result.source = { kind: 'kafka', kafka: { ...result.source.kafka, stopAtEnd: true } };
  }
  if (overrides.input) {
    result.source = {
      kind: 'file',
      file: {
        path: overrides.input,
        station: overrides.station,
        stationInfo: overrides.stationInfo,
        stations: overrides.stations,
        units: overrides.units,
        batchSize: overrides.batchSize ?? 4096,
      },
    };
  } else if (overrides.batchSize && result.source.kind === 'file') {
    result.source = { kind: 'file', file: { ...result.source.file, batchSize: overrides.batchSize } };
  } else if (overrides.batchSize && result.source.kind === 'kafka') {
    result.source = { kind: 'kafka', kafka: { ...result.source.kafka, maxBatchRecords: overrides.batchSize } };
  }
  if (overrides.output) {
    const output = overrides.output;
    // Results discarded ('null', for timing a job) or shown: dead letters and late records still land in files.
    const file = output === 'console' || output === '-' || output === 'null' ? null : outputFile(output);
    const sink: SinkSpec =
      output === 'console'
        ? { kind: 'console', console: { format: 'table' } }
        : output === '-'
          ? { kind: 'console', console: { format: 'jsonl' } }
          : output === 'null'
            ? { kind: 'null' }
            : file!.sink(output);
    const base = file === null ? join('.tideflow', 'output', job.job) : file.base;
    result = {
      ...result,
      sink,
      // With a local output, side outputs go next to it unless the job says otherwise (JSONL: their rows vary).
      deadLetters: { kind: 'jsonl', jsonl: { path: `${base}.dead-letters.jsonl` } },
      late: { kind: 'jsonl', jsonl: { path: `${base}.late.jsonl` } },
      // Named sinks hold results too: in the output's format.
      sinks: Object.fromEntries(
        Object.keys(result.sinks).map((name) => [name, file === null ? ({ kind: 'jsonl', jsonl: { path: `${base}.${name}.jsonl` } } as SinkSpec) : file.sink(`${base}.${name}${file.extension}`)]),
      ),
    };
  }
  // A local run must not write checkpoints into the production store.
  if ((overrides.input || overrides.output) && result.checkpoint.kind === 'cassandra') {
    result.checkpoint = { kind: 'file', dir: overrides.checkpointDir ?? DEFAULT_CHECKPOINT_DIR, intervalMs: result.checkpoint.intervalMs };
  } else if (overrides.checkpointDir && result.checkpoint.kind === 'file') {
    result.checkpoint = { ...result.checkpoint, dir: overrides.checkpointDir };
  }
  if (overrides.checkpointIntervalMs !== undefined && result.checkpoint.kind !== 'none') {
    result.checkpoint = { ...result.checkpoint, intervalMs: overrides.checkpointIntervalMs };
  }
  // Read from a file (or the generator), one task sees every record: nothing to re-key.
  if (result.source.kind !== 'kafka') result.steps = result.steps.filter((step) => step.kind !== 'repartition');
  return result;
}

/** The file sinks `--output FILE` chooses between, by the file's extension. */
const OUTPUT_EXTENSIONS: Readonly<Record<string, 'jsonl' | 'csv'>> = { '.jsonl': 'jsonl', '.json': 'jsonl', '.csv': 'csv' };

/**
 * What `--output path` writes: JSON lines for .jsonl/.json, CSV for .csv;
 * any other extension is refused (UsageError, exit 2) with the ones there are.
 *
 * @example
 *   outputFile('out/averages.csv').sink('out/averages.csv'); // { kind: 'csv', csv: { path: 'out/averages.csv' } }
 */
export function outputFile(path: string): { base: string; extension: string; sink(path: string): SinkSpec } {
  const extension = extname(path);
  const kind = Object.hasOwn(OUTPUT_EXTENSIONS, extension.toLowerCase()) ? OUTPUT_EXTENSIONS[extension.toLowerCase()] : undefined;
  if (kind === undefined) {
    throw new UsageError(
      `--output ${path}: cannot write ${extension === '' ? 'a file without an extension' : `'${extension}' files`}; ` +
        'give a .jsonl or .json file (JSON lines), a .csv file (CSV with a header), console (a table), - (JSON lines on stdout) or null',
    );
  }
  return {
    base: path.slice(0, path.length - extension.length),
    extension,
    sink: (file) => (kind === 'csv' ? { kind: 'csv', csv: { path: file } } : { kind: 'jsonl', jsonl: { path: file } }),
  };
}

/**
 * Builds source, decoder, validator, sinks and checkpoint store for a job file,
 * with the command line's overrides applied.
 */
export async function assemble(original: JobSpec, overrides: Overrides = {}): Promise<JobParts> {
  // Before any Kafka fetch or Cassandra write: tideflow's faster readers and writers inside the clients.
  installDependencyPatches();
  const job = applyOverrides(original, overrides);
  const log = overrides.log ?? (() => {});
  const repartition = job.steps.find((step) => step.kind === 'repartition');
  if (repartition !== undefined && (job.sink.kind !== 'kafka' || job.sink.kafka.repartition === undefined)) {
    throw new UsageError(`job ${job.job}: its repartition step '${repartition.id}' splits it into two stages (jobfile/stages.ts stagesOf): run it with tideflow run or run()`);
  }
  // The reader schema validates input records whichever source replaced the job's own.
  const readerSchema = original.source.kind === 'kafka' ? original.source.kafka.format.readerSchema : undefined;
  const records = createRecordParts(job, readerSchema, log, overrides.workers);
  const groupBy = consoleGroupKey(job);
  // Console tables mark the windows the input began or ended inside: they need to see the input.
  const inputSpans = needsInputSpans(job) ? new InputSpans(groupBy, job.eventTime.field) : undefined;

  const sinks = new Map<string, Sink>();
  const createSink = (spec: SinkSpec, name: string): Sink =>
    SINKS[spec.kind].create((spec as { [kind: string]: unknown })[spec.kind] as never, {
      job,
      log,
      name,
      options: { timestampFields: new Set([job.eventTime.field]) },
      stdout: overrides.stdout ?? process.stdout,
      columnTypes: records.columnTypes,
      readerType: records.readerType,
      console: { groupBy, inputSpans },
      createSink,
      deadLetters: () => sinks.get(DEAD_LETTERS)!,
    });
  // The same place `--output console` puts them: one path scheme, whatever the job's own sink.
  const sideDefault = (suffix: string): SinkSpec => ({ kind: 'jsonl', jsonl: { path: join('.tideflow', 'output', `${job.job}.${suffix}.jsonl`) } });
  sinks.set('main', createSink(job.sink, 'main'));
  for (const [name, spec] of Object.entries(job.sinks)) sinks.set(name, createSink(spec, name));
  sinks.set(DEAD_LETTERS, createSink(job.deadLetters ?? sideDefault(DEAD_LETTERS), DEAD_LETTERS));
  sinks.set(LATE, createSink(job.late ?? sideDefault(LATE), LATE));

  const sourceKind = sourceOf(job.source);
  const source = sourceKind.create((job.source as { [kind: string]: unknown })[job.source.kind] as never, { job, log });
  if (inputSpans !== undefined) observeInput(source, records.decoder, inputSpans);
  return {
    job,
    source,
    decoder: records.decoder,
    validator: records.validator,
    sinks,
    checkpoints: createCheckpointStore(job, overrides, log),
    clearCheckpointOnCompletion: sourceKind.finite === true,
    operators: () => createOperators(job),
    ...(job.source.kind === 'kafka' && job.source.kafka.repartitioned ? { upstream: job.source.kafka.repartitioned } : {}),
  };
}

function createCheckpointStore(job: JobSpec, overrides: Overrides, log: (line: string) => void): CheckpointStore {
  switch (job.checkpoint.kind) {
    case 'file':
      return new FileCheckpointStore(job.checkpoint.dir);
    case 'none':
      return new FileCheckpointStore(overrides.checkpointDir ?? DEFAULT_CHECKPOINT_DIR);
    case 'cassandra': {
      // The checkpoint lives in the same cluster as the results it vouches for.
      const sink = job.checkpoint.connection ?? cassandraSinkOf(job.sink);
      if (!sink) throw new UsageError(`job ${job.job}: a Cassandra checkpoint store needs a Cassandra sink to take its connection from`);
      return new CassandraCheckpointStore({
        contactPoints: sink.contactPoints,
        localDataCenter: sink.localDataCenter,
        auth: sink.auth,
        ssl: sink.ssl,
        keyspace: job.checkpoint.keyspace,
        table: job.checkpoint.table,
        replicationFactor: sink.replicationFactor,
        claimTtlMs: job.checkpoint.claimTtlMs,
        log,
      });
    }
  }
}

/**
 * What groups console tables (e.g. one section per station): the key of the
 * last window step, else the key of the last dedupe step without the event
 * time (`[station, t]` -> `[station]`), else nothing.
 */
function consoleGroupKey(job: JobSpec): string[] {
  const windows = job.steps.filter((step): step is WindowStepSpec => step.kind === 'window');
  if (windows.length > 0) return windows[windows.length - 1].key;
  const dedupes = job.steps.filter((step): step is DedupeStepSpec => step.kind === 'dedupe');
  return dedupes.length > 0 ? dedupes[dedupes.length - 1].key.filter((field) => field !== job.eventTime.field) : [];
}

/** A console table of a job with windows, grouped by a key: the only reader of input spans. */
function needsInputSpans(job: JobSpec): boolean {
  const sinks = [job.sink, ...Object.values(job.sinks)];
  return consoleGroupKey(job).length > 0 && job.steps.some((step) => step.kind === 'window') && sinks.flatMap(leafSinks).some((sink) => sink.kind === 'console' && sink.console.format === 'table');
}

/**
 * Lets `spans` see every record as it is read: the rows a file source or the
 * generator decodes, or those the Kafka decoder gives (a batch it aggregated
 * as it decoded has no rows to see: the spans are then not used).
 */
function observeInput(source: Source, decoder: Decoder | undefined, spans: InputSpans): void {
  const batches = source.batches.bind(source);
  source.batches = (from) => {
    const inner = batches(from);
    return {
      [Symbol.asyncIterator]: () => {
        const iterator = inner[Symbol.asyncIterator]();
        // next() and return() of the source's own iterator: a stop request still ends a wait for the next batch.
        return {
          next: async () => {
            const result = await iterator.next();
            if (result.done !== true && result.value.rows !== undefined) spans.observe(result.value.rows);
            return result;
          },
          return: async (value?: unknown) => (iterator.return !== undefined ? iterator.return(value) : { done: true as const, value: undefined }),
        };
      },
    };
  };
  if (decoder !== undefined) {
    const decode = decoder.decode.bind(decoder);
    decoder.decode = async (raw) => {
      const decoded = await decode(raw);
      if (decoded.kind === 'rows') spans.observe(decoded.rows);
      else spans.markBlind();
      return decoded;
    };
  }
}
