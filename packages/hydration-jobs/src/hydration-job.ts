import { isTraceparent } from '@pullthrough/telemetry';
import { z } from 'zod';

export const HYDRATION_QUEUE = 'hydration';
export const HYDRATION_JOB_NAME = 'hydrate';

const digest = z.string().regex(/^sha(256:[a-f0-9]{64}|512:[a-f0-9]{128})$/, 'must be a sha256 or sha512 digest');

/** Which children of an index a job makes local. */
export const platformPolicySchema = z.union([z.literal('pulled'), z.literal('all'), z.array(z.string().min(1)).min(1)]);
export type PlatformPolicy = z.infer<typeof platformPolicySchema>;

/**
 * A hydration job: make one manifest (and what it references) durable locally.
 * Carries names (rule, credential set), never secrets.
 */
export const hydrationJobSchema = z.object({
  downstreamRepository: z.string().min(1),
  ruleName: z.string().min(1),
  upstreamRegistry: z.string().min(1),
  upstreamRepository: z.string().min(1),
  digest,
  /** The tag the client asked for, when it asked by tag (for events and status by tag). */
  tag: z.string().optional(),
  credentialSetName: z.string().optional(),
  platforms: platformPolicySchema.default('pulled'),
  requestId: z.string().optional(),
  /**
   * W3C trace context of the request that enqueued the job (README "Telemetry"): the job's span
   * continues that trace. Absent with tracing off and on jobs from before it existed; a malformed
   * value is dropped, never a reason to fail the job.
   */
  traceparent: z
    .string()
    .optional()
    .catch(undefined)
    .transform((v) => (v !== undefined && isTraceparent(v) ? v : undefined)),
  enqueuedAt: z.string(),
});
export type HydrationJob = z.infer<typeof hydrationJobSchema>;
export type HydrationJobInput = z.input<typeof hydrationJobSchema>;

/** Result recorded on a completed job. */
export interface HydrationResult {
  manifests: number;
  blobs: number;
  blobsFetched: number;
  bytesFetched: number;
}

/** Progress stored on a running job. */
export interface HydrationProgress {
  blobsDone: number;
  blobsTotal: number;
  bytesDone: number;
}

export function parseHydrationJob(data: unknown): HydrationJob {
  return hydrationJobSchema.parse(data);
}
