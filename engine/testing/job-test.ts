import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { VirtualTimeScheduler } from 'rxjs';
import { parse as parseYaml } from 'yaml';
import type { JobDefinition } from '../api/define-job';
import { decodeJsonLine } from '../codecs/jsonl';
import { parseDuration } from '../config/duration';
import type { JobSpec } from '../config/job';
import { loadJobFile } from '../jobfile/load';
import type { RawBatch, Row } from '../core/batch';
import { DecodeError, UsageError } from '../core/errors';
import type { DeadLetter } from '../core/operator';
import type { Positions, Source } from '../core/source';
import { assemble } from '../jobfile/assemble';
import { DEAD_LETTERS, LATE, runJob, type RunResult } from '../runtime/run-job';
import { toJsonLine } from '../sinks/format';
import { MemorySink } from '../sinks/memory-sink';
import { fileSource } from '../sources/local-sources';
import { MemoryCheckpointStore } from '../state/memory-checkpoint-store';

/**
 * A test driver for jobs, as Kafka Streams' TopologyTestDriver is for
 * topologies: a job runs against input files and its outputs are compared
 * with expected files, in virtual time, without servers.
 *
 * Layout, beside the job file `jobs/tides-lunar-day.yaml`:
 *
 *   jobs/tides-lunar-day.test/
 *     <case>/                        one directory per case (or the files directly here: one case)
 *       input.jsonl                  records in arrival order (.csv and .avro inputs work too)
 *       expected.jsonl               the result rows, exactly
 *       expected-dead-letters.jsonl  optional: dead letters (only the fields given are compared)
 *       expected-late.jsonl          optional: late records (only the fields given are compared)
 *       case.yaml                    optional: description, batchSize, tolerance, closeAtEnd
 *
 * In a JSONL input, a record may name its source partition (`"$partition": "p1"`)
 * and a line `{"$wait": "2m"}` lets that much wall-clock time pass with no
 * records (idle partitions, a quiet stream, processing-time timers).
 */

/** What a case may set in its `case.yaml`. */
export interface CaseSettings {
  description?: string;
  /** Records per batch (default 1000): results must not depend on it. */
  batchSize?: number;
  /** Relative tolerance for numbers (default 1e-9). */
  tolerance?: number;
  /** End of input closes every window (default true); false stops the job as a stop request does. */
  closeAtEnd?: boolean;
}

/** One output's comparison. */
export interface OutputComparison {
  output: 'results' | 'dead letters' | 'late records';
  expected: number;
  actual: number;
  /** Expected rows no actual row matched, each with its closest actual row and the fields that differ. */
  mismatched: Array<{ expected: Record<string, unknown>; closest?: Record<string, unknown>; fields: string[] }>;
  /** Actual rows no expected row matched. */
  unexpected: Array<Record<string, unknown>>;
}

export interface CaseResult {
  name: string;
  description?: string;
  passed: boolean;
  outputs: OutputComparison[];
  counters: RunResult['counters'];
}

export interface JobTestReport {
  job: string;
  passed: boolean;
  cases: CaseResult[];
}

/**
 * Runs every case of a job's tests (`<job>.test/` beside the job file, or
 * `casesDir`) and compares outputs. Throws UsageError when there are no
 * cases or a case lacks its input or expected file.
 *
 * @example
 *   const report = await testJob('jobs/tides-lunar-day.yaml');
 *   if (!report.passed) console.error(formatTestReport(report));
 */
export async function testJob(job: string | JobDefinition, options: { casesDir?: string } = {}): Promise<JobTestReport> {
  const definition = typeof job === 'string' ? null : job;
  const spec = typeof job === 'string' ? loadJobFile(job) : job.spec;
  const casesDir = options.casesDir ?? (typeof job === 'string' ? join(dirname(job), `${basename(job).replace(/\.ya?ml$/i, '')}.test`) : undefined);
  if (casesDir === undefined) throw new UsageError(`job ${spec.job}: give the directory of its test cases (casesDir)`);
  const cases = findCases(casesDir);
  const results: CaseResult[] = [];
  for (const testCase of cases) results.push(await runCase(spec, definition, testCase));
  return { job: spec.job, passed: results.every((result) => result.passed), cases: results };
}

interface TestCase {
  name: string;
  dir: string;
  input: string;
  settings: CaseSettings;
}

function findCases(dir: string): TestCase[] {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new UsageError(`no test cases: ${dir} does not exist (a directory of cases, each with input.jsonl and expected.jsonl)`);
  }
  const asCase = (caseDir: string, name: string): TestCase | null => {
    const input = readdirSync(caseDir).find((file) => /^input\.(jsonl|json|csv|avro)$/i.test(file));
    if (input === undefined) return null;
    if (!existsSync(join(caseDir, 'expected.jsonl'))) throw new UsageError(`test case ${caseDir}: ${input} but no expected.jsonl`);
    const settingsFile = join(caseDir, 'case.yaml');
    const settings = existsSync(settingsFile) ? ((parseYaml(readFileSync(settingsFile, 'utf8')) ?? {}) as CaseSettings) : {};
    return { name, dir: caseDir, input: join(caseDir, input), settings };
  };
  const here = asCase(dir, basename(dir));
  if (here !== null) return [here];
  const cases = readdirSync(dir)
    .sort()
    .map((entry) => join(dir, entry))
    .filter((entry) => statSync(entry).isDirectory())
    .map((entry) => asCase(entry, basename(entry)))
    .filter((testCase): testCase is TestCase => testCase !== null);
  if (cases.length === 0) throw new UsageError(`no test cases in ${dir}: each case is a directory with input.jsonl and expected.jsonl`);
  return cases;
}

/** What the test source delivers: batches of one partition, and pauses of wall-clock time. */
type InputItem = { kind: 'batch'; batch: RawBatch } | { kind: 'wait'; ms: number };

async function runCase(spec: JobSpec, definition: JobDefinition | null, testCase: TestCase): Promise<CaseResult> {
  const batchSize = testCase.settings.batchSize ?? 1000;
  const items = await readInput(testCase.input, spec, batchSize);
  const scheduler = new VirtualTimeScheduler();
  const parts = await assemble(spec, { input: testCase.input, output: 'null', batchSize });
  parts.source = new ScriptedSource(items, scheduler, testCase.settings.closeAtEnd !== false);
  const main = new MemorySink();
  const late = new MemorySink();
  const deadLetters = new MemorySink();
  for (const name of parts.sinks.keys()) parts.sinks.set(name, name === LATE ? late : name === DEAD_LETTERS ? deadLetters : name === 'main' ? main : new MemorySink());
  parts.checkpoints = new MemoryCheckpointStore();
  if (definition !== null) parts.operators = definition.operators;
  const stop = new AbortController();
  (parts.source as ScriptedSource).onStop = () => stop.abort();
  const result = await runJob(parts, { scheduler, signal: stop.signal });
  const timestampFields = new Set([spec.eventTime.field]);
  const asJson = (rows: Row[]) => rows.map((row) => JSON.parse(toJsonLine(row, timestampFields)) as Record<string, unknown>);
  const tolerance = testCase.settings.tolerance ?? 1e-9;
  const outputs = [compare('results', readExpected(join(testCase.dir, 'expected.jsonl')), asJson(main.rows), tolerance, true)];
  for (const [output, file, sink] of [
    ['dead letters', 'expected-dead-letters.jsonl', deadLetters],
    ['late records', 'expected-late.jsonl', late],
  ] as const) {
    const path = join(testCase.dir, file);
    if (existsSync(path)) outputs.push(compare(output, readExpected(path), asJson(sink.rows), tolerance, false));
  }
  return {
    name: testCase.name,
    description: testCase.settings.description,
    passed: outputs.every((output) => output.mismatched.length === 0 && output.unexpected.length === 0),
    outputs,
    counters: result.counters,
  };
}

/** Records in arrival order as batches of one partition each (consecutive records of a partition, up to `batchSize`). */
async function readInput(path: string, spec: JobSpec, batchSize: number): Promise<InputItem[]> {
  if (!/\.jsonl?$/i.test(path)) {
    // CSV and Avro files: as the file source reads them, in one partition.
    const items: InputItem[] = [];
    const source = fileSource({ path, batchSize });
    for await (const batch of source.batches({})) items.push({ kind: 'batch', batch });
    return items;
  }
  const items: InputItem[] = [];
  // A record's offset is its line's index in the file: offsets of a partition rise with gaps (as Kafka's may),
  // and dead letters give the line a person finds it on.
  let current: { partition: string; rows: Row[]; offsets: number[]; received: string[]; deadLetters: DeadLetter[]; last: number } | null = null;
  const flush = () => {
    if (current === null) return;
    const { partition, rows, offsets, received, deadLetters, last } = current;
    const from = Math.min(offsets[0] ?? last, deadLetters[0]?.offset ?? last);
    items.push({
      kind: 'batch',
      batch: { rows, offsets: Float64Array.from(offsets), source: { partition, fromOffset: from, toOffset: last + 1 }, deadLetters, received, lineOfOffsetZero: 1 },
    });
    current = null;
  };
  readFileSync(path, 'utf8')
    .split('\n')
    .forEach((line, index) => {
      if (line.trim() === '') return;
      let partition = 'input';
      let text = line;
      let parsed: unknown;
      try {
        parsed = JSON.parse(line);
      } catch {
        // Not JSON: the decoder says so below, as a dead letter.
      }
      if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) {
        const record = parsed as Record<string, unknown>;
        if ('$wait' in record) {
          const ms = parseDuration(String(record.$wait));
          if (ms === null) throw new UsageError(`${path}:${index + 1}: $wait must be a duration such as 2m, got ${JSON.stringify(record.$wait)}`);
          flush();
          items.push({ kind: 'wait', ms });
          return;
        }
        if (typeof record.$partition === 'string') {
          partition = record.$partition;
          delete record.$partition;
          text = JSON.stringify(record);
        }
      }
      if (current !== null && (current.partition !== partition || current.rows.length + current.deadLetters.length >= batchSize)) flush();
      current ??= { partition, rows: [], offsets: [], received: [], deadLetters: [], last: index };
      current.last = index;
      try {
        current.rows.push(decodeJsonLine(text, spec.eventTime.field));
        current.offsets.push(index);
        current.received.push(line);
      } catch (error) {
        if (!(error instanceof DecodeError)) throw error;
        current.deadLetters.push({ payload: line, reason: error.message, partition, offset: index, line: index + 1, stage: 'decode' });
      }
    });
  flush();
  return items;
}

/**
 * Hands over the input's batches one at a time and lets virtual wall-clock
 * time pass at each `$wait`, once the batches before it went through.
 */
class ScriptedSource implements Source {
  readonly description = 'test input';
  onStop: () => void = () => {};
  private ended = false;

  constructor(
    private readonly items: InputItem[],
    private readonly scheduler: VirtualTimeScheduler,
    private readonly closeAtEnd: boolean,
  ) {}

  batches(_from: Positions): AsyncIterable<RawBatch> {
    let next = 0;
    // Every partition is known from the start, as a Kafka source announces them.
    const partitions = [...new Set(this.items.flatMap((item) => (item.kind === 'batch' ? [item.batch.source.partition] : [])))];
    const announcements: RawBatch[] = partitions.map((partition) => ({ rows: [], offsets: new Float64Array(0), source: { partition, fromOffset: 0, toOffset: 0 } }));
    return {
      [Symbol.asyncIterator]: () => ({
        next: async (): Promise<IteratorResult<RawBatch>> => {
          const announcement = announcements.shift();
          if (announcement) return { value: announcement, done: false };
          while (next < this.items.length && !this.ended) {
            const item = this.items[next++];
            if (item.kind === 'batch') return { value: item.batch, done: false };
            await settle();
            this.scheduler.maxFrames = this.scheduler.now() + item.ms;
            this.scheduler.flush();
            await settle();
          }
          if (!this.closeAtEnd && !this.ended) {
            // Stop as a stop request would: windows stay open.
            this.onStop();
          }
          return { value: undefined, done: true };
        },
        return: async () => {
          this.ended = true;
          return { value: undefined, done: true };
        },
      }),
    };
  }

  async close(): Promise<void> {
    this.ended = true;
  }
}

/** Lets the dataflow's pending work run (sink writes, the next read). */
async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

function readExpected(path: string): Array<Record<string, unknown>> {
  return readFileSync(path, 'utf8')
    .split('\n')
    .map((line, index) => ({ line, index }))
    .filter(({ line }) => line.trim() !== '')
    .map(({ line, index }) => {
      try {
        return JSON.parse(line) as Record<string, unknown>;
      } catch (error) {
        throw new UsageError(`${path}:${index + 1}: not JSON: ${(error as Error).message}`);
      }
    });
}

/**
 * Expected rows against actual rows, in any order. `whole`: every field must
 * match and none may be extra; otherwise only the expected rows' fields count.
 */
function compare(output: OutputComparison['output'], expected: Array<Record<string, unknown>>, actual: Array<Record<string, unknown>>, tolerance: number, whole: boolean): OutputComparison {
  const remaining = [...actual];
  const mismatched: OutputComparison['mismatched'] = [];
  const unmatched: Array<Record<string, unknown>> = [];
  for (const row of expected) {
    const index = remaining.findIndex((candidate) => differingFields(row, candidate, tolerance, whole).length === 0);
    if (index >= 0) remaining.splice(index, 1);
    else unmatched.push(row);
  }
  // Each expected row that matched none, beside the left-over actual row closest to it.
  for (const row of unmatched) {
    let best = -1;
    let fewest = Infinity;
    remaining.forEach((candidate, index) => {
      const count = differingFields(row, candidate, tolerance, whole).length;
      if (count < fewest) {
        fewest = count;
        best = index;
      }
    });
    const closest = best >= 0 && fewest < Object.keys(row).length ? remaining.splice(best, 1)[0] : undefined;
    mismatched.push({ expected: row, closest, fields: closest === undefined ? [] : differingFields(row, closest, tolerance, whole) });
  }
  return { output, expected: expected.length, actual: actual.length, mismatched, unexpected: remaining };
}

function differingFields(expected: Record<string, unknown>, actual: Record<string, unknown>, tolerance: number, whole: boolean): string[] {
  const fields = whole ? new Set([...Object.keys(expected), ...Object.keys(actual)]) : new Set(Object.keys(expected));
  return [...fields].filter((field) => !sameValue(expected[field], actual[field], tolerance));
}

function sameValue(expected: unknown, actual: unknown, tolerance: number): boolean {
  if (typeof expected === 'number' && typeof actual === 'number') {
    return expected === actual || Math.abs(expected - actual) <= tolerance * Math.max(1, Math.abs(expected), Math.abs(actual));
  }
  if (expected !== null && actual !== null && typeof expected === 'object' && typeof actual === 'object') {
    return differingFields(expected as Record<string, unknown>, actual as Record<string, unknown>, tolerance, false).length === 0;
  }
  return expected === actual;
}

/**
 * The report as a reader wants it: one line per case, and for a failing case
 * each output's missing, unexpected and differing rows, differing fields
 * shown as `field: expected -> actual`.
 */
export function formatTestReport(report: JobTestReport): string {
  const lines: string[] = [];
  for (const result of report.cases) {
    lines.push(`${result.passed ? 'ok  ' : 'FAIL'} ${report.job} / ${result.name}${result.description ? ` — ${result.description}` : ''}`);
    if (result.passed) continue;
    for (const output of result.outputs) {
      if (output.mismatched.length === 0 && output.unexpected.length === 0) continue;
      lines.push(`     ${output.output}: ${output.expected} expected, ${output.actual} produced`);
      for (const { expected, closest, fields } of output.mismatched) {
        if (closest === undefined) lines.push(`       - missing    ${JSON.stringify(expected)}`);
        else {
          lines.push(`       ~ differs    ${JSON.stringify(expected)}`);
          for (const field of fields) lines.push(`                    ${field}: ${JSON.stringify(expected[field])} -> ${JSON.stringify(closest[field])}`);
        }
      }
      for (const row of output.unexpected) lines.push(`       + unexpected ${JSON.stringify(row)}`);
    }
  }
  const failed = report.cases.filter((result) => !result.passed).length;
  lines.push(failed === 0 ? `${report.cases.length} case${report.cases.length === 1 ? '' : 's'} passed` : `${failed} of ${report.cases.length} case${report.cases.length === 1 ? '' : 's'} failed`);
  return lines.join('\n');
}
