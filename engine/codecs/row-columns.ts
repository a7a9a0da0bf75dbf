import type * as avro from 'avsc';
import { InternalError } from '../core/errors';
import type { Row } from '../core/batch';

/**
 * Rows as columns, for moving decoded records between threads.
 *
 * A structured clone of an array of objects costs more than decoding the
 * Avro in the first place (measured: ~1.2 us per tide record, against
 * ~0.75 us to decode it), so worker threads send rows back as a few typed
 * arrays that are transferred, not copied:
 *
 *   numbers   Float64Array, row-major: every number and boolean field
 *   strings   Uint32Array, row-major: an index into a per-chunk string table
 *             (NULL_STRING for null); station ids and names repeat, so the
 *             table is small and its strings are shared by the rebuilt rows
 *   nulls     Uint8Array, row-major: 1 where a nullable number field is null
 *
 * A Float64Array holds every JS number exactly (NaN, -0 and Infinity too), so
 * rebuilt rows equal the rows the plain decoder makes, field order included.
 * Only flat records of strings, enums, numbers and booleans (each optionally
 * nullable) have a plan; other reader schemas are decoded in-thread.
 */

/** How one field travels. */
const enum Kind {
  Number,
  Boolean,
  String,
}

/** Index meaning "null" in the strings column. */
const NULL_STRING = 0xffffffff;

/** The column layout of a reader schema, computed the same way on both sides of a thread hop. */
export interface ColumnPlan {
  readonly names: readonly string[];
  /** Per field: Kind. */
  readonly kinds: Uint8Array;
  /** Per field: 1 when null is allowed. */
  readonly nullable: Uint8Array;
  /** Per field: its slot in the numbers (numbers, booleans) or strings column. */
  readonly slots: Uint32Array;
  readonly numberWidth: number;
  readonly stringWidth: number;
  /** A row with every field, in schema order: spread to get an object of the final shape at once. */
  readonly template: Row;
}

/** Columns of `count` rows, as the worker hands them back. */
export interface RowColumns {
  count: number;
  numbers: Float64Array;
  nulls: Uint8Array;
  strings: Uint32Array;
  table: string[];
}

function kindOf(type: avro.Type): Kind | undefined {
  switch (type.typeName) {
    case 'double':
    case 'float':
    case 'int':
    case 'long':
      return Kind.Number;
    case 'boolean':
      return Kind.Boolean;
    case 'string':
    case 'enum':
      return Kind.String;
    default:
      return undefined;
  }
}

/**
 * The column plan of a reader schema, or the reason it has none (nested
 * records, arrays, maps, bytes, wide unions): such rows hold values a flat
 * column cannot carry exactly, so the caller decodes them in-thread.
 *
 * @example
 *   const plan = planColumns(loadAvroType(tideObservationSchemaPath()));
 *   if (typeof plan === 'string') console.log(`no worker decoding: ${plan}`);
 */
export function planColumns(readerType: avro.Type): ColumnPlan | string {
  const fields = (readerType as unknown as { fields?: ReadonlyArray<{ name: string; type: avro.Type }> }).fields;
  if (readerType.typeName !== 'record' || fields === undefined) return `the reader schema is a ${readerType.typeName}, not a record`;
  const names: string[] = [];
  const kinds = new Uint8Array(fields.length);
  const nullable = new Uint8Array(fields.length);
  const slots = new Uint32Array(fields.length);
  const template: Row = {};
  let numberWidth = 0;
  let stringWidth = 0;
  for (let i = 0; i < fields.length; i++) {
    const field = fields[i];
    let type = field.type;
    const branches = (type as unknown as { types?: avro.Type[] }).types;
    if (type.typeName.startsWith('union')) {
      // Only ["null", X] / [X, "null"]: wider unions decode to values whose branch a column would lose.
      const nonNull = (branches ?? []).filter((branch) => branch.typeName !== 'null');
      if (branches === undefined || branches.length !== 2 || nonNull.length !== 1) return `field "${field.name}" is a union other than [null, X]`;
      nullable[i] = 1;
      type = nonNull[0];
    }
    const kind = kindOf(type);
    if (kind === undefined) return `field "${field.name}" is of type ${type.typeName}`;
    kinds[i] = kind;
    slots[i] = kind === Kind.String ? stringWidth++ : numberWidth++;
    names.push(field.name);
    template[field.name] = null;
  }
  return { names, kinds, nullable, slots, numberWidth, stringWidth, template };
}

/**
 * Writes rows into columns (the worker side). One encoder per chunk: its
 * arrays are transferred away when the chunk is done.
 */
export class ColumnEncoder {
  private readonly plan: ColumnPlan;
  private readonly numbers: Float64Array;
  private readonly nulls: Uint8Array;
  private readonly strings: Uint32Array;
  private readonly table: string[] = [];
  private readonly tableIndex = new Map<string, number>();
  private count = 0;

  constructor(plan: ColumnPlan, capacity: number) {
    this.plan = plan;
    this.numbers = new Float64Array(capacity * plan.numberWidth);
    this.nulls = new Uint8Array(capacity * plan.numberWidth);
    this.strings = new Uint32Array(capacity * plan.stringWidth);
  }

  /** Append one decoded record (fields as the plan's reader schema has them). */
  add(row: Row): void {
    const { names, kinds, nullable, slots, numberWidth, stringWidth } = this.plan;
    const numberBase = this.count * numberWidth;
    const stringBase = this.count * stringWidth;
    for (let i = 0; i < names.length; i++) {
      const value = row[names[i]];
      const slot = slots[i];
      if (kinds[i] === Kind.String) {
        if (value === null && nullable[i] === 1) this.strings[stringBase + slot] = NULL_STRING;
        else if (typeof value === 'string') this.strings[stringBase + slot] = this.intern(value);
        else throw mismatch(names[i], value);
      } else if (value === null && nullable[i] === 1) {
        this.nulls[numberBase + slot] = 1;
      } else if (typeof value === 'number') {
        this.numbers[numberBase + slot] = value;
      } else if (typeof value === 'boolean') {
        this.numbers[numberBase + slot] = value ? 1 : 0;
      } else {
        throw mismatch(names[i], value);
      }
    }
    this.count++;
  }

  private intern(value: string): number {
    let index = this.tableIndex.get(value);
    if (index === undefined) {
      index = this.table.length;
      this.table.push(value);
      this.tableIndex.set(value, index);
    }
    return index;
  }

  /** The columns so far; the typed arrays' buffers are what to transfer. */
  finish(): RowColumns {
    return { count: this.count, numbers: this.numbers, nulls: this.nulls, strings: this.strings, table: this.table };
  }
}

function mismatch(field: string, value: unknown): InternalError {
  return new InternalError(`column encoding: field "${field}" holds ${value === null ? 'null' : typeof value}, which its plan does not allow`);
}

/**
 * Rebuild rows from columns (the main-thread side), appending them to `out`.
 * Each row starts as a spread of the plan's template so it gets its final
 * shape in one step; the field stores that follow then hit that one shape.
 */
export function rebuildRows(plan: ColumnPlan, columns: RowColumns, out: Row[]): void {
  const { names, kinds, nullable, slots, numberWidth, stringWidth, template } = plan;
  const { count, numbers, nulls, strings, table } = columns;
  const width = names.length;
  for (let r = 0; r < count; r++) {
    const row: Row = { ...template };
    const numberBase = r * numberWidth;
    const stringBase = r * stringWidth;
    for (let i = 0; i < width; i++) {
      const slot = slots[i];
      switch (kinds[i]) {
        case Kind.String: {
          const index = strings[stringBase + slot];
          row[names[i]] = index === NULL_STRING ? null : table[index];
          break;
        }
        case Kind.Number:
          row[names[i]] = nullable[i] === 1 && nulls[numberBase + slot] === 1 ? null : numbers[numberBase + slot];
          break;
        default:
          row[names[i]] = nullable[i] === 1 && nulls[numberBase + slot] === 1 ? null : numbers[numberBase + slot] === 1;
      }
    }
    out.push(row);
  }
}
