import type { Server } from 'node:http';

/**
 * Close listeners gracefully: stop accepting at once, let requests in flight (blob streams
 * included) finish, and cut whatever is still open at the deadline. A keep-alive connection whose
 * last response was finishing at close() becomes idle just after, so idle connections are closed
 * again every 100 ms while draining (or close() would wait for the keep-alive timeout).
 * Resolves to whether the deadline cut connections.
 */
export async function closeGracefully(servers: readonly Server[], deadlineMs: number): Promise<{ cut: boolean }> {
  const closing = servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve())));
  for (const s of servers) s.closeIdleConnections();
  const drain = setInterval(() => servers.forEach((s) => s.closeIdleConnections()), 100);
  let cut = false;
  const deadline = setTimeout(() => {
    cut = true;
    for (const s of servers) s.closeAllConnections();
  }, deadlineMs);
  try {
    await Promise.all(closing);
  } finally {
    clearInterval(drain);
    clearTimeout(deadline);
  }
  return { cut };
}
