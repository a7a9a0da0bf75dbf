import { Observable, type OperatorFunction } from 'rxjs';
import { derivedBatch, type RecordBatch, type Row } from '../core/batch';
import { InternalError } from '../core/errors';
import type { Operator, OperatorContext } from '../core/operator';
import type { StreamEvent } from './events';

/** The operator of one step, for each task (a job runs one task per source partition it shares, or one). */
export interface StepOperators {
  /** The operator of the task an event belongs to (undefined: that task is gone). */
  forEvent(event: StreamEvent): Operator | undefined;
  /** The operator of task `key`. */
  ofTask(key: string): Operator | undefined;
}

/**
 * A step's engine operators as an RxJS operator over the dataflow's events,
 * calling each event's task's operator's lifecycle in stream order:
 *
 *   data       process(batch)
 *   watermark  process(rows emitted upstream, if any), then onWatermark
 *   timer      process(rows emitted upstream, if any), then onTimer if the timer is its own
 *   end        process(rows emitted upstream, if any), then close
 *   barrier    snapshot into the barrier (stateful operators)
 *
 * `bind` points the context's side outputs and counters at the event in
 * hand, so late records and dead letters travel with the batch that produced
 * them and counters are the task's.
 *
 * @example
 *   events$.pipe(operatorStage({ forEvent: () => dedupe, ofTask: () => dedupe }, 0, context, bind))
 */
export function operatorStage(
  operators: StepOperators,
  index: number,
  context: OperatorContext,
  bind: (event: StreamEvent) => void,
): OperatorFunction<StreamEvent, StreamEvent> {
  return (events) =>
    new Observable<StreamEvent>((subscriber) =>
      events.subscribe({
        next(event) {
          try {
            bind(event);
            applyOperator(operators, index, context, event);
          } catch (error) {
            subscriber.error(error);
            return;
          }
          subscriber.next(event);
        },
        error: (error) => subscriber.error(error),
        complete: () => subscriber.complete(),
      }),
    );
}

function applyOperator(operators: StepOperators, index: number, context: OperatorContext, event: StreamEvent): void {
  if (event.kind === 'barrier') {
    for (const [key, task] of event.barrier!.tasks) {
      const operator = operators.ofTask(key);
      if (operator === undefined || !operator.snapshot) continue;
      if (operator.stateKey === undefined) throw new InternalError(`operator '${operator.id}' has state but no stateKey`);
      task.operators[operator.id] = { stateKey: operator.stateKey, state: operator.snapshot() };
    }
    return;
  }
  const operator = operators.forEvent(event);
  if (operator === undefined) return;
  if (event.kind === 'data') {
    event.batch = operator.process(event.batch, context);
    return;
  }
  // Rows an upstream operator emitted for this event are this operator's input.
  let batch = event.batch.rows.length > 0 ? operator.process(event.batch, context) : event.batch;
  let emitted: Row[] | undefined;
  if (event.kind === 'watermark') emitted = operator.onWatermark?.(event.batch.watermark, context);
  else if (event.kind === 'end') emitted = operator.close?.(context);
  else if (event.kind === 'timer' && event.operator === index) emitted = operator.onTimer?.(context.now(), context);
  if (emitted !== undefined && emitted.length > 0) batch = derivedBatch(batch, batch.rows.length > 0 ? batch.rows.concat(emitted) : emitted);
  event.batch = batch;
}

/**
 * A user's RxJS operator over record batches as a stage of the dataflow.
 * It must answer every batch with exactly one batch, in order (it may take
 * its time: `concatMap` with an async call is fine); control events wait
 * behind the batches before them, so checkpoints stay consistent.
 *
 * @example
 *   batchOperatorStage('enrich', map((batch) => ({ ...batch, rows: batch.rows.map(addFeet) })))
 */
export function batchOperatorStage(id: string, operator: OperatorFunction<RecordBatch, RecordBatch>): OperatorFunction<StreamEvent, StreamEvent> {
  return (events) =>
    new Observable<StreamEvent>((subscriber) => {
      // Events waiting for the user's answer to the batch they hold (or for the batches before them).
      const waiting: Array<{ event: StreamEvent; answered: boolean }> = [];
      const release = () => {
        while (waiting.length > 0 && waiting[0].answered) subscriber.next(waiting.shift()!.event);
      };
      const input = new Observable<RecordBatch>((inner) => {
        const subscription = events.subscribe({
          next(event) {
            waiting.push({ event, answered: false });
            if (event.batch.rows.length > 0 || event.kind === 'data') inner.next(event.batch);
            else {
              waiting[waiting.length - 1].answered = true;
              release();
            }
          },
          error: (error) => inner.error(error),
          complete: () => inner.complete(),
        });
        return subscription;
      });
      return operator(input).subscribe({
        next(batch) {
          const pending = waiting.find((entry) => !entry.answered);
          if (pending === undefined) {
            subscriber.error(new InternalError(`step '${id}' answered more batches than it was given (an RxJS step must answer each batch with exactly one)`));
            return;
          }
          pending.event.batch = batch;
          pending.answered = true;
          release();
        },
        error: (error) => subscriber.error(error),
        complete() {
          if (waiting.some((entry) => !entry.answered)) {
            subscriber.error(new InternalError(`step '${id}' completed without answering every batch (an RxJS step must answer each batch with exactly one)`));
            return;
          }
          release();
          subscriber.complete();
        },
      });
    });
}
