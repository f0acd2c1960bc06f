import { str, type CommandSpec } from '../command.js';

/** `GET /api/v1/mirror-config/containerd`: hosts.toml files for nodes, printed as the API answers them. */
export const mirrorConfigCommand: CommandSpec = {
  path: ['mirror-config', 'containerd'],
  summary: "containerd hosts.toml files that make nodes pull through this cache (the mirror-config endpoint's answer)",
  options: {
    registry: { type: 'string', value: 'HOST', description: 'only this upstream registry (e.g. docker.io): prints its hosts.toml as is' },
    form: { type: 'string', value: 'ns|override-path', description: 'mirror form (default ns)' },
    'cache-url': { type: 'string', value: 'URL', description: 'the URL nodes reach the cache by (default: the first PULLTHROUGH_PUBLIC_HOSTS)' },
  },
  examples: ['pullthrough mirror-config containerd', 'pullthrough mirror-config containerd --registry docker.io > /etc/containerd/certs.d/docker.io/hosts.toml'],
  async run(ctx) {
    const query = { host: str(ctx, 'registry'), form: str(ctx, 'form'), cacheUrl: str(ctx, 'cache-url') };
    const body = (await (await ctx.client()).call('GET', '/mirror-config/containerd', { query })).body as { files: Array<{ path: string; content: string }> };
    if (ctx.output === 'json') return ctx.out.json(body);
    if (query.host !== undefined && body.files.length === 1) return ctx.out.print(body.files[0]!.content);
    ctx.out.print(body.files.map((f) => `# ==> ${f.path} <==\n${f.content}`).join('\n'));
  },
};
