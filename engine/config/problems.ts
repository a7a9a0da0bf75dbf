import type { ConfigProblem } from '../core/errors';
import { offsetPosition, pointerKeys } from './yaml-tree';
import type { Position, YamlTree } from './yaml-tree';

/**
 * Collects problems against a parsed job file, each placed on the YAML node it
 * is about. Which node depends on the kind of problem:
 *
 *   unknown field         -> its key            (`atKey`)
 *   bad type or value     -> the value          (`atValue`, `atOffset` for a character inside)
 *   missing field         -> the map lacking it (`atOwner`: the key naming the map)
 */
export class ProblemCollector {
  private readonly problems: ConfigProblem[] = [];

  constructor(readonly tree: YamlTree) {
    this.problems.push(...tree.problems);
  }

  /** Whether a value at or above this pointer is already reported as bad (so more noise would not help). */
  isSuppressed(pointer: string): boolean {
    for (const bad of this.tree.suppressed) {
      if (pointer === bad || pointer.startsWith(`${bad}/`)) return true;
    }
    return false;
  }

  atValue(pointer: string, message: string): void {
    this.add(this.entry(pointer)?.value, pointer, message);
  }

  atKey(pointer: string, message: string): void {
    const entry = this.entry(pointer);
    this.add(entry?.key ?? entry?.value, pointer, message);
  }

  atOwner(pointer: string, message: string): void {
    const entry = this.entry(pointer);
    this.add(entry?.key ?? entry?.value, pointer, message);
  }

  /** At character `index` of the string scalar at `pointer`. */
  atOffset(pointer: string, index: number, message: string): void {
    const entry = this.entry(pointer);
    this.add(entry === undefined ? undefined : offsetPosition(this.tree, entry, index), pointer, message);
  }

  /** Where the value at `pointer` starts (for callers that build messages such as "also on line 12"). */
  position(pointer: string): Position | undefined {
    return this.entry(pointer)?.value;
  }

  count(): number {
    return this.problems.length;
  }

  /** Every problem, by position, each reported once. */
  list(): ConfigProblem[] {
    const seen = new Set<string>();
    const unique = this.problems.filter((problem) => {
      const key = `${problem.line}:${problem.col}:${problem.message}`;
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    });
    // Array.prototype.sort is stable, so problems at one position keep the order they were found in.
    return unique.sort((a, b) => a.line - b.line || a.col - b.col);
  }

  private entry(pointer: string) {
    // A pointer below a missing or non-map value has no node: report on the nearest ancestor that exists.
    let keys = pointerKeys(pointer);
    let current = pointer;
    while (!this.tree.nodes.has(current) && keys.length > 0) {
      keys = keys.slice(0, -1);
      current = keys.map((key) => `/${key.replace(/~/g, '~0').replace(/\//g, '~1')}`).join('');
    }
    return this.tree.nodes.get(current);
  }

  private add(at: Position | undefined, pointer: string, message: string): void {
    if (this.isSuppressed(pointer)) return;
    const { line, col } = at ?? { line: 1, col: 1 };
    this.problems.push({ file: this.tree.file, line, col, message });
  }
}
