import { readFileSync } from 'node:fs';
import { LineCounter, isAlias, isMap, isScalar, isSeq, parseDocument } from 'yaml';
import type { Document, Node as YamlNode, Scalar } from 'yaml';
import type { ConfigProblem } from '../core/errors';
import { substituteEnv } from './env';

/**
 * A job file read into plain data plus, for every value, where it was
 * written. Validation works on `data`; messages find their position through
 * `nodes`, keyed by JSON pointer (the form Ajv reports as `instancePath`).
 */

export interface Position {
  line: number;
  col: number;
}

export interface NodeEntry {
  /** Where the value starts. */
  value: Position;
  /** Where the key naming this value starts, for map entries. */
  key?: Position;
  /** For string scalars: enough of the source to point at one character inside. */
  scalar?: { text: string; raw: string; offset: number; type: Scalar.Type | undefined; substituted: boolean };
}

export interface YamlTree {
  file: string;
  data: unknown;
  nodes: Map<string, NodeEntry>;
  /** Pointers whose value is already known bad (unset env var): validators stay quiet there. */
  suppressed: Set<string>;
  problems: ConfigProblem[];
  lineCounter: LineCounter;
}

/** Append one key to a JSON pointer, escaped as RFC 6901 (and Ajv) do. */
export function childPointer(parent: string, key: string | number): string {
  return `${parent}/${String(key).replace(/~/g, '~0').replace(/\//g, '~1')}`;
}

/** The keys of a JSON pointer, unescaped. */
export function pointerKeys(pointer: string): string[] {
  if (pointer === '') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((part) => part.replace(/~1/g, '/').replace(/~0/g, '~'));
}

/**
 * Read and parse a job file. Never throws: an unreadable file or broken YAML
 * comes back as problems with `data` undefined.
 */
export function readYamlFile(file: string, env: NodeJS.ProcessEnv): YamlTree {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    const tree = emptyTree(file);
    tree.problems.push({ file, line: 1, col: 1, message: `cannot read job file: ${describeFsError(error)}` });
    return tree;
  }
  return parseYamlText(file, text, env);
}

/** Parse job-file text (exported for tests that keep their YAML inline). */
export function parseYamlText(file: string, text: string, env: NodeJS.ProcessEnv): YamlTree {
  const tree = emptyTree(file);
  const lineCounter = tree.lineCounter;
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    tree.problems.push(...syntaxProblems(file, text, doc, lineCounter));
    return tree;
  }
  new TreeBuilder(tree, doc, text, env).build();
  return tree;
}

function emptyTree(file: string): YamlTree {
  return { file, data: undefined, nodes: new Map(), suppressed: new Set(), problems: [], lineCounter: new LineCounter() };
}

function describeFsError(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'no such file';
  if (code === 'EISDIR') return 'it is a directory, not a file';
  if (code === 'EACCES') return 'permission denied';
  return error instanceof Error ? error.message : String(error);
}

/** YAML parse errors, reworded where the library's wording does not say what to do. */
function syntaxProblems(file: string, text: string, doc: Document, lineCounter: LineCounter): ConfigProblem[] {
  const lines = text.split(/\r?\n/);
  const problems: ConfigProblem[] = [];
  let structureBroken = false;
  for (const error of doc.errors) {
    const { line, col } = lineCounter.linePos(error.pos[0]);
    // After one structural error (unclosed bracket, bad indent) the parser misreads the rest of the
    // file, so later structural errors are echoes; tabs, duplicate keys and the like stand on their own.
    const structural = !INDEPENDENT_ERRORS.has(error.code);
    if (structural && structureBroken) continue;
    structureBroken ||= structural;
    const lineText = lines[line - 1] ?? '';
    let message: string;
    switch (error.code) {
      case 'TAB_AS_INDENT':
        message = 'tab used for indentation; YAML indents with spaces only';
        break;
      case 'DUPLICATE_KEY': {
        const key = /^\s*(?:-\s+)?("[^"]*"|'[^']*'|[^:#]+?)\s*:/.exec(lineText.slice(Math.max(0, col - 1)))?.[1] ?? '';
        message = key === '' ? 'field written twice in the same map; keep one' : `field '${key}' is written twice in the same map; keep one`;
        break;
      }
      case 'MULTIPLE_DOCS':
        message = "a job file holds one YAML document: remove the '---' separator, or put each job in its own file";
        break;
      default:
        message = `YAML syntax error: ${lowerFirst(error.message)}`;
        if (/\$\{/.test(lineText) && /[{[]/.test(lineText)) {
          message += " (inside { } or [ ], quote values that contain ${...}, e.g. \"${VAR:-default}\")";
        }
    }
    problems.push({ file, line, col, message });
  }
  return problems;
}

const INDEPENDENT_ERRORS = new Set<string>(['TAB_AS_INDENT', 'DUPLICATE_KEY', 'MULTIPLE_DOCS', 'BAD_ALIAS', 'BAD_DIRECTIVE', 'TAG_RESOLVE_FAILED']);

function lowerFirst(text: string): string {
  return text.length > 0 && !/^[A-Z]{2}/.test(text) ? text[0].toLowerCase() + text.slice(1) : text;
}

class TreeBuilder {
  constructor(
    private readonly tree: YamlTree,
    private readonly doc: Document,
    private readonly text: string,
    private readonly env: NodeJS.ProcessEnv,
  ) {}

  build(): void {
    const contents = this.doc.contents as YamlNode | null;
    if (contents === null) {
      this.tree.nodes.set('', { value: { line: 1, col: 1 } });
      this.tree.data = null;
      return;
    }
    this.tree.data = this.walk(contents, '', undefined, new Set());
  }

  private position(node: YamlNode | null | undefined): Position | undefined {
    const offset = node?.range?.[0];
    return offset === undefined ? undefined : this.tree.lineCounter.linePos(offset);
  }

  private problem(at: Position, message: string): void {
    this.tree.problems.push({ file: this.tree.file, line: at.line, col: at.col, message });
  }

  private walk(node: YamlNode, pointer: string, key: Position | undefined, resolving: Set<YamlNode>): unknown {
    const at = this.position(node) ?? key ?? { line: 1, col: 1 };
    if (isAlias(node)) {
      const target = node.resolve(this.doc) as YamlNode | undefined;
      if (target === undefined || resolving.has(target)) {
        this.tree.nodes.set(pointer, { value: at, key });
        this.tree.suppressed.add(pointer);
        this.problem(at, `alias '*${node.source}' has no matching anchor '&${node.source}' before it`);
        return null;
      }
      resolving.add(target);
      // Positions of an alias' contents are those of its anchor: that is where the text is.
      const value = this.walk(target, pointer, key, resolving);
      resolving.delete(target);
      this.tree.nodes.set(pointer, { ...this.tree.nodes.get(pointer)!, value: at, key });
      return value;
    }
    if (isMap(node)) {
      this.tree.nodes.set(pointer, { value: at, key });
      const result: Record<string, unknown> = {};
      for (const pair of node.items) {
        const keyNode = pair.key as YamlNode | null;
        const keyAt = this.position(keyNode) ?? at;
        if (!isScalar(keyNode)) {
          this.problem(keyAt, 'map keys must be plain names, not lists or maps');
          continue;
        }
        const name = typeof keyNode.value === 'string' ? keyNode.value : (keyNode.source ?? String(keyNode.value));
        const child = childPointer(pointer, name);
        const valueNode = pair.value as YamlNode | null;
        // `key:` with nothing after it is a null value positioned at its key.
        const value = valueNode === null ? null : this.walk(valueNode, child, keyAt, resolving);
        if (valueNode === null) this.tree.nodes.set(child, { value: keyAt, key: keyAt });
        // defineProperty: a key named __proto__ must stay data, not replace the prototype.
        Object.defineProperty(result, name, { value, enumerable: true, writable: true, configurable: true });
      }
      return result;
    }
    if (isSeq(node)) {
      this.tree.nodes.set(pointer, { value: at, key });
      return node.items.map((item, index) => {
        const child = childPointer(pointer, index);
        if (item === null) {
          this.tree.nodes.set(child, { value: at });
          return null;
        }
        return this.walk(item as YamlNode, child, undefined, resolving);
      });
    }
    if (isScalar(node)) return this.scalar(node, pointer, at, key);
    this.tree.nodes.set(pointer, { value: at, key });
    return null;
  }

  private scalar(node: Scalar, pointer: string, at: Position, key: Position | undefined): unknown {
    const range = node.range ?? [0, 0, 0];
    const entry: NodeEntry = { value: at, key };
    this.tree.nodes.set(pointer, entry);
    let value: unknown = node.value;
    if (value instanceof Date) value = value.toISOString();
    if (typeof value !== 'string') return value;
    entry.scalar = { text: value, raw: this.text.slice(range[0], range[1]), offset: range[0], type: node.type, substituted: false };
    const result = substituteEnv(value, this.env);
    if (!result.ok) {
      this.tree.suppressed.add(pointer);
      for (const problem of result.problems) this.problem(offsetPosition(this.tree, entry, problem.index), problem.message);
      return value;
    }
    if (!result.changed) return value;
    entry.scalar.substituted = true;
    return node.type === 'PLAIN' ? resolvePlain(result.value) : result.value;
  }
}

/**
 * After substitution an unquoted value is typed as if written literally, so
 * `count: ${N:-10}` is the integer 10 and `stopAtEnd: ${STOP:-false}` a boolean.
 */
function resolvePlain(text: string): unknown {
  if (text.trim() === '') return text;
  const doc = parseDocument(text, { prettyErrors: false });
  if (doc.errors.length > 0 || doc.warnings.length > 0 || !isScalar(doc.contents)) return text;
  const value = doc.contents.value;
  return typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean' || value === null ? value : text;
}

/**
 * Where character `index` of a string scalar's value was written. Escapes,
 * doubled quotes and folded line breaks make value and source offsets differ,
 * so walk both together; fall back to the scalar's start when they diverge
 * (e.g. after `${VAR}` substitution).
 */
export function offsetPosition(tree: YamlTree, entry: NodeEntry, index: number): Position {
  const scalar = entry.scalar;
  if (scalar === undefined) return entry.value;
  if (index <= 0) return startOfText(tree, entry);
  if (scalar.substituted) return entry.value;
  const { raw, type } = scalar;
  let j = 0;
  if (type === 'QUOTE_DOUBLE' || type === 'QUOTE_SINGLE') j = 1;
  else if (type === 'BLOCK_LITERAL' || type === 'BLOCK_FOLDED') j = raw.indexOf('\n') + 1;
  const value = scalar.text;
  let i = 0;
  while (i < index && j < raw.length) {
    const c = raw[j];
    if (type === 'QUOTE_DOUBLE' && c === '\\') {
      const escaped = raw[j + 1];
      if (escaped === '\n' || escaped === '\r') {
        j += 2;
        while (raw[j] === ' ' || raw[j] === '\t') j++;
        continue;
      }
      j += escaped === 'x' ? 4 : escaped === 'u' ? 6 : escaped === 'U' ? 10 : 2;
      i++;
      continue;
    }
    if (type === 'QUOTE_SINGLE' && c === "'" && raw[j + 1] === "'") {
      j += 2;
      i++;
      continue;
    }
    if (c === value[i]) {
      i++;
      j++;
      continue;
    }
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      j++;
      continue;
    }
    if (value[i] === ' ' || value[i] === '\n') {
      i++;
      continue;
    }
    return entry.value;
  }
  return tree.lineCounter.linePos(scalar.offset + j);
}

function startOfText(tree: YamlTree, entry: NodeEntry): Position {
  const scalar = entry.scalar!;
  if (scalar.type === 'QUOTE_DOUBLE' || scalar.type === 'QUOTE_SINGLE') return tree.lineCounter.linePos(scalar.offset + 1);
  return entry.value;
}
