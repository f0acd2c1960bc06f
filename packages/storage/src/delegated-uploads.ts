import type { Readable } from 'node:stream';
import type { ResumableUploads, UploadStatus } from './storage-driver.js';

/**
 * The ResumableUploads half of a StorageDriver for drivers that keep their uploads area in a
 * helper of their own (`uploads`): every call is handed to it unchanged.
 */
export abstract class DelegatedUploads implements ResumableUploads {
  protected abstract readonly uploads: ResumableUploads;

  createUpload(metadata: Record<string, string>): Promise<string> {
    return this.uploads.createUpload(metadata);
  }
  statUpload(id: string): Promise<UploadStatus | undefined> {
    return this.uploads.statUpload(id);
  }
  appendUpload(id: string, offset: number, data: AsyncIterable<Uint8Array>): Promise<number> {
    return this.uploads.appendUpload(id, offset, data);
  }
  readUpload(id: string): Promise<Readable | undefined> {
    return this.uploads.readUpload(id);
  }
  commitUpload(id: string, path: string, size: number): Promise<void> {
    return this.uploads.commitUpload(id, path, size);
  }
  deleteUpload(id: string): Promise<void> {
    return this.uploads.deleteUpload(id);
  }
}
