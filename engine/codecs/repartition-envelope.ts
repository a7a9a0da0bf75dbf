import type { DeadLetter, RawBatch, Row } from '../core/batch';
import type { DecodedBatch, Decoder, Upstream } from './decoder';

/**
 * What a `repartition` step's internal topic carries (see jobfile/stages.ts):
 * JSON envelopes written by the job's first stage and read by its second.
 *
 *   a row     {"o":"tides/2","n":4711,"w":1600000000000,"r":{...the row...}}
 *   a mark    {"o":"tides/2","w":1600000000000}      to every partition: origin tides/2's watermark
 *   the end   {"o":"tides/2","end":true}             to every partition: origin tides/2 has no more
 *
 * `o` and `n` name the record in the job's own topic (its origin partition
 * and offset): a first stage that restarts from its checkpoint sends some rows
 * again, and the second stage drops every row whose origin offset it has
 * seen. `w` is the first stage's watermark when the row arrived there (null:
 * none yet), so the second stage judges lateness exactly as a job reading
 * the origin partition would. Timestamps inside rows travel as epoch ms.
 */

/** The field marking an envelope row inside the engine (the first stage's last step makes them, its sink writes them). */
export const ENVELOPE = '__repartition';

export type EnvelopeRow =
  | { [ENVELOPE]: 'row'; origin: string; offset: number; watermark: number; row: Row }
  | { [ENVELOPE]: 'mark'; origin: string; watermark: number };

export function isEnvelopeRow(row: Row): row is Row & EnvelopeRow {
  return row[ENVELOPE] === 'row' || row[ENVELOPE] === 'mark';
}

/** Dates to epoch ms: the engine's one representation of a timestamp. */
function replacer(this: Record<string, unknown>, key: string, value: unknown): unknown {
  const raw = this[key];
  return raw instanceof Date ? raw.getTime() : value;
}

/** The JSON of an envelope row (a mark at +Infinity is the end of its origin). */
export function encodeEnvelope(envelope: EnvelopeRow): string {
  if (envelope[ENVELOPE] === 'mark') {
    return envelope.watermark === Number.POSITIVE_INFINITY
      ? JSON.stringify({ o: envelope.origin, end: true })
      : JSON.stringify({ o: envelope.origin, w: Number.isFinite(envelope.watermark) ? envelope.watermark : null });
  }
  return JSON.stringify({ o: envelope.origin, n: envelope.offset, w: Number.isFinite(envelope.watermark) ? envelope.watermark : null, r: envelope.row }, replacer);
}

/**
 * Decodes a batch of envelopes: the rows, and for the runtime where each
 * came from, with the marks in between (see Upstream). A payload that is not
 * an envelope is a dead letter.
 */
export class EnvelopeDecoder implements Decoder {
  readonly overlaps = false;

  async decode(raw: RawBatch): Promise<DecodedBatch> {
    const payloads = raw.payloads ?? [];
    const rows: Row[] = [];
    const offsets: number[] = [];
    const origins: string[] = [];
    const originOffsets: number[] = [];
    const watermarks: number[] = [];
    const marks: Upstream['marks'] = [];
    const deadLetters: DeadLetter[] = [];
    for (let i = 0; i < payloads.length; i++) {
      const payload = payloads[i];
      const text = payload === null ? '' : payload.toString();
      let envelope: { o?: unknown; n?: unknown; w?: unknown; r?: unknown; end?: unknown };
      try {
        envelope = JSON.parse(text) as typeof envelope;
      } catch (error) {
        deadLetters.push({ payload, reason: `not a repartition envelope: ${(error as Error).message}`, partition: raw.source.partition, offset: raw.offsets[i], stage: 'decode' });
        continue;
      }
      const watermark = envelope.w === null || envelope.w === undefined ? Number.NEGATIVE_INFINITY : Number(envelope.w);
      if (typeof envelope.o !== 'string') {
        deadLetters.push({ payload, reason: 'not a repartition envelope: no origin partition ("o")', partition: raw.source.partition, offset: raw.offsets[i], stage: 'decode' });
      } else if (envelope.end === true) {
        marks.push({ before: rows.length, origin: envelope.o, watermark: Number.POSITIVE_INFINITY });
      } else if (envelope.r === undefined) {
        marks.push({ before: rows.length, origin: envelope.o, watermark });
      } else if (typeof envelope.n !== 'number' || envelope.r === null || typeof envelope.r !== 'object') {
        deadLetters.push({ payload, reason: 'not a repartition envelope: a row needs an origin offset ("n") and a row object ("r")', partition: raw.source.partition, offset: raw.offsets[i], stage: 'decode' });
      } else {
        rows.push(envelope.r as Row);
        offsets.push(raw.offsets[i]);
        origins.push(envelope.o);
        originOffsets.push(envelope.n);
        watermarks.push(watermark);
      }
    }
    return {
      kind: 'rows',
      rows,
      offsets: Float64Array.from(offsets),
      deadLetters,
      upstream: { origins, originOffsets: Float64Array.from(originOffsets), watermarks: Float64Array.from(watermarks), marks },
    };
  }

  async close(): Promise<void> {}
}
