import { z } from 'zod';
import { WebhookValidationError } from './webhook-validation-error.js';

/** What a webhook can subscribe to: the cache's own events, and ACR's `push` (hydrated or pushed content) and `delete` (deleted manifests and tags). */
export const WEBHOOK_ACTIONS = ['cache.hydrated', 'cache.hydration_failed', 'push', 'delete'] as const;
export type WebhookAction = (typeof WEBHOOK_ACTIONS)[number];

/** ACR's rule for webhook names, plus `-` as in cache rule names. */
export const WEBHOOK_NAME_PATTERN = /^[A-Za-z0-9-]{5,50}$/;

/** Headers we set ourselves; a webhook's custom headers may not override them. */
const RESERVED_HEADERS = /^(host|content-type|content-length|transfer-encoding|connection|user-agent|x-pullthrough-.*)$/i;
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** A repository pattern: OCI name characters and `*` (any run of characters, `/` included). */
const SCOPE = /^[a-z0-9*][a-z0-9*._/-]*$/;

export const webhookSchema = z.object({
  name: z.string().regex(WEBHOOK_NAME_PATTERN, "must be 5-50 characters of letters, digits and '-'"),
  serviceUri: z.string().url().max(2048),
  actions: z
    .array(z.enum(WEBHOOK_ACTIONS))
    .min(1)
    .refine((a) => new Set(a).size === a.length, 'must not repeat an action'),
  /** Repositories this webhook hears about; absent means all. */
  scope: z.string().max(256).regex(SCOPE, "must be a repository pattern ('*' matches any characters)").optional(),
  customHeaders: z
    .record(z.string().regex(HEADER_NAME, 'must be an HTTP header name').refine((h) => !RESERVED_HEADERS.test(h), 'is set by the cache'), z.string().max(4096).regex(/^[^\r\n]*$/, 'must be one line'))
    .default({}),
  status: z.enum(['enabled', 'disabled']).default('enabled'),
  /** HMAC-SHA256 key for X-Pullthrough-Signature. Ours (not an upstream secret): stored, never returned or logged. */
  secret: z.string().min(16, 'must be at least 16 characters').max(256),
  /** Wrap each event in a CloudEvents 1.0 structured-mode envelope. */
  cloudEvents: z.boolean().default(false),
});

export type Webhook = z.infer<typeof webhookSchema>;
/** A webhook as the API shows it: everything but the secret. */
export type WebhookView = Omit<Webhook, 'secret'>;

export function webhookView(webhook: Webhook): WebhookView {
  const { secret: _secret, ...view } = webhook;
  return view;
}

/** Validate a webhook; field paths in the error match the JSON body. */
export function parseWebhook(input: unknown): Webhook {
  const parsed = webhookSchema.safeParse(input);
  if (!parsed.success) {
    throw new WebhookValidationError(parsed.error.issues.map((i) => ({ field: i.path.join('.') || '(body)', message: i.message })));
  }
  return parsed.data;
}
