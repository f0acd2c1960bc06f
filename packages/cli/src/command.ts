import type { AdminClient } from './admin-client.js';
import { usageError } from './exit-codes.js';
import type { Output } from './output.js';

export interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
  /** May be given more than once (values are also split on commas by `list`). */
  multiple?: boolean;
  /** Placeholder in the help, e.g. `NAME`. */
  value?: string;
  description: string;
}

export type OptionValues = Record<string, string | boolean | Array<string | boolean> | undefined>;

export interface CommandContext {
  values: OptionValues;
  /** Positional arguments after the command words. */
  args: string[];
  output: 'table' | 'json';
  out: Output;
  /** The admin API client (settings resolved on first use). */
  client(): Promise<AdminClient>;
}

export interface CommandSpec {
  /** The command words, e.g. `['cache', 'create']`. */
  path: readonly string[];
  summary: string;
  /** Positional arguments: `repo` is required, `[rule]` optional. */
  args?: readonly string[];
  options?: Readonly<Record<string, OptionSpec>>;
  examples?: readonly string[];
  /** Resolves with the exit code (0 when undefined). */
  run(ctx: CommandContext): Promise<number | void>;
}

/** A string option's value (the last one when given more than once). */
export function str(ctx: CommandContext, name: string): string | undefined {
  const v = ctx.values[name];
  const last = Array.isArray(v) ? v.at(-1) : v;
  return typeof last === 'string' ? last : undefined;
}

export function required(ctx: CommandContext, name: string, flag = `--${name}`): string {
  const v = str(ctx, name);
  if (v === undefined || v === '') throw usageError(`${flag} is required`);
  return v;
}

export function bool(ctx: CommandContext, name: string): boolean | undefined {
  const v = ctx.values[name];
  return typeof v === 'boolean' ? v : undefined;
}

/** A list option: every occurrence, each split on commas, blanks dropped; undefined when not given. */
export function list(ctx: CommandContext, name: string): string[] | undefined {
  const v = ctx.values[name];
  if (v === undefined) return undefined;
  const raw = (Array.isArray(v) ? v : [v]).filter((x): x is string => typeof x === 'string');
  return raw.flatMap((x) => x.split(',')).map((x) => x.trim()).filter((x) => x !== '');
}

/** One of `allowed`, or a usage error naming them. */
export function oneOf<T extends string>(value: string | undefined, allowed: readonly T[], flag: string): T | undefined {
  if (value === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(value)) throw usageError(`${flag} must be one of ${allowed.join(', ')}`);
  return value as T;
}

/** Options every command takes. */
export const GLOBAL_OPTIONS: Readonly<Record<string, OptionSpec>> = {
  url: { type: 'string', value: 'URL', description: 'admin API base URL, e.g. http://127.0.0.1:5001 (env PULLTHROUGH_CLI_URL)' },
  token: { type: 'string', value: 'TOKEN', description: 'admin token or OIDC access token (env PULLTHROUGH_CLI_TOKEN; visible to `ps`: prefer the env or config file)' },
  config: { type: 'string', value: 'FILE', description: 'config file (env PULLTHROUGH_CLI_CONFIG; default ~/.config/pullthrough/config.json)' },
  output: { type: 'string', short: 'o', value: 'table|json', description: 'table for people (default), json: the API body as is' },
  'ca-file': { type: 'string', value: 'FILE', description: 'PEM CA certificates to trust for an https URL (env PULLTHROUGH_CLI_CA_FILE)' },
  insecure: { type: 'boolean', description: 'do not verify the server certificate (prints a warning)' },
  timeout: { type: 'string', value: 'SECONDS', description: 'give up on a request after this long (default 30)' },
  verbose: { type: 'boolean', description: 'print each request and its status on stderr (never the token)' },
  help: { type: 'boolean', short: 'h', description: 'show help' },
};
