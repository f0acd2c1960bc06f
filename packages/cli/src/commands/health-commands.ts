import { segment } from '../admin-client.js';
import type { CommandSpec } from '../command.js';
import { renderFields, renderTable } from '../table.js';

interface Breaker {
  state?: string;
  failures?: number;
  rejects?: number;
  retryAfterSeconds?: number;
  lastFailure?: string;
  openUntil?: string;
}
interface RateLimit {
  limit?: number;
  remaining?: number;
  headroom?: number;
  retryAfterUntil?: string;
}
interface RuleHealth {
  name: string;
  state: string;
  upstream?: string;
  lastSuccess?: string;
  lastFailure?: { category?: string; message?: string; time?: string };
  lastServedBy?: { upstream?: string; fallback?: boolean; time?: string };
  recent?: { windowSeconds?: number; hits?: number; misses?: number; stale?: number; errors?: number };
  breaker?: Breaker;
  rateLimit?: RateLimit;
  fallbacks?: Array<{ upstream: string; breaker?: Breaker }>;
  credentialSetName?: string;
}

const headroom = (r: RateLimit | undefined) => (r?.headroom === undefined ? undefined : `${Math.round(r.headroom * 100)}% (${r.remaining}/${r.limit})`);

export const healthCommands: CommandSpec[] = [
  {
    path: ['health'],
    summary: "every rule's health at a glance, or one rule's in detail",
    args: ['[rule]'],
    examples: ['pullthrough health', 'pullthrough health dockerhub'],
    async run(ctx) {
      const client = await ctx.client();
      const rule = ctx.args[0];
      if (rule === undefined) {
        const body = (await client.call('GET', '/health/cache-rules')).body as { states: Record<string, number>; cacheRules: RuleHealth[] };
        if (ctx.output === 'json') return ctx.out.json(body);
        const rows = body.cacheRules.map((h) => [h.name, h.state, h.upstream, h.breaker?.state, h.recent?.hits, h.recent?.misses, h.recent?.stale, h.recent?.errors, h.lastFailure ? `${h.lastFailure.category}: ${h.lastFailure.message}` : undefined]);
        ctx.out.print(renderTable(['rule', 'state', 'upstream', 'breaker', 'hits', 'misses', 'stale', 'errors', 'last failure'], rows));
        ctx.out.print(Object.entries(body.states).map(([k, v]) => `${k} ${v}`).join(', '));
        return;
      }
      const h = (await client.call('GET', `/cache-rules/${segment(rule)}/health`)).body as RuleHealth;
      if (ctx.output === 'json') return ctx.out.json(h);
      const r = h.recent;
      ctx.out.print(
        renderFields([
          ['rule', h.name],
          ['state', h.state],
          ['upstream', h.upstream],
          ['credential set', h.credentialSetName],
          ['last success', h.lastSuccess],
          ['last failure', h.lastFailure ? `${h.lastFailure.time ?? ''} ${h.lastFailure.category ?? ''}: ${h.lastFailure.message ?? ''}`.trim() : undefined],
          ['last served by', h.lastServedBy ? `${h.lastServedBy.upstream}${h.lastServedBy.fallback ? ' (fallback)' : ''} at ${h.lastServedBy.time}` : undefined],
          ['recent', r ? `${r.hits} hits, ${r.misses} misses, ${r.stale} stale, ${r.errors} errors in ${r.windowSeconds} s` : undefined],
          ['breaker', h.breaker ? `${h.breaker.state}${h.breaker.retryAfterSeconds !== undefined ? `, retry in ${h.breaker.retryAfterSeconds} s` : ''}${h.breaker.lastFailure ? `, last failure: ${h.breaker.lastFailure}` : ''}` : undefined],
          ['rate limit headroom', headroom(h.rateLimit)],
          ['upstream asked to wait until', h.rateLimit?.retryAfterUntil],
          ['fallbacks', h.fallbacks?.map((f) => `${f.upstream} (${f.breaker?.state ?? '-'})`)],
        ]),
      );
    },
  },
  {
    path: ['upstreams'],
    summary: 'every upstream registry contacted: circuit breaker state, failures, rate-limit headroom',
    async run(ctx) {
      const body = (await (await ctx.client()).call('GET', '/upstreams')).body as { upstreams: Array<Breaker & { upstream: string; rateLimit?: RateLimit; totals?: { requests?: number } }> };
      if (ctx.output === 'json') return ctx.out.json(body);
      const rows = body.upstreams.map((u) => [u.upstream, u.state, u.totals?.requests, u.failures, u.rejects, u.retryAfterSeconds === undefined ? undefined : `${u.retryAfterSeconds} s`, headroom(u.rateLimit), u.lastFailure]);
      ctx.out.print(renderTable(['upstream', 'breaker', 'requests', 'failures', 'rejects', 'retry-in', 'headroom', 'last failure'], rows));
    },
  },
];
