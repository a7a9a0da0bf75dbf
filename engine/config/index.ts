export { loadJobFile, loadJobText, lintJobFiles } from './load';
export type { LoadOptions } from './load';
export { parseDuration } from './duration';
export { parseTimestamp } from './timestamp';
export type { TimestampResult } from './timestamp';
export { substituteEnv } from './env';
export { AGGREGATE_FUNCTIONS, parseAggregateCall } from './aggregate-call';
export type { ExpressionParser } from './expression-parser';
export type * from './job';
