import type { AvroRegistryFormatSpec, KafkaConnectionSpec } from './job';
import { hostList, hostListSchema } from './component';
import type { JsonSchema } from './component';

/**
 * The Kafka connection and Schema Registry settings shared by the Kafka
 * source and the Kafka sink, so both read the same YAML the same way.
 */

export const DEFAULT_CLIENT_ID = 'tideflow';

export interface KafkaConnectionConfig {
  brokers: string | string[];
  clientId?: string;
  ssl?: boolean;
  sasl?: { mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512'; username: string; password: string };
}

const credentialsSchema = (title: string): JsonSchema => ({
  title,
  description: 'User name and password; keep secrets in environment references.',
  type: 'object',
  required: ['username', 'password'],
  additionalProperties: false,
  properties: {
    username: { description: 'User name.', type: 'string', examples: ['${SCHEMA_REGISTRY_USERNAME}'] },
    password: { description: 'Password; keep it in an environment reference.', type: 'string', examples: ['${SCHEMA_REGISTRY_PASSWORD}'] },
  },
});

export const kafkaConnectionProperties: Record<string, JsonSchema> = {
  brokers: hostListSchema('Bootstrap brokers, as a list or a comma-separated string.', '${KAFKA_BROKERS:-localhost:9092}'),
  clientId: { description: 'Kafka client id.', type: 'string', minLength: 1, default: DEFAULT_CLIENT_ID },
  ssl: { description: 'Connect with TLS, verifying the broker certificates (a private CA: NODE_EXTRA_CA_CERTS).', type: 'boolean', default: false },
  sasl: {
    ...credentialsSchema('kafka sasl'),
    description: 'SASL authentication.',
    required: ['mechanism', 'username', 'password'],
    properties: {
      mechanism: { description: 'SASL mechanism the broker offers.', type: 'string', enum: ['plain', 'scram-sha-256', 'scram-sha-512'], examples: ['scram-sha-512'] },
      username: { description: 'User name.', type: 'string', examples: ['${KAFKA_USERNAME}'] },
      password: { description: 'Password; keep it in an environment reference.', type: 'string', examples: ['${KAFKA_PASSWORD}'] },
    },
  },
};

/** Schema-validated YAML to the JobSpec form: defaults filled in, durations and timestamps in milliseconds. */
export function normalizeKafkaConnection(raw: KafkaConnectionConfig): KafkaConnectionSpec {
  return {
    brokers: hostList(raw.brokers),
    clientId: raw.clientId ?? DEFAULT_CLIENT_ID,
    ...(raw.ssl === undefined ? {} : { ssl: raw.ssl }),
    ...(raw.sasl === undefined ? {} : { sasl: { ...raw.sasl } }),
  };
}

export interface AvroRegistryConfig {
  registry: string;
  readerSchema: string;
  basicAuth?: { username: string; password: string };
}

/** Confluent-framed Avro whose writer schemas come from a Schema Registry. */
export const avroRegistrySchema: JsonSchema = {
  title: 'avro format',
  description: 'Confluent-framed Avro; writer schemas are fetched from the Schema Registry by id.',
  type: 'object',
  required: ['registry', 'readerSchema'],
  additionalProperties: false,
  properties: {
    registry: {
      description: 'Schema Registry base URL (Confluent REST API).',
      type: 'string',
      pattern: '^https?://',
      patternHint: 'an http:// or https:// URL',
      examples: ['${SCHEMA_REGISTRY_URL:-http://localhost:8081}'],
    },
    readerSchema: {
      description: "Avro schema file (.avsc) records are read as; relative to the job file's directory.",
      type: 'string',
      minLength: 1,
      examples: ['../schemas/tide_observation.avsc'],
    },
    basicAuth: { ...credentialsSchema('schema registry basicAuth'), description: 'Schema Registry basic auth.' },
  },
};

/** Schema-validated YAML to the JobSpec form: defaults filled in, durations and timestamps in milliseconds. */
export function normalizeAvroRegistry(raw: AvroRegistryConfig): AvroRegistryFormatSpec {
  return {
    kind: 'avro-registry',
    registryUrl: raw.registry,
    readerSchema: raw.readerSchema,
    ...(raw.basicAuth === undefined ? {} : { basicAuth: { ...raw.basicAuth } }),
  };
}
