import { segment } from '../admin-client.js';
import { CliError, EXIT } from '../exit-codes.js';
import { required, type CommandContext, type CommandSpec } from '../command.js';
import { renderFields, renderTable } from '../table.js';
import { applyRuleFlags, RULE_OPTIONS, UPDATE_OPTIONS } from './cache-rule-flags.js';
import { printVerify } from './verify-result.js';

type Rule = Record<string, unknown> & { name: string };

const NAME_ONLY = { name: RULE_OPTIONS.name! };

function ruleFields(rule: Rule) {
  const allow = rule.allow as { repositories?: string[]; tags?: string[] } | undefined;
  return renderFields([
    ['name', rule.name],
    ['source', rule.sourceRepository],
    ['target', rule.targetRepository],
    ['credential set', rule.credentialSetName],
    ['platforms', rule.platforms ?? 'pulled (default)'],
    ['freshness', rule.tagFreshnessSeconds === undefined ? 'deployment default' : `${String(rule.tagFreshnessSeconds)} s`],
    ['upstream tag not found', rule.upstreamTagNotFound ?? 'report-missing (default)'],
    ['anonymous pull', rule.anonymousPull ?? `${rule.credentialSetName === undefined} (default)`],
    ['allow repositories', allow?.repositories],
    ['allow tags', allow?.tags],
    ['fallback registries', rule.fallbackRegistries],
  ]);
}

async function show(ctx: CommandContext, body: unknown, heading?: string): Promise<void> {
  if (ctx.output === 'json') return ctx.out.json(body);
  if (heading) ctx.out.print(heading);
  ctx.out.print(ruleFields(body as Rule));
}

async function put(ctx: CommandContext, name: string, rule: Record<string, unknown>, verb: string): Promise<void> {
  const client = await ctx.client();
  const res = await client.call('PUT', `/cache-rules/${segment(name)}`, { body: rule });
  await show(ctx, res.body, `cache rule "${name}" ${res.status === 201 ? 'created' : verb}`);
}

export const cacheCommands: CommandSpec[] = [
  {
    path: ['cache', 'create'],
    summary: 'create a cache rule (PUT /api/v1/cache-rules/{name})',
    options: RULE_OPTIONS,
    examples: ["pullthrough cache create -n dockerhub -s 'docker.io/*' -t 'dockerhub/*' --freshness 12h", "pullthrough cache create -n ghcr-team -s 'ghcr.io/team/*' -t 'ghcr/*' -c ghcr-login --platforms linux/amd64,linux/arm64"],
    async run(ctx) {
      const name = required(ctx, 'name', '-n/--name');
      required(ctx, 'source-repo', '-s/--source-repo');
      required(ctx, 'target-repo', '-t/--target-repo');
      const client = await ctx.client();
      // create must not replace: a rule of that name is a conflict, like `az acr cache create`.
      const existing = await client.send('GET', `/cache-rules/${segment(name)}`);
      if (existing.status === 200) {
        throw new CliError(EXIT.refused, `error: cache rule "${name}" already exists (use \`pullthrough cache update\`)`);
      }
      await put(ctx, name, applyRuleFlags({}, ctx), 'created');
    },
  },
  {
    path: ['cache', 'update'],
    summary: 'change fields of a cache rule (GET, then PUT the rule with the flags applied)',
    options: UPDATE_OPTIONS,
    examples: ['pullthrough cache update -n dockerhub --freshness 0', 'pullthrough cache update -n dockerhub --unset allow --no-anonymous-pull'],
    async run(ctx) {
      const name = required(ctx, 'name', '-n/--name');
      const client = await ctx.client();
      const current = (await client.call('GET', `/cache-rules/${segment(name)}`)).body as Rule;
      await put(ctx, name, applyRuleFlags(current, ctx), 'updated');
    },
  },
  {
    path: ['cache', 'show'],
    summary: 'show one cache rule',
    options: NAME_ONLY,
    async run(ctx) {
      const name = required(ctx, 'name', '-n/--name');
      await show(ctx, (await (await ctx.client()).call('GET', `/cache-rules/${segment(name)}`)).body);
    },
  },
  {
    path: ['cache', 'list'],
    summary: 'list the cache rules',
    async run(ctx) {
      const body = (await (await ctx.client()).call('GET', '/cache-rules')).body as { cacheRules: Rule[] };
      if (ctx.output === 'json') return ctx.out.json(body);
      const rows = body.cacheRules.map((r) => [r.name, r.sourceRepository, r.targetRepository, r.credentialSetName, r.platforms ?? 'pulled', r.tagFreshnessSeconds, r.anonymousPull ?? r.credentialSetName === undefined]);
      ctx.out.print(renderTable(['name', 'source', 'target', 'cred-set', 'platforms', 'freshness', 'anonymous'], rows));
    },
  },
  {
    path: ['cache', 'delete'],
    summary: 'delete a cache rule (cached content stays until retention removes it)',
    options: NAME_ONLY,
    async run(ctx) {
      const name = required(ctx, 'name', '-n/--name');
      await (await ctx.client()).call('DELETE', `/cache-rules/${segment(name)}`);
      if (ctx.output === 'table') ctx.out.print(`cache rule "${name}" deleted`);
    },
  },
  {
    path: ['cache', 'verify'],
    summary: "live check of a rule's upstream and credential set, step by step (exit 6 when a step fails)",
    options: NAME_ONLY,
    async run(ctx) {
      const name = required(ctx, 'name', '-n/--name');
      return printVerify(ctx, (await (await ctx.client()).call('POST', `/cache-rules/${segment(name)}/verify`)).body);
    },
  },
];
