import { GLOBAL_OPTIONS, type CommandSpec, type OptionSpec } from './command.js';
import { EXIT } from './exit-codes.js';

const flagText = (name: string, o: OptionSpec) => `${o.short ? `-${o.short}, ` : '    '}--${name}${o.value ? ` ${o.value}` : ''}`;

function optionLines(options: Readonly<Record<string, OptionSpec>>): string[] {
  const entries = Object.entries(options);
  const width = Math.max(...entries.map(([n, o]) => flagText(n, o).length));
  return entries.map(([n, o]) => `  ${flagText(n, o).padEnd(width)}  ${o.description}`);
}

export function commandLine(spec: CommandSpec): string {
  const args = (spec.args ?? []).map((a) => (a.startsWith('[') ? a : `<${a}>`)).join(' ');
  return `pullthrough ${spec.path.join(' ')}${args ? ` ${args}` : ''}${spec.options ? ' [flags]' : ''}`;
}

/** `pullthrough cache create --help`. */
export function commandHelp(spec: CommandSpec): string {
  const lines = [`usage: ${commandLine(spec)}`, '', spec.summary];
  if (spec.options) lines.push('', 'flags:', ...optionLines(spec.options));
  lines.push('', 'global flags:', ...optionLines(GLOBAL_OPTIONS));
  if (spec.examples) lines.push('', 'examples:', ...spec.examples.map((e) => `  ${e}`));
  return lines.join('\n');
}

/** `pullthrough cache --help`: the group's commands. */
export function groupHelp(group: string, specs: readonly CommandSpec[]): string {
  const mine = specs.filter((s) => s.path[0] === group);
  const width = Math.max(...mine.map((s) => s.path.join(' ').length));
  return [`usage: pullthrough ${group} <command> [flags]`, '', 'commands:', ...mine.map((s) => `  ${s.path.join(' ').padEnd(width)}  ${s.summary}`), '', `run \`pullthrough ${group} <command> --help\` for its flags`].join('\n');
}

/** `pullthrough --help`. */
export function topHelp(specs: readonly CommandSpec[]): string {
  const width = Math.max(...specs.map((s) => s.path.join(' ').length));
  return [
    'usage: pullthrough <command> [flags]',
    '',
    "pullthrough's admin API from the command line: cache rules, credential sets, health, hydration, webhooks, mirror config.",
    '',
    'commands:',
    ...specs.map((s) => `  ${s.path.join(' ').padEnd(width)}  ${s.summary}`),
    '',
    'global flags:',
    ...optionLines(GLOBAL_OPTIONS),
    '',
    'The admin URL and token come from --url/--token, else PULLTHROUGH_CLI_URL/PULLTHROUGH_CLI_TOKEN,',
    'else ~/.config/pullthrough/config.json ({"url": ..., "token": ..., "caFile": ...}; mode 0600 when it holds a token).',
    '',
    `exit codes: ${EXIT.ok} ok, ${EXIT.refused} the API refused (4xx), ${EXIT.usage} usage or config error, ${EXIT.notFound} not found (404),`,
    `  ${EXIT.auth} auth (401/403), ${EXIT.unavailable} server unreachable or 5xx, ${EXIT.failed} hydration/verify/prefetch failed, ${EXIT.timedOut} --wait timed out`,
    '',
    'run `pullthrough <command> --help` for its flags',
  ].join('\n');
}
