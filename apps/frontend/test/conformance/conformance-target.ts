import type { RegistryCredentials } from '@pullthrough/test-support';

/**
 * What a target implements where distribution-spec v1.1 lets a registry choose, or where a known
 * registry deviates from the spec. A check a target does not support is reported as skipped with
 * the reason (n/a); a supported check is never loosened.
 */
export interface TargetCapabilities {
  /** The referrers API and the `OCI-Subject` answer to a manifest PUT with a subject (spec v1.1). */
  referrers: boolean;
  /**
   * `?n=` / `&last=` on the tags list (spec v1.1 "content discovery"). false only for a registry
   * known to ignore them (its deviation is then stated, never hidden).
   */
  tagPagination: boolean;
  /**
   * DELETE of a manifest by tag. `deletes`: 202 and the tag is gone; `refuses`: the target refuses
   * it the way the spec allows (400 UNSUPPORTED or 405); `nonconformant`: it refuses in some other
   * way (the spec's check is then n/a, with the reason).
   */
  tagDelete: 'deletes' | 'refuses' | 'nonconformant';
  /**
   * Chunked uploads keep their order: a PATCH whose Content-Range does not continue the upload is
   * 416, and a session's first Location still answers (GET 204 with Range, a repeated chunk 416).
   */
  chunkOrder: boolean;
  /** A GET of a manifest under a malformed digest (`sha256:` and no hex) is 404, or 400 with a spec error code. */
  malformedReferenceError: boolean;
  /**
   * DELETE of manifests and blobs. The spec lets a registry refuse (405); true: every delete of
   * existing content must succeed (202) and the content must then be 404.
   */
  contentDelete: boolean;
  /**
   * `?mount=<digest>&from=<repository>` of a blob the caller may read: true: the target mounts it
   * (201, Location of the blob); false: it opens an upload session instead (202), as the spec allows.
   */
  crossMount: boolean;
  /**
   * A mount without `from` where the blob is visible to the caller: true: the target mounts it
   * (201); false: it opens an upload session (202). Both are conformant; the spec suite checks the
   * one the registry declares.
   */
  automaticCrossmount: boolean;
  /** Why the unsupported capabilities are missing (shown in the skipped checks' names). */
  reasons?: Partial<Record<Exclude<keyof TargetCapabilities, 'reasons'>, string>>;
}

/** A registry under test, running. */
export interface ConformanceTarget {
  /** e.g. `http://127.0.0.1:5000` */
  baseUrl: string;
  /** Repository namespace the suite writes under (each workflow uses `<namespace>/<workflow>`). */
  namespace: string;
  /**
   * The repository blobs are cross-mounted into (`?mount=&from=<namespace>/push`); the mount without
   * `from` goes to `<crossmountNamespace>/auto`.
   */
  crossmountNamespace: string;
  /** Credentials for Basic or the token protocol, if the target wants any. */
  credentials?: RegistryCredentials;
  /** Send the credentials as Basic on every request (no token flow). */
  preemptiveBasic?: boolean;
  stop(): Promise<void>;
}

/** How to start a target, and what it supports (known before it starts, so checks can be marked n/a). */
export interface TargetSpec {
  supports: TargetCapabilities;
  start(): Promise<ConformanceTarget>;
}
