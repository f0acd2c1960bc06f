import { readFile, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { CliError, EXIT } from './exit-codes.js';

/** The environment variables the CLI reads (not the server's: PULLTHROUGH_ADMIN_TOKEN is the frontend's own setting). */
export const ENV = {
  url: 'PULLTHROUGH_CLI_URL',
  token: 'PULLTHROUGH_CLI_TOKEN',
  config: 'PULLTHROUGH_CLI_CONFIG',
  caFile: 'PULLTHROUGH_CLI_CA_FILE',
} as const;

/** What the config file may hold (`~/.config/pullthrough/config.json`). */
const FILE_KEYS = ['url', 'token', 'caFile'] as const;
type ConfigFile = Partial<Record<(typeof FILE_KEYS)[number], string>>;

/** Where and how to reach the admin API. */
export interface AdminSettings {
  /** The admin listener's base URL, without a trailing slash (`http://127.0.0.1:5001`). */
  url: string;
  token?: string;
  /** PEM certificates to trust for an https URL (a private CA). */
  ca?: string;
  /** Skip TLS verification (`--insecure` only). */
  insecure: boolean;
}

export interface SettingsFlags {
  url?: string;
  token?: string;
  config?: string;
  caFile?: string;
  insecure?: boolean;
}

/** The default config file: `$XDG_CONFIG_HOME/pullthrough/config.json`, else `~/.config/pullthrough/config.json`. */
export function defaultConfigPath(env: NodeJS.ProcessEnv, home: string): string {
  const base = env.XDG_CONFIG_HOME && env.XDG_CONFIG_HOME.startsWith('/') ? env.XDG_CONFIG_HOME : join(home, '.config');
  return join(base, 'pullthrough', 'config.json');
}

const configError = (message: string) => new CliError(EXIT.usage, message);

/**
 * Read the config file. A missing default file is no file; a missing file named by `--config` or
 * PULLTHROUGH_CLI_CONFIG is an error. A file holding a token must be readable by its owner only.
 */
export async function readConfigFile(path: string, explicit: boolean): Promise<ConfigFile> {
  let mode: number;
  try {
    mode = (await stat(path)).mode;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' && !explicit) return {};
    throw configError(`config file ${path} cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(path, 'utf8'));
  } catch (err) {
    const why = err instanceof SyntaxError ? 'is not valid JSON' : `cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`;
    throw configError(`config file ${path} ${why}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw configError(`config file ${path} must hold a JSON object such as {"url": "https://cache-admin.example:5001", "token": "..."}`);
  const file: ConfigFile = {};
  const problems: string[] = [];
  for (const [key, value] of Object.entries(parsed)) {
    if (!(FILE_KEYS as readonly string[]).includes(key)) problems.push(`${key}: unknown key (known: ${FILE_KEYS.join(', ')})`);
    else if (typeof value !== 'string' || value === '') problems.push(`${key}: must be a non-empty string`);
    else file[key as keyof ConfigFile] = value;
  }
  if (problems.length > 0) throw configError(`config file ${path} is not valid:\n${problems.map((p) => `  ${p}`).join('\n')}`);
  if (file.token !== undefined && process.platform !== 'win32' && (mode & 0o077) !== 0) {
    const octal = (mode & 0o777).toString(8).padStart(4, '0');
    throw configError(`config file ${path} holds a token but can be read by group or others (mode ${octal}): run chmod 600 ${path}`);
  }
  if (file.caFile !== undefined) file.caFile = resolve(dirname(path), file.caFile);
  return file;
}

/** `scheme://host[:port][/base]` of the admin API, or a usage error saying what is wrong. */
export function adminBaseUrl(raw: string, source: string): string {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw configError(`${source}: "${raw}" is not a URL (e.g. http://127.0.0.1:5001)`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw configError(`${source}: must be an http:// or https:// URL`);
  if (u.username || u.password) throw configError(`${source}: must not carry credentials (give the token with --token, ${ENV.token} or the config file)`);
  if (u.search || u.hash) throw configError(`${source}: must not have a query or fragment`);
  return `${u.protocol}//${u.host}${u.pathname.replace(/\/+$/, '')}`;
}

/** Flags win over the environment, which wins over the config file. `--insecure` is a flag only. */
export async function resolveSettings(flags: SettingsFlags, env: NodeJS.ProcessEnv, home: string): Promise<AdminSettings> {
  const explicitPath = flags.config ?? (env[ENV.config] || undefined);
  const file = await readConfigFile(explicitPath ?? defaultConfigPath(env, home), explicitPath !== undefined);
  const rawUrl = flags.url ?? (env[ENV.url] || undefined) ?? file.url;
  if (rawUrl === undefined) {
    throw new CliError(EXIT.usage, `no admin URL: give --url, set ${ENV.url}, or put "url" in ${explicitPath ?? defaultConfigPath(env, home)}`, true);
  }
  const source = flags.url !== undefined ? '--url' : env[ENV.url] ? ENV.url : 'config file "url"';
  const url = adminBaseUrl(rawUrl, source);
  const token = flags.token ?? (env[ENV.token] || undefined) ?? file.token;
  const caFile = flags.caFile ?? (env[ENV.caFile] || undefined) ?? file.caFile;
  let ca: string | undefined;
  if (caFile !== undefined) {
    try {
      ca = await readFile(caFile, 'utf8');
    } catch (err) {
      throw configError(`CA file ${caFile} cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    }
    if (!ca.includes('-----BEGIN CERTIFICATE-----')) throw configError(`CA file ${caFile} holds no PEM certificate`);
  }
  return { url, ...(token !== undefined ? { token } : {}), ...(ca !== undefined ? { ca } : {}), insecure: flags.insecure === true };
}
