import { randomUUID } from 'node:crypto';
import type { BlockBlobClient, ContainerClient } from './azure-blob-sdk.js';
import { azureStatus } from './azure-blob-sdk.js';
import { GatheringWriter } from './gathering-writer.js';
import { checkStoragePath } from './storage-path.js';

/** Bytes per staged block (Azure allows 50,000 committed blocks: 4 MiB blocks reach 195 GiB). */
export const AZURE_BLOCK_BYTES = 4 * 1024 * 1024;
/** Block uploads one writer has in flight; a writer holds at most this many blocks plus one gathering. */
export const AZURE_BLOCKS_IN_FLIGHT = 4;

/** How long a commit answered 409 waits for the other writer staging blocks at its target to commit them. */
const OTHER_COMMIT_WAIT_MS = 30_000;
/** Statuses of a commit that may have lost to another writer of the same content-addressed target. */
const MAYBE_LOST = new Set([400, 404, 409, 412]);

export interface AzureBlobWriterOptions {
  container: ContainerClient;
  /** The path commit will use (blocks are staged on it), or undefined: staged on `staging`. */
  path: string | undefined;
  /** `_uploads/<id>`: where blocks go when the path is not known up front. */
  staging: string;
}

/**
 * An ObjectWriter over Azure block blobs. Data is cut into 4 MiB blocks, each staged (Put Block)
 * as soon as it is full, at most four in flight; nothing is visible until `commit`:
 * - told its path up front (BlobWriter and manifests are), the blocks are staged on that blob and
 *   `commit` is one Put Block List with `If-None-Match: *`, so an existing object is never replaced.
 *   Uncommitted blocks are invisible to reads and listings; the service discards them when another
 *   writer commits the blob, or by itself after a week (nothing for us to clean up);
 * - else the blocks go to `_uploads/<id>`, committed there when the stream ends (so purgeUploads
 *   sees it), and `commit` copies it to its path on the service side and deletes it.
 */
export class AzureBlobWriter extends GatheringWriter {
  private readonly blocks: string[] = [];
  private readonly inFlight = new Set<Promise<void>>();
  private failure: Error | undefined;
  private readonly writerId = Buffer.from(randomUUID().replace(/-/g, ''), 'hex');
  private readonly cancel = new AbortController();
  private readonly staging: BlockBlobClient;

  constructor(private readonly options: AzureBlobWriterOptions) {
    super(options.path);
    this.staging = options.container.getBlockBlobClient(options.path ?? options.staging);
  }

  override _final(callback: (error?: Error | null) => void): void {
    (async () => {
      if (this.gatheredBytes > 0) this.stageGathered();
      await this.settle(0);
      // Not told its path: the upload becomes a committed object in the uploads area.
      if (this.options.path === undefined) await this.staging.commitBlockList(this.blocks, { abortSignal: this.cancel.signal });
    })().then(() => callback(), callback);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (!this.writableFinished && this.state === 'writing') this.state = 'aborted';
    if (this.state === 'aborted') this.cancel.abort();
    callback(error);
  }

  /** Stage a block once one is full; hold the caller while too many are in flight. */
  protected afterGather(callback: (error?: Error | null) => void): void {
    if (this.failure) return callback(this.failure);
    if (this.gatheredBytes < AZURE_BLOCK_BYTES) return callback();
    this.stageGathered();
    this.settle(AZURE_BLOCKS_IN_FLIGHT - 1).then(() => callback(), callback);
  }

  protected resolveTarget(path: string): string {
    return checkStoragePath(path);
  }

  protected async place(path: string): Promise<void> {
    const target = this.options.container.getBlockBlobClient(path);
    if (this.options.path !== undefined) {
      await keepExisting(target, () => target.commitBlockList(this.blocks, { conditions: { ifNoneMatch: '*' } }));
    } else {
      await keepExisting(target, async () => {
        const poller = await target.beginCopyFromURL(this.staging.url, { conditions: { ifNoneMatch: '*' }, intervalInMs: 200 });
        await poller.pollUntilDone();
      });
      await this.staging.deleteIfExists();
    }
  }

  protected override onAbort(): void {
    this.cancel.abort();
  }

  protected async discard(): Promise<void> {
    await Promise.allSettled([...this.inFlight]);
    // Staged blocks cannot be deleted one by one: they expire with the service's garbage collection.
    if (this.options.path === undefined) await this.staging.deleteIfExists().catch(() => undefined);
  }

  /**
   * Stage the gathered chunks as one block. Several are copied into a new block, so their memory is the
   * caller's again at once; a block that is one chunk is that chunk's memory until its upload succeeded
   * (not after a failed one: the writer fails, and whoever holds the chunk keeps it).
   */
  private stageGathered(): void {
    const { buffers, bytes } = this.takeGathered();
    const block = buffers.length === 1 ? buffers[0]! : Buffer.concat(buffers, bytes);
    if (buffers.length > 1) this.failure ??= this.chunksDone(buffers);
    const id = blockId(this.writerId, this.blocks.length);
    this.blocks.push(id);
    const upload: Promise<void> = this.staging
      .stageBlock(id, block, block.length, { abortSignal: this.cancel.signal })
      .then(
        () => {
          if (buffers.length === 1) this.failure ??= this.chunksDone(buffers);
        },
        (err: Error) => {
          this.failure ??= err;
        },
      )
      .finally(() => this.inFlight.delete(upload));
    this.inFlight.add(upload);
  }

  /** Wait until at most `limit` block uploads are in flight; throws the first upload failure. */
  private async settle(limit: number): Promise<void> {
    while (this.inFlight.size > limit) await Promise.race(this.inFlight);
    if (this.failure) throw this.failure;
  }
}

/**
 * Block ids of one blob must all have the same length: 16 bytes of the writer's id and a 4-byte
 * index, base64. Writers of the same path never share an id.
 */
export function blockId(writerId: Buffer, index: number): string {
  const id = Buffer.alloc(20);
  writerId.copy(id, 0, 0, 16);
  id.writeUInt32BE(index, 16);
  return id.toString('base64');
}

/**
 * Run a commit that must not replace `target`. When it fails because the target exists (another
 * writer committed it first; its commit may also have discarded our staged blocks), the existing
 * object is kept and ours is dropped: content-addressed objects are the same bytes.
 */
export async function keepExisting(target: BlockBlobClient, commit: () => Promise<unknown>): Promise<void> {
  try {
    await commit();
  } catch (err) {
    const status = azureStatus(err);
    if (status === undefined || !MAYBE_LOST.has(status)) throw err;
    if (await target.exists()) return;
    // A 409 while the target is not there yet: another writer of the same content holds staged
    // blocks at the path (a fetch through a rule, an upload) and is about to commit them. Its
    // commit is the same bytes: wait for it; if it never comes (that writer gave up), try once more.
    if (status !== 409) throw err;
    const deadline = Date.now() + OTHER_COMMIT_WAIT_MS;
    while (Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      if (await target.exists()) return;
    }
    await commit();
  }
}
