export * from './http-listener.js';
export * from './graceful-close.js';
export * from './readiness.js';
export * from './queue-metrics.js';
export * from './config-changes.js';
export * from './listener-config.js';
export * from './storage-gauges.js';
