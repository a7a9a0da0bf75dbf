import type { SourceLocation } from './job';
import { parseDuration } from './duration';
import { parseTimestamp } from './timestamp';

/**
 * What a component config spec (`*.spec.ts` beside each source, operator,
 * sink and checkpoint store) is made of: a JSON schema that both validates the
 * YAML and documents it, and a `normalize` from validated YAML to the
 * JobSpec types. `normalize` only ever sees data its schema accepted.
 */

/**
 * JSON schema (draft-07 subset Ajv checks) plus tideflow keywords:
 *
 * - `duration`: a string like `30m` (`'positive'`: and longer than zero)
 * - `timestamp`: an ISO-8601 date-time with zone
 * - `expression`: an expression the engine's parser accepts
 * - `aggregateCall`: `fn(field)` with a known aggregate function
 * - `exactlyOneOf`: exactly one of these keys is present
 * - `selector`: names what the keys of a one-key map choose (for messages)
 * - `patternHint`: how to describe `pattern` in a message
 * - `requiredWhy`: why a required field is needed (for messages)
 */
export interface JsonSchema {
  title?: string;
  description?: string;
  default?: unknown;
  examples?: unknown[];
  type?: JsonType | JsonType[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean | JsonSchema;
  propertyNames?: JsonSchema;
  items?: JsonSchema;
  enum?: readonly unknown[];
  pattern?: string;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  minItems?: number;
  minLength?: number;
  minProperties?: number;
  uniqueItems?: boolean;
  duration?: true | 'positive';
  timestamp?: true;
  expression?: true;
  aggregateCall?: true;
  exactlyOneOf?: string[];
  selector?: string;
  patternHint?: string;
  requiredWhy?: Record<string, string>;
}

export type JsonType = 'string' | 'number' | 'integer' | 'boolean' | 'object' | 'array' | 'null';

/** What sources, sinks and checkpoint stores may need beyond their own YAML. */
export interface ComponentContext {
  /** The job id (e.g. for the default Kafka consumer group). */
  job: string;
}

/** What steps need beyond their own YAML. */
export interface StepContext {
  /** Used when the step has no `id`: `<kind>-<position>`. */
  defaultId: string;
  /** Where the step is written. */
  at: SourceLocation;
}

// ------------------------------------------------------------ schema parts

/** An event-time duration (`30m`); `positive` when zero makes no sense (window size). */
export function durationSchema(description: string, options: { default?: string; positive?: boolean; examples?: string[] } = {}): JsonSchema {
  return {
    description,
    duration: options.positive === true ? 'positive' : true,
    ...(options.default === undefined ? {} : { default: options.default }),
    examples: options.examples ?? [options.default ?? '30m'],
  };
}

/** An ISO-8601 instant, e.g. a window anchor. */
export function timestampSchema(description: string, defaultValue?: string): JsonSchema {
  return {
    description,
    type: 'string',
    timestamp: true,
    ...(defaultValue === undefined ? {} : { default: defaultValue }),
    examples: [defaultValue ?? '2024-01-01T00:00:00Z'],
  };
}

/** A list of row field names (keys, drops). */
export function fieldListSchema(description: string, examples: string[][], minItems = 0): JsonSchema {
  return {
    description,
    type: 'array',
    items: { type: 'string', minLength: 1 },
    ...(minItems > 0 ? { minItems } : {}),
    uniqueItems: true,
    examples,
  };
}

/** Hosts written either as a YAML list or as one comma-separated string (what an env var holds). */
export function hostListSchema(description: string, example: string): JsonSchema {
  return {
    description,
    type: ['string', 'array'],
    items: { type: 'string', minLength: 1 },
    minLength: 1,
    minItems: 1,
    examples: [example, example.split(',')],
  };
}

export const STEP_ID_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._-]*$';
export const STEP_ID_HINT = "letters, digits, '.', '_' or '-', starting with a letter or digit";

/** The `id` every step accepts; stateful steps require it. */
export function stepIdSchema(stateful: boolean): JsonSchema {
  return {
    description: stateful
      ? 'Stable id: names this step\'s state in checkpoints, so renaming it starts from empty state.'
      : 'Optional id for messages and metrics (default `<kind>-<position>`, e.g. `filter-1`).',
    type: 'string',
    pattern: STEP_ID_PATTERN,
    patternHint: STEP_ID_HINT,
    examples: ['dedupe-observations'],
  };
}

export const STATEFUL_ID_WHY = 'stateful steps need a stable id: it names their state in checkpoints';

// ------------------------------------------------------------ normalize helpers

/** Milliseconds of a duration the schema already accepted. */
export function durationMs(text: unknown): number {
  const ms = parseDuration(String(text));
  if (ms === null) throw new Error(`internal: unvalidated duration ${String(text)}`);
  return ms;
}

/** Epoch milliseconds of a timestamp the schema already accepted. */
export function timestampMs(text: unknown): number {
  const result = parseTimestamp(String(text));
  if (!result.ok) throw new Error(`internal: unvalidated timestamp ${String(text)}`);
  return result.ms;
}

/** `a, b` or `[a, b]` to `['a', 'b']`. */
export function hostList(value: string | string[]): string[] {
  const items = Array.isArray(value) ? value : value.split(',');
  return items.map((item) => item.trim()).filter((item) => item.length > 0);
}

/** Reports problems relative to a component's own YAML node. */
export interface Reporter {
  /** A bad value at `path` (below the component). */
  atValue(path: ReadonlyArray<string | number>, message: string): void;
  /** A bad key at `path` (e.g. a field that clashes). */
  atKey(path: ReadonlyArray<string | number>, message: string): void;
  /** Something missing from the map at `path`. */
  atOwner(path: ReadonlyArray<string | number>, message: string): void;
}
