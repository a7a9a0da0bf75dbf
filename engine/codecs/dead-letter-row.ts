import type { Row } from '../core/batch';
import type { DeadLetter } from '../core/operator';

/**
 * Dead letters keep what was received, not what the engine made of it.
 *
 * A row is decoded before it is validated, so a record that fails validation
 * (or a later step) reaches the dead letters as a decoded row: the JSONL line
 * `"t":"2018-10-09T05:00:00Z"` would come back as `"t":1539061200000`. A batch
 * therefore carries what its rows were decoded from (`RawBatch.received` for
 * text files, the Kafka payloads), and the runtime hands it to `deadLetterRow`
 * with the letter (`receivedOf`), whichever stage rejected the row while its
 * batch was processed.
 *
 * One row layout for every dead-letter sink (JSONL file, console, Kafka,
 * Cassandra...), every key always present:
 *
 *   reason            why the record was rejected
 *   stage             `decode`, `validate`, or the id of the step that rejected it
 *   partition         where it came from: `file:<path>`, `<topic>/<partition>`
 *   offset            its position as the source counts it and checkpoints it:
 *                     Kafka offset, record index of an Avro file, 0-based line
 *                     index of a JSONL file, 0-based data line index of a CSV file
 *   line              text files: the 1-based line it starts on, as an editor
 *                     shows it (a CSV header is line 1); null for other sources
 *   payload           what was received: the line (CSV: the record, quoted line
 *                     breaks included), Kafka value bytes; the row as JSON
 *                     when nothing else is known (Avro files, generator)
 *   payload_encoding  `utf8` (text as received), `base64` (bytes that are not
 *                     text), `json` (the decoded row, serialised)
 */

/** What a source received for one record. */
export interface Received {
  /** The text (a JSONL line, a CSV record) or the bytes, exactly as read. */
  payload: string | Buffer;
  /** 1-based line of a text file the record starts on. */
  line?: number;
}

/**
 * What a dead-lettered row was decoded from, found in the batch it came with:
 * `payloadAt(i)` gives what row `i` was decoded from (the source's text, or
 * the payload), and the letter must still hold that very row (not a copy a
 * step made).
 *
 * @example
 *   receivedOf(letter, { offsets, rows, payloadAt: (i) => lines[i], lineOfOffsetZero: 1 })?.payload; // the line as read
 */
export function receivedOf(
  letter: DeadLetter,
  batch: { offsets: ArrayLike<number>; rows: readonly Row[]; payloadAt(index: number): string | Buffer; lineOfOffsetZero?: number },
): Received | undefined {
  const row = letter.payload;
  if (row === null || typeof row !== 'object' || Buffer.isBuffer(row)) return undefined;
  const index = indexOfOffset(batch.offsets, letter.offset);
  if (index === -1 || batch.rows[index] !== row) return undefined;
  const payload = batch.payloadAt(index);
  return batch.lineOfOffsetZero === undefined ? { payload } : { payload, line: letter.offset + batch.lineOfOffsetZero };
}

function indexOfOffset(offsets: ArrayLike<number>, offset: number): number {
  let low = 0;
  let high = offsets.length - 1;
  while (low <= high) {
    const middle = (low + high) >>> 1;
    const at = offsets[middle];
    if (at === offset) return middle;
    if (at < offset) low = middle + 1;
    else high = middle - 1;
  }
  return -1;
}

/** Control characters other than tab and line breaks: bytes holding them are not shown as text. */
const BINARY = /[\u0000-\u0008\u000e-\u001f]/;

/**
 * A dead letter as the row every dead-letter sink writes (layout in the
 * module comment).
 *
 * @example
 *   deadLetterRow({ payload: 'not json', reason: 'invalid JSON: ...', partition: 'file:in.jsonl', offset: 3, line: 4, stage: 'decode' });
 *   // { reason: 'invalid JSON: ...', stage: 'decode', partition: 'file:in.jsonl', offset: 3, line: 4,
 *   //   payload: 'not json', payload_encoding: 'utf8' }
 */
export function deadLetterRow(letter: DeadLetter, received?: Received): Row {
  let payload: DeadLetter['payload'] = letter.payload;
  let line = letter.line;
  if (received !== undefined) {
    payload = received.payload;
    line ??= received.line;
  }
  let text: string | null = null;
  let encoding = 'utf8';
  if (payload === null) text = null;
  else if (typeof payload === 'string') text = payload;
  else if (Buffer.isBuffer(payload)) {
    // The exact bytes when they are not text (Avro), readable text otherwise.
    const asText = payload.toString('utf8');
    if (Buffer.from(asText, 'utf8').equals(payload) && !BINARY.test(asText)) text = asText;
    else {
      text = payload.toString('base64');
      encoding = 'base64';
    }
  } else {
    encoding = 'json';
    text = JSON.stringify(payload);
  }
  return {
    reason: letter.reason,
    stage: letter.stage,
    partition: letter.partition,
    offset: letter.offset,
    line: line ?? null,
    payload: text,
    payload_encoding: encoding,
  };
}
