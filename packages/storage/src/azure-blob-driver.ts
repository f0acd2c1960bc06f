import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import { RangeInvalidError } from '@pullthrough/oci';
import { azureErrorCode, azureStatus, type BlobServiceClient, type ContainerClient } from './azure-blob-sdk.js';
import { BlobSasSigner } from './blob-sas-signer.js';
import { AzureBlobWriter } from './azure-blob-writer.js';
import { AzureBlobUploads } from './azure-blob-uploads.js';
import { resolveByteRange } from './byte-range.js';
import { DelegatedUploads } from './delegated-uploads.js';
import { mapLimit } from './map-limit.js';
import type { ByteRange, CreateWriterOptions, ObjectEntry, ObjectInfo, ObjectWriter, PutContentOptions, StorageDriver } from './storage-driver.js';
import { UPLOADS_AREA, checkStoragePath, storagePathSegments } from './storage-path.js';

const DELETE_CONCURRENCY = 16;

const rangeInvalid = (range: ByteRange, size: number | undefined): RangeInvalidError =>
  new RangeInvalidError('byte range starts past the end of the object', { detail: { start: range.start, end: range.end, size: size ?? null } });

const isMissing = (err: unknown): boolean => azureStatus(err) === 404;

/**
 * StorageDriver over one Azure Blob Storage container: a storage key is a blob name, prefixes are
 * `/`-delimited virtual directories (they exist while a blob lives under them).
 * - `putContent` is one Put Blob (atomic), `createContent` one with If-None-Match: *; reads are one
 *   Get Blob (ranged: the service clamps the end and answers 416 for a start past the end); nothing
 *   is buffered but small objects.
 * - Writers stage blocks and commit them with Put Block List (see AzureBlobWriter).
 * - Uploads whose path is not known up front are `_uploads/<id>` blobs (hidden from callers);
 *   purgeUploads deletes those older than its bound. Blocks staged on a known path and never
 *   committed are discarded by the service itself (after a week, or when the blob is committed).
 * - `private: true` changes nothing: a blob has no file mode; who reads the container is decided
 *   by Azure RBAC on the account or container (the cache's identity only, see the README).
 */
export class AzureBlobDriver extends DelegatedUploads implements StorageDriver {
  private readonly sas: BlobSasSigner;
  /** Resumable uploads (`_uploads/<id>` block blobs): DelegatedUploads hands them to it. */
  protected readonly uploads: AzureBlobUploads;

  /** `service`: the account's client, for user delegation keys when the container is reached with an Entra ID credential. */
  constructor(
    readonly container: ContainerClient,
    service?: BlobServiceClient,
  ) {
    super();
    this.sas = new BlobSasSigner(container, service);
    this.uploads = new AzureBlobUploads(container);
  }

  /** Create the container if it does not exist (tests, first start against an emulator). */
  async ensureContainer(): Promise<void> {
    await this.container.createIfNotExists();
  }

  async stat(path: string): Promise<ObjectInfo | undefined> {
    checkStoragePath(path);
    try {
      const props = await this.container.getBlobClient(path).getProperties();
      return { size: props.contentLength ?? 0, modifiedAt: props.lastModified ?? new Date(0) };
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw err;
    }
  }

  async getContent(path: string): Promise<Buffer | undefined> {
    const stream = await this.createReadStream(path);
    if (!stream) return undefined;
    const chunks: Buffer[] = [];
    for await (const chunk of stream) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  }

  async putContent(path: string, data: Buffer, options: PutContentOptions = {}): Promise<void> {
    checkStoragePath(path);
    // One upload makes it visible: it waits for what must appear first.
    await options.after;
    await this.container.getBlockBlobClient(path).upload(data, data.length);
  }

  async createContent(path: string, data: Buffer): Promise<boolean> {
    checkStoragePath(path);
    try {
      // One Put Blob, only if no blob is there: the service refuses it (409) atomically.
      await this.container.getBlockBlobClient(path).upload(data, data.length, { conditions: { ifNoneMatch: '*' } });
      return true;
    } catch (err) {
      if (azureStatus(err) === 409 || azureStatus(err) === 412) return false;
      throw err;
    }
  }

  async createReadStream(path: string, range?: ByteRange): Promise<Readable | undefined> {
    checkStoragePath(path);
    // A malformed range is refused before asking; one past the end is the service's 416.
    if (range) resolveByteRange(range, Number.MAX_SAFE_INTEGER);
    const blob = this.container.getBlobClient(path);
    try {
      const response = range ? await blob.download(range.start, range.end - range.start + 1) : await blob.download(0);
      const body = response.readableStreamBody as Readable;
      // Azure answers 416 for a start past the end; Azurite answers 206 with no bytes: check the size.
      const size = Number(/\/(\d+)$/.exec(response.contentRange ?? '')?.[1] ?? NaN);
      if (range && Number.isSafeInteger(size) && range.start >= size) {
        body.destroy();
        throw rangeInvalid(range, size);
      }
      return body;
    } catch (err) {
      if (isMissing(err)) return undefined;
      if (azureStatus(err) === 416 || azureErrorCode(err) === 'InvalidRange') {
        throw rangeInvalid(range ?? { start: 0, end: 0 }, undefined);
      }
      throw err;
    }
  }

  async createWriter(options: CreateWriterOptions = {}): Promise<ObjectWriter> {
    if (options.path !== undefined) checkStoragePath(options.path);
    return new AzureBlobWriter({ container: this.container, path: options.path, staging: `${UPLOADS_AREA}/${randomUUID()}` });
  }

  async list(prefix: string): Promise<string[]> {
    const segments = storagePathSegments(prefix, { allowRoot: true });
    const start = segments.length === 0 ? '' : `${prefix}/`;
    const names = new Set<string>();
    for await (const item of this.container.listBlobsByHierarchy('/', { prefix: start })) {
      const name = item.name.slice(start.length).replace(/\/$/, '');
      if (name !== '' && !(segments.length === 0 && name === UPLOADS_AREA)) names.add(name);
    }
    return [...names].sort();
  }

  async *walk(prefix: string): AsyncIterable<ObjectEntry> {
    checkStoragePath(prefix);
    for await (const blob of this.container.listBlobsFlat({ prefix: `${prefix}/` })) {
      yield { path: blob.name, size: blob.properties.contentLength ?? 0, modifiedAt: blob.properties.lastModified };
    }
  }

  async delete(path: string): Promise<void> {
    checkStoragePath(path);
    const names = [path];
    for await (const blob of this.container.listBlobsFlat({ prefix: `${path}/` })) names.push(blob.name);
    await mapLimit(names, DELETE_CONCURRENCY, (name) => this.container.getBlobClient(name).deleteIfExists());
  }

  /** A read-only SAS URL of one blob (see BlobSasSigner); the blob need not be checked here: callers stat it first. */
  async signedReadUrl(path: string, ttlSeconds: number): Promise<string | undefined> {
    checkStoragePath(path);
    return this.sas.readUrl(path, ttlSeconds);
  }

  async purgeUploads(olderThanMs: number): Promise<number> {
    const cutoff = Date.now() - olderThanMs;
    const stale: string[] = [];
    for await (const blob of this.container.listBlobsFlat({ prefix: `${UPLOADS_AREA}/` })) {
      if (blob.properties.lastModified.getTime() <= cutoff) stale.push(blob.name);
    }
    const deleted = await mapLimit(stale, DELETE_CONCURRENCY, async (name) => (await this.container.getBlobClient(name).deleteIfExists()).succeeded);
    return deleted.filter(Boolean).length;
  }
}
