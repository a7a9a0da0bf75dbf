import type { ErrorObject } from 'ajv';
import type { JsonSchema } from '../config/component';
import { closestName, didYouMean } from '../config/did-you-mean';
import type { ProblemCollector } from '../config/problems';
import { childPointer, pointerKeys } from '../config/yaml-tree';

/**
 * Turns Ajv's errors into tideflow's messages, placed on the YAML node each
 * one is about. Ajv reports facts ("must have required property"); users need
 * the field, what they wrote, and what to write instead.
 */

/** Names the map at a pointer in messages, e.g. "window step 'lunar-day'" (default: the schema's `title`). */
export type Describe = (pointer: string, schema: JsonSchema) => string;

export function reportAjvErrors(errors: readonly ErrorObject[], collector: ProblemCollector, describe: Describe): void {
  const typeFailed = new Set(errors.filter((e) => e.keyword === 'type').map((e) => e.instancePath));
  const unknownKeysAt = new Set(errors.filter((e) => e.keyword === 'additionalProperties').map((e) => e.instancePath));
  // `sizee:` reported with "did you mean 'size'?" makes "missing 'size'" redundant.
  const guessedAt = new Set(
    errors
      .filter((e) => e.keyword === 'additionalProperties')
      .map((e) => `${e.instancePath}\0${closestName(String(e.params.additionalProperty), Object.keys((e.parentSchema as JsonSchema).properties ?? {})) ?? ''}`),
  );
  for (const error of errors) {
    // A value of the wrong type fails its other keywords too; the type is the news.
    if (error.keyword !== 'type' && typeFailed.has(error.instancePath)) continue;
    // `windw:` already says "unknown step kind 'windw' (did you mean 'window'?)"; "needs one of" would repeat it.
    if (error.keyword === 'exactlyOneOf' && (error.params.present as string[]).length === 0 && unknownKeysAt.has(error.instancePath)) continue;
    // Ajv reports a bad key twice (propertyNames, then the pattern inside it); the pattern error is the precise one.
    if (error.keyword === 'propertyNames') continue;
    if (error.keyword === 'required' && guessedAt.has(`${error.instancePath}\0${String(error.params.missingProperty)}`)) continue;
    reportOne(error, collector, describe);
  }
}

function reportOne(error: ErrorObject, collector: ProblemCollector, describe: Describe): void {
  const pointer = error.instancePath;
  const schema = (error.parentSchema ?? error.params.parentSchema ?? {}) as JsonSchema;
  const params = error.params as Record<string, unknown>;
  const name = `'${fieldName(pointer)}'`;
  const data: unknown = error.data;
  // Credentials are never echoed back: config problems end up in terminals and CI logs.
  const secret = pointerKeys(pointer).some((key) => SECRET_FIELD.test(key));
  const show = (value: unknown, withType = true) => (secret ? describeSecret(value) : describeValue(value, withType));
  switch (error.keyword) {
    case 'additionalProperties': {
      const key = String(params.additionalProperty);
      const known = Object.keys(schema.properties ?? {});
      const guess = didYouMean(key, known);
      const message =
        schema.selector !== undefined && schema.exactlyOneOf !== undefined && known.every((k) => schema.exactlyOneOf!.includes(k))
          ? `unknown ${schema.selector} '${key}'${guess}; use one of ${schema.exactlyOneOf.join(', ')}`
          : `unknown field '${key}' in ${describe(pointer, schema)}${guess}${guess === '' && known.length > 0 ? `; known fields: ${known.join(', ')}` : ''}`;
      collector.atKey(childPointer(pointer, key), message);
      return;
    }
    case 'required': {
      const missing = String(params.missingProperty);
      const why = schema.requiredWhy?.[missing];
      const example = schema.properties?.[missing]?.examples?.[0];
      const hint = why !== undefined ? ` (${why})` : example !== undefined ? `, e.g. ${missing}: ${inline(example)}` : '';
      collector.atOwner(pointer, `${describe(pointer, schema)} is missing '${missing}'${hint}`);
      return;
    }
    case 'exactlyOneOf': {
      const present = params.present as string[];
      const options = params.options as string[];
      const what = schema.selector ?? 'kind';
      if (present.length === 0) {
        collector.atOwner(pointer, `${describe(pointer, schema)} needs one ${what}: ${options.join(', ')}`);
      } else {
        for (const extra of present.slice(1)) {
          collector.atKey(
            childPointer(pointer, extra),
            `${describe(pointer, schema)} has more than one ${what} ('${present[0]}' and '${extra}'); keep exactly one`,
          );
        }
      }
      return;
    }
    case 'type': {
      collector.atValue(pointer, `${name} must be ${expectedType(schema)}, got ${show(data)}${secret ? '' : quoteHint(schema, data)}`);
      return;
    }
    case 'enum': {
      const options = (schema.enum ?? []) as unknown[];
      const guess = typeof data === 'string' ? didYouMean(data, options.map(String)) : '';
      collector.atValue(pointer, `${name} must be one of ${options.map(String).join(', ')}, got ${show(data)}${guess}`);
      return;
    }
    case 'pattern': {
      if (error.propertyName !== undefined) {
        const key = error.propertyName;
        collector.atKey(childPointer(pointer, key), `'${key}' is not ${schema.patternHint ?? `matching ${schema.pattern}`}`);
        return;
      }
      const hint = schema.patternHint ?? `text matching ${schema.pattern}`;
      collector.atValue(pointer, `${name} must be ${hint}, got ${show(data)}`);
      return;
    }
    case 'minimum':
    case 'exclusiveMinimum':
    case 'maximum': {
      const bound = params.limit as number;
      const relation = error.keyword === 'minimum' ? 'at least' : error.keyword === 'maximum' ? 'at most' : 'more than';
      collector.atValue(pointer, `${name} must be ${relation} ${bound}, got ${show(data)}`);
      return;
    }
    case 'minLength':
      collector.atValue(pointer, `${name} must not be empty`);
      return;
    case 'minItems':
      collector.atValue(pointer, `${name} must list at least ${params.limit as number} ${(params.limit as number) === 1 ? 'entry' : 'entries'}${exampleHint(schema)}`);
      return;
    case 'minProperties':
      collector.atValue(pointer, `${name} needs at least one entry${exampleHint(schema)}`);
      return;
    case 'uniqueItems': {
      const list = Array.isArray(data) ? data : [];
      const duplicate = list[params.i as number];
      collector.atValue(childPointer(pointer, params.i as number), `${name} lists ${describeValue(duplicate)} twice; keep one`);
      return;
    }
    case 'duration': {
      const problem = params.problem as string;
      if (problem === 'unitless') {
        const number = String(data).trim();
        collector.atValue(pointer, `${name} is not a duration: ${String(data)} (add a unit, e.g. ${number}s)`);
      } else if (problem === 'not-positive') {
        collector.atValue(pointer, `${name} must be longer than 0s, got ${show(data)}`);
      } else if (problem === 'type') {
        collector.atValue(pointer, `${name} must be a duration such as 30m, 2h or 500ms, got ${show(data)}`);
      } else {
        collector.atValue(pointer, `${name} is not a duration: ${show(data, false)} (use e.g. 30m, 2h, 500ms)`);
      }
      return;
    }
    case 'timestamp': {
      if (params.problem === 'no-timezone') {
        collector.atValue(pointer, `${name} has no timezone: ${show(data, false)} (add Z for UTC, e.g. ${String(data)}Z)`);
      } else {
        collector.atValue(pointer, `${name} is not an ISO-8601 timestamp: ${show(data, false)} (use e.g. 2024-01-01T00:00:00Z)`);
      }
      return;
    }
    case 'expression':
      collector.atOffset(pointer, params.index as number, `${name} is not a valid expression: ${String(params.message)}`);
      return;
    case 'aggregateCall':
      collector.atOffset(pointer, params.index as number, String(params.message).replace(/^aggregate /, `aggregate ${name} `));
      return;
    default:
      collector.atValue(pointer, `${name} ${error.message ?? 'is invalid'}`);
  }
}

/** `count`, or `key[1]` for a list entry. */
export function fieldName(pointer: string): string {
  const keys = pointerKeys(pointer);
  if (keys.length === 0) return 'job file';
  const last = keys[keys.length - 1];
  if (/^\d+$/.test(last) && keys.length > 1) return `${keys[keys.length - 2]}[${last}]`;
  return last;
}

const TYPE_NAMES: Record<string, string> = {
  string: 'a string',
  integer: 'an integer',
  number: 'a number',
  boolean: 'true or false',
  object: 'a map',
  array: 'a list',
  null: 'empty',
};

function expectedType(schema: JsonSchema): string {
  const types = Array.isArray(schema.type) ? schema.type : [schema.type ?? 'object'];
  return types.map((type) => TYPE_NAMES[type] ?? type).join(' or ');
}

/** Fields whose values a message must not show (`password`, `secret`, `token`...). */
const SECRET_FIELD = /pass(word)?|secret|token|credential|api[-_]?key/i;

/** What kind of value a secret field holds, without the value. */
function describeSecret(value: unknown): string {
  if (value === null || value === undefined) return 'nothing (an empty value)';
  if (Array.isArray(value)) return 'a list';
  return `a ${typeof value === 'object' ? 'map' : typeof value} (value not shown)`;
}

/** What the user wrote, as they would recognise it: `string "ten"`, `number 3`, `list`. */
export function describeValue(value: unknown, withType = true): string {
  if (value === null || value === undefined) return 'nothing (an empty value)';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a map';
  const shown = typeof value === 'string' ? JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value) : String(value);
  return withType ? `${typeof value} ${shown}` : shown;
}

// Station ids and similar codes look like numbers to YAML; say how to keep them text.
function quoteHint(schema: JsonSchema, data: unknown): string {
  const wantsString = schema.type === 'string' || (Array.isArray(schema.type) && schema.type.includes('string'));
  return wantsString && (typeof data === 'number' || typeof data === 'boolean') ? ` (quote it: "${String(data)}")` : '';
}

function exampleHint(schema: JsonSchema): string {
  const example = schema.examples?.[0];
  return example === undefined ? '' : `, e.g. ${inline(example)}`;
}

/** A value as one line of flow YAML, for "e.g." hints. */
export function inline(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(inline).join(', ')}]`;
  if (value !== null && typeof value === 'object') {
    return `{ ${Object.entries(value).map(([k, v]) => `${k}: ${inline(v)}`).join(', ')} }`;
  }
  if (typeof value === 'string' && /^[\w./:${}()-]*$/.test(value) && !/^\d+$/.test(value) && value !== '') return value;
  return JSON.stringify(value);
}
