/** Cleanups to run when this process exits (synchronous only: nothing async runs at 'exit'). */
const cleanups = new Set<() => void>();

const runAll = (): void => {
  for (const cleanup of [...cleanups]) {
    cleanups.delete(cleanup);
    try {
      cleanup();
    } catch {
      // the rest still run
    }
  }
};

/**
 * Run `cleanup` when the process exits, unless the returned function is called first (the thing was
 * cleaned up the normal way). One 'exit' listener serves every cleanup, however many servers, processes
 * and temp dirs are open at once (a listener each warned past ten: MaxListenersExceededWarning in the bench).
 */
export function onProcessExit(cleanup: () => void): () => void {
  if (cleanups.size === 0) process.once('exit', runAll);
  cleanups.add(cleanup);
  return () => {
    cleanups.delete(cleanup);
    if (cleanups.size === 0) process.removeListener('exit', runAll);
  };
}
