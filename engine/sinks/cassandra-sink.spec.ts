import { fieldListSchema, hostList, hostListSchema } from '../config/component';
import type { ComponentContext, JsonSchema } from '../config/component';
import type { CassandraSinkSpec } from '../config/job';

/**
 * Cassandra sink: idempotent upserts keyed by the table's primary key, so a
 * replay after a crash rewrites the same rows (effectively-once results).
 *
 * @example
 * sink:
 *   cassandra:
 *     contactPoints: ${CASSANDRA_CONTACT_POINTS:-localhost:9042}
 *     keyspace: ${CASSANDRA_KEYSPACE:-tides}
 *     table: lunar_day
 *     primaryKey: { partition: [station], clustering: [window_start] }
 */

export interface CassandraSinkConfig {
  contactPoints: string | string[];
  localDataCenter?: string;
  keyspace: string;
  table: string;
  primaryKey: { partition: string[]; clustering?: string[] };
  columns?: Record<string, string>;
  createTable?: boolean;
  replicationFactor?: number;
  concurrency?: number;
  auth?: { username: string; password: string };
  ssl?: boolean;
}

const DEFAULTS = { localDataCenter: 'datacenter1', createTable: true, replicationFactor: 1, concurrency: 32 };

const IDENTIFIER = '^[A-Za-z][A-Za-z0-9_]{0,47}$';
const IDENTIFIER_HINT = 'a Cassandra name (letters, digits and _, starting with a letter, at most 48 characters)';
const columnList = (description: string, example: string[], minItems: number): JsonSchema => ({
  ...fieldListSchema(description, [example], minItems),
  items: { type: 'string', pattern: IDENTIFIER, patternHint: IDENTIFIER_HINT },
});

export const schema: JsonSchema = {
  title: 'cassandra sink',
  description: 'Upserts result rows into a Cassandra table.',
  type: 'object',
  required: ['contactPoints', 'keyspace', 'table', 'primaryKey'],
  additionalProperties: false,
  properties: {
    contactPoints: hostListSchema('host:port of one or more nodes, as a list or comma-separated.', '${CASSANDRA_CONTACT_POINTS:-localhost:9042}'),
    localDataCenter: {
      description: 'Data center the driver prefers.',
      type: 'string',
      minLength: 1,
      default: DEFAULTS.localDataCenter,
      examples: ['${CASSANDRA_LOCAL_DC:-datacenter1}'],
    },
    keyspace: { type: 'string', pattern: IDENTIFIER, patternHint: IDENTIFIER_HINT, examples: ['${CASSANDRA_KEYSPACE:-tides}'] },
    table: { type: 'string', pattern: IDENTIFIER, patternHint: IDENTIFIER_HINT, examples: ['lunar_day'] },
    primaryKey: {
      title: 'cassandra primaryKey',
      description: 'Partition key and clustering columns; results upsert by them, so they must identify a result row.',
      examples: [{ partition: ['station'], clustering: ['window_start'] }],
      type: 'object',
      required: ['partition'],
      additionalProperties: false,
      properties: {
        partition: columnList('Partition key columns.', ['station'], 1),
        clustering: columnList('Clustering columns.', ['window_start'], 0),
      },
    },
    columns: {
      title: 'cassandra columns',
      description: 'Column -> row field (default: every output field to the column of the same name).',
      type: 'object',
      propertyNames: { pattern: IDENTIFIER, patternHint: IDENTIFIER_HINT },
      additionalProperties: { type: 'string', minLength: 1 },
      examples: [{ station: 'station', window_start: 'window_start', high: 'high' }],
    },
    createTable: { description: 'Create keyspace and table if missing.', type: 'boolean', default: DEFAULTS.createTable },
    replicationFactor: { description: 'For a keyspace this sink creates.', type: 'integer', minimum: 1, default: DEFAULTS.replicationFactor },
    concurrency: { description: 'Concurrent in-flight writes.', type: 'integer', minimum: 1, default: DEFAULTS.concurrency },
    auth: {
      title: 'cassandra auth',
      type: 'object',
      required: ['username', 'password'],
      additionalProperties: false,
      properties: { username: { type: 'string' }, password: { type: 'string', examples: ['${CASSANDRA_PASSWORD}'] } },
    },
    ssl: { description: 'Connect with TLS, verifying the node certificates (a private CA: NODE_EXTRA_CA_CERTS).', type: 'boolean', default: false },
  },
};

/** Schema-validated YAML to the JobSpec form: defaults filled in, durations and timestamps in milliseconds. */
export function normalize(raw: CassandraSinkConfig, _context: ComponentContext): CassandraSinkSpec {
  return {
    contactPoints: hostList(raw.contactPoints),
    localDataCenter: raw.localDataCenter ?? DEFAULTS.localDataCenter,
    keyspace: raw.keyspace,
    table: raw.table,
    columns: { ...(raw.columns ?? {}) },
    primaryKey: { partition: [...raw.primaryKey.partition], clustering: [...(raw.primaryKey.clustering ?? [])] },
    createTable: raw.createTable ?? DEFAULTS.createTable,
    replicationFactor: raw.replicationFactor ?? DEFAULTS.replicationFactor,
    concurrency: raw.concurrency ?? DEFAULTS.concurrency,
    ...(raw.auth === undefined ? {} : { auth: { ...raw.auth } }),
    ...(raw.ssl === undefined ? {} : { ssl: raw.ssl }),
  };
}
