import type { Row } from '../core/batch';
import { DecodeError } from '../core/errors';
import type { LineDecoder } from './decoded';
import { quoteForReason } from './decoded';
import { isNoaaAnswer, NoaaApiError } from './noaa-api';
import { parseTimestampValue } from './timestamps';

/**
 * JSON Lines: one JSON object per line. The event-time field may be epoch ms
 * (number) or ISO-8601 text; rows always carry it as epoch ms, the one
 * representation the engine uses. Other fields pass through unchanged (the
 * row validator checks them against the reader schema).
 */

export interface JsonlOptions {
  /** Field holding the event time (default `t`). */
  timeField?: string;
}

/**
 * Decode one JSONL line. Throws DecodeError with a precise reason.
 *
 * @example
 *   decodeJsonLine('{"station":"8454000","t":"2020-09-24T04:18:00Z","v":1.2}');
 *   // { station: '8454000', t: 1600921080000, v: 1.2 }
 */
export function decodeJsonLine(line: string, timeField = 't'): Row {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch (error) {
    throw new DecodeError(`invalid JSON: ${(error as Error).message}`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new DecodeError(`expected a JSON object, got ${value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value}`);
  }
  const row = value as Row;
  const time = row[timeField];
  if (time === undefined && isNoaaAnswer(row)) throw noaaAnswerInRecords(row);
  // A missing time field is the validator's call (it knows the schema); a present but unreadable one is ours.
  if (time !== undefined && typeof time !== 'number') {
    const ms = parseTimestampValue(time);
    if (ms === undefined) {
      throw new DecodeError(`field "${timeField}" is not a timestamp (epoch ms or ISO-8601): ${typeof time === 'string' ? quoteForReason(time) : JSON.stringify(time)}`);
    }
    row[timeField] = ms;
  }
  return row;
}

/**
 * What to say about an answer of NOAA's API found among records: NOAA's own
 * message for its error answer (instead of "event time field is missing").
 */
function noaaAnswerInRecords(answer: Row): DecodeError {
  const error = answer.error as { message?: unknown } | null | undefined;
  if (error !== undefined && error !== null) {
    return new NoaaApiError(typeof error === 'object' && typeof error.message === 'string' ? error.message.trim() : JSON.stringify(error));
  }
  const items = (Array.isArray(answer.data) ? answer.data : answer.predictions) as unknown[];
  return new DecodeError(
    `an answer of NOAA's API (${items.length} observations) among records: a file that holds only answers is read as such (format: noaa-json)`,
  );
}

/**
 * A LineDecoder for JSONL files.
 *
 * @example
 *   const decoder = createJsonlDecoder({ timeField: 't' });
 *   decoder.decode('{"t":0}'); // { t: 0 }
 */
export function createJsonlDecoder(options: JsonlOptions = {}): LineDecoder {
  const timeField = options.timeField ?? 't';
  return { layout: 'jsonl', decode: (line) => decodeJsonLine(line, timeField) };
}

/**
 * One row as a JSONL line (no newline), the time field as ISO-8601 UTC with
 * milliseconds so people can read it; `decodeJsonLine` reads it back exactly.
 *
 * @example
 *   encodeJsonLine({ station: 'x', t: 0 }); // '{"station":"x","t":"1970-01-01T00:00:00.000Z"}'
 */
export function encodeJsonLine(row: Row, timeField = 't'): string {
  const time = row[timeField];
  if (typeof time !== 'number' || !Number.isFinite(time)) return JSON.stringify(row);
  return JSON.stringify({ ...row, [timeField]: new Date(time).toISOString() });
}
