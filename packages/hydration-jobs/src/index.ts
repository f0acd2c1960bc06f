export * from './hydration-job.js';
export * from './job-id.js';
export * from './hydration-queue.js';
