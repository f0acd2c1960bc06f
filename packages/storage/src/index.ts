// Driver layer
export * from './storage-driver.js';
export * from './storage-path.js';
export * from './byte-range.js';
export * from './filesystem-driver.js';
export * from './azure-blob-driver.js';
export * from './storage-config.js';
export * from './read-sizer.js';
export * from './file-read-stream.js';
export * from './shared-reads.js';
export * from './driver-contract.js';
export * from './upload-contract.js';
// Registry store layer
export * from './registry-store.js';
export * from './blob-store.js';
export * from './blob-writer.js';
export { FILE_WRITER_HELD_BYTES } from './file-object-writer.js';
export * from './manifest-store.js';
export * from './tag-store.js';
export * from './referrer-store.js';
export * from './control-store.js';
export * from './control-key-invalid-error.js';
export * from './repository-catalog.js';
export * from './store-layout.js';
export * from './deployment-id.js';
// Garbage collection and usage
export * from './blob-touches.js';
export * from './manifest-references.js';
export * from './storage-scan.js';
export * from './gc-mark.js';
export * from './gc-sweep.js';
export * from './storage-usage.js';
export * from './map-limit.js';
