/**
 * The BullMQ classes this project uses, each loaded from its own module. bullmq 6's index also loads
 * its PostgreSQL, Valkey GLIDE and relay backends, flow producer and queue-events classes, none of
 * which this project uses: from these paths a process loads 70 fewer modules (about 0.5 MiB of
 * source, 1.2 MiB of heap). bullmq 6.7 has no `exports` map, so its `dist/cjs` files are reachable;
 * the types are the package's own (type-only import, nothing loaded). Source files import the
 * classes from here, type-only imports may stay on 'bullmq' (erased at compile). Measured: README,
 * Performance, Memory.
 */
import type * as Bullmq from 'bullmq';

export type { ConnectionOptions, Job, JobsOptions, RepeatOptions } from 'bullmq';

export const Queue = (require('bullmq/dist/cjs/classes/queue') as { Queue: typeof Bullmq.Queue }).Queue;
export type Queue = Bullmq.Queue;
export const Worker = (require('bullmq/dist/cjs/classes/worker') as { Worker: typeof Bullmq.Worker }).Worker;
export type Worker = Bullmq.Worker;

const errors = require('bullmq/dist/cjs/classes/errors') as { UnrecoverableError: typeof Bullmq.UnrecoverableError; DelayedError: typeof Bullmq.DelayedError };
export const UnrecoverableError = errors.UnrecoverableError;
export type UnrecoverableError = Bullmq.UnrecoverableError;
export const DelayedError = errors.DelayedError;
export type DelayedError = Bullmq.DelayedError;
