export * from './hydration-job.js';
export * from './job-id.js';
export * from './hydration-queue.js';
export * from './hydration-failure.js';
export * from './hydration-status.js';
export * from './registry-semaphore.js';
export * from './gc-job.js';
export * from './retention-schedule.js';
