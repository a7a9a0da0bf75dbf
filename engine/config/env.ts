/**
 * `${VAR}` and `${VAR:-default}` references in job-file strings, so one job
 * file runs against a laptop, docker-compose and CI unchanged. `$$` writes a
 * literal `$`.
 */

export interface EnvProblem {
  /** Offset of the `$` that starts the bad reference, within the text. */
  index: number;
  message: string;
}

export type EnvResult = { ok: true; value: string; changed: boolean } | { ok: false; problems: EnvProblem[] };

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Replace every environment reference in `text`. A variable that is unset (or
 * empty) takes its `:-default`; one without a default must be set.
 *
 * @example
 * substituteEnv('${KAFKA_BROKERS:-localhost:9092}', {}); // { ok: true, value: 'localhost:9092', changed: true }
 */
export function substituteEnv(text: string, env: NodeJS.ProcessEnv): EnvResult {
  if (!text.includes('$')) return { ok: true, value: text, changed: false };
  const problems: EnvProblem[] = [];
  let out = '';
  let changed = false;
  let i = 0;
  while (i < text.length) {
    const dollar = text.indexOf('$', i);
    if (dollar < 0) {
      out += text.slice(i);
      break;
    }
    out += text.slice(i, dollar);
    const next = text[dollar + 1];
    if (next === '$') {
      out += '$';
      changed = true;
      i = dollar + 2;
      continue;
    }
    if (next !== '{') {
      out += '$';
      i = dollar + 1;
      continue;
    }
    const close = text.indexOf('}', dollar + 2);
    if (close < 0) {
      problems.push({ index: dollar, message: `unterminated environment reference '${text.slice(dollar)}': close it with '}'` });
      break;
    }
    const body = text.slice(dollar + 2, close);
    const split = body.indexOf(':-');
    const name = split < 0 ? body : body.slice(0, split);
    const fallback = split < 0 ? undefined : body.slice(split + 2);
    changed = true;
    i = close + 1;
    if (!NAME.test(name)) {
      problems.push({
        index: dollar,
        message: `'\${${body}}' is not an environment reference: write \${NAME} or \${NAME:-default} (letters, digits, _), or $\${...} for a literal`,
      });
      continue;
    }
    const value = env[name];
    if (value !== undefined && (value !== '' || fallback === undefined)) {
      out += value;
    } else if (fallback !== undefined) {
      out += fallback;
    } else {
      problems.push({ index: dollar, message: `environment variable ${name} is not set; set it or write \${${name}:-default}` });
    }
  }
  return problems.length > 0 ? { ok: false, problems } : { ok: true, value: out, changed };
}
