import { CacheRuleSet } from '@pullthrough/cache-rules';
import { segment, type AdminClient } from '../admin-client.js';
import { bool, str, type CommandContext, type CommandSpec, type OptionSpec } from '../command.js';
import { CliError, EXIT, usageError } from '../exit-codes.js';
import { renderFields, renderTable } from '../table.js';
import { describeProgress } from '../progress-bar.js';
import { parseDuration } from './cache-rule-flags.js';
import { waitForHydration, type HydrationStatus } from './hydration-wait.js';

const WAIT_OPTIONS: Readonly<Record<string, OptionSpec>> = {
  wait: { type: 'boolean', description: 'follow the hydration with a progress bar until hydrated (exit 0) or failed (exit 6)' },
  'max-wait': { type: 'string', value: 'DURATION', description: 'with --wait: give up after this long, exit 7 (default 10m)' },
};

function maxWaitMs(ctx: CommandContext): number {
  const raw = str(ctx, 'max-wait');
  return raw === undefined ? 600_000 : parseDuration(raw, '--max-wait') * 1000;
}

function statusFields(s: HydrationStatus): string {
  return renderFields([
    ['repository', s.repository],
    ['reference', s.reference],
    ['digest', s.digest],
    ['state', s.state],
    ['progress', s.progress ? describeProgress(s).slice(s.state.length + 1) : undefined],
    ['attempts', s.attempts],
    ['failure', s.failure ? `${s.failure.category ?? '-'} ${s.failure.code ?? ''}: ${s.failure.message ?? ''}` : undefined],
    ['enqueued at', s.timings?.enqueuedAt],
    ['started at', s.timings?.startedAt],
    ['finished at', s.timings?.finishedAt],
  ]);
}

/** Wait for one (repository, reference) and report it; the exit code says how it ended. */
async function follow(ctx: CommandContext, client: AdminClient, repository: string, reference: string, printJson = true): Promise<number> {
  const { status, body, timedOut } = await waitForHydration(client, ctx.out, repository, reference, maxWaitMs(ctx), ctx.output === 'table');
  if (ctx.output === 'table') ctx.out.print(statusFields(status));
  else if (printJson) ctx.out.json(body);
  if (timedOut) {
    ctx.out.error(`error: ${repository}:${reference} is still ${status.state} after --max-wait`);
    return EXIT.timedOut;
  }
  return status.state === 'failed' ? EXIT.failed : EXIT.ok;
}

/** The rule whose target maps `repository`, as the cache would match it. */
async function ruleFor(client: AdminClient, repository: string): Promise<string> {
  const { cacheRules } = (await client.call('GET', '/cache-rules')).body as { cacheRules: unknown[] };
  let match;
  try {
    match = CacheRuleSet.create(cacheRules).match(repository);
  } catch {
    throw usageError('the cache rules could not be read here to find the rule for this repository: name it with --rule');
  }
  if (!match) throw new CliError(EXIT.notFound, `error: no cache rule maps ${repository}`);
  return match.rule.name;
}

export const hydrationCommands: CommandSpec[] = [
  {
    path: ['hydration', 'status'],
    summary: 'state of the hydration of a tag or digest: queued, running, hydrated, failed or unknown',
    args: ['repo', 'ref'],
    options: WAIT_OPTIONS,
    examples: ['pullthrough hydration status dockerhub/library/node 20', 'pullthrough hydration status dockerhub/library/node 20 --wait'],
    async run(ctx) {
      const [repository, reference] = ctx.args as [string, string];
      const client = await ctx.client();
      if (bool(ctx, 'wait')) return follow(ctx, client, repository, reference);
      const body = (await client.call('GET', '/hydrations', { query: { repository, reference } })).body as HydrationStatus;
      if (ctx.output === 'json') return ctx.out.json(body);
      ctx.out.print(statusFields(body));
    },
  },
  {
    path: ['prefetch'],
    summary: 'hydrate tags or digests now, without a client pull (exit 6 when a reference fails)',
    args: ['repo', 'ref...'],
    options: {
      rule: { type: 'string', value: 'NAME', description: 'the cache rule (default: the rule that maps the repository)' },
      ...WAIT_OPTIONS,
    },
    examples: ['pullthrough prefetch dockerhub/library/node 20 22 --wait'],
    async run(ctx) {
      const [repository, ...references] = ctx.args as [string, ...string[]];
      const client = await ctx.client();
      const rule = str(ctx, 'rule') ?? (await ruleFor(client, repository));
      const res = await client.call('POST', `/cache-rules/${segment(rule)}/prefetch`, { body: { repository, references } });
      const body = res.body as { prefetch: Array<{ reference: string; digest?: string; jobId?: string; error?: { code?: string; message?: string } }> };
      const failed = body.prefetch.some((p) => p.error !== undefined);
      if (!bool(ctx, 'wait')) {
        if (ctx.output === 'json') ctx.out.json(body);
        else ctx.out.print(renderTable(['reference', 'digest', 'job', 'error'], body.prefetch.map((p) => [p.reference, p.digest, p.jobId, p.error ? `${p.error.code}: ${p.error.message}` : undefined])));
        return failed ? EXIT.failed : EXIT.ok;
      }
      // -o json: the prefetch answer is the document; the waits only decide the exit code.
      if (ctx.output === 'json') ctx.out.json(body);
      else for (const p of body.prefetch.filter((x) => x.error)) ctx.out.error(`error: ${p.reference}: ${p.error!.code}: ${p.error!.message}`);
      let code: number = failed ? EXIT.failed : EXIT.ok;
      for (const p of body.prefetch.filter((x) => x.digest !== undefined)) {
        if (ctx.output === 'table') ctx.out.print(`${repository}:${p.reference}`);
        const ended = await follow(ctx, client, repository, p.digest!, false);
        if (ended !== EXIT.ok && code === EXIT.ok) code = ended;
      }
      return code;
    },
  },
];
