import type { ComponentContext, JsonSchema } from '../config/component';
import { avroRegistrySchema, kafkaConnectionProperties, normalizeAvroRegistry, normalizeKafkaConnection } from '../config/kafka-connection';
import type { AvroRegistryConfig, KafkaConnectionConfig } from '../config/kafka-connection';
import type { KafkaSourceSpec } from '../config/job';

/**
 * Kafka source: consumes a topic as a consumer group, decoding
 * Confluent-framed Avro through a Schema Registry.
 *
 * @example
 * source:
 *   kafka:
 *     brokers: ${KAFKA_BROKERS:-localhost:9092}
 *     topic: tides.observations
 *     format:
 *       avro:
 *         registry: ${SCHEMA_REGISTRY_URL:-http://localhost:8081}
 *         readerSchema: schemas/tide_observation.avsc
 */

export interface KafkaSourceConfig extends KafkaConnectionConfig {
  topic: string;
  group?: string;
  startFrom?: 'earliest' | 'latest';
  stopAtEnd?: boolean;
  format: { avro: AvroRegistryConfig };
}

export const schema: JsonSchema = {
  title: 'kafka source',
  description: 'Reads a Kafka topic as a consumer group.',
  type: 'object',
  required: ['brokers', 'topic', 'format'],
  additionalProperties: false,
  properties: {
    ...kafkaConnectionProperties,
    topic: { description: 'Topic to read.', type: 'string', minLength: 1, examples: ['tides.observations'] },
    group: { description: 'Consumer group (default `tideflow-<job>`).', type: 'string', minLength: 1, examples: ['tideflow-tides-lunar-day'] },
    startFrom: {
      description: 'Where a group without committed offsets or checkpoint starts.',
      type: 'string',
      enum: ['earliest', 'latest'],
      default: 'earliest',
    },
    stopAtEnd: {
      description: 'Stop once the end offsets seen at start-up are reached (a bounded run, for tests and benchmarks).',
      type: 'boolean',
      default: false,
    },
    format: {
      title: 'kafka source format',
      description: 'How record values are encoded.',
      type: 'object',
      selector: 'format',
      exactlyOneOf: ['avro'],
      additionalProperties: false,
      properties: { avro: avroRegistrySchema },
    },
  },
};

/** Schema-validated YAML to the JobSpec form: defaults filled in, durations and timestamps in milliseconds. */
export function normalize(raw: KafkaSourceConfig, context: ComponentContext): KafkaSourceSpec {
  return {
    ...normalizeKafkaConnection(raw),
    topic: raw.topic,
    group: raw.group ?? `tideflow-${context.job}`,
    startFrom: raw.startFrom ?? 'earliest',
    stopAtEnd: raw.stopAtEnd ?? false,
    format: normalizeAvroRegistry(raw.format.avro),
  };
}
