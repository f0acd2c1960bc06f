import { required, type CommandSpec } from '../command.js';
import { renderFields, renderTable } from '../table.js';
import { applyRuleFlags, RULE_OPTIONS, UPDATE_OPTIONS } from './cache-rule-flags.js';
import { createNamed, deleteNamed, namedCommand, showNamed, updateNamed, verifyNamed, type NamedResource } from './named-resource.js';

type Rule = Record<string, unknown> & { name: string };

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

const RULE: NamedResource<Rule> = { noun: 'cache rule', group: 'cache', collection: '/cache-rules', nameOption: RULE_OPTIONS.name!, fields: ruleFields };

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
      await createNamed(ctx, RULE, name, () => applyRuleFlags({}, ctx));
    },
  },
  {
    path: ['cache', 'update'],
    summary: 'change fields of a cache rule (GET, then PUT the rule with the flags applied)',
    options: UPDATE_OPTIONS,
    examples: ['pullthrough cache update -n dockerhub --freshness 0', 'pullthrough cache update -n dockerhub --unset allow --no-anonymous-pull'],
    async run(ctx) {
      const name = required(ctx, 'name', '-n/--name');
      await updateNamed(ctx, RULE, name, (current) => applyRuleFlags(current, ctx));
    },
  },
  namedCommand(RULE, 'show', 'show one cache rule', (ctx, name) => showNamed(ctx, RULE, name)),
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
  namedCommand(RULE, 'delete', 'delete a cache rule (cached content stays until retention removes it)', (ctx, name) => deleteNamed(ctx, RULE, name)),
  namedCommand(RULE, 'verify', "live check of a rule's upstream and credential set, step by step (exit 6 when a step fails)", (ctx, name) => verifyNamed(ctx, RULE, name)),
];
