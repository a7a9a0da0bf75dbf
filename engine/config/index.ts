export { parseDuration } from './duration';
export { parseTimestamp } from './timestamp';
export type { TimestampResult } from './timestamp';
export { substituteEnv } from './env';
export { AGGREGATE_FUNCTIONS, parseAggregateCall } from './aggregate-call';
export type * from './job';
export { cassandraSinkOf, leafSinks } from './job';
