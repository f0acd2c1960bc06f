import { z } from 'zod';

/**
 * The listener and shutdown settings both apps read (each app's config.ts names them, so the
 * README table and infra checks see them); documented in the README's configuration table.
 */
export const listenerConfigFields = {
  /** The request line and headers must arrive within this long (slowloris bound). */
  PULLTHROUGH_HEADERS_TIMEOUT_MS: z.coerce.number().int().min(100).default(10000),
  /** The whole request (headers and body) must arrive within this long (at least the header bound); responses are never cut by it. */
  PULLTHROUGH_REQUEST_TIMEOUT_MS: z.coerce.number().int().min(100).default(30000),
  /** A keep-alive connection idle between requests is closed after at most this long; a client that takes none of its response for this long is cut. */
  PULLTHROUGH_IDLE_TIMEOUT_MS: z.coerce.number().int().min(2000).default(60000),
  /** On SIGTERM: how long in-flight requests (frontend) or running jobs (hydrator) may take to finish before they are cut. */
  PULLTHROUGH_SHUTDOWN_TIMEOUT_MS: z.coerce.number().int().min(0).max(3600000).default(20000),
};
