import type * as avro from 'avsc';
import type { Row } from '../core/batch';

/**
 * Row validation against the reader schema: the gate between "decoded" and
 * "valid input record". A row that fails goes to dead letters (stage
 * `validate`) with the reason this returns.
 *
 * Rows from JSONL and CSV were never checked by an Avro writer, and even
 * Avro rows can carry values no aggregate should see (NaN sigma, a
 * timestamp in seconds instead of milliseconds). The checks are compiled
 * once per schema into an array of small integer codes, so validating a row
 * is one loop with a switch, no closures and no allocation unless it fails.
 * In front of that loop runs a function generated per schema that reads
 * each field by its constant name and only answers "valid" or "ask the
 * loop" (`compileQuickCheck`): the loop's `row[names[i]]` is a lookup by a
 * changing key, which V8 cannot cache, and it was a tenth of a dedupe job's time.
 */

/** The event times a validator built at `now` accepts, inclusive (within MAX_TIMESTAMP_DISTANCE_MS of it). */
export function eventTimeBounds(now: number): { earliest: number; latest: number } {
  return { earliest: now - MAX_TIMESTAMP_DISTANCE_MS, latest: now + MAX_TIMESTAMP_DISTANCE_MS };
}

/** Strings longer than this are rejected: no station id, name or flag list comes close. */
export const MAX_STRING_LENGTH = 1024;
/** Event times further than this from now (either way) are surely a unit or parsing mistake. */
export const MAX_TIMESTAMP_DISTANCE_MS = 50 * 365.25 * 24 * 3600 * 1000;

const enum Check {
  String,
  Double,
  Integer,
  Boolean,
  EventTime,
  /** Anything else (records, arrays, enums...): avsc's own isValid. */
  Other,
}

interface FieldPlan {
  names: string[];
  checks: Check[];
  nullable: boolean[];
  /** Whether an absent field is fine (the schema gives a default, as Avro readers fill in). */
  optional: boolean[];
  types: avro.Type[];
}

function plainCheck(type: avro.Type): Check {
  switch (type.typeName) {
    case 'string':
      return Check.String;
    case 'double':
    case 'float':
      return Check.Double;
    case 'int':
    case 'long':
      return Check.Integer;
    case 'boolean':
      return Check.Boolean;
    default:
      return Check.Other;
  }
}

function planFields(readerSchema: avro.Type, eventTimeField: string, mayBeAbsent: ReadonlySet<string>): FieldPlan {
  const fields = (readerSchema as unknown as { fields?: ReadonlyArray<{ name: string; type: avro.Type; defaultValue(): unknown }> }).fields;
  if (fields === undefined) throw new Error(`createRowValidator: the reader schema must be a record, got ${readerSchema.typeName}`);
  const plan: FieldPlan = { names: [], checks: [], nullable: [], optional: [], types: [] };
  let sawEventTime = false;
  for (const field of fields) {
    let type = field.type;
    let nullable = false;
    const branches = (type as unknown as { types?: avro.Type[] }).types;
    if (type.typeName.startsWith('union') && branches !== undefined) {
      const nonNull = branches.filter((branch) => branch.typeName !== 'null');
      nullable = nonNull.length < branches.length;
      // ["null", X] is the common case; wider unions fall back to avsc's check.
      if (nonNull.length === 1) type = nonNull[0];
    }
    let check = type === field.type && type.typeName.startsWith('union') ? Check.Other : plainCheck(type);
    if (field.name === eventTimeField) {
      check = Check.EventTime;
      sawEventTime = true;
    }
    plan.names.push(field.name);
    plan.checks.push(check);
    plan.nullable.push(nullable);
    plan.optional.push(field.defaultValue() !== undefined || mayBeAbsent.has(field.name));
    plan.types.push(check === Check.Other ? field.type : type);
  }
  if (!sawEventTime) {
    plan.names.push(eventTimeField);
    plan.checks.push(Check.EventTime);
    plan.nullable.push(false);
    plan.optional.push(false);
    plan.types.push(readerSchema);
  }
  return plan;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return `a string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value)}`;
  if (typeof value === 'number') return String(value);
  return typeof value;
}

/**
 * Compile a validator for rows read with `readerSchema`. It returns the
 * reason a row is invalid, or null when it is fine.
 *
 * Checks: every field without a default is present; values have the
 * field's type (null only where the schema allows it); numbers are finite
 * (NaN and Infinity are rejected, since they poison every aggregate);
 * integers are safe integers; strings are at most 1 KiB; and the event
 * time is an integer epoch-ms value within 50 years of now.
 *
 * `mayBeAbsent` names fields the decoder skipped (a projection): absent is
 * fine, present is checked as usual. `now` (default: the clock when the
 * validator is built) anchors the 50-year window.
 *
 * @example
 *   const validate = createRowValidator(loadAvroType(tideObservationSchemaPath()), 't');
 *   validate({ station: '8454000', name: 'P', lat: 41.8, lon: -71.4, t: 1600921080000, v: NaN, s: null, f: null, q: null });
 *   // 'field "v" is not a finite number: NaN'
 */
export function createRowValidator(
  readerSchema: avro.Type,
  eventTimeField: string,
  options: { mayBeAbsent?: Iterable<string>; now?: number; /** false: the checking loop alone (tests compare the two). */ quickCheck?: boolean } = {},
): (row: Row) => string | null {
  const plan = planFields(readerSchema, eventTimeField, new Set(options.mayBeAbsent ?? []));
  const { names, checks, nullable, optional, types } = plan;
  const width = names.length;
  // Fixed when the validator is built: a run does not last decades. Validators of one run
  // in several threads are given the same instant, so they agree on every record.
  const now = options.now ?? Date.now();
  const { earliest, latest } = eventTimeBounds(now);
  const quick = options.quickCheck === false ? () => false : compileQuickCheck(plan, earliest, latest);
  return function validateRow(row: Row): string | null {
    if (quick(row)) return null;
    return reasonOf(row);
  };

  function reasonOf(row: Row): string | null {
    if (row === null || typeof row !== 'object') return `record is ${describe(row)}, not an object`;
    for (let i = 0; i < width; i++) {
      const value = row[names[i]];
      if (value === undefined) {
        if (optional[i]) continue;
        return `missing field "${names[i]}"`;
      }
      if (value === null) {
        if (nullable[i]) continue;
        return `field "${names[i]}" is null but the schema does not allow null`;
      }
      switch (checks[i]) {
        case Check.String:
          if (typeof value !== 'string') return `field "${names[i]}" must be a string, got ${describe(value)}`;
          if (value.length > MAX_STRING_LENGTH) return `field "${names[i]}" is too long (${value.length} characters, at most ${MAX_STRING_LENGTH})`;
          break;
        case Check.Double:
          if (typeof value !== 'number') return `field "${names[i]}" must be a number, got ${describe(value)}`;
          if (!Number.isFinite(value)) return `field "${names[i]}" is not a finite number: ${value}`;
          break;
        case Check.Integer:
          if (typeof value !== 'number') return `field "${names[i]}" must be an integer, got ${describe(value)}`;
          if (!Number.isSafeInteger(value)) return `field "${names[i]}" must be an integer, got ${value}`;
          break;
        case Check.Boolean:
          if (typeof value !== 'boolean') return `field "${names[i]}" must be a boolean, got ${describe(value)}`;
          break;
        case Check.EventTime:
          if (typeof value !== 'number') return `event time "${names[i]}" must be epoch milliseconds (a number), got ${describe(value)}`;
          if (!Number.isSafeInteger(value)) return `event time "${names[i]}" must be an integer number of epoch milliseconds, got ${value}`;
          if (value < earliest || value > latest) {
            const when = Math.abs(value) <= 8.64e15 ? ` (${new Date(value).toISOString()})` : '';
            return `timestamp decades away: "${names[i]}" = ${value}${when}, more than 50 years from now; is it in seconds or microseconds?`;
          }
          break;
        default:
          if (!types[i].isValid(value)) return `field "${names[i]}" does not match its schema type ${JSON.stringify(types[i].schema())}`;
      }
    }
    return null;
  }
}

/**
 * A predicate that is true only for rows the checking loop accepts: the
 * same checks, straight-line, each field read by its constant name. It may
 * say false for a valid row (then the loop decides), never true for an
 * invalid one; a property test holds it to that.
 */
function compileQuickCheck(plan: FieldPlan, earliest: number, latest: number): (row: Row) => boolean {
  const lines: string[] = ["if (row === null || typeof row !== 'object') return false;", 'let v;'];
  plan.names.forEach((name, i) => {
    const absent = plan.optional[i] ? '' : 'return false;';
    const nulled = plan.nullable[i] ? '' : 'return false;';
    let check: string;
    switch (plan.checks[i]) {
      case Check.String:
        check = `if (typeof v !== 'string' || v.length > ${MAX_STRING_LENGTH}) return false;`;
        break;
      case Check.Double:
        check = `if (typeof v !== 'number' || !Number.isFinite(v)) return false;`;
        break;
      case Check.Integer:
        check = 'if (!Number.isSafeInteger(v)) return false;';
        break;
      case Check.Boolean:
        check = `if (typeof v !== 'boolean') return false;`;
        break;
      case Check.EventTime:
        check = `if (!Number.isSafeInteger(v) || v < ${earliest} || v > ${latest}) return false;`;
        break;
      default:
        check = `if (!types[${i}].isValid(v)) return false;`;
    }
    lines.push(`v = row[${JSON.stringify(name)}];`, `if (v === undefined) { ${absent} } else if (v === null) { ${nulled} } else { ${check} }`);
  });
  lines.push('return true;');
  return new Function('types', `return function quickCheck(row) {\n${lines.join('\n')}\n};`)(plan.types) as (row: Row) => boolean;
}
