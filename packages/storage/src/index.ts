// Driver layer
export * from './storage-driver.js';
export * from './storage-path.js';
export * from './byte-range.js';
export * from './filesystem-driver.js';
export * from './driver-contract.js';
// Registry store layer
export * from './registry-store.js';
export * from './blob-store.js';
export * from './blob-writer.js';
export * from './manifest-store.js';
export * from './tag-store.js';
export * from './referrer-store.js';
export * from './control-store.js';
export * from './control-key-invalid-error.js';
export * from './repository-catalog.js';
export * from './store-layout.js';
