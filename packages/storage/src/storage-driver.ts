import type { Readable, Writable } from 'node:stream';

/** Metadata of a stored object. */
export interface ObjectInfo {
  size: number;
  modifiedAt: Date;
}

/** A byte range; `end` is inclusive (as in HTTP `Range: bytes=start-end`). */
export interface ByteRange {
  start: number;
  end: number;
}

/**
 * A temporary object being written. Nothing is visible at any committed path until `commit`.
 * Ending the stream (e.g. via `pipeline`) flushes it durably; `commit` ends it if needed.
 * A writer may hold written chunks until it flushes them in bigger writes: callers must not
 * modify a buffer after writing it (stream chunks from sockets and files never are).
 */
export interface ObjectWriter extends Writable {
  /** Bytes accepted so far. */
  readonly bytesWritten: number;
  /** The part of the temporary object written so far, when it can be read while the writer goes on (the filesystem's temporary file). */
  readonly writtenPrefix?: WrittenPrefix;
  /**
   * Atomically move the object to `path`. If `path` already exists it is kept and the temporary
   * object is dropped (content-addressed objects are immutable). Rejects after `abort`.
   */
  commit(path: string): Promise<void>;
  /** Drop the temporary object. Idempotent; a no-op after `commit`. */
  abort(): Promise<void>;
  /**
   * Set before the first write: `hook` is called with each written chunk once the writer is done with
   * its memory (its bytes are in the temporary object, or copied where the writer keeps them), so the caller
   * may reuse that memory; never for a chunk whose write failed. A hook that throws fails the writer. A
   * writer without it keeps no such record: a chunk written to it must never be reused.
   */
  onChunkDone?(hook: (chunk: Buffer) => void): void;
}

/**
 * The bytes of a temporary object written so far, from offset 0, readable while its writer goes on:
 * a reader that came after the bytes went by takes them from here.
 */
export interface WrittenPrefix {
  /** Bytes from offset 0 in the object now. */
  readonly bytes: number;
  /** Resolves true once `bytes` from offset 0 are in the object; false when the writer failed or was dropped first. */
  whenWritten(bytes: number): Promise<boolean>;
  /** A read handle of the temporary object, good until closed (after a commit or an abort too). Rejects once the object is gone. */
  open(): Promise<PrefixReader>;
}

/** Reads of a temporary object (WrittenPrefix.open): only the bytes WrittenPrefix says are written. */
export interface PrefixReader {
  /** Fill `buffer` from the object's offset `position`; the bytes read. */
  read(buffer: Buffer, position: number): Promise<number>;
  close(): Promise<void>;
}

/** One object found by `walk`: its full path and metadata. */
export interface ObjectEntry extends ObjectInfo {
  path: string;
}

export interface CreateWriterOptions {
  /**
   * The path `commit` will use, when known up front (a blob's content address). An object store
   * stages the data at its final name and commits it in place instead of copying it there;
   * committing to any other path rejects.
   */
  path?: string;
}

export interface PutContentOptions {
  /**
   * The object holds a secret (webhook secrets, keys, password files): readable by this process's
   * user only (mode 0600 on a filesystem). Object stores rely on their own access control.
   */
  private?: boolean;
  /**
   * The object is written (and flushed) at once but becomes visible only once this settles; when it
   * rejects nothing becomes visible and putContent rejects with its error. For an object that must
   * not appear before another one (a manifest's revision link before its data): both are written at
   * once, and the order of their appearance is kept.
   */
  after?: Promise<unknown>;
}

/** A resumable upload as stored: its bytes so far and what its creator attached to it. */
export interface UploadStatus {
  /** Bytes appended so far. */
  size: number;
  /** What `createUpload` was given (lowercase keys, printable ASCII values). */
  metadata: Record<string, string>;
  /** When the upload was created or last appended to: abandoned uploads are purged by it. */
  updatedAt: Date;
}

/**
 * Resumable uploads (the OCI push session's bytes), kept in the driver's uploads area so that any
 * process can continue one: append-only, one chunk at a time at the upload's current end. A chunk is
 * all or nothing (a failed or cut chunk leaves the upload as it was); a chunk that does not start at
 * the current end, or that loses a race with a concurrent chunk, throws UploadRangeError with the
 * current size. Content never changes once appended, so bytes verified once stay verified.
 * Unknown ids throw BlobUploadUnknownError (StoragePathError when not an id at all).
 */
export interface ResumableUploads {
  /** Start an empty upload; resolves to its id (a UUID). */
  createUpload(metadata: Record<string, string>): Promise<string>;
  /** Size, metadata and last change of an upload; undefined when there is none with this id. */
  statUpload(id: string): Promise<UploadStatus | undefined>;
  /** Append `data` at `offset` (must be the current size); resolves to the new size. */
  appendUpload(id: string, offset: number, data: AsyncIterable<Uint8Array>): Promise<number>;
  /** Stream the whole upload; undefined when there is none. */
  readUpload(id: string): Promise<Readable | undefined>;
  /**
   * Move exactly the upload's first `size` bytes (its whole content: throws BlobUploadInvalidError when
   * it has grown or shrunk) to `path`, keeping an existing object there, then delete the upload.
   */
  commitUpload(id: string, path: string, size: number): Promise<void>;
  /** Drop an upload. No error when missing. */
  deleteUpload(id: string): Promise<void>;
}

/**
 * Path-based object storage, layered like distribution's `storagedriver`. Paths are
 * `/`-separated relative keys; every method throws StoragePathError on a malformed key.
 * Prefixes ("directories") exist only while some object lives under them.
 */
export interface StorageDriver extends ResumableUploads {
  /** Size and modification time of an object; undefined when there is no object at `path`. */
  stat(path: string): Promise<ObjectInfo | undefined>;
  /** Whole content of a small object (links, manifests, JSON); undefined when missing. */
  getContent(path: string): Promise<Buffer | undefined>;
  /** Atomically write (or replace) a small object. */
  putContent(path: string, data: Buffer, options?: PutContentOptions): Promise<void>;
  /**
   * Atomically write a small object only if there is none at `path`: true when this call wrote it,
   * false when one was there (left as it was). Of processes that create the same path at once,
   * exactly one writes and every one then reads the same object (a key made once for a deployment).
   */
  createContent(path: string, data: Buffer, options?: Pick<PutContentOptions, 'private'>): Promise<boolean>;
  /**
   * Stream an object, optionally a range (clamped to the object's end). Undefined when missing;
   * throws RangeInvalidError when the range cannot be satisfied.
   */
  createReadStream(path: string, range?: ByteRange): Promise<Readable | undefined>;
  /** Start a temporary object; see ObjectWriter and CreateWriterOptions. */
  createWriter(options?: CreateWriterOptions): Promise<ObjectWriter>;
  /** Names of the direct children of `prefix` (`''` = root), sorted; [] when missing. */
  list(prefix: string): Promise<string[]>;
  /**
   * Every object under `prefix` (at any depth), with its size and modification time, in no
   * particular order; [] when missing. Never yields temporary objects (the uploads area). One
   * listing call per page on an object store: enumerating the store (GC, usage) costs no stat per object.
   */
  walk(prefix: string): AsyncIterable<ObjectEntry>;
  /** Delete an object or everything under a prefix. No error when missing. */
  delete(path: string): Promise<void>;
  /** Remove temporary objects and uploads not changed for `olderThanMs`; resolves to how many were removed. */
  purgeUploads(olderThanMs: number): Promise<number>;
  /**
   * A URL clients can GET the object from directly (read-only, valid `ttlSeconds`, ranges honoured
   * by the service), or undefined. Only object stores have one; the filesystem driver has none.
   */
  signedReadUrl?(path: string, ttlSeconds: number): Promise<string | undefined>;
}
