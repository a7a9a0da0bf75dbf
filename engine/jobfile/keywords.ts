import Ajv from 'ajv';
import type { AnySchemaObject, DataValidateFunction, ErrorObject } from 'ajv/dist/types';
import { parseAggregateCall } from '../config/aggregate-call';
import { isUnitlessNumber, parseDuration } from '../config/duration';
import type { ExpressionParser } from './expression-parser';
import { parseTimestamp } from '../config/timestamp';

/**
 * An Ajv instance that knows tideflow's keywords (see `JsonSchema` in
 * component.ts). Each keyword leaves the wording of its message to
 * ajv-messages.ts and passes what it found in `params`.
 */
export function createAjv(parseExpression: ExpressionParser): Ajv {
  const ajv = new Ajv({ allErrors: true, verbose: true, strict: true, allowUnionTypes: true });
  // Annotations only: they shape messages, not validity.
  ajv.addKeyword({ keyword: 'selector', schemaType: 'string' });
  ajv.addKeyword({ keyword: 'patternHint', schemaType: 'string' });
  ajv.addKeyword({ keyword: 'requiredWhy', schemaType: 'object' });

  ajv.addKeyword({
    keyword: 'duration',
    schemaType: ['boolean', 'string'],
    errors: true,
    validate: keywordCheck('duration', (schema, data) => {
      if (typeof data === 'number' || (typeof data === 'string' && isUnitlessNumber(data))) return { problem: 'unitless' };
      if (typeof data !== 'string') return { problem: 'type' };
      const ms = parseDuration(data.trim());
      if (ms === null) return { problem: 'invalid' };
      if (schema === 'positive' && ms <= 0) return { problem: 'not-positive' };
      return undefined;
    }),
  });

  ajv.addKeyword({
    keyword: 'timestamp',
    type: 'string',
    schemaType: 'boolean',
    errors: true,
    validate: keywordCheck('timestamp', (_schema, data) => {
      const result = parseTimestamp(String(data));
      return result.ok ? undefined : { problem: result.reason };
    }),
  });

  ajv.addKeyword({
    keyword: 'expression',
    type: 'string',
    schemaType: 'boolean',
    errors: true,
    validate: keywordCheck('expression', (_schema, data) => {
      const result = parseExpression(String(data));
      return result.ok ? undefined : { message: result.message, index: result.index };
    }),
  });

  ajv.addKeyword({
    keyword: 'aggregateCall',
    type: 'string',
    schemaType: 'boolean',
    errors: true,
    validate: keywordCheck('aggregateCall', (_schema, data) => {
      const result = parseAggregateCall(String(data));
      return result.ok ? undefined : { message: result.message, index: result.index };
    }),
  });

  ajv.addKeyword({
    keyword: 'exactlyOneOf',
    type: 'object',
    schemaType: 'array',
    errors: true,
    validate: keywordCheck('exactlyOneOf', (schema, data) => {
      const options = schema as string[];
      // Document order, so "more than one" points at the second kind the user wrote.
      const present = Object.keys(data as object).filter((key) => options.includes(key));
      return present.length === 1 ? undefined : { present, options };
    }),
  });
  return ajv;
}

/** Adapts "return params of the problem, or undefined" to Ajv's validate-function protocol. */
function keywordCheck(
  keyword: string,
  check: (schema: unknown, data: unknown) => Record<string, unknown> | undefined,
): DataValidateFunction & ((schema: unknown, data: unknown, parentSchema?: AnySchemaObject) => boolean) {
  const validate = (schema: unknown, data: unknown, parentSchema?: AnySchemaObject): boolean => {
    const found = check(schema, data);
    if (found === undefined) return true;
    // Ajv does not attach parentSchema to errors of function keywords; messages need its title and selector.
    const params = { ...found, parentSchema };
    // instancePath and schemaPath left out on purpose: Ajv fills them in only when they are absent.
    validate.errors = [{ keyword, params, message: keyword } as unknown as ErrorObject];
    return false;
  };
  validate.errors = null as ErrorObject[] | null;
  return validate as never;
}
