import { parseExpression } from '../expressions/parse';

/** What validation needs from the expression language: accept or reject text, saying where it broke. */
export type ExpressionParser = (
  text: string,
) => { ok: true; expression: unknown } | { ok: false; message: string; /** Character offset in `text`. */ index: number };

/** The engine's own expression parser (the one `filter`, `map` and `route` run with). */
export const engineExpressionParser: ExpressionParser = parseExpression;
