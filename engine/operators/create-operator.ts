import type { JobSpec, StepSpec } from '../config/job';
import type { Operator } from '../core/operator';
import { InternalError } from '../core/errors';
import { DedupeOperator } from './dedupe';
import { FilterOperator } from './filter';
import { MapOperator } from './map';
import { RouteOperator } from './route';
import { WindowOperator } from './window';

/** The operator for one validated step of a job. */
export function createOperator(step: StepSpec, job: JobSpec): Operator {
  switch (step.kind) {
    case 'filter':
      return new FilterOperator(step);
    case 'map':
      return new MapOperator(step);
    case 'route':
      return new RouteOperator(step);
    case 'dedupe':
      return new DedupeOperator(step, job.eventTime.field);
    case 'window':
      return new WindowOperator(step, job.eventTime.field);
    case 'code':
      throw new InternalError(`step '${step.id}' is written in code: its implementation comes with the job definition (defineJob)`);
  }
}

export function createOperators(job: JobSpec): Operator[] {
  return job.steps.map((step) => createOperator(step, job));
}
