import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * The admin bearer token: from config, else the one generated on an earlier start (kept in the
 * data dir with mode 0600), else a new one. `generated` tells main.ts to show it once.
 */
export async function resolveAdminToken(configured: string | undefined, dataDir: string): Promise<{ token: string; generated: boolean; path?: string }> {
  if (configured) return { token: configured, generated: false };
  const path = join(dataDir, 'admin-token');
  try {
    const saved = (await readFile(path, 'utf8')).trim();
    if (saved.length >= 16) return { token: saved, generated: false, path };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const token = randomBytes(32).toString('base64url');
  await mkdir(dataDir, { recursive: true });
  await writeFile(path, token + '\n', { mode: 0o600 });
  // `mode` applies only to a file writeFile creates: an existing (too short) token file keeps its mode otherwise.
  await chmod(path, 0o600);
  return { token, generated: true, path };
}
