import { mkdtempSync, rmSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onProcessExit } from './exit-cleanup.js';

export interface TempDir {
  readonly path: string;
  /** Remove the directory and everything in it (idempotent). */
  remove(): Promise<void>;
}

/**
 * A fresh directory under the OS temp dir, e.g. `tempDir('registry-')`. Removed by `remove()`,
 * and as a last resort when the process exits.
 */
export async function tempDir(prefix: string): Promise<TempDir> {
  const path = mkdtempSync(join(tmpdir(), `pullthrough-${prefix}`));
  const forgetExit = onProcessExit(() => rmSync(path, { recursive: true, force: true }));
  let removed = false;
  return {
    path,
    async remove() {
      if (removed) return;
      removed = true;
      forgetExit();
      await rm(path, { recursive: true, force: true });
    },
  };
}
