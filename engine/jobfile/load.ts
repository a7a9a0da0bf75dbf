import { ConfigError } from '../core/errors';
import type { ConfigProblem } from '../core/errors';
import { engineExpressionParser } from './expression-parser';
import type { ExpressionParser } from './expression-parser';
import type { JobSpec } from '../config/job';
import { validateTree } from './validate-job';
import { parseYamlText, readYamlFile } from '../config/yaml-tree';

/** Options shared by `loadJobFile` and `lintJobFiles`. */
export interface LoadOptions {
  /** Values for `${VAR}` references (default `process.env`). */
  env?: NodeJS.ProcessEnv;
  /**
   * The working directory (default `process.cwd()`): where a relative job file name starts.
   * Relative paths inside a job file (reader schema, data and output files, checkpoint
   * directory) start at the job file's directory and come out of the loader absolute.
   */
  cwd?: string;
  /** Expression parser to validate `when`/`set` with (default: the engine's; tests pass their own). */
  parseExpression?: ExpressionParser;
  /** Follow field names through the steps (default true; see ValidateOptions.checkFields). */
  checkFields?: boolean;
}

/**
 * Read, validate and normalise a job file.
 *
 * @throws ConfigError carrying every problem found, sorted by line and column
 *   (an unreadable file or broken YAML included).
 * @example
 * const spec = loadJobFile('jobs/tides-lunar-day.yaml');
 * spec.steps[1]; // { kind: 'window', id: 'lunar-day', window: { kind: 'lunarDay', mode: 'mean', anchorMs: 0 }, ... }
 */
export function loadJobFile(path: string, options: LoadOptions = {}): JobSpec {
  const result = validateTree(readYamlFile(path, options.env ?? process.env), validateOptions(options));
  if (result.spec === undefined) throw new ConfigError(result.problems);
  return result.spec;
}

/**
 * Like `loadJobFile` for job text already in memory; `file` names it in messages.
 *
 * @example
 * loadJobText('inline.yaml', 'job: x\n...');
 */
export function loadJobText(file: string, text: string, options: LoadOptions = {}): JobSpec {
  const result = validateTree(parseYamlText(file, text, options.env ?? process.env), validateOptions(options));
  if (result.spec === undefined) throw new ConfigError(result.problems);
  return result.spec;
}

/**
 * Every problem in every file, for `tideflow lint`; an empty list means all
 * files are valid. Files are reported in the order given.
 *
 * @example
 * for (const problem of lintJobFiles(['jobs/a.yaml'])) console.error(formatProblem(problem));
 */
export function lintJobFiles(paths: string[], options: LoadOptions = {}): ConfigProblem[] {
  return paths.flatMap((path) => validateTree(readYamlFile(path, options.env ?? process.env), validateOptions(options)).problems);
}

function validateOptions(options: LoadOptions) {
  return { parseExpression: options.parseExpression ?? engineExpressionParser, cwd: options.cwd ?? process.cwd(), checkFields: options.checkFields };
}
