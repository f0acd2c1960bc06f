import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { onProcessExit } from './exit-cleanup.js';

describe('onProcessExit', () => {
  test('any number of cleanups share one exit listener, and a forgotten cleanup is gone', () => {
    const before = process.listenerCount('exit');
    const forgets = Array.from({ length: 25 }, () => onProcessExit(() => undefined));
    expect(process.listenerCount('exit')).toBe(before + 1);
    for (const forget of forgets) forget();
    expect(process.listenerCount('exit')).toBe(before);
  });

  test('in a real process: 15 temp dirs left open are removed at exit, with one listener and no warning', () => {
    // The built package (turbo builds it before its tests), as a bench or test process uses it.
    const built = path.join(__dirname, '..', 'dist', 'index.js');
    const script = `
      const { tempDir } = require(${JSON.stringify(built)});
      (async () => {
        const before = process.listenerCount('exit');
        const dirs = [];
        for (let i = 0; i < 15; i++) dirs.push((await tempDir('exit-cleanup-')).path);
        console.log(JSON.stringify({ dirs, added: process.listenerCount('exit') - before }));
      })();
    `;
    const run = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 20_000 });
    expect(run.status).toBe(0);
    const { dirs, added } = JSON.parse(run.stdout.trim()) as { dirs: string[]; added: number };
    expect(dirs).toHaveLength(15);
    expect(added).toBe(1);
    expect(run.stderr).not.toMatch(/MaxListenersExceededWarning/);
    for (const dir of dirs) expect(existsSync(dir)).toBe(false);
  });
});
