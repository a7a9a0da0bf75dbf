import { mkdir, open, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { ExternalError } from '../core/errors';
import type { Row } from '../core/batch';
import { toJsonLine } from './format';
import type { Sink, SinkOptions } from '../core/sink';
import type { ComponentContext, JsonSchema } from '../config/component';

/**
 * Appends one JSON object per line to a file.
 *
 * A file is not idempotent by key the way a Cassandra table is, so this sink
 * takes part in checkpoints with its length: `flush` fsyncs and records the
 * length; on restart `open(resume)` truncates the file back to the length of
 * the last checkpoint, and the replayed epoch writes the same lines again.
 * The file after a crash and recovery is byte-identical to an uninterrupted run.
 */
export class JsonlSink implements Sink {
  readonly description: string;
  private file: FileHandle | null = null;
  private pending: string[] = [];
  private pendingBytes = 0;
  private length = 0;
  private rowsWritten = 0;

  constructor(
    private readonly path: string,
    private readonly options: SinkOptions,
  ) {
    this.description = `JSONL file ${path}`;
  }

  async open(resume?: unknown): Promise<void> {
    await mkdir(dirname(this.path), { recursive: true });
    const resumeLength = typeof resume === 'object' && resume !== null ? (resume as { length?: number }).length : undefined;
    try {
      if (resumeLength === undefined) {
        this.file = await open(this.path, 'w');
        this.length = 0;
      } else {
        this.file = await open(this.path, 'r+').catch(() => open(this.path, 'w+'));
        await this.file.truncate(resumeLength);
        this.length = resumeLength;
      }
    } catch (error) {
      throw new ExternalError(`cannot open ${this.path} for writing: ${(error as Error).message}`, { retriable: false, cause: error });
    }
  }

  async write(rows: Row[]): Promise<void> {
    const fields = this.options.timestampFields;
    for (let i = 0; i < rows.length; i++) {
      const line = toJsonLine(rows[i], fields) + '\n';
      this.pending.push(line);
      this.pendingBytes += line.length;
    }
    this.rowsWritten += rows.length;
    // Bound memory between checkpoints: write through (without fsync) past 4 MiB.
    if (this.pendingBytes > 4 * 1024 * 1024) await this.writePending();
  }

  async flush(): Promise<void> {
    await this.writePending();
    await this.file?.sync();
  }

  position(): unknown {
    return { length: this.length };
  }

  get rows(): number {
    return this.rowsWritten;
  }

  async close(): Promise<void> {
    await this.flush();
    await this.file?.close();
    this.file = null;
  }

  private async writePending(): Promise<void> {
    if (this.pending.length === 0 || !this.file) return;
    const buffer = Buffer.from(this.pending.join(''), 'utf8');
    this.pending = [];
    this.pendingBytes = 0;
    await this.file.write(buffer, 0, buffer.length, this.length);
    this.length += buffer.length;
  }
}

// ---------------------------------------------------------------- job-file configuration

/**
 * JSONL sink: one JSON object per line, timestamps as ISO-8601 UTC strings.
 *
 * @example
 * sink:
 *   jsonl: { path: out/lunar-day.jsonl }
 */

export interface JsonlSinkConfig {
  path: string;
}

export const schema: JsonSchema = {
  title: 'jsonl sink',
  description: 'Appends rows to a file, one JSON object per line.',
  examples: [{ path: 'out/lunar-day.jsonl' }],
  type: 'object',
  required: ['path'],
  additionalProperties: false,
  properties: {
    path: { description: "Output file; relative to the job file's directory.", type: 'string', minLength: 1, examples: ['out/lunar-day.jsonl'] },
  },
};

/** Schema-validated YAML to the JobSpec form: defaults filled in, durations and timestamps in milliseconds. */
export function normalize(raw: JsonlSinkConfig, _context: ComponentContext): { path: string } {
  return { path: raw.path };
}
