import type { Row } from '../core/batch';
import type { DeadLetter } from '../core/operator';
import { DecodeError } from '../core/errors';

/**
 * What a codec produces for a run of payloads: the rows it could decode, each
 * with its source offset, and a dead letter for every payload it could not.
 * Offsets of rows and dead letters together cover the input, so positions stay
 * stable when a run resumes.
 */
export interface DecodedRows {
  rows: Row[];
  offsets: number[];
  deadLetters: DeadLetter[];
}

export function emptyDecoded(): DecodedRows {
  return { rows: [], offsets: [], deadLetters: [] };
}

/** A decoder for one text line (a JSONL line, a CSV data row). Throws DecodeError for a bad line. */
export interface LineDecoder {
  /** Short name of the layout it recognised (for messages and tests), e.g. `noaa-api-csv`. */
  readonly layout: string;
  decode(line: string): Row;
}

/**
 * Decode lines into `out`, turning DecodeErrors into dead letters (stage
 * `decode`, payload = the line). Any other error is a bug and propagates.
 */
export function decodeLinesInto(
  decoder: LineDecoder,
  lines: readonly string[],
  lineOffsets: readonly number[],
  partition: string,
  out: DecodedRows,
): void {
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    try {
      out.rows.push(decoder.decode(line));
      out.offsets.push(lineOffsets[i]);
    } catch (error) {
      if (!(error instanceof DecodeError)) throw error;
      out.deadLetters.push({ payload: line, reason: error.message, partition, offset: lineOffsets[i], stage: 'decode' });
    }
  }
}

/** Quote a piece of bad input for a reason string, cut short so reasons stay readable. */
export function quoteForReason(text: string, max = 60): string {
  const cut = text.length > max ? `${text.slice(0, max)}...` : text;
  return JSON.stringify(cut);
}
