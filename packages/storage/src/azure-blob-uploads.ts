import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import { BlobUploadInvalidError, BlobUploadUnknownError, UploadRangeError } from '@pullthrough/oci';
import { azureStatus, type BlockBlobClient, type ContainerClient } from './azure-blob-sdk.js';
import { AZURE_BLOCK_BYTES, AZURE_BLOCKS_IN_FLIGHT, blockId, keepExisting } from './azure-blob-writer.js';
import type { ResumableUploads, UploadStatus } from './storage-driver.js';
import { UPLOADS_AREA, checkStoragePath, checkUploadId } from './storage-path.js';

/** Metadata key marking a blob as a resumable upload (not a writer's staging blob). */
const MARKER = 'pullthroughupload';
const METADATA_KEY = /^[a-z][a-z0-9]{0,63}$/;
// eslint-disable-next-line no-control-regex
const METADATA_VALUE = /^[\x20-\x7e]{0,1024}$/;

/**
 * Resumable uploads on Azure Blob: one block blob per upload, `_uploads/<id>`, whose committed block
 * list is the session state. A chunk is staged as 4 MiB blocks (ids unique to the chunk) and made
 * part of the upload by one Put Block List of the old list plus the new blocks, conditional on the
 * blob's ETag: of two chunks racing for the same offset one commits, the other gets 412 (its blocks
 * are dropped by the service) and is answered with the current size. Every chunk moves the blob's
 * Last-Modified, which purgeUploads looks at. Commit is a server-side copy to the content address,
 * conditional on the ETag the caller's size was read with (the copied bytes are the verified ones),
 * never replacing an existing object.
 */
export class AzureBlobUploads implements ResumableUploads {
  constructor(private readonly container: ContainerClient) {}

  private blob(id: string): BlockBlobClient {
    return this.container.getBlockBlobClient(`${UPLOADS_AREA}/${checkUploadId(id)}`);
  }

  async createUpload(metadata: Record<string, string>): Promise<string> {
    for (const [key, value] of Object.entries(metadata)) {
      if (!METADATA_KEY.test(key) || key === MARKER || !METADATA_VALUE.test(value)) throw new RangeError(`invalid upload metadata ${key}`);
    }
    const id = randomUUID();
    await this.blob(id).upload(Buffer.alloc(0), 0, { metadata: { ...metadata, [MARKER]: '1' }, conditions: { ifNoneMatch: '*' } });
    return id;
  }

  async statUpload(id: string): Promise<UploadStatus | undefined> {
    const props = await this.properties(id);
    if (!props) return undefined;
    const { [MARKER]: _marker, ...metadata } = props.metadata;
    return { size: props.size, metadata, updatedAt: props.lastModified };
  }

  async appendUpload(id: string, offset: number, data: AsyncIterable<Uint8Array>): Promise<number> {
    const blob = this.blob(id);
    const props = await this.requireProperties(id);
    if (offset !== props.size) throw new UploadRangeError('chunk does not start at the end of the upload', { size: props.size, detail: { offset, size: props.size } });
    const chunkId = Buffer.from(randomUUID().replace(/-/g, ''), 'hex');
    const staged: string[] = [];
    const inFlight = new Set<Promise<void>>();
    let failure: unknown;
    let written = 0;
    let gathered: Buffer[] = [];
    let gatheredBytes = 0;
    const stage = () => {
      const block = Buffer.concat(gathered, gatheredBytes);
      gathered = [];
      gatheredBytes = 0;
      const name = blockId(chunkId, staged.length);
      staged.push(name);
      const upload: Promise<void> = blob
        .stageBlock(name, block, block.length)
        .then(
          () => undefined,
          (err: unknown) => {
            failure ??= err;
          },
        )
        .finally(() => inFlight.delete(upload));
      inFlight.add(upload);
    };
    const settle = async (limit: number) => {
      while (inFlight.size > limit) await Promise.race(inFlight);
      if (failure) throw failure;
    };
    for await (const chunk of data) {
      if (chunk.byteLength === 0) continue;
      gathered.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
      gatheredBytes += chunk.byteLength;
      written += chunk.byteLength;
      if (gatheredBytes >= AZURE_BLOCK_BYTES) {
        stage();
        await settle(AZURE_BLOCKS_IN_FLIGHT - 1);
      }
    }
    if (gatheredBytes > 0) stage();
    await settle(0);
    if (written === 0) return props.size;
    const committed = props.size === 0 ? [] : (await blob.getBlockList('committed')).committedBlocks?.map((b) => b.name) ?? [];
    try {
      await blob.commitBlockList([...committed, ...staged], { metadata: props.metadata, conditions: { ifMatch: props.etag } });
    } catch (err) {
      if (azureStatus(err) === 404) throw new BlobUploadUnknownError('upload unknown (cancelled, finished or purged meanwhile)', { detail: { id } });
      if (azureStatus(err) !== 412) throw err;
      const now = (await this.properties(id))?.size ?? props.size;
      throw new UploadRangeError('another chunk was appended at this offset first', { size: now, detail: { offset, size: now } });
    }
    return props.size + written;
  }

  async readUpload(id: string): Promise<Readable | undefined> {
    try {
      return (await this.blob(id).download(0)).readableStreamBody as Readable;
    } catch (err) {
      if (azureStatus(err) === 404) return undefined;
      throw err;
    }
  }

  async commitUpload(id: string, path: string, size: number): Promise<void> {
    checkStoragePath(path);
    const source = this.blob(id);
    const props = await this.requireProperties(id);
    if (props.size !== size) throw new BlobUploadInvalidError('the upload changed while it was being finished', { detail: { expected: size, actual: props.size } });
    const target = this.container.getBlockBlobClient(path);
    await keepExisting(target, async () => {
      const poller = await target.beginCopyFromURL(source.url, {
        conditions: { ifNoneMatch: '*' },
        sourceConditions: { ifMatch: props.etag },
        // The upload's own metadata (repository...) is not the content's.
        metadata: { pullthrough: 'blob' },
        intervalInMs: 200,
      });
      await poller.pollUntilDone();
    });
    await source.deleteIfExists();
  }

  async deleteUpload(id: string): Promise<void> {
    await this.blob(id).deleteIfExists();
  }

  private async properties(id: string): Promise<{ size: number; etag: string; lastModified: Date; metadata: Record<string, string> } | undefined> {
    try {
      const props = await this.blob(id).getProperties();
      const metadata = props.metadata ?? {};
      if (metadata[MARKER] !== '1') return undefined;
      return { size: props.contentLength ?? 0, etag: props.etag ?? '', lastModified: props.lastModified ?? new Date(0), metadata };
    } catch (err) {
      if (azureStatus(err) === 404) return undefined;
      throw err;
    }
  }

  private async requireProperties(id: string) {
    const props = await this.properties(id);
    if (!props) throw new BlobUploadUnknownError('upload unknown', { detail: { id } });
    return props;
  }
}
