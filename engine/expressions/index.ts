export { parseExpression, MAX_EXPRESSION_DEPTH } from './parse';
export type { ParseResult } from './parse';
export { compileExpression, compileStepExpression, isTruthy } from './compile';
export type { ExpressionSite } from './compile';
export { referencedFields } from './ast';
export type { Evaluator, Expression, LiteralValue, ArithmeticOperator, ComparisonOperator, LogicalOperator } from './ast';
export { FUNCTIONS, FUNCTION_NAMES, isFunctionName } from './functions';
export type { FunctionName, FunctionSpec } from './functions';
