import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createTar } from './tar.js';
import { runCommand } from './run-command.js';
import { tempDir } from './temp-dir.js';
import { pseudoRandomBytes } from './pseudo-random.js';

test('GNU tar reads what createTar writes, long paths included', async () => {
  const dir = await tempDir('tar-');
  try {
    const long = `${'deep/'.repeat(25)}file.txt`; // > 100 bytes: needs the ustar prefix field
    const random = pseudoRandomBytes(70_000, 'tar-test');
    const tar = createTar([{ path: 'etc/' }, { path: 'etc/hello.txt', content: Buffer.from('hello\n') }, { path: long, content: random }]);
    expect(tar.length % 512).toBe(0);
    expect(createTar([{ path: 'etc/' }]).equals(createTar([{ path: 'etc/' }]))).toBe(true);
    const file = join(dir.path, 'layer.tar');
    await writeFile(file, tar);
    const listing = (await runCommand('tar', ['-tvf', file])).stdout.toString('utf8');
    expect(listing).toMatch(/^drwxr-xr-x root\/root\s+0 .* etc\/$/m);
    expect(listing).toMatch(/^-rw-r--r-- root\/root\s+6 .* etc\/hello\.txt$/m);
    expect(listing).toContain(long);
    expect((await runCommand('tar', ['-xOf', file, 'etc/hello.txt'])).stdout.toString('utf8')).toBe('hello\n');
    expect((await runCommand('tar', ['-xOf', file, long])).stdout.equals(random)).toBe(true);
  } finally {
    await dir.remove();
  }
});

test('pseudoRandomBytes is deterministic per seed and incompressible', async () => {
  const { gzipSync } = await import('node:zlib');
  const a = pseudoRandomBytes(100_000, 's');
  expect(a.equals(pseudoRandomBytes(100_000, 's'))).toBe(true);
  expect(a.equals(pseudoRandomBytes(100_000, 't'))).toBe(false);
  expect(gzipSync(a).length).toBeGreaterThan(a.length);
});
