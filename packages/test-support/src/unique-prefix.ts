import { randomBytes } from 'node:crypto';

/**
 * A BullMQ queue prefix no other test uses, e.g. `test-hydration-1a2b3c4d`. BullMQ keys look like
 * `<prefix>:<queue>:...`, so the prefix itself must not contain `:`.
 */
export function uniquePrefix(name: string): string {
  const safe = name.replace(/[^A-Za-z0-9_-]+/g, '-').slice(0, 40) || 'test';
  return `test-${safe}-${process.pid}-${randomBytes(4).toString('hex')}`;
}
