import { segment } from '../admin-client.js';
import { required, type CommandContext, type CommandSpec, type OptionSpec } from '../command.js';
import { CliError, EXIT } from '../exit-codes.js';
import { printVerify } from './verify-result.js';

/** A kind of named admin API object the CLI creates, changes, shows and deletes (cache rule, credential set, webhook). */
export interface NamedResource<T> {
  /** In messages: `cache rule`. */
  noun: string;
  /** The CLI command group (`cache`): its commands are `<group> <verb>`. */
  group: string;
  /** The -n/--name option. */
  nameOption: OptionSpec;
  /** The admin API collection: `/cache-rules`. */
  collection: string;
  /** One object's fields, rendered for `-o table`. */
  fields(body: T): string;
}

const pathOf = (kind: NamedResource<unknown>, name: string) => `${kind.collection}/${segment(name)}`;

/** The API's body as JSON (`-o json`), or the heading (when given) and the object's fields. */
export async function printNamed<T>(ctx: CommandContext, kind: NamedResource<T>, body: unknown, heading?: string): Promise<void> {
  if (ctx.output === 'json') return ctx.out.json(body);
  if (heading) ctx.out.print(heading);
  ctx.out.print(kind.fields(body as T));
}

/**
 * Create, never replace: one of that name already there is refused (like `az acr ... create`).
 * `build` makes the body only after that check (it may read a secret file).
 */
export async function createNamed<T>(ctx: CommandContext, kind: NamedResource<T>, name: string, build: () => unknown): Promise<void> {
  const client = await ctx.client();
  if ((await client.send('GET', pathOf(kind, name))).status === 200) {
    throw new CliError(EXIT.refused, `error: ${kind.noun} "${name}" already exists (use \`pullthrough ${kind.group} update\`)`);
  }
  const res = await client.call('PUT', pathOf(kind, name), { body: await build() });
  await printNamed(ctx, kind, res.body, `${kind.noun} "${name}" created`);
}

/** GET the stored object, then PUT what `apply` makes of it. */
export async function updateNamed<T>(ctx: CommandContext, kind: NamedResource<T>, name: string, apply: (current: T) => unknown): Promise<void> {
  const client = await ctx.client();
  const current = (await client.call('GET', pathOf(kind, name))).body as T;
  const res = await client.call('PUT', pathOf(kind, name), { body: await apply(current) });
  await printNamed(ctx, kind, res.body, `${kind.noun} "${name}" ${res.status === 201 ? 'created' : 'updated'}`);
}

export async function showNamed<T>(ctx: CommandContext, kind: NamedResource<T>, name: string): Promise<void> {
  await printNamed(ctx, kind, (await (await ctx.client()).call('GET', pathOf(kind, name))).body);
}

export async function deleteNamed<T>(ctx: CommandContext, kind: NamedResource<T>, name: string): Promise<void> {
  await (await ctx.client()).call('DELETE', pathOf(kind, name));
  if (ctx.output === 'table') ctx.out.print(`${kind.noun} "${name}" deleted`);
}

/** POST `<name>/verify` and print its steps (exit 6 when a step fails). */
export async function verifyNamed<T>(ctx: CommandContext, kind: NamedResource<T>, name: string): Promise<number> {
  return printVerify(ctx, (await (await ctx.client()).call('POST', `${pathOf(kind, name)}/verify`)).body);
}

/** `<group> <verb> -n NAME`: a command whose only option is the object's name. */
export function namedCommand<T>(kind: NamedResource<T>, verb: string, summary: string, run: (ctx: CommandContext, name: string) => Promise<number | void>): CommandSpec {
  return { path: [kind.group, verb], summary, options: { name: kind.nameOption }, run: (ctx) => run(ctx, required(ctx, 'name', '-n/--name')) };
}
