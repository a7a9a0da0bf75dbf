export { loadJobFile, loadJobText, lintJobFiles } from './load';
export type { LoadOptions } from './load';
export type { ExpressionParser } from './expression-parser';
