export * from './assigner';
export * from './create-assigner';
export * from './hopping';
export * from './lunar-day';
export * from './session';
export * from './timers';
export * from './tumbling';
