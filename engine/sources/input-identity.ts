import { createHash } from 'node:crypto';
import { open, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { InputIdentity } from '../core/source';

/** Bytes hashed at each end of a file: enough to tell inputs apart without reading gigabytes at start-up. */
const HEAD_BYTES = 1 << 20;
const TAIL_BYTES = 64 << 10;

/**
 * A file's (or a directory of files') identity for its checkpoint: its size
 * and a hash of its first megabyte and last 64 KB, so the same data under
 * another path still resumes, and other data under the same path does not.
 *
 * @example
 *   await fileIdentity('data/bundled/tides.avro');
 *   // { what: 'file data/bundled/tides.avro (3,203,584 bytes)', fingerprint: 'file:3203584:9f2c…' }
 */
export async function fileIdentity(path: string): Promise<InputIdentity> {
  const info = await stat(path).catch(() => null);
  // Opening it reports a missing file properly; nothing to compare yet.
  if (info === null) return { what: `file ${path} (missing)`, fingerprint: `missing:${path}` };
  if (!info.isDirectory()) {
    const hash = await contentHash(path, info.size);
    return { what: `file ${path} (${info.size.toLocaleString('en-US')} bytes)`, fingerprint: `file:${info.size}:${hash}` };
  }
  const names = (await readdir(path)).sort();
  const hash = createHash('sha256');
  let bytes = 0;
  for (const name of names) {
    const file = join(path, name);
    const entry = await stat(file);
    if (!entry.isFile()) continue;
    bytes += entry.size;
    hash.update(`${name}\0${entry.size}\0${await contentHash(file, entry.size)}\0`);
  }
  return { what: `directory ${path} (${names.length} files, ${bytes.toLocaleString('en-US')} bytes)`, fingerprint: `directory:${hash.digest('hex')}` };
}

async function contentHash(path: string, size: number): Promise<string> {
  const hash = createHash('sha256');
  const file = await open(path, 'r');
  try {
    const head = Buffer.alloc(Math.min(size, HEAD_BYTES));
    await file.read(head, 0, head.length, 0);
    hash.update(head);
    if (size > HEAD_BYTES) {
      const tail = Buffer.alloc(Math.min(size - HEAD_BYTES, TAIL_BYTES));
      await file.read(tail, 0, tail.length, size - tail.length);
      hash.update(tail);
    }
  } finally {
    await file.close();
  }
  return hash.digest('hex').slice(0, 32);
}

/** A source configured by its spec alone (the generator): the spec is the input. */
export function specIdentity(kind: string, what: string, spec: unknown): InputIdentity {
  return { what, fingerprint: `${kind}:${createHash('sha256').update(JSON.stringify(spec)).digest('hex').slice(0, 32)}` };
}
