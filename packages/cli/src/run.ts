import { parseArgs, type ParseArgsConfig } from 'node:util';
import { AdminClient } from './admin-client.js';
import { ENV, resolveSettings } from './admin-settings.js';
import { GLOBAL_OPTIONS, oneOf, type CommandContext, type CommandSpec, type OptionSpec, type OptionValues } from './command.js';
import { COMMANDS } from './commands/index.js';
import { CliError, EXIT, usageError } from './exit-codes.js';
import { commandHelp, commandLine, groupHelp, topHelp } from './help.js';
import { Output, type OutputStreams } from './output.js';

export interface RunInput {
  argv: string[];
  env: NodeJS.ProcessEnv;
  home: string;
  streams: OutputStreams;
}

/** Global flags that take a value: skipped (with their value) while looking for the command words. */
const GLOBAL_VALUED = new Set(Object.entries(GLOBAL_OPTIONS).flatMap(([n, o]) => (o.type === 'string' ? [`--${n}`, ...(o.short ? [`-${o.short}`] : [])] : [])));

/** Indexes of the non-flag words in `argv` before `--`, skipping global flags' values. */
function wordIndexes(argv: readonly string[]): number[] {
  const out: number[] = [];
  for (let i = 0; i < argv.length; i++) {
    const t = argv[i]!;
    if (t === '--') break;
    if (t.startsWith('-') && t !== '-') {
      if (GLOBAL_VALUED.has(t)) i++;
      continue;
    }
    out.push(i);
  }
  return out;
}

const isLoopback = (host: string) => host === 'localhost' || host === '[::1]' || /^127\./.test(host);

function parseOptions(spec: CommandSpec, args: string[]): { values: OptionValues; positionals: string[] } {
  const all: Record<string, OptionSpec> = { ...GLOBAL_OPTIONS, ...(spec.options ?? {}) };
  const options: NonNullable<ParseArgsConfig['options']> = {};
  for (const [name, o] of Object.entries(all)) options[name] = { type: o.type, ...(o.short ? { short: o.short } : {}), ...(o.multiple ? { multiple: true } : {}) };
  try {
    const parsed = parseArgs({ args, options, strict: true, allowPositionals: true, allowNegative: true });
    return { values: parsed.values as OptionValues, positionals: parsed.positionals };
  } catch (err) {
    throw usageError((err as Error).message);
  }
}

function checkArgs(spec: CommandSpec, positionals: string[]): void {
  const declared = spec.args ?? [];
  const needed = declared.filter((a) => !a.startsWith('['));
  const variadic = declared.some((a) => a.endsWith('...'));
  if (positionals.length < needed.length) throw usageError(`missing <${needed[positionals.length]}>`);
  if (!variadic && positionals.length > declared.length) throw usageError(`unexpected argument "${positionals[declared.length]}"`);
}

/** Run one CLI invocation; resolves with its exit code (never throws). */
export async function run({ argv, env, home, streams }: RunInput): Promise<number> {
  const out = new Output(streams);
  // The token never reaches the output, whatever goes wrong from here on.
  out.redact(env[ENV.token]);
  argv.forEach((t, i) => (t === '--token' ? out.redact(argv[i + 1]) : t.startsWith('--token=') ? out.redact(t.slice(8)) : undefined));
  const helpAsked = argv.slice(0, argv.includes('--') ? argv.indexOf('--') : undefined).some((t) => t === '-h' || t === '--help');
  let words = wordIndexes(argv);
  let firstWord = words[0] === undefined ? undefined : argv[words[0]];
  if (firstWord === 'help') {
    argv = argv.filter((_, i) => i !== words[0]);
    words = wordIndexes(argv);
    firstWord = words[0] === undefined ? undefined : argv[words[0]];
    if (firstWord === undefined) return out.print(topHelp(COMMANDS)), EXIT.ok;
    argv = [...argv, '--help'];
  }
  if (firstWord === undefined) {
    if (helpAsked) return out.print(topHelp(COMMANDS)), EXIT.ok;
    out.error(topHelp(COMMANDS));
    return EXIT.usage;
  }
  const group = COMMANDS.filter((s) => s.path[0] === firstWord);
  if (group.length === 0) {
    out.error(`error: unknown command "${firstWord}"\n\n${topHelp(COMMANDS)}`);
    return EXIT.usage;
  }
  let spec = group.find((s) => s.path.length === 1);
  let used = 1;
  if (!spec) {
    const sub = words[1] === undefined ? undefined : argv[words[1]];
    spec = group.find((s) => s.path[1] === sub);
    if (!spec) {
      if (sub === undefined && (helpAsked || argv.includes('--help'))) return out.print(groupHelp(firstWord, COMMANDS)), EXIT.ok;
      out.error(`${sub === undefined ? `error: "${firstWord}" needs a command` : `error: unknown command "${firstWord} ${sub}"`}\n\n${groupHelp(firstWord, COMMANDS)}`);
      return EXIT.usage;
    }
    used = 2;
  }
  const commandWords = new Set(words.slice(0, used));
  const rest = argv.filter((_, i) => !commandWords.has(i));
  if (rest.includes('--help') || rest.includes('-h')) return out.print(commandHelp(spec)), EXIT.ok;

  let client: AdminClient | undefined;
  try {
    const { values, positionals } = parseOptions(spec, rest);
    out.redact(typeof values.token === 'string' ? values.token : undefined);
    checkArgs(spec, positionals);
    const output = oneOf(typeof values.output === 'string' ? values.output : undefined, ['table', 'json'] as const, '-o/--output') ?? 'table';
    const timeoutRaw = typeof values.timeout === 'string' ? values.timeout : undefined;
    const timeoutSeconds = timeoutRaw === undefined ? 30 : Number(timeoutRaw);
    if (!Number.isFinite(timeoutSeconds) || timeoutSeconds <= 0) throw usageError('--timeout must be a number of seconds above 0');
    const ctx: CommandContext = {
      values,
      args: positionals,
      output,
      out,
      async client() {
        if (client) return client;
        const settings = await resolveSettings(
          {
            ...(typeof values.url === 'string' ? { url: values.url } : {}),
            ...(typeof values.token === 'string' ? { token: values.token } : {}),
            ...(typeof values.config === 'string' ? { config: values.config } : {}),
            ...(typeof values['ca-file'] === 'string' ? { caFile: values['ca-file'] } : {}),
            insecure: values.insecure === true,
          },
          env,
          home,
        );
        out.redact(settings.token);
        const u = new URL(settings.url);
        if (settings.insecure) out.warn('--insecure: the server certificate is not verified; anyone on the path can read the token and answer for the server');
        if (settings.insecure && u.protocol === 'http:') out.warn('--insecure has no effect on an http:// URL');
        if (u.protocol === 'http:' && settings.token !== undefined && !isLoopback(u.hostname)) out.warn(`the token is sent over plain http to ${u.host}: use https`);
        client = new AdminClient(settings, out, { verbose: values.verbose === true, timeoutMs: timeoutSeconds * 1000 });
        return client;
      },
    };
    return (await spec.run(ctx)) ?? EXIT.ok;
  } catch (err) {
    if (err instanceof CliError) {
      out.error(err.message.startsWith('error:') ? err.message : `error: ${err.message}`);
      if (err.usage) out.error(`usage: ${commandLine(spec)}  (--help for the flags)`);
      return err.exitCode;
    }
    out.error(`error: ${(err as Error)?.message ?? String(err)}`);
    return EXIT.refused;
  } finally {
    await client?.close();
  }
}
