import { readFile } from 'node:fs/promises';
import { segment } from '../admin-client.js';
import { bool, list, oneOf, required, str, type CommandContext, type CommandSpec, type OptionSpec } from '../command.js';
import { CliError, EXIT, usageError } from '../exit-codes.js';
import { renderFields, renderTable } from '../table.js';
import { createNamed, deleteNamed, namedCommand, showNamed, updateNamed, type NamedResource } from './named-resource.js';

type Webhook = Record<string, unknown> & { name: string; serviceUri?: string; actions?: string[]; scope?: string; status?: string; cloudEvents?: boolean; customHeaders?: Record<string, string> };

const NAME = { type: 'string', short: 'n', value: 'NAME', description: 'webhook name (5-50 letters, digits, -)' } as const satisfies OptionSpec;

/** `az acr webhook` flags; the signing secret is read from a file (or stdin), never from the command line. */
const HOOK_OPTIONS: Readonly<Record<string, OptionSpec>> = {
  name: NAME,
  uri: { type: 'string', value: 'URL', description: 'where events are POSTed (http/https, under the egress policy)  (serviceUri)' },
  actions: { type: 'string', multiple: true, value: 'LIST', description: 'cache.hydrated, cache.hydration_failed, push, delete  (actions)' },
  scope: { type: 'string', value: 'PATTERN', description: "repositories to hear about, '*' matches any characters; default all  (scope)" },
  headers: { type: 'string', multiple: true, value: 'KEY=VALUE', description: 'custom header sent with each delivery (repeat)  (customHeaders)' },
  status: { type: 'string', value: 'enabled|disabled', description: 'deliver or not  (status)' },
  'cloud-events': { type: 'boolean', description: 'wrap events in CloudEvents 1.0; --no-cloud-events for plain ACR events  (cloudEvents)' },
  'secret-file': { type: 'string', value: 'FILE', description: "file holding the HMAC signing secret (16-256 characters; '-' reads stdin); required on create, kept on update when absent" },
};

async function readSecret(path: string, ctx: CommandContext): Promise<string> {
  let text: string;
  try {
    if (path === '-') {
      const chunks: Buffer[] = [];
      for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
      text = Buffer.concat(chunks).toString('utf8');
    } else text = await readFile(path, 'utf8');
  } catch (err) {
    throw new CliError(EXIT.usage, `--secret-file ${path} cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  const secret = text.replace(/\r?\n$/, '');
  ctx.out.redact(secret);
  return secret;
}

async function applyHookFlags(base: Webhook | Record<string, unknown>, ctx: CommandContext): Promise<Record<string, unknown>> {
  const hook: Record<string, unknown> = { ...base };
  const set = (field: string, value: unknown) => {
    if (value !== undefined) hook[field] = value;
  };
  set('serviceUri', str(ctx, 'uri'));
  set('actions', list(ctx, 'actions'));
  set('scope', str(ctx, 'scope'));
  set('status', oneOf(str(ctx, 'status'), ['enabled', 'disabled'], '--status'));
  set('cloudEvents', bool(ctx, 'cloud-events'));
  const headers = list(ctx, 'headers');
  if (headers !== undefined) {
    const custom: Record<string, string> = {};
    for (const h of headers) {
      const eq = h.indexOf('=');
      if (eq <= 0) throw usageError(`--headers ${h}: must be KEY=VALUE`);
      custom[h.slice(0, eq)] = h.slice(eq + 1);
    }
    hook.customHeaders = custom;
  }
  const secretFile = str(ctx, 'secret-file');
  if (secretFile !== undefined) hook.secret = await readSecret(secretFile, ctx);
  return hook;
}

function hookFields(h: Webhook): string {
  return renderFields([
    ['name', h.name],
    ['uri', h.serviceUri],
    ['actions', h.actions],
    ['scope', h.scope ?? '(all repositories)'],
    ['status', h.status],
    ['cloud events', h.cloudEvents],
    ['headers', h.customHeaders && Object.keys(h.customHeaders).length > 0 ? Object.entries(h.customHeaders).map(([k, v]) => `${k}=${v}`) : undefined],
  ]);
}

const HOOK: NamedResource<Webhook> = { noun: 'webhook', group: 'webhook', collection: '/webhooks', nameOption: NAME, fields: hookFields };

export const webhookCommands: CommandSpec[] = [
  {
    path: ['webhook', 'create'],
    summary: 'create a webhook (needs the admin role)',
    options: HOOK_OPTIONS,
    examples: ["pullthrough webhook create -n hydrated-hook --uri https://hooks.example/pullthrough --actions cache.hydrated,push --scope 'dockerhub/*' --secret-file ./hook-secret"],
    async run(ctx) {
      const name = required(ctx, 'name', '-n/--name');
      required(ctx, 'uri', '--uri');
      required(ctx, 'secret-file', '--secret-file');
      if (list(ctx, 'actions') === undefined) throw usageError('--actions is required');
      await createNamed(ctx, HOOK, name, () => applyHookFlags({}, ctx));
    },
  },
  {
    path: ['webhook', 'update'],
    summary: 'change a webhook (the stored secret is kept unless --secret-file is given)',
    options: HOOK_OPTIONS,
    async run(ctx) {
      const name = required(ctx, 'name', '-n/--name');
      await updateNamed(ctx, HOOK, name, (current) => applyHookFlags(current, ctx));
    },
  },
  namedCommand(HOOK, 'show', 'show a webhook (never its secret)', (ctx, name) => showNamed(ctx, HOOK, name)),
  {
    path: ['webhook', 'list'],
    summary: 'list the webhooks',
    async run(ctx) {
      const body = (await (await ctx.client()).call('GET', '/webhooks')).body as { webhooks: Webhook[] };
      if (ctx.output === 'json') return ctx.out.json(body);
      ctx.out.print(renderTable(['name', 'status', 'uri', 'actions', 'scope'], body.webhooks.map((h) => [h.name, h.status, h.serviceUri, h.actions, h.scope])));
    },
  },
  namedCommand(HOOK, 'delete', 'delete a webhook (needs the admin role)', (ctx, name) => deleteNamed(ctx, HOOK, name)),
  namedCommand(HOOK, 'ping', 'queue a test event to the webhook (see it with `webhook deliveries`)', async (ctx, name) => {
    const body = (await (await ctx.client()).call('POST', `/webhooks/${segment(name)}/ping`)).body as { eventId?: string };
    if (ctx.output === 'json') return ctx.out.json(body);
    ctx.out.print(`ping queued for webhook "${name}": event ${body.eventId ?? '-'}`);
  }),
  namedCommand(HOOK, 'deliveries', 'the last 100 delivery attempts, newest first', async (ctx, name) => {
    const body = (await (await ctx.client()).call('GET', `/webhooks/${segment(name)}/deliveries`)).body as { deliveries: Array<Record<string, unknown>> };
    if (ctx.output === 'json') return ctx.out.json(body);
    const rows = body.deliveries.map((d) => [d.at, d.action, d.attempt, d.ok ? 'ok' : 'failed', d.statusCode, d.latencyMs === undefined ? undefined : `${String(d.latencyMs)} ms`, d.eventId, d.error]);
    ctx.out.print(renderTable(['at', 'action', 'attempt', 'result', 'status', 'latency', 'event', 'error'], rows));
  }),
];
