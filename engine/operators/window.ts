import { AggregateSet, ReadOutcome } from '../aggregations/aggregate-set';
import { decodeFloats, decodeNumber, encodeFloats, encodeNumber, type EncodedNumber } from '../aggregations/float-codec';
import { InternalError, StateIncompatibleError } from '../core/errors';
import { derivedBatch, type PreAggregatedRows, type RecordBatch, type Row } from '../core/batch';
import type { Operator, OperatorContext } from '../core/operator';
import type { AnyWindowAssigner, MergingWindowAssigner, SessionPlacement, WindowAssigner } from '../windows/assigner';
import { createAssigner } from '../windows/create-assigner';
import { WindowTimers } from '../windows/timers';
import { keyIdOfRow, keyIdOfValues, keyValuesOfRow } from '../core/row-keys';
import { windowRowBuilder, type WindowRowBuilder } from '../windows/window-row';
import type { WindowPartials } from '../windows/window-partials';
import { parseAggregateCall } from '../config/aggregate-call';
import {
  durationMs,
  durationSchema,
  fieldListSchema,
  STATEFUL_ID_WHY,
  stepIdSchema,
  timestampMs,
  timestampSchema,
} from '../config/component';
import type { JsonSchema, Reporter, StepContext } from '../config/component';
import { parseDuration } from '../config/duration';
import type { AggregateSpec, WindowKindSpec, WindowStepSpec } from '../config/job';

/** Bumped whenever the snapshot layout below changes. */
const SNAPSHOT_FORMAT = 1;

const OPEN = 0;
const CLOSED = 1;
/** Absorbed into another session; its row must never be emitted. */
const MERGED = 2;

/** One (key, window) accumulator. */
interface WindowState {
  start: number;
  end: number;
  /** Every aggregate's slots in one array (see AggregateSet). */
  acc: Float64Array;
  owner: KeyState;
  status: number;
  /** Changed in the current batch (update mode only). */
  dirty: boolean;
}

interface KeyState {
  /** Composite key string: the map key and the output tie-breaker. */
  id: string;
  /** The key fields' original values, for the output row. */
  values: unknown[];
  /** Open windows, sorted by start (sessions rely on it). */
  windows: WindowState[];
  /** The time this key is registered at in the timers (+Infinity: none). */
  timer: number;
  /** Sessions only: the most recently closed session, to judge records that would reopen it. */
  lastClosedStart: number;
  lastClosedEnd: number;
}

/** Snapshot of one key: original key values, last closed session, open windows. */
interface KeySnapshot {
  key: EncodedKeyValue[];
  closed: [EncodedNumber, EncodedNumber];
  windows: Array<[EncodedNumber, EncodedNumber, EncodedNumber[]]>;
}

/** JSON-serialisable state of a {@link WindowOperator}. */
export interface WindowOperatorSnapshot {
  format: number;
  stateKey: string;
  /** Arrival counter: breaks event-time ties in first/last, so it must survive restarts. */
  arrival: number;
  keys: KeySnapshot[];
}

/**
 * Event-time windows with aggregates, per key (the `window` step).
 *
 * Per row: the record goes to every window its assigner gives; for a window
 * already closed by the watermark in force for that row (`end +
 * allowedLateness <= watermark`) it goes to the late output instead, with the
 * window it missed. At the end of each batch every window the batch's
 * watermark closes is emitted (`final`), or every window the batch changed is
 * emitted (`update`). Judging lateness with the per-row watermark, and closing
 * sessions lazily with it, is what makes the output independent of how the
 * input is cut into batches.
 *
 * ```
 * //  t:  0    10    20    30          tumbling 10, allowedLateness 0
 * //      [-w0-)[-w1-)[-w2-)
 * //      a  b   c                     a, b -> w0; c -> w1
 * //                  ^ watermark 20: w0 and w1 close, rows emitted
 * //        d                          d (t 5) arriving now is late for w0
 * ```
 *
 * Output row: the key fields, `window_start`, `window_end` (Dates), then each
 * aggregate under its name. Rows of one batch are ordered by window_end,
 * window_start, then key.
 *
 * A record whose aggregate inputs are all null is a null reading (counted,
 * dropped); a window no record contributed to produces no row.
 *
 * @example
 * const op = new WindowOperator(
 *   { kind: 'window', id: 'avg', key: ['station'], window: { kind: 'tumbling', sizeMs: 1_800_000, anchorMs: 0 },
 *     allowedLatenessMs: 0, emit: 'final', aggregates: [{ name: 'avg', fn: 'avg', field: 'v' }], at: { line: 1, col: 1 } },
 *   't',
 * );
 * const out = op.process(batch, context); // out.rows: closed windows
 */
export class WindowOperator implements Operator {
  readonly id: string;
  readonly stateKey: string;

  private readonly keyFields: string[];
  private readonly eventTimeField: string;
  private readonly allowedLatenessMs: number;
  private readonly emitUpdates: boolean;
  private readonly assigner: AnyWindowAssigner;
  /** Exactly one of these is set: fixed windows or sessions take different paths. */
  private readonly fixedAssigner: WindowAssigner | null;
  private readonly sessionAssigner: MergingWindowAssigner | null;
  private readonly aggregates: AggregateSet;
  private readonly buildRow: WindowRowBuilder;

  private keys = new Map<string, KeyState>();
  private readonly timers = new WindowTimers<KeyState>();
  private arrival = 0;

  // Per-batch scratch, reused so the hot loop does not allocate.
  private readonly assigned: number[] = [];
  private readonly due: KeyState[] = [];
  /** Windows closed in this batch, waiting for the batch-end emission. */
  private readonly closed: WindowState[] = [];
  /** Windows changed in this batch (update mode). */
  private readonly dirty: WindowState[] = [];
  private readonly placement: SessionPlacement = { index: 0, overlapping: 0, start: 0, end: 0 };
  /**
   * Accumulators of emitted or merged windows, reused for new windows:
   * allocating a typed array costs about a microsecond, and aligned windows
   * close and open for every station at once.
   */
  private readonly spareAccumulators: Float64Array[] = [];

  constructor(spec: WindowStepSpec, eventTimeField: string) {
    if (spec.aggregates.length === 0) throw new InternalError(`window step '${spec.id}' has no aggregates`);
    this.id = spec.id;
    this.keyFields = spec.key.slice();
    this.eventTimeField = eventTimeField;
    this.allowedLatenessMs = spec.allowedLatenessMs;
    this.emitUpdates = spec.emit === 'update';
    this.assigner = createAssigner(spec.window);
    this.fixedAssigner = this.assigner.merging ? null : this.assigner;
    this.sessionAssigner = this.assigner.merging ? this.assigner : null;
    this.aggregates = new AggregateSet(spec.aggregates);
    this.buildRow = windowRowBuilder(this.keyFields, this.aggregates);
    // Lateness and emit mode are left out on purpose: they change when rows
    // come out, not what the saved state means.
    this.stateKey =
      `window/v${SNAPSHOT_FORMAT}:${this.assigner.stateKey};key=${spec.key.join(',')};` +
      `aggregates=${this.aggregates.stateKey};time=${eventTimeField}`;
  }

  process(input: RecordBatch, context: OperatorContext): RecordBatch {
    let batch = input;
    const pre = batch.preAggregated;
    if (pre !== undefined && pre.stepId === this.id) {
      // Partials for this step are the window partials the decoder built for it (codecs/pre-aggregation.ts).
      if (this.mergePartials(pre as PreAggregatedRows<WindowPartials>, batch.watermarks, context)) {
        this.closeDue(batch.watermark - this.allowedLatenessMs);
        return derivedBatch(batch, this.emit());
      }
      // A record is late for a window: it must reach the late output itself, so take the per-row path.
      batch = { ...batch, rows: pre.materialize(), preAggregated: undefined };
      if (batch.rows.length !== batch.watermarks.length) {
        throw new InternalError(`window '${this.id}': ${batch.rows.length} rows materialized for ${batch.watermarks.length} pre-aggregated records`);
      }
    }
    const { rows, watermarks } = batch;
    const aggregates = this.aggregates;
    for (let i = 0; i < rows.length; i++) {
      const row = rows[i];
      const outcome = aggregates.read(row);
      if (outcome === ReadOutcome.AllNull) {
        context.counters.nullReadings++;
        continue;
      }
      if (outcome === ReadOutcome.Invalid) {
        this.deadLetter(row, `window '${this.id}': field '${aggregates.invalidField}' is not a number`, batch, i, context);
        continue;
      }
      const raw = row[this.eventTimeField];
      const eventTime = typeof raw === 'number' ? raw : raw instanceof Date ? raw.getTime() : NaN;
      if (!Number.isFinite(eventTime)) {
        this.deadLetter(row, `window '${this.id}': event time field '${this.eventTimeField}' is not an epoch-ms number`, batch, i, context);
        continue;
      }
      if (this.sessionAssigner !== null) this.addToSession(this.sessionAssigner, row, eventTime, watermarks[i], context);
      else if (this.fixedAssigner !== null) this.addToWindows(this.fixedAssigner, row, eventTime, watermarks[i], batch, i, context);
      this.arrival++;
    }
    this.closeDue(batch.watermark - this.allowedLatenessMs);
    return derivedBatch(batch, this.emit());
  }

  /** The watermark moved without a batch (a quiet partition): emit the windows it closes. */
  onWatermark(watermark: number): Row[] {
    this.closeDue(watermark - this.allowedLatenessMs);
    return this.emit();
  }

  /** End of a finite input: the watermark is +infinity, every open window closes. */
  close(): Row[] {
    this.closeDue(Infinity);
    return this.emit();
  }

  snapshot(): WindowOperatorSnapshot {
    const keys: KeySnapshot[] = [];
    for (const state of this.keys.values()) {
      keys.push({
        key: state.values.map(encodeKeyValue),
        closed: [encodeNumber(state.lastClosedStart), encodeNumber(state.lastClosedEnd)],
        windows: state.windows.map((w) => [encodeNumber(w.start), encodeNumber(w.end), encodeFloats(w.acc)]),
      });
    }
    return { format: SNAPSHOT_FORMAT, stateKey: this.stateKey, arrival: this.arrival, keys };
  }

  restore(saved: unknown): void {
    const snapshot = saved as WindowOperatorSnapshot;
    if (snapshot === null || typeof snapshot !== 'object' || snapshot.format !== SNAPSHOT_FORMAT) {
      throw new StateIncompatibleError(
        `saved state of window '${this.id}' has an unknown format; reset the job's state to start this window over`,
      );
    }
    this.keys = new Map();
    this.timers.clear();
    this.closed.length = 0;
    this.dirty.length = 0;
    this.arrival = snapshot.arrival;
    for (const savedKey of snapshot.keys) {
      const values = savedKey.key.map(decodeKeyValue);
      const state: KeyState = {
        id: keyIdOfValues(values),
        values,
        windows: [],
        timer: Infinity,
        lastClosedStart: decodeNumber(savedKey.closed[0]),
        lastClosedEnd: decodeNumber(savedKey.closed[1]),
      };
      for (const [start, end, slots] of savedKey.windows) {
        const acc = decodeFloats(slots);
        if (acc.length !== this.aggregates.slots) throw new StateIncompatibleError(`saved state of window '${this.id}' is corrupt`);
        state.windows.push({ start: decodeNumber(start), end: decodeNumber(end), acc, owner: state, status: OPEN, dirty: false });
      }
      state.windows.sort((a, b) => a.start - b.start);
      this.keys.set(state.id, state);
      this.scheduleNext(state);
    }
  }

  // ---------------------------------------------------------------- fixed windows

  private addToWindows(
    assigner: WindowAssigner,
    row: Row,
    eventTime: number,
    watermark: number,
    batch: RecordBatch,
    i: number,
    context: OperatorContext,
  ): void {
    const assigned = this.assigned;
    // pop() is inlined by V8; `length = 0` is a runtime call, measurable per record.
    while (assigned.length > 0) assigned.pop();
    const problem = assigner.assign(eventTime, row, assigned);
    if (problem !== undefined) {
      this.deadLetter(row, `window '${this.id}': ${problem}`, batch, i, context);
      return;
    }
    const until = watermark - this.allowedLatenessMs;
    let missed = false;
    let state: KeyState | null = null;
    for (let j = 0; j < assigned.length; j += 2) {
      const start = assigned[j];
      const end = assigned[j + 1];
      if (end <= until) {
        context.late({ row, operator: this.id, reason: 'window closed', windowStart: start, windowEnd: end, watermark });
        missed = true;
        continue;
      }
      if (state === null) state = this.keyStateOf(row);
      let window: WindowState | null = null;
      const windows = state.windows;
      for (let k = 0; k < windows.length; k++) {
        if (windows[k].start === start && windows[k].end === end) {
          window = windows[k];
          break;
        }
      }
      if (window === null) window = this.openWindow(state, start, end, insertionIndex(windows, start));
      this.aggregates.add(window.acc, eventTime, this.arrival);
      this.touch(window);
    }
    // Counted once per record: late only when it missed every window it belongs
    // to (hopping), so each record is either aggregated or late, never both.
    if (state !== null) context.counters.aggregated++;
    else if (missed) context.counters.late++;
  }

  // ---------------------------------------------------------------- partial aggregates

  /**
   * Fold in chunks aggregated elsewhere (window-partials.ts), exactly as if
   * their rows had come through `addToWindows`: same windows, same
   * accumulators, same counters. Returns false, having changed nothing, when
   * a row of them is late for its window. Watermarks never decrease within a
   * batch, so a partial has no late row when its window is still open for the
   * watermark of its last row.
   */
  private mergePartials(pre: PreAggregatedRows<WindowPartials>, watermarks: Float64Array, context: OperatorContext): boolean {
    const lateness = this.allowedLatenessMs;
    for (let c = 0; c < pre.chunks.length; c++) {
      const { ends, lastRow } = pre.chunks[c];
      const base = pre.chunkStarts[c];
      for (let p = 0; p < ends.length; p++) if (ends[p] <= watermarks[base + lastRow[p]] - lateness) return false;
    }
    const aggregates = this.aggregates;
    const slots = aggregates.slots;
    for (const chunk of pre.chunks) {
      const { keyIds, keyValues, keyIndex, starts, ends, accs } = chunk;
      const states: Array<KeyState | undefined> = new Array(keyIds.length);
      for (let p = 0; p < starts.length; p++) {
        const key = keyIndex[p];
        let state = states[key];
        if (state === undefined) {
          state = this.keys.get(keyIds[key]) ?? this.createKeyStateOf(keyIds[key], keyValues[key]);
          states[key] = state;
        }
        const start = starts[p];
        const end = ends[p];
        const windows = state.windows;
        let window: WindowState | null = null;
        for (let k = 0; k < windows.length; k++) {
          if (windows[k].start === start && windows[k].end === end) {
            window = windows[k];
            break;
          }
        }
        if (window === null) window = this.openWindow(state, start, end, insertionIndex(windows, start));
        aggregates.merge(window.acc, accs, p * slots);
        this.touch(window);
      }
      context.counters.aggregated += chunk.aggregated;
      context.counters.nullReadings += chunk.nullReadings;
      this.arrival += chunk.arrivals;
    }
    return true;
  }

  // ---------------------------------------------------------------- sessions

  private addToSession(assigner: MergingWindowAssigner, row: Row, eventTime: number, watermark: number, context: OperatorContext): void {
    const until = watermark - this.allowedLatenessMs;
    const id = this.keyIdOf(row);
    let state = this.keys.get(id) ?? null;
    // Close this key's sessions the row's watermark has passed, as if the
    // batch had ended just before this row: otherwise the record could merge
    // into a session that a different batch split would already have emitted.
    if (state !== null && state.windows.length > 0 && state.windows[0].end <= until) this.closeKey(state, until, false);
    const sessions = state === null ? EMPTY_WINDOWS : state.windows;
    const placement = this.placement;
    assigner.place(sessions, eventTime, placement);
    const lastClosedEnd = state === null ? -Infinity : state.lastClosedEnd;
    // Late when the session it would be part of has closed: either the merged
    // session is itself past the watermark (reported with its own bounds), or
    // it would merge into a session already emitted (reported as that one).
    // Reporting the own bounds first keeps the report independent of whether
    // the key's last session was already forgotten, i.e. of batch splits.
    const pastWatermark = placement.end <= until;
    const reopens = !pastWatermark && placement.start < lastClosedEnd;
    if (pastWatermark || reopens) {
      context.late({
        row,
        operator: this.id,
        reason: 'window closed',
        windowStart: reopens && state !== null ? state.lastClosedStart : placement.start,
        windowEnd: reopens && state !== null ? state.lastClosedEnd : placement.end,
        watermark,
      });
      context.counters.late++;
      return;
    }
    if (state === null) state = this.createKeyState(row, id);
    let window: WindowState;
    if (placement.overlapping === 0) {
      window = this.openWindow(state, placement.start, placement.end, placement.index);
    } else {
      const windows = state.windows;
      window = windows[placement.index];
      for (let k = 1; k < placement.overlapping; k++) {
        const absorbed = windows[placement.index + k];
        this.aggregates.merge(window.acc, absorbed.acc);
        absorbed.status = MERGED;
        // Not recycled here: the absorbed window may still sit in the dirty list (update mode).
      }
      if (placement.overlapping > 1) windows.splice(placement.index + 1, placement.overlapping - 1);
      window.start = placement.start;
      window.end = placement.end;
      // A later end needs no new timer: the old one fires first and re-registers.
    }
    this.aggregates.add(window.acc, eventTime, this.arrival);
    this.touch(window);
    context.counters.aggregated++;
  }

  // ---------------------------------------------------------------- keys, windows, closing

  private keyIdOf(row: Row): string {
    return keyIdOfRow(row, this.keyFields);
  }

  private keyStateOf(row: Row): KeyState {
    const id = this.keyIdOf(row);
    return this.keys.get(id) ?? this.createKeyState(row, id);
  }

  private createKeyState(row: Row, id: string): KeyState {
    return this.createKeyStateOf(id, keyValuesOfRow(row, this.keyFields));
  }

  private createKeyStateOf(id: string, values: unknown[]): KeyState {
    const state: KeyState = { id, values, windows: [], timer: Infinity, lastClosedStart: -Infinity, lastClosedEnd: -Infinity };
    this.keys.set(id, state);
    return state;
  }

  private openWindow(state: KeyState, start: number, end: number, index: number): WindowState {
    const spare = this.spareAccumulators.pop();
    const acc = spare === undefined ? this.aggregates.create() : this.aggregates.reset(spare);
    const window: WindowState = { start, end, acc, owner: state, status: OPEN, dirty: false };
    state.windows.splice(index, 0, window);
    if (end < state.timer) {
      state.timer = end;
      this.timers.add(end, state);
    }
    return window;
  }

  private touch(window: WindowState): void {
    if (this.emitUpdates && !window.dirty) {
      window.dirty = true;
      this.dirty.push(window);
    }
  }

  /** Close every window with `end <= until` (= watermark - allowedLateness). */
  private closeDue(until: number): void {
    if (this.timers.peek() > until) return;
    const due = this.due;
    due.length = 0;
    this.timers.popDue(until, due);
    for (let i = 0; i < due.length; i++) {
      const state = due[i];
      // Stale entry: the key re-registered at a later time since.
      if (state.timer > until) continue;
      this.closeKey(state, until, true);
    }
    due.length = 0;
  }

  private closeKey(state: KeyState, until: number, mayForget: boolean): void {
    const windows = state.windows;
    let kept = 0;
    for (let k = 0; k < windows.length; k++) {
      const window = windows[k];
      if (window.end <= until) {
        window.status = CLOSED;
        this.closed.push(window);
        if (window.end > state.lastClosedEnd) {
          state.lastClosedStart = window.start;
          state.lastClosedEnd = window.end;
        }
      } else windows[kept++] = window;
    }
    while (windows.length > kept) windows.pop();
    state.timer = Infinity;
    if (mayForget && kept === 0 && this.forgettable(state, until)) {
      if (this.keys.get(state.id) === state) this.keys.delete(state.id);
      return;
    }
    this.scheduleNext(state);
  }

  /**
   * Fixed windows need nothing once closed: lateness follows from the
   * watermark alone. A session key is remembered until no record could still
   * reach back into its last session (watermark >= its end + gap + lateness).
   */
  private forgettable(state: KeyState, until: number): boolean {
    return this.sessionAssigner === null || state.lastClosedEnd + this.sessionAssigner.gapMs <= until;
  }

  private scheduleNext(state: KeyState): void {
    let next = Infinity;
    for (let k = 0; k < state.windows.length; k++) if (state.windows[k].end < next) next = state.windows[k].end;
    if (next === Infinity && this.sessionAssigner !== null) next = state.lastClosedEnd + this.sessionAssigner.gapMs;
    if (next === Infinity || next === -Infinity) return;
    state.timer = next;
    this.timers.add(next, state);
  }

  /** Rows for this batch: closed windows (final) or changed windows (update), in a deterministic order. */
  private emit(): Row[] {
    let windows: WindowState[];
    if (this.emitUpdates) {
      windows = [];
      for (const window of this.dirty) {
        window.dirty = false;
        if (window.status !== MERGED) windows.push(window);
      }
      this.dirty.length = 0;
    } else windows = this.closed.slice();
    this.closed.length = 0;
    if (windows.length === 0) return [];
    windows.sort(compareWindows);
    const rows: Row[] = new Array(windows.length);
    for (let i = 0; i < windows.length; i++) {
      const window = windows[i];
      rows[i] = this.outputRow(window);
      // A closed window is unreachable from here on: its accumulator can be reused.
      if (window.status === CLOSED && this.spareAccumulators.length < MAX_SPARE_ACCUMULATORS) this.spareAccumulators.push(window.acc);
    }
    return rows;
  }

  private outputRow(window: WindowState): Row {
    return this.buildRow(window.owner.values, window.start, window.end, window.acc);
  }

  private deadLetter(row: Row, reason: string, batch: RecordBatch, i: number, context: OperatorContext): void {
    // The runtime's deadLetter counts it; counting here too would break the accounting identity.
    context.deadLetter({ payload: row, reason, partition: batch.source.partition, offset: batch.offsets[i], stage: this.id });
  }
}

const EMPTY_WINDOWS: WindowState[] = [];
/** Enough to recycle one aligned window per station for 100k stations. */
const MAX_SPARE_ACCUMULATORS = 131_072;

function compareWindows(a: WindowState, b: WindowState): number {
  if (a.end !== b.end) return a.end - b.end;
  if (a.start !== b.start) return a.start - b.start;
  const x = a.owner.id;
  const y = b.owner.id;
  return x < y ? -1 : x > y ? 1 : 0;
}

/** Index at which a window starting at `start` keeps `windows` sorted by start. */
function insertionIndex(windows: WindowState[], start: number): number {
  let index = windows.length;
  while (index > 0 && windows[index - 1].start > start) index--;
  return index;
}

type EncodedKeyValue = string | number | boolean | null | { date: number } | { number: EncodedNumber } | { bigint: string };

function encodeKeyValue(value: unknown): EncodedKeyValue {
  if (typeof value === 'string' || typeof value === 'boolean' || value === null || value === undefined) return value ?? null;
  if (typeof value === 'number') return Number.isFinite(value) && !Object.is(value, -0) ? value : { number: encodeNumber(value) };
  if (value instanceof Date) return { date: value.getTime() };
  if (typeof value === 'bigint') return { bigint: value.toString() };
  // Objects as keys are not meaningful for grouping; keep their text.
  return String(value);
}

function decodeKeyValue(value: EncodedKeyValue): unknown {
  if (value === null || typeof value !== 'object') return value;
  if ('date' in value) return new Date(value.date);
  if ('bigint' in value) return BigInt(value.bigint);
  return decodeNumber(value.number);
}

// ---------------------------------------------------------------- job-file configuration

/**
 * Window step: groups rows per key into event-time windows and emits one row
 * per (key, window) with `window_start`, `window_end` and the aggregates.
 *
 * @example
 * steps:
 *   - window:
 *       id: lunar-day
 *       key: [station]
 *       lunarDay: { mode: mean }
 *       aggregate: { high: max(v), high_time: time_of_max(v), count: count(v) }
 */

export interface WindowConfig {
  id: string;
  key: string[];
  tumbling?: { size: string; anchor?: string };
  hopping?: { size: string; slide: string; anchor?: string };
  session?: { gap: string };
  lunarDay?: { mode?: 'mean' | 'transit'; anchor?: string; lon?: string; lat?: string };
  allowedLateness?: string;
  emit?: 'final' | 'update';
  aggregate: Record<string, string>;
}

export const WINDOW_KINDS = ['tumbling', 'hopping', 'session', 'lunarDay'] as const;
/** Fields every window result row carries besides its key and aggregates. */
export const WINDOW_BOUND_FIELDS = ['window_start', 'window_end'] as const;
const EPOCH = '1970-01-01T00:00:00Z';

const anchor = timestampSchema('Instant windows are aligned to.', EPOCH);

export const schema: JsonSchema = {
  title: 'window step',
  description: 'Event-time windows per key, with aggregates.',
  examples: [
    { id: 'avg-30m', key: ['station'], tumbling: { size: '30m' }, aggregate: { avg: 'avg(v)', min: 'min(v)', max: 'max(v)', count: 'count(v)' } },
  ],
  type: 'object',
  required: ['id', 'key', 'aggregate'],
  requiredWhy: { id: STATEFUL_ID_WHY },
  exactlyOneOf: [...WINDOW_KINDS],
  selector: 'window kind',
  additionalProperties: false,
  properties: {
    id: stepIdSchema(true),
    key: fieldListSchema('Fields that group rows; [] for one window over all rows.', [['station']]),
    tumbling: {
      title: 'tumbling window',
      description: 'Back-to-back windows of one size.',
      examples: [{ size: '30m' }],
      type: 'object',
      required: ['size'],
      additionalProperties: false,
      properties: { size: durationSchema('Window length.', { positive: true, examples: ['30m'] }), anchor },
    },
    hopping: {
      title: 'hopping window',
      description: 'Overlapping windows of `size`, one starting every `slide`.',
      examples: [{ size: '1h', slide: '15m' }],
      type: 'object',
      required: ['size', 'slide'],
      additionalProperties: false,
      properties: {
        size: durationSchema('Window length.', { positive: true, examples: ['1h'] }),
        slide: durationSchema('Time between window starts (at most `size`).', { positive: true, examples: ['15m'] }),
        anchor,
      },
    },
    session: {
      title: 'session window',
      description: 'Per key, a window that stays open while rows arrive less than `gap` apart.',
      examples: [{ gap: '2h' }],
      type: 'object',
      required: ['gap'],
      additionalProperties: false,
      properties: { gap: durationSchema('Silence that closes a session.', { positive: true, examples: ['2h'] }) },
    },
    lunarDay: {
      title: 'lunarDay window',
      description:
        'Lunar days: `mean` tumbles by 24h50m28.329s from `anchor`; `transit` runs from one upper transit of the Moon over the station to the next.',
      examples: [{ mode: 'mean' }, { mode: 'transit', lon: 'lon', lat: 'lat' }],
      type: 'object',
      additionalProperties: false,
      properties: {
        mode: {
          description: "`mean`: the same windows for every key, twice the M2 tidal period long; `transit`: per key, from the Moon's upper transit over the station's longitude to the next.",
          type: 'string',
          enum: ['mean', 'transit'],
          default: 'mean',
        },
        anchor: { ...anchor, description: 'Instant `mean` windows are aligned to (mode mean only).' },
        lon: { description: 'Row field with the station longitude (mode transit only).', type: 'string', minLength: 1, default: 'lon' },
        lat: { description: 'Row field with the station latitude (mode transit only).', type: 'string', minLength: 1, default: 'lat' },
      },
    },
    allowedLateness: durationSchema('How long past its end (by watermark) a window still takes rows.', { default: '0s' }),
    emit: {
      description: '`final`: one row per window when it closes; `update`: a row whenever a window changed in a batch.',
      type: 'string',
      enum: ['final', 'update'],
      default: 'final',
    },
    aggregate: {
      title: 'window aggregate',
      description: 'Output field -> `fn(field)`; fn one of count sum avg min max range first last stddev time_of_max time_of_min.',
      type: 'object',
      minProperties: 1,
      propertyNames: { pattern: '^[A-Za-z_][A-Za-z0-9_]*$', patternHint: 'a field name (letters, digits, _)' },
      additionalProperties: { type: 'string', aggregateCall: true },
      examples: [{ high: 'max(v)', high_time: 'time_of_max(v)', count: 'count(v)' }],
    },
  },
};

/** Checks beyond the schema; runs on any input, so it looks before it trusts. */
export function check(raw: Partial<WindowConfig>, report: Reporter): void {
  const hopping = raw.hopping;
  if (hopping !== null && typeof hopping === 'object') {
    const size = typeof hopping.size === 'string' ? parseDuration(hopping.size) : null;
    const slide = typeof hopping.slide === 'string' ? parseDuration(hopping.slide) : null;
    if (size !== null && slide !== null && slide > size) {
      report.atValue(['hopping', 'slide'], `'slide' (${hopping.slide}) is longer than 'size' (${hopping.size}): rows between windows would be lost; use a slide of at most ${hopping.size}`);
    }
  }
  const lunarDay = raw.lunarDay;
  if (lunarDay !== null && typeof lunarDay === 'object') {
    const transit = lunarDay.mode === 'transit';
    if (transit && lunarDay.anchor !== undefined) {
      report.atKey(['lunarDay', 'anchor'], "'anchor' applies to mode mean only: transit windows follow the Moon; remove it");
    }
    for (const field of ['lon', 'lat'] as const) {
      if (!transit && lunarDay[field] !== undefined) {
        report.atKey(['lunarDay', field], `'${field}' applies to mode transit only; remove it or set mode: transit`);
      }
    }
  }
  const aggregate = raw.aggregate;
  if (aggregate !== null && typeof aggregate === 'object' && !Array.isArray(aggregate)) {
    const taken = new Set<string>([...WINDOW_BOUND_FIELDS, ...(Array.isArray(raw.key) ? raw.key.filter((k) => typeof k === 'string') : [])]);
    for (const name of Object.keys(aggregate)) {
      if (taken.has(name)) {
        report.atKey(['aggregate', name], `aggregate output '${name}' clashes with a ${name.startsWith('window_') ? 'window bound' : 'key field'} of the result row; rename it`);
      }
    }
  }
}

/** Schema-validated YAML to the JobSpec form: defaults filled in, durations and timestamps in milliseconds. */
export function normalize(raw: WindowConfig, context: StepContext): WindowStepSpec {
  return {
    kind: 'window',
    id: raw.id,
    key: [...raw.key],
    window: windowKind(raw),
    allowedLatenessMs: durationMs(raw.allowedLateness ?? '0s'),
    emit: raw.emit ?? 'final',
    aggregates: Object.entries(raw.aggregate).map(([name, call]): AggregateSpec => {
      const parsed = parseAggregateCall(call);
      if (!parsed.ok) throw new Error(`internal: unvalidated aggregate ${call}`);
      return { name, fn: parsed.fn, field: parsed.field };
    }),
    at: context.at,
  };
}

function windowKind(raw: WindowConfig): WindowKindSpec {
  if (raw.tumbling !== undefined) {
    return { kind: 'tumbling', sizeMs: durationMs(raw.tumbling.size), anchorMs: timestampMs(raw.tumbling.anchor ?? EPOCH) };
  }
  if (raw.hopping !== undefined) {
    return {
      kind: 'hopping',
      sizeMs: durationMs(raw.hopping.size),
      slideMs: durationMs(raw.hopping.slide),
      anchorMs: timestampMs(raw.hopping.anchor ?? EPOCH),
    };
  }
  if (raw.session !== undefined) return { kind: 'session', gapMs: durationMs(raw.session.gap) };
  const lunarDay = raw.lunarDay ?? {};
  if (lunarDay.mode === 'transit') return { kind: 'lunarDay', mode: 'transit', lonField: lunarDay.lon ?? 'lon', latField: lunarDay.lat ?? 'lat' };
  return { kind: 'lunarDay', mode: 'mean', anchorMs: timestampMs(lunarDay.anchor ?? EPOCH) };
}
