import type { Readable } from 'node:stream';
import type { Digest } from '@pullthrough/oci';

/**
 * What an upstream said. 404/401/403 are answers, not failures (STYLE 9): they resolve, never
 * trip the breaker. 5xx, 429, network errors and timeouts reject instead.
 */
export type UpstreamAnswer<T> =
  | { kind: 'ok'; value: T; headers: Record<string, string> }
  | { kind: 'not-found' }
  | { kind: 'unauthorized'; message: string }
  | { kind: 'forbidden'; message: string };

export type UpstreamDenial = { kind: 'unauthorized'; message: string } | { kind: 'forbidden'; message: string };

export interface ManifestHead {
  digest?: Digest;
  /** Content-Type without parameters; '' when the upstream sent none. */
  mediaType: string;
  size?: number;
}

export interface ManifestContent {
  bytes: Buffer;
  mediaType: string;
  /** From Docker-Content-Digest when present and well formed; the caller verifies. */
  digest?: Digest;
}

export interface BlobContent {
  /** Streamed, never buffered. Errors with UpstreamUnavailableError when stalled, reset or truncated. */
  body: Readable;
  /** Content-Length of this response (the range length for a 206). */
  size?: number;
  /** 200, or 206 when a range was asked for and honoured. */
  status: number;
}

/** Byte range, `end` inclusive (HTTP `Range: bytes=start-end`); no `end` means to the end. */
export interface ByteRange {
  start: number;
  end?: number;
}

export interface UpstreamCredentials {
  username: string;
  password: string;
  /** Token realm hosts outside the upstream's registrable domain the operator allows for these credentials (https only). */
  realmHosts?: readonly string[];
}

/** Looked up when an upstream asks for credentials, never earlier; undefined means anonymous. */
export type CredentialsProvider = () => Promise<UpstreamCredentials | undefined>;
