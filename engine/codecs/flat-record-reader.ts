import type * as avro from 'avsc';
import type { Row } from '../core/batch';

/**
 * Compiled readers for flat Avro records: a record whose fields are
 * primitives or unions of primitives (the shape of every feed tideflow
 * reads: tide gauges, weather telemetry, case counts, sign-ups).
 *
 * avsc decodes each record into a fresh object, through a resolver when the
 * writer schema differs from the reader's; on the tide schema that is about
 * half of what one thread spends per record in a windowed job. A flat reader
 * decodes the Avro binary straight into one reused row, skips the fields the
 * job never reads without building them, and allocates nothing but the
 * strings it keeps. It is used where rows do not outlive the record: partial
 * aggregation (pre-aggregation.ts).
 *
 * Exactness: a reader succeeds only on input avsc decodes to the same values
 * (same varint arithmetic, UTF-8 decoding, union branches, the same
 * "potential precision loss" bound on longs). Anything else (a truncated or
 * corrupt record, an int outside 32 bits, trailing bytes) makes `read`
 * return false, and the caller decodes that record with avsc, which words
 * the reason. Schema pairs it cannot read exactly (defaults filling absent
 * fields, aliases, type promotions, nested types it would have to keep) get
 * no flat reader: `compileFlatRecordReader` says why.
 *
 * @example
 *   const flat = compileFlatRecordReader(readerType, writerType, { skipped: new Set(['name', 'f', 'q']) });
 *   if (typeof flat !== 'string') {
 *     const row = flat.newRow();
 *     if (flat.read(payload, 5, payload.length, row)) use(row); // row is overwritten by the next read
 *   }
 */
export interface FlatRecordReader {
  /**
   * Decode the record at bytes [start, end) of `buffer` into `row` (made by
   * `newRow`). True when exactly those bytes are one record avsc would
   * decode to the same values; false otherwise (`row` is then undefined).
   */
  read(buffer: Buffer, start: number, end: number, row: Row): boolean;
  /**
   * A row with every field `read` sets: the one shape every read keeps.
   * Numeric fields that are never null start as a fraction, so V8 stores
   * them unboxed and overwriting them allocates nothing.
   */
  newRow(): Row;
  /** The fields `read` sets, in reader order. */
  readonly fields: readonly string[];
}

/**
 * Row validation (validate.ts) folded into the reader: with it, `read`
 * returns true only for a record whose row createRowValidator with the same
 * settings would accept, so the caller need not run the validator. It may
 * refuse more (a NaN in a multi-branch union): refusing only sends the
 * record to the exact path.
 */
export interface FlatValidation {
  eventTimeField: string;
  /** Accepted event times, inclusive (validate.ts: within 50 years of the run's `now`). */
  earliest: number;
  latest: number;
  /** Longest string accepted, in UTF-16 units. */
  maxStringLength: number;
}

/** The primitives a flat reader decodes (avsc type names; unregistered logical types report their underlying type). */
const READABLE = new Set(['null', 'boolean', 'int', 'long', 'float', 'double', 'string']);

/** avsc's bound for a long it decodes without "potential precision loss". */
const LONG_LIMIT = 9007199254740990;

interface FieldLike {
  name: string;
  type: avro.Type;
  aliases?: string[];
}

function fieldsOf(type: avro.Type): readonly FieldLike[] | undefined {
  return type.typeName === 'record' ? (type as unknown as { fields: readonly FieldLike[] }).fields : undefined;
}

function branchesOf(type: avro.Type): readonly avro.Type[] | undefined {
  return type.typeName.startsWith('union') ? (type as unknown as { types: readonly avro.Type[] }).types : undefined;
}

/** `double`, `["null","double"]` as `null|double`; undefined when a flat reader cannot read it. */
function readableSignature(type: avro.Type): string | undefined {
  const branches = branchesOf(type);
  if (branches === undefined) return READABLE.has(type.typeName) ? type.typeName : undefined;
  // A wrapped union decodes to `{ branch: value }` objects; only unwrapped ones decode to the plain value.
  if (type.typeName !== 'union:unwrapped') return undefined;
  if (!branches.every((branch) => READABLE.has(branch.typeName))) return undefined;
  return branches.map((branch) => branch.typeName).join('|');
}

/** Code that moves `p` past a value of `type`, or undefined when it cannot be skipped flat. */
function skipCode(type: avro.Type, indent: string): string | undefined {
  const branches = branchesOf(type);
  if (branches !== undefined) {
    const cases: string[] = [];
    for (let i = 0; i < branches.length; i++) {
      const body = skipCode(branches[i], `${indent}  `);
      if (body === undefined) return undefined;
      cases.push(`${indent}${i === 0 ? '' : '} else '}if (n === ${i}) {\n${body}`);
    }
    return `${varintCode(indent)}\n${cases.join('\n')}\n${indent}} else return false;`;
  }
  switch (type.typeName) {
    case 'null':
      return `${indent}// null: no bytes`;
    case 'boolean':
      return `${indent}if (p >= end) return false;\n${indent}p++;`;
    case 'int':
    case 'long':
    case 'enum':
      return varintCode(indent);
    case 'float':
      return `${indent}p += 4;\n${indent}if (p > end) return false;`;
    case 'double':
      return `${indent}p += 8;\n${indent}if (p > end) return false;`;
    case 'string':
    case 'bytes':
      return `${varintCode(indent)}\n${indent}if (n < 0 || p + n > end) return false;\n${indent}p += n;`;
    case 'fixed': {
      const size = (type as unknown as { size: number }).size;
      return `${indent}p += ${size};\n${indent}if (p > end) return false;`;
    }
    default:
      return undefined;
  }
}

/**
 * Reads a zigzag varint at `p` into `n` (avsc's arithmetic: integer for up to
 * 4 bytes, floating point beyond), failing past `end` or after 10 bytes.
 */
function varintCode(indent: string): string {
  return [
    `${indent}if (p >= end) return false;`,
    `${indent}b = buf[p++];`,
    `${indent}if (b < 0x80) n = (b >>> 1) ^ -(b & 1);`,
    `${indent}else {`,
    `${indent}  n = readLongTail(buf, p - 1, end, cursor);`,
    `${indent}  if (n !== n) return false;`,
    `${indent}  p = cursor.p;`,
    `${indent}}`,
  ].join('\n');
}

/** What the generated code checks on each value read (see FlatValidation). */
interface ValueChecks {
  /** Doubles and floats must be finite. */
  finite: boolean;
  /** Strings at most this many UTF-16 units (Infinity: unchecked). */
  maxStringLength: number;
}

/** Code that reads a value of primitive `typeName` into `target`. */
function readPrimitiveCode(typeName: string, target: string, indent: string, checks: ValueChecks): string {
  const finite = (value: string) => (checks.finite ? `\n${indent}if (${value} - ${value} !== 0) return false;` : '');
  switch (typeName) {
    case 'null':
      return `${indent}${target} = null;`;
    case 'boolean':
      return `${indent}if (p >= end) return false;\n${indent}${target} = buf[p++] !== 0;`;
    case 'int':
      // avsc does not range-check ints; a value outside 32 bits is left to it.
      return `${varintCode(indent)}\n${indent}if (n > 2147483647 || n < -2147483648) return false;\n${indent}${target} = n;`;
    case 'long':
      return `${varintCode(indent)}\n${indent}if (n > ${LONG_LIMIT} || n < -${LONG_LIMIT}) return false;\n${indent}${target} = n;`;
    case 'float':
      return `${indent}if (p + 4 > end) return false;\n${indent}x = buf.readFloatLE(p);${finite('x')}\n${indent}${target} = x;\n${indent}p += 4;`;
    case 'double':
      // Eight byte copies into a scratch Float64Array: what readDoubleLE does, without its argument checks.
      return LITTLE_ENDIAN
        ? `${indent}if (p + 8 > end) return false;\n${indent}u8[0] = buf[p]; u8[1] = buf[p + 1]; u8[2] = buf[p + 2]; u8[3] = buf[p + 3];\n` +
            `${indent}u8[4] = buf[p + 4]; u8[5] = buf[p + 5]; u8[6] = buf[p + 6]; u8[7] = buf[p + 7];\n${indent}x = f64[0];${finite('x')}\n${indent}${target} = x;\n${indent}p += 8;`
        : `${indent}if (p + 8 > end) return false;\n${indent}x = buf.readDoubleLE(p);${finite('x')}\n${indent}${target} = x;\n${indent}p += 8;`;
    case 'string': {
      // A string has at most as many UTF-16 units as UTF-8 bytes: only long ones need their length checked.
      const lengthCheck =
        checks.maxStringLength === Infinity ? '' : `\n${indent}if (n > ${checks.maxStringLength} && ${target}.length > ${checks.maxStringLength}) return false;`;
      return `${varintCode(indent)}\n${indent}if (n < 0 || p + n > end) return false;\n${indent}${target} = strings.get(buf, p, n);${lengthCheck}\n${indent}p += n;`;
    }
    default:
      throw new Error(`flat reader: no code for ${typeName}`);
  }
}

function readCode(type: avro.Type, target: string, indent: string, checks: ValueChecks): string {
  const branches = branchesOf(type);
  if (branches === undefined) return readPrimitiveCode(type.typeName, target, indent, checks);
  const cases = branches.map(
    (branch, i) => `${indent}${i === 0 ? '' : '} else '}if (n === ${i}) {\n${readPrimitiveCode(branch.typeName, target, `${indent}  `, checks)}`,
  );
  return `${varintCode(indent)}\n${cases.join('\n')}\n${indent}} else return false;`;
}

const LITTLE_ENDIAN = new Uint8Array(new Float64Array([1]).buffer)[7] === 0x3f;

/** Strings kept by content this long or shorter are interned (station ids, flags, units). */
const INTERN_MAX_BYTES = 32;
const INTERN_SLOTS = 4096;

/**
 * Decoded strings by their UTF-8 bytes, in a fixed-size table: a station id
 * repeated a million times is decoded once and every row gets the same
 * string, whose hash V8 then computes once for every Map lookup by it.
 * Same bytes always decode to the same text, so this changes no value.
 */
export class StringInterner {
  private readonly strings: Array<string | undefined> = new Array(INTERN_SLOTS).fill(undefined);
  private readonly lengths = new Int32Array(INTERN_SLOTS);
  private readonly bytes = new Uint8Array(INTERN_SLOTS * INTERN_MAX_BYTES);

  /** The UTF-8 text of `buf[p, p + n)`. */
  get(buf: Buffer, p: number, n: number): string {
    if (n > INTERN_MAX_BYTES) return buf.toString('utf8', p, p + n);
    let hash = 0x811c9dc5 ^ n;
    for (let i = 0; i < n; i++) hash = Math.imul(hash ^ buf[p + i], 0x01000193);
    const slot = (hash >>> 0) % INTERN_SLOTS;
    const base = slot * INTERN_MAX_BYTES;
    const cached = this.strings[slot];
    if (cached !== undefined && this.lengths[slot] === n) {
      let i = 0;
      while (i < n && this.bytes[base + i] === buf[p + i]) i++;
      if (i === n) return cached;
    }
    const text = buf.toString('utf8', p, p + n);
    this.strings[slot] = text;
    this.lengths[slot] = n;
    for (let i = 0; i < n; i++) this.bytes[base + i] = buf[p + i];
    return text;
  }
}

/**
 * The rest of a varint whose first byte (at `at`) has the continuation bit,
 * as avsc's Tap.readLong computes it; NaN when it runs past `end` or is
 * longer than a long can be. Leaves the position after it in `cursor.p`.
 */
function readLongTail(buf: Buffer, at: number, end: number, cursor: { p: number }): number {
  let p = at;
  let n = 0;
  let k = 0;
  let b = 0;
  do {
    if (p >= end) return NaN;
    b = buf[p++];
    n |= (b & 0x7f) << k;
    k += 7;
  } while (b & 0x80 && k < 28);
  if (!(b & 0x80)) {
    cursor.p = p;
    return (n >> 1) ^ -(n & 1);
  }
  let f = n;
  let scale = 268435456; // 2 ** 28
  let bytes = 4;
  do {
    if (p >= end || ++bytes > 10) return NaN;
    b = buf[p++];
    f += (b & 0x7f) * scale;
    scale *= 128;
  } while (b & 0x80);
  cursor.p = p;
  return (f % 2 ? -(f + 1) : f) / 2;
}

/** As `compileFlatRecordReader`, or null where the pair gets no flat reader (callers that only fall back to avsc). */
export function flatRecordReaderOrNull(
  reader: avro.Type,
  writer: avro.Type,
  options: { skipped?: ReadonlySet<string>; validation?: FlatValidation } = {},
): FlatRecordReader | null {
  const compiled = compileFlatRecordReader(reader, writer, options);
  return typeof compiled === 'string' ? null : compiled;
}

/**
 * A flat reader of records written with `writer`, read as `reader` without
 * the `skipped` reader fields; a string saying why when the pair is not
 * flat or not readable exactly this way. The two schemas must already be
 * known compatible (avsc's resolver accepted them).
 */
export function compileFlatRecordReader(
  reader: avro.Type,
  writer: avro.Type,
  options: { skipped?: ReadonlySet<string>; validation?: FlatValidation } = {},
): FlatRecordReader | string {
  const skipped = options.skipped ?? new Set<string>();
  const validation = options.validation;
  const readerFields = fieldsOf(reader);
  const writerFields = fieldsOf(writer);
  if (readerFields === undefined || writerFields === undefined) return 'not a record';
  const wanted = new Map<string, FieldLike>();
  for (const field of readerFields) {
    if (skipped.has(field.name)) continue;
    if (field.aliases !== undefined && field.aliases.length > 0) return `field "${field.name}" has aliases`;
    if (readableSignature(field.type) === undefined) return `field "${field.name}" is not a primitive or a union of primitives`;
    wanted.set(field.name, field);
  }
  const lines: string[] = [];
  const found = new Set<string>();
  for (const field of writerFields) {
    const target = wanted.get(field.name);
    if (target === undefined) {
      const code = skipCode(field.type, '  ');
      if (code === undefined) return `writer field "${field.name}" cannot be skipped flat`;
      lines.push(`  // skip ${field.name}`, code);
      continue;
    }
    if (readableSignature(field.type) !== readableSignature(target.type)) {
      return `field "${field.name}" has another type in the writer schema (a promotion)`;
    }
    found.add(field.name);
    const checks: ValueChecks = validation === undefined ? { finite: false, maxStringLength: Infinity } : { finite: true, maxStringLength: validation.maxStringLength };
    lines.push(`  // ${field.name}`, readCode(field.type, `row[${JSON.stringify(field.name)}]`, '  ', checks));
  }
  for (const name of wanted.keys()) if (!found.has(name)) return `field "${name}" is not in the writer schema (filled by its default)`;
  if (validation !== undefined) {
    const eventTime = wanted.get(validation.eventTimeField);
    if (eventTime === undefined || !/^(null\|)?(int|long|float|double)$/.test(readableSignature(eventTime.type) ?? '')) {
      return `event time field "${validation.eventTimeField}" is not a number field the reader reads`;
    }
    // validate.ts: an integer number of epoch milliseconds within its bounds (null passes where the schema allows it).
    const t = `row[${JSON.stringify(validation.eventTimeField)}]`;
    lines.push(
      `  if (${t} !== null && !(Number.isSafeInteger(${t}) && ${t} >= ${validation.earliest} && ${t} <= ${validation.latest})) return false;`,
    );
  }
  const fields = [...wanted.keys()];
  const body = ['let p = start;', 'let n = 0;', 'let b = 0;', 'let x = 0;', ...lines, 'return p === end;'].join('\n');
  // One generated function per schema pair, as avsc itself does: straight-line code V8 optimises per field.
  const factory = new Function('readLongTail', 'cursor', 'strings', 'u8', 'f64', `return function readFlatRecord(buf, start, end, row) {\n${body}\n};`);
  const scratch = new Float64Array(1);
  const read = factory(readLongTail, { p: 0 }, new StringInterner(), new Uint8Array(scratch.buffer), scratch) as FlatRecordReader['read'];
  const initial = (field: FieldLike) => (/^(int|long|float|double)$/.test(field.type.typeName) ? '0.5' : 'null');
  const shape = `return { ${[...wanted.values()].map((field) => `${JSON.stringify(field.name)}: ${initial(field)}`).join(', ')} };`;
  const newRow = new Function(shape) as () => Row;
  return { read, newRow, fields };
}
