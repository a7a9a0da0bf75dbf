import { distance } from 'fastest-levenshtein';

/**
 * The candidate a misspelt name most likely meant, or `undefined` when none is
 * close enough to be a helpful guess.
 *
 * @example
 * closestName('sizee', ['size', 'anchor']); // 'size'
 */
export function closestName(name: string, candidates: Iterable<string>): string | undefined {
  const wanted = name.toLowerCase();
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const lower = candidate.toLowerCase();
    const d = lower === wanted ? 0 : distance(wanted, lower);
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  if (best === undefined) return undefined;
  // About a third of the length: `sizee`->`size` and `stpes`->`steps` yes, `foo`->`job` no; and never
  // a guess that shares nothing with the name (`q`->`v`).
  const longest = Math.max(wanted.length, best.length);
  const allowed = Math.max(1, Math.ceil(longest / 3));
  return bestDistance <= allowed && bestDistance < longest ? best : undefined;
}

/** ` (did you mean 'x'?)` or the empty string. */
export function didYouMean(name: string, candidates: Iterable<string>): string {
  const guess = closestName(name, candidates);
  return guess === undefined ? '' : ` (did you mean '${guess}'?)`;
}
