/**
 * The validated, normalised form of a job file. The loader turns YAML into
 * this: `${ENV:-default}` references resolved, durations in milliseconds,
 * timestamps in epoch milliseconds, defaults filled in. Everything downstream
 * of `engine/config` works on these types only.
 *
 * YAML shape (see jobs/*.yaml and docs in README):
 *
 *   job: tides-30m-average
 *   source: { kafka: {...} } | { file: {...} } | { generator: {...} }
 *   eventTime: { field: t, maxOutOfOrder: 10m, idleTimeout: 1m }
 *   steps:
 *     - filter: { when: "v != null" }
 *     - map: { set: { v_ft: "v * 3.28084" }, drop: [q] }
 *     - dedupe: { id: dedupe, key: [station, t], horizon: 2h }
 *     - window: { id: avg, key: [station], tumbling: { size: 30m }, aggregate: { avg: avg(v) } }
 *     - route: { routes: [ { when: "range > 3", to: alerts } ] }
 *   sink: { cassandra: {...} } | { jsonl: {...} } | { console: {} } | { kafka: {...} }
 *   sinks: { alerts: { jsonl: { path: out/alerts.jsonl } } }
 *   deadLetters: { jsonl: { path: ... } } | { kafka: { topic: ... } }
 *   late: same as deadLetters
 *   checkpoint: { file: { dir: .tideflow/checkpoints, interval: 5s } } | { cassandra: {...} } | { none: {} }
 */

export interface JobSpec {
  /** Job id; names checkpoints and the Kafka consumer group default. */
  job: string;
  description?: string;
  /** The file the job came from (for messages). */
  file: string;
  source: SourceSpec;
  eventTime: EventTimeSpec;
  steps: StepSpec[];
  sink: SinkSpec;
  /** Extra named sinks, targets of `route`. */
  sinks: Record<string, SinkSpec>;
  deadLetters?: SinkSpec;
  late?: SinkSpec;
  checkpoint: CheckpointSpec;
}

export interface EventTimeSpec {
  field: string;
  maxOutOfOrderMs: number;
  idleTimeoutMs: number;
  /** Event-time alignment of partitions while catching up (see WatermarkTracker.partitionsAhead). */
  maxDriftMs: number;
}

// ---------------------------------------------------------------- sources

export type SourceSpec =
  | { kind: 'kafka'; kafka: KafkaSourceSpec }
  | { kind: 'file'; file: FileSourceSpec }
  | { kind: 'generator'; generator: GeneratorSourceSpec }
  /** Specs of sources whose config lives with their implementation (http, noaa: engine/sources/). */
  | { kind: 'http'; http: unknown }
  | { kind: 'noaa'; noaa: unknown };

export interface KafkaConnectionSpec {
  brokers: string[];
  clientId: string;
  ssl?: boolean;
  sasl?: { mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512'; username: string; password: string };
}

export interface KafkaSourceSpec extends KafkaConnectionSpec {
  topic: string;
  /** Consumer group; default `tideflow-<job>`. */
  group: string;
  startFrom: 'earliest' | 'latest';
  format: AvroRegistryFormatSpec;
  /** Stop once the end offsets seen at start-up are reached (bounded run; used by tests and benchmarks). */
  stopAtEnd: boolean;
  /** At most this many records per batch handed to the runtime (default 5,000; the CLI's `--batch-size`). */
  maxBatchRecords?: number;
  /** How long the group waits for a silent member before moving its partitions (default 30 s). */
  sessionTimeoutMs?: number;
  /** The record fields the topic's messages are keyed by, when the job says (lint checks keyed steps against them). */
  keyedBy?: string[];
  /**
   * Set on the second stage of a job with a `repartition` step (jobfile/stages.ts): the topic is
   * that step's internal topic, of JSON envelopes the first stage wrote; `origins` are the
   * partitions of the job's own topic, whose watermarks the envelopes carry.
   */
  repartitioned?: { origins: string[] };
}

export interface AvroRegistryFormatSpec {
  kind: 'avro-registry';
  registryUrl: string;
  /** Reader schema file (writer schemas come from the registry by id). */
  readerSchema: string;
  basicAuth?: { username: string; password: string };
}

/** `noaa-json`: answers saved from NOAA's CO-OPS API (a .json file's content, or a directory of them, says so). */
export type FileFormat = 'jsonl' | 'csv' | 'avro' | 'noaa-json';

export interface FileSourceSpec {
  path: string;
  /** Default: from the file extension. */
  format?: FileFormat;
  /** For CSV files that do not name their station (and NOAA answers without metadata). */
  station?: string;
  /** Name and position of `station`, given with it (`--station id,name,lat,lon`): wins over every table. */
  stationInfo?: { name: string; lat: number; lon: number };
  /** A stations file (CSV `id,name,lat,lon` or JSON) consulted before the bundled table. */
  stations?: string;
  /** Water-level units where the file does not say (CO-OPS API CSV, `t,v,s`, NOAA JSON answers); converted to metres. */
  units?: 'm' | 'ft';
  /** Rows per batch (default 4096). */
  batchSize: number;
  /** A run that dead-lettered any record exits 1 (after writing everything and printing its summary). */
  strict?: boolean;
}

export interface GeneratorSourceSpec {
  stations: string[];
  /** Epoch ms of the first observation. */
  startMs: number;
  /** Observations per station. */
  count: number;
  intervalMs: number;
  duplicateRate: number;
  /** Maximum disorder; must stay within the job's maxOutOfOrder to avoid late records. */
  disorderMs: number;
  lateRate: number;
  nullRate: number;
  seed: number;
  batchSize: number;
}

// ---------------------------------------------------------------- steps

export type StepSpec = FilterStepSpec | MapStepSpec | DedupeStepSpec | WindowStepSpec | RouteStepSpec | RepartitionStepSpec | CodeStepSpec;

/**
 * A step written in code (the TypeScript API: a function over rows, an RxJS
 * operator over batches, or an Operator object); job files cannot name one.
 * The job carries its place and id; the implementation travels beside it.
 */
export interface CodeStepSpec {
  kind: 'code';
  id: string;
  at: SourceLocation;
}

/** Where a step was written (for runtime messages that point into the job file). */
export interface SourceLocation {
  line: number;
  col: number;
}

export interface FilterStepSpec {
  kind: 'filter';
  id: string;
  /** Expression text; rows where it is truthy pass. */
  when: string;
  at: SourceLocation;
}

export interface MapStepSpec {
  kind: 'map';
  id: string;
  /** Output field -> expression over the input row. */
  set: Record<string, string>;
  drop: string[];
  at: SourceLocation;
}

export interface DedupeStepSpec {
  kind: 'dedupe';
  id: string;
  key: string[];
  horizonMs: number;
  at: SourceLocation;
}

export type WindowKindSpec =
  | { kind: 'tumbling'; sizeMs: number; anchorMs: number }
  | { kind: 'hopping'; sizeMs: number; slideMs: number; anchorMs: number }
  | { kind: 'session'; gapMs: number }
  | { kind: 'lunarDay'; mode: 'mean'; anchorMs: number }
  /** `lonField` / `latField`: the row fields giving the station's position. */
  | { kind: 'lunarDay'; mode: 'transit'; lonField: string; latField: string };

export type AggregateFunction =
  | 'count'
  | 'sum'
  | 'avg'
  | 'min'
  | 'max'
  | 'range'
  | 'first'
  | 'last'
  | 'stddev'
  | 'time_of_max'
  | 'time_of_min';

export interface AggregateSpec {
  /** Output field name. */
  name: string;
  fn: AggregateFunction;
  /** Input field the function reads. */
  field: string;
}

export interface WindowStepSpec {
  kind: 'window';
  id: string;
  key: string[];
  window: WindowKindSpec;
  allowedLatenessMs: number;
  emit: 'final' | 'update';
  aggregates: AggregateSpec[];
  at: SourceLocation;
}

export interface RouteStepSpec {
  kind: 'route';
  id: string;
  routes: Array<{ when: string; to: string }>;
  /** Where rows matching no route go: `main` (default) continues down the job; `drop` discards them. */
  otherwise: 'main' | 'drop';
  at: SourceLocation;
}

/**
 * Re-keys the rows through an internal Kafka topic, so each task after it
 * sees every row of a key: the job runs as two stages (jobfile/stages.ts).
 */
export interface RepartitionStepSpec {
  kind: 'repartition';
  id: string;
  /** The fields the rows are re-keyed by. */
  by: string[];
  /** Partitions of the internal topic (default: as many as the job's topic). */
  partitions?: number;
  /** The partitions of the job's topic, filled in when the job is split into its stages. */
  origins?: string[];
  at: SourceLocation;
}

// ---------------------------------------------------------------- sinks

export type SinkSpec =
  | { kind: 'cassandra'; cassandra: CassandraSinkSpec }
  | { kind: 'jsonl'; jsonl: { path: string } }
  | { kind: 'csv'; csv: { path: string } }
  | { kind: 'console'; console: { format: 'table' | 'jsonl' } }
  | { kind: 'kafka'; kafka: KafkaSinkSpec }
  | { kind: 'null' }
  /** The OpenSearch sink's spec lives with it (engine/sinks/opensearch-sink.ts). */
  | { kind: 'opensearch'; opensearch: unknown }
  /** Every row to each of these sinks. */
  | { kind: 'all'; all: { sinks: SinkSpec[] } };

export interface CassandraSinkSpec {
  contactPoints: string[];
  localDataCenter: string;
  keyspace: string;
  table: string;
  /** Column -> row field. Default: each output field to the column of the same name. */
  columns: Record<string, string>;
  /** Partition key and clustering columns, used when `createTable` is on. */
  primaryKey: { partition: string[]; clustering: string[] };
  createTable: boolean;
  replicationFactor: number;
  /** Concurrent in-flight writes. */
  concurrency: number;
  auth?: { username: string; password: string };
  ssl?: boolean;
}

export interface KafkaSinkSpec extends KafkaConnectionSpec {
  topic: string;
  format: AvroRegistryFormatSpec | { kind: 'json' };
  /**
   * Set on the first stage of a job with a `repartition` step: the topic is the step's internal
   * topic; envelope rows are keyed by `by`, watermark marks go to every partition.
   */
  repartition?: { by: string[]; partitions: number };
}

// ---------------------------------------------------------------- checkpoints

export type CheckpointSpec =
  | { kind: 'file'; dir: string; intervalMs: number }
  | {
      kind: 'cassandra';
      intervalMs: number;
      keyspace: string;
      table: string;
      /** How long a task's claim outlives its last renewal (default 30 s). */
      claimTtlMs?: number;
      /** Where the cluster is, when the job's sink is not in it (the first stage of a job with a `repartition` step). */
      connection?: CassandraSinkSpec;
    }
  | { kind: 'none' };

/** A sink, or each sink of an `all` list: where the rows actually go. */
export function leafSinks(sink: SinkSpec): SinkSpec[] {
  return sink.kind === 'all' ? sink.all.sinks.flatMap(leafSinks) : [sink];
}

/** The Cassandra table a sink writes results to (itself, or one of its `all` list), if any. */
export function cassandraSinkOf(sink: SinkSpec): CassandraSinkSpec | undefined {
  const found = leafSinks(sink).find((leaf): leaf is Extract<SinkSpec, { kind: 'cassandra' }> => leaf.kind === 'cassandra');
  return found?.cassandra;
}
