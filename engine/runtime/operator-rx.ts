import { Observable, type OperatorFunction } from 'rxjs';
import type { RecordBatch } from '../core/batch';
import type { Operator, OperatorContext } from '../core/operator';

/**
 * An engine operator as an RxJS operator function over batches. Every batch
 * is passed on, even when it has no rows left: its watermark still has to
 * reach the windows downstream so they can close.
 *
 * @example
 *   input$.pipe(toRx(new DedupeOperator(spec, 't'), context)).subscribe(...)
 */
export function toRx(operator: Operator, context: OperatorContext): OperatorFunction<RecordBatch, RecordBatch> {
  return (source) =>
    new Observable<RecordBatch>((subscriber) => {
      let last: RecordBatch | null = null;
      return source.subscribe({
        next(batch) {
          last = batch;
          let out: RecordBatch;
          try {
            out = operator.process(batch, context);
          } catch (error) {
            subscriber.error(error);
            return;
          }
          subscriber.next(out);
        },
        error(error) {
          subscriber.error(error);
        },
        complete() {
          if (operator.close && last) {
            try {
              const out = operator.close(last, context);
              if (out.rows.length > 0) subscriber.next(out);
            } catch (error) {
              subscriber.error(error);
              return;
            }
          }
          subscriber.complete();
        },
      });
    });
}
