import { randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import * as fsp from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { BlobUploadInvalidError, BlobUploadUnknownError, UploadRangeError } from '@pullthrough/oci';
import { GATHER_BYTES, placeWithoutReplacing } from './file-object-writer.js';
import type { ResumableUploads, UploadStatus } from './storage-driver.js';
import { checkUploadId } from './storage-path.js';

const INFO = 'info.json';
const PART = /^part-(\d{8})$/;
const partName = (index: number) => `part-${String(index).padStart(8, '0')}`;

const errno = (err: unknown): string | undefined => (err as NodeJS.ErrnoException | null)?.code;

interface Part {
  file: string;
  size: number;
}

/**
 * Resumable uploads on a filesystem: `_uploads/<id>/` holds `info.json` (the metadata) and one file
 * per chunk, `part-00000000`, `part-00000001`... A chunk is written to a temporary file, fsynced, and
 * hard-linked to the next part name: the link fails when that name exists, so of two chunks racing
 * for the same offset exactly one wins (also across processes sharing the directory), and a part
 * never changes once placed. The directory's mtime moves with every part, which is what
 * purgeUploads looks at. Commit links a single part into place (no copy), or concatenates parts.
 */
export class FileUploads implements ResumableUploads {
  constructor(
    /** `<root>/_uploads`. */
    private readonly uploadsDir: string,
    /** A fresh temporary file path in the uploads area (its directory exists). */
    private readonly newTempPath: () => Promise<string>,
    /** Storage key -> file, validated. */
    private readonly resolvePath: (path: string) => string,
  ) {}

  async createUpload(metadata: Record<string, string>): Promise<string> {
    const id = randomUUID();
    const temp = await this.newTempPath();
    await fsp.writeFile(temp, JSON.stringify(metadata), { flag: 'wx' });
    const dir = join(this.uploadsDir, id);
    try {
      await fsp.mkdir(dir);
      await fsp.rename(temp, join(dir, INFO));
    } catch (err) {
      await fsp.rm(temp, { force: true });
      throw err;
    }
    return id;
  }

  async statUpload(id: string): Promise<UploadStatus | undefined> {
    const dir = join(this.uploadsDir, checkUploadId(id));
    let raw: string;
    try {
      raw = await fsp.readFile(join(dir, INFO), 'utf8');
    } catch (err) {
      if (errno(err) === 'ENOENT' || errno(err) === 'ENOTDIR') return undefined;
      throw err;
    }
    const [parts, st] = await Promise.all([this.parts(dir), fsp.stat(dir)]);
    if (!parts) return undefined;
    return { size: parts.reduce((n, p) => n + p.size, 0), metadata: JSON.parse(raw) as Record<string, string>, updatedAt: new Date(st.mtimeMs) };
  }

  async appendUpload(id: string, offset: number, data: AsyncIterable<Uint8Array>): Promise<number> {
    const dir = join(this.uploadsDir, checkUploadId(id));
    const parts = await this.requireParts(dir, id);
    const size = parts.reduce((n, p) => n + p.size, 0);
    if (offset !== size) throw new UploadRangeError('chunk does not start at the end of the upload', { size, detail: { offset, size } });
    const temp = await this.newTempPath();
    let written = 0;
    try {
      written = await writeAll(temp, data);
      if (written === 0) return size;
      try {
        await fsp.link(temp, join(dir, partName(parts.length)));
      } catch (err) {
        if (errno(err) === 'ENOENT') throw new BlobUploadUnknownError('upload unknown (cancelled, finished or purged meanwhile)', { detail: { id } });
        if (errno(err) !== 'EEXIST') throw err;
        const now = (await this.parts(dir))?.reduce((n, p) => n + p.size, 0) ?? size;
        throw new UploadRangeError('another chunk was appended at this offset first', { size: now, detail: { offset, size: now } });
      }
      return size + written;
    } finally {
      await fsp.rm(temp, { force: true });
    }
  }

  async readUpload(id: string): Promise<Readable | undefined> {
    const parts = await this.parts(join(this.uploadsDir, checkUploadId(id)));
    if (!parts) return undefined;
    return Readable.from(concatenate(parts.map((p) => p.file)), { objectMode: false });
  }

  async commitUpload(id: string, path: string, size: number): Promise<void> {
    const target = this.resolvePath(path);
    const dir = join(this.uploadsDir, checkUploadId(id));
    const parts = await this.requireParts(dir, id);
    const total = parts.reduce((n, p) => n + p.size, 0);
    if (total !== size) throw new BlobUploadInvalidError('the upload changed while it was being finished', { detail: { expected: size, actual: total } });
    if (parts.length === 1) {
      await placeWithoutReplacing(parts[0]!.file, target);
    } else {
      const temp = await this.newTempPath();
      try {
        await writeAll(temp, concatenate(parts.map((p) => p.file)));
        await placeWithoutReplacing(temp, target);
      } finally {
        await fsp.rm(temp, { force: true });
      }
    }
    await this.deleteUpload(id);
  }

  async deleteUpload(id: string): Promise<void> {
    await fsp.rm(join(this.uploadsDir, checkUploadId(id)), { recursive: true, force: true });
  }

  private async requireParts(dir: string, id: string): Promise<Part[]> {
    const parts = await this.parts(dir);
    if (!parts) throw new BlobUploadUnknownError('upload unknown', { detail: { id } });
    return parts;
  }

  /** The upload's parts in order with their sizes; undefined when the upload does not exist. */
  private async parts(dir: string): Promise<Part[] | undefined> {
    let names: string[];
    try {
      names = await fsp.readdir(dir);
    } catch (err) {
      if (errno(err) === 'ENOENT' || errno(err) === 'ENOTDIR') return undefined;
      throw err;
    }
    if (!names.includes(INFO)) return undefined;
    const indexes = names.flatMap((n) => {
      const m = PART.exec(n);
      return m ? [Number(m[1])] : [];
    });
    indexes.sort((a, b) => a - b);
    const parts: Part[] = [];
    for (let i = 0; i < indexes.length && indexes[i] === i; i++) {
      const file = join(dir, partName(i));
      const st = await fsp.stat(file).catch(() => undefined);
      if (!st) return undefined; // deleted meanwhile
      parts.push({ file, size: st.size });
    }
    return parts;
  }
}

/** Write every chunk of `data` to a new file `file` (gathered into vectored writes), fsync, close; resolves to the bytes written. */
async function writeAll(file: string, data: AsyncIterable<Uint8Array>): Promise<number> {
  const handle = await fsp.open(file, 'wx');
  let written = 0;
  try {
    let batch: Uint8Array[] = [];
    let batchBytes = 0;
    const flush = async () => {
      let pending = batch;
      batch = [];
      batchBytes = 0;
      while (pending.length > 0) {
        const total = pending.reduce((n, b) => n + b.byteLength, 0);
        const { bytesWritten } = await handle.writev(pending);
        if (bytesWritten >= total) break;
        pending = skip(pending, bytesWritten);
      }
    };
    for await (const chunk of data) {
      if (chunk.byteLength === 0) continue;
      batch.push(chunk);
      batchBytes += chunk.byteLength;
      written += chunk.byteLength;
      if (batchBytes >= GATHER_BYTES) await flush();
    }
    await flush();
    await handle.sync();
  } finally {
    await handle.close();
  }
  return written;
}

function skip(buffers: Uint8Array[], count: number): Uint8Array[] {
  let rest = count;
  const out: Uint8Array[] = [];
  for (const b of buffers) {
    if (rest >= b.byteLength) rest -= b.byteLength;
    else {
      out.push(rest > 0 ? b.subarray(rest) : b);
      rest = 0;
    }
  }
  return out;
}

async function* concatenate(files: string[]): AsyncGenerator<Buffer> {
  for (const file of files) {
    for await (const chunk of createReadStream(file, { highWaterMark: 1024 * 1024 })) yield chunk as Buffer;
  }
}
