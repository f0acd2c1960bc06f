import { createHash, randomUUID } from 'node:crypto';
import type { WebhookAction } from './webhook.js';

/** What an event is about (ACR's `target`). */
export interface EventTarget {
  mediaType: string;
  size: number;
  digest: string;
  /** Same as size (ACR sends both). */
  length: number;
  repository: string;
  tag?: string;
}

/** ACR-compatible event; `hydration`/`failure` are our additions for the cache.* actions. */
export interface WebhookEvent {
  id: string;
  timestamp: string;
  action: WebhookAction | 'ping';
  target: EventTarget;
  request: { id: string; host: string; method: string; useragent: string };
  hydration?: { manifests: number; blobs: number; blobsFetched: number; bytesFetched: number };
  failure?: { category: string; code: string; message: string };
}

export const EVENT_USER_AGENT = 'pullthrough-hydrator';

/**
 * Stable event id: the same fact (action, repository, digest, tag) always carries the same id,
 * so retries and duplicates (the same image hydrated twice, two pulls) can be deduplicated.
 * UUID-shaped (version nibble 5, like a name-based UUID), from SHA-256.
 */
export function eventId(action: string, repository: string, digest: string, tag?: string): string {
  const h = createHash('sha256').update(`${action}\n${repository}\n${digest}\n${tag ?? ''}`).digest('hex');
  const variant = ((parseInt(h[16]!, 16) & 0x3) | 0x8).toString(16);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

export interface EventContext {
  /** The pull's request id when known (the job carries it). */
  requestId?: string;
  /** Host name clients reach the cache by. */
  host: string;
  timestamp?: Date;
}

/** A manifest that became local. */
export interface ManifestRef {
  digest: string;
  mediaType: string;
  size: number;
}

function event(action: WebhookEvent['action'], target: EventTarget, ctx: EventContext, method: string): WebhookEvent {
  return {
    id: eventId(action, target.repository, target.digest, target.tag),
    timestamp: (ctx.timestamp ?? new Date()).toISOString(),
    action,
    target,
    request: { id: ctx.requestId ?? randomUUID(), host: ctx.host, method, useragent: EVENT_USER_AGENT },
  };
}

const targetOf = (repository: string, m: ManifestRef, tag?: string): EventTarget => ({
  mediaType: m.mediaType,
  size: m.size,
  digest: m.digest,
  length: m.size,
  repository,
  ...(tag ? { tag } : {}),
});

export interface HydratedFacts {
  repository: string;
  tag?: string;
  /** The job's manifest (an index or an image manifest). */
  root: ManifestRef;
  /** Child manifests made local with it (platform manifests of an index). */
  children: ManifestRef[];
  result: NonNullable<WebhookEvent['hydration']>;
}

/**
 * Events for a completed hydration: `cache.hydrated`, then ACR-style `push` for what became local:
 * the root by tag (when pulled by tag) and by digest, then each platform manifest.
 */
export function hydratedEvents(facts: HydratedFacts, ctx: EventContext): WebhookEvent[] {
  const hydrated = event('cache.hydrated', targetOf(facts.repository, facts.root, facts.tag), ctx, 'GET');
  hydrated.hydration = facts.result;
  const pushes = [
    ...(facts.tag ? [targetOf(facts.repository, facts.root, facts.tag)] : []),
    targetOf(facts.repository, facts.root),
    ...facts.children.map((c) => targetOf(facts.repository, c)),
  ].map((t) => event('push', t, ctx, 'PUT'));
  return [hydrated, ...pushes];
}

export interface FailedFacts {
  repository: string;
  tag?: string;
  digest: string;
  failure: NonNullable<WebhookEvent['failure']>;
}

/** `cache.hydration_failed` (the manifest may not be local: media type and size are unknown). */
export function hydrationFailedEvent(facts: FailedFacts, ctx: EventContext): WebhookEvent {
  const target: EventTarget = { mediaType: '', size: 0, digest: facts.digest, length: 0, repository: facts.repository, ...(facts.tag ? { tag: facts.tag } : {}) };
  const e = event('cache.hydration_failed', target, ctx, 'GET');
  e.failure = facts.failure;
  return e;
}

/** A client's push or delete on the data port (a manifest, or a tag of one). */
export interface ClientWriteFacts {
  action: 'push' | 'delete';
  repository: string;
  digest: string;
  /** '' when unknown (a tag whose manifest is already gone). */
  mediaType: string;
  size: number;
  tag?: string;
  /** The client request's id and User-Agent. */
  requestId?: string;
  userAgent?: string;
}

/**
 * ACR's `push` (manifest PUT, method PUT) and `delete` (manifest or tag DELETE, method DELETE) for
 * what a client did. Each is a distinct fact (pushing the same manifest twice is two pushes), so the
 * id is fresh, unlike the hydrator's events.
 */
export function clientWriteEvent(facts: ClientWriteFacts, ctx: EventContext): WebhookEvent {
  const target: EventTarget = { mediaType: facts.mediaType, size: facts.size, digest: facts.digest, length: facts.size, repository: facts.repository, ...(facts.tag ? { tag: facts.tag } : {}) };
  return {
    id: randomUUID(),
    timestamp: (ctx.timestamp ?? new Date()).toISOString(),
    action: facts.action,
    target,
    request: { id: facts.requestId ?? randomUUID(), host: ctx.host, method: facts.action === 'push' ? 'PUT' : 'DELETE', useragent: facts.userAgent ?? '' },
  };
}

/** A test event for `POST .../ping` (a fresh id each time). */
export function pingEvent(ctx: EventContext): WebhookEvent {
  const e = event('ping', { mediaType: '', size: 0, digest: '', length: 0, repository: '' }, ctx, 'POST');
  e.id = randomUUID();
  return e;
}

/** CloudEvents 1.0, structured mode (`application/cloudevents+json`). */
export interface CloudEvent {
  specversion: '1.0';
  id: string;
  source: string;
  type: string;
  time: string;
  subject?: string;
  datacontenttype: 'application/json';
  data: WebhookEvent;
}

export function toCloudEvent(e: WebhookEvent): CloudEvent {
  return {
    specversion: '1.0',
    id: e.id,
    source: `//${e.request.host}/pullthrough`,
    type: `io.pullthrough.${e.action}`,
    time: e.timestamp,
    ...(e.target.repository ? { subject: e.target.repository } : {}),
    datacontenttype: 'application/json',
    data: e,
  };
}
