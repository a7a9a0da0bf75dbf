import type { ComponentContext, JsonSchema } from '../config/component';
import { avroRegistrySchema, kafkaConnectionProperties, normalizeAvroRegistry, normalizeKafkaConnection } from '../config/kafka-connection';
import type { AvroRegistryConfig, KafkaConnectionConfig } from '../config/kafka-connection';
import type { KafkaSinkSpec } from '../config/job';

/**
 * Kafka sink: produces rows to a topic as JSON, or as Confluent-framed Avro
 * with the schema registered in a Schema Registry.
 *
 * @example
 * late:
 *   kafka:
 *     brokers: ${KAFKA_BROKERS:-localhost:9092}
 *     topic: tides.late
 *     format: { json: {} }
 */

export interface KafkaSinkConfig extends KafkaConnectionConfig {
  topic: string;
  format?: { avro: AvroRegistryConfig } | { json: Record<string, never> };
}

export const schema: JsonSchema = {
  title: 'kafka sink',
  description: 'Produces rows to a Kafka topic.',
  type: 'object',
  required: ['brokers', 'topic'],
  additionalProperties: false,
  properties: {
    ...kafkaConnectionProperties,
    topic: { description: 'Topic to write.', type: 'string', minLength: 1, examples: ['tides.alerts'] },
    format: {
      title: 'kafka sink format',
      description: 'How rows are encoded (default json).',
      type: 'object',
      selector: 'format',
      exactlyOneOf: ['avro', 'json'],
      additionalProperties: false,
      properties: {
        avro: { ...avroRegistrySchema, description: 'Confluent-framed Avro written with `readerSchema`, registered in the registry.' },
        json: { title: 'json format', description: 'One JSON document per message.', type: 'object', additionalProperties: false, properties: {} },
      },
      default: { json: {} },
    },
  },
};

/** Schema-validated YAML to the JobSpec form: defaults filled in, durations and timestamps in milliseconds. */
export function normalize(raw: KafkaSinkConfig, _context: ComponentContext): KafkaSinkSpec {
  const format = raw.format !== undefined && 'avro' in raw.format ? normalizeAvroRegistry(raw.format.avro) : { kind: 'json' as const };
  return { ...normalizeKafkaConnection(raw), topic: raw.topic, format };
}
