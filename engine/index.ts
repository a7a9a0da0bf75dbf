// tideflow's TypeScript API: what `import { ... } from 'tideflow'` gives.
// Re-exports only; each name is documented where it is defined.

export { run, type RunJobOptions } from './api/run';
export { defineJob, filterRows, mapRows, operatorStep, rxStep, type CodeStep, type JobConfig, type JobDefinition } from './api/define-job';
export { lintJobFiles, loadJobFile, loadJobText, type LoadOptions } from './jobfile/load';
export type * from './config/job';
export { assemble, type Overrides } from './jobfile/assemble';
export { runJob, type JobParts, type Progress, type RunObserver, type RunOptions, type RunResult, type RxStep, type RowValidator } from './runtime/run-job';
export { derivedBatch, selectRows, type PreAggregatedRows, type RawBatch, type RecordBatch, type Row, type SourceRange } from './core/batch';
export { emptyCounters, unaccounted, type DeadLetter, type LateRecord, type Operator, type OperatorContext, type RunCounters } from './core/operator';
export type { Positions, Source } from './core/source';
export type { Sink, SinkOptions } from './core/sink';
export type { Checkpoint, CheckpointStore } from './state/checkpoint';
export {
  ClaimLostError,
  ConfigError,
  DecodeError,
  ExternalError,
  formatProblem,
  InternalError,
  JobAlreadyRunningError,
  StateIncompatibleError,
  TideflowError,
  UsageError,
  type ConfigProblem,
} from './core/errors';
export { installDependencyPatches } from './patches';
export { formatTestReport, testJob, type CaseResult, type CaseSettings, type JobTestReport, type OutputComparison } from './testing/job-test';
export { MemorySink } from './sinks/memory-sink';
export { MemoryCheckpointStore } from './state/memory-checkpoint-store';
