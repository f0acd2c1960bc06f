import { randomUUID } from 'node:crypto';
import { readFile, type Dirent } from 'node:fs';
import * as fsp from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { resolveByteRange } from './byte-range.js';
import { DelegatedUploads } from './delegated-uploads.js';
import { FileObjectWriter } from './file-object-writer.js';
import { FileUploads } from './file-uploads.js';
import { processBufferPool, type BufferPool } from '@pullthrough/egress';
import { FileReadStream } from './file-read-stream.js';
import { SharedReads } from './shared-reads.js';
import { DEFAULT_READ_SIZER, ReadSizer, type ReadSizerOptions } from './read-sizer.js';
import type { ByteRange, CreateWriterOptions, ObjectEntry, ObjectInfo, ObjectWriter, PutContentOptions, StorageDriver } from './storage-driver.js';
import { StoragePathError, UPLOADS_AREA, storagePathSegments } from './storage-path.js';

export interface FilesystemDriverOptions {
  /** Read sizes of object streams (see ReadSizer). */
  reads?: ReadSizerOptions;
  /** Where read buffers come from and wait for reuse (BufferPool). Default: the process's pool, shared with the upstream blob reader's slabs. */
  buffers?: BufferPool;
}

/** "Not there" errors: a missing file, or a file where a directory was expected. */
const MISSING = new Set(['ENOENT', 'ENOTDIR']);

function isMissing(err: unknown): boolean {
  return MISSING.has((err as NodeJS.ErrnoException | null)?.code ?? '');
}

/**
 * The callback `fs.readFile`: on the manifest-hit path (three small reads per request) it takes
 * about half the CPU of `fs/promises` readFile, which adds a promise round trip per open/fstat/read/close.
 */
function readWholeFile(file: string): Promise<Buffer> {
  return new Promise((resolve, reject) => readFile(file, (err, data) => (err ? reject(err) : resolve(data))));
}

/** A new file (`wx`) with `data`, flushed to disk. A private one is 0600 from its creation (never readable by others, not even briefly); rename and link keep the mode. */
async function writeSynced(file: string, data: Buffer, owned = false): Promise<void> {
  const handle = await fsp.open(file, 'wx', owned ? 0o600 : 0o666);
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * StorageDriver over a local directory. Objects are files, prefixes are directories (pruned
 * when they become empty, so they behave like object-store prefixes). Temporary objects live in
 * `<root>/_uploads/` and are linked or renamed into place, so the uploads area must be on the
 * same filesystem as the objects (it is: same root).
 */
export class FilesystemDriver extends DelegatedUploads implements StorageDriver {
  readonly root: string;
  private readonly uploadsDir: string;
  /** The root with a trailing separator: every object path starts with it. */
  private readonly rootPrefix: string;
  private uploadsReady: Promise<void> | undefined;
  private readonly reads: ReadSizer;
  private readonly buffers: BufferPool;
  /**
   * Blocks of stored files being sent, shared by responses sending the same file in step. Keyed by the
   * file's device, inode, size and modification time: objects are written to new files and renamed or
   * linked into place, never changed in place, and an inode is not reused while a response sending it
   * holds it open.
   */
  readonly sharedReads: SharedReads;
  /** Resumable uploads (`_uploads/<id>/`): DelegatedUploads hands them to it. */
  protected readonly uploads: FileUploads;

  constructor(root: string, options: FilesystemDriverOptions = {}) {
    super();
    const reads = options.reads ?? DEFAULT_READ_SIZER;
    this.reads = new ReadSizer(reads);
    this.buffers = options.buffers ?? processBufferPool();
    this.sharedReads = new SharedReads(this.buffers, reads.max);
    this.root = resolve(root);
    this.uploadsDir = join(this.root, UPLOADS_AREA);
    this.rootPrefix = this.root.endsWith(sep) ? this.root : this.root + sep;
    this.uploads = new FileUploads(this.uploadsDir, () => this.newTempPath(), (path) => this.resolvePath(path));
  }

  async stat(path: string): Promise<ObjectInfo | undefined> {
    const file = this.resolvePath(path);
    try {
      const st = await fsp.stat(file);
      return st.isFile() ? { size: st.size, modifiedAt: new Date(st.mtimeMs) } : undefined;
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw err;
    }
  }

  async getContent(path: string): Promise<Buffer | undefined> {
    const file = this.resolvePath(path);
    try {
      return await readWholeFile(file);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (isMissing(err) || code === 'EISDIR') return undefined;
      throw err;
    }
  }

  async putContent(path: string, data: Buffer, options: PutContentOptions = {}): Promise<void> {
    const target = this.resolvePath(path);
    const temp = await this.newTempPath();
    try {
      await writeSynced(temp, data, options.private);
      await options.after;
      await this.withParent(target, () => fsp.rename(temp, target));
    } catch (err) {
      await fsp.rm(temp, { force: true });
      throw err;
    }
  }

  async createContent(path: string, data: Buffer, options: Pick<PutContentOptions, 'private'> = {}): Promise<boolean> {
    const target = this.resolvePath(path);
    const temp = await this.newTempPath();
    try {
      await writeSynced(temp, data, options.private);
      // A hard link, unlike rename, fails (EEXIST) when the target exists: the complete file appears, or nothing.
      await this.withParent(target, () => fsp.link(temp, target));
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw err;
    } finally {
      await fsp.rm(temp, { force: true });
    }
  }

  async createReadStream(path: string, range?: ByteRange): Promise<Readable | undefined> {
    const file = this.resolvePath(path);
    let handle: fsp.FileHandle;
    try {
      handle = await fsp.open(file, 'r');
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw err;
    }
    try {
      const st = await handle.stat();
      if (!st.isFile()) {
        await handle.close();
        return undefined;
      }
      const bounds = range ? resolveByteRange(range, st.size) : { start: 0, end: st.size - 1 };
      const read = this.reads.acquire();
      const shared = { reads: this.sharedReads, file: `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}`, fileSize: st.size };
      return new FileReadStream(handle, { ...bounds, chunkSize: read.size, readSize: read.current, pool: this.buffers, onClose: read.release, shared });
    } catch (err) {
      await handle.close();
      throw err;
    }
  }

  async createWriter(options: CreateWriterOptions = {}): Promise<ObjectWriter> {
    if (options.path !== undefined) this.resolvePath(options.path);
    const temp = await this.newTempPath();
    const handle = await fsp.open(temp, 'wx');
    return new FileObjectWriter(handle, temp, (path) => this.resolvePath(path), options.path);
  }

  async list(prefix: string): Promise<string[]> {
    const segments = storagePathSegments(prefix, { allowRoot: true });
    try {
      const names = await fsp.readdir(join(this.root, ...segments));
      const visible = segments.length === 0 ? names.filter((n) => n !== UPLOADS_AREA) : names;
      return visible.sort();
    } catch (err) {
      if (isMissing(err)) return [];
      throw err;
    }
  }

  async *walk(prefix: string): AsyncIterable<ObjectEntry> {
    const segments = storagePathSegments(prefix);
    // Depth first, one directory read at a time; entries removed meanwhile are skipped.
    const pending: string[][] = [segments];
    while (pending.length > 0) {
      const dir = pending.pop()!;
      let entries: Dirent[];
      try {
        entries = await fsp.readdir(join(this.root, ...dir), { withFileTypes: true });
      } catch (err) {
        if (isMissing(err)) continue;
        throw err;
      }
      for (const entry of entries) {
        const child = [...dir, entry.name];
        if (entry.isDirectory()) pending.push(child);
        else if (entry.isFile()) {
          const st = await fsp.stat(join(this.root, ...child)).catch(() => undefined);
          if (st?.isFile()) yield { path: child.join('/'), size: st.size, modifiedAt: new Date(st.mtimeMs) };
        }
      }
    }
  }

  async delete(path: string): Promise<void> {
    const target = this.resolvePath(path);
    await fsp.rm(target, { recursive: true, force: true });
    await this.pruneEmptyParents(dirname(target));
  }

  async purgeUploads(olderThanMs: number): Promise<number> {
    const cutoff = Date.now() - olderThanMs;
    let names: string[];
    try {
      names = await fsp.readdir(this.uploadsDir);
    } catch (err) {
      if (isMissing(err)) return 0;
      throw err;
    }
    let purged = 0;
    for (const name of names) {
      const file = join(this.uploadsDir, name);
      const st = await fsp.stat(file).catch(() => undefined);
      if (!st || st.mtimeMs > cutoff) continue;
      await fsp.rm(file, { recursive: true, force: true });
      purged++;
    }
    return purged;
  }

  /** Map a validated key to a file under the root (and check it really is under the root). */
  private resolvePath(path: string): string {
    const file = join(this.root, ...storagePathSegments(path));
    if (!file.startsWith(this.rootPrefix) || file.length === this.rootPrefix.length) {
      throw new StoragePathError('storage path escapes the root', { detail: { path: path.slice(0, 300) } });
    }
    return file;
  }

  private async newTempPath(): Promise<string> {
    this.uploadsReady ??= fsp.mkdir(this.uploadsDir, { recursive: true }).then(() => undefined);
    try {
      await this.uploadsReady;
    } catch (err) {
      this.uploadsReady = undefined;
      throw err;
    }
    return join(this.uploadsDir, randomUUID());
  }

  /** Run `place` after creating the target's parent; retry if a concurrent delete pruned it. */
  private async withParent(target: string, place: () => Promise<void>): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      await fsp.mkdir(dirname(target), { recursive: true });
      try {
        return await place();
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || attempt >= 5) throw err;
      }
    }
  }

  /** Remove now-empty directories up to (not including) the root, like object-store prefixes. */
  private async pruneEmptyParents(dir: string): Promise<void> {
    let current = dir;
    while (current.startsWith(this.rootPrefix) && current.length > this.rootPrefix.length) {
      try {
        await fsp.rmdir(current);
      } catch {
        return; // not empty, already gone, or busy: stop
      }
      current = dirname(current);
    }
  }
}
