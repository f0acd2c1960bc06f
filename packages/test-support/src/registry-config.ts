import { randomBytes } from 'node:crypto';

export type RegistryAuthConfig =
  | { kind: 'none' }
  | { kind: 'basic'; htpasswdPath: string }
  | { kind: 'token'; realm: string; service: string; issuer: string; rootCertBundle: string };

export interface RegistryConfigInput {
  port: number;
  storageDir: string;
  auth: RegistryAuthConfig;
}

/**
 * distribution's config.yml. Written as JSON, which is valid YAML: no YAML library, no quoting
 * surprises. Relative URLs keep upload `Location`s pointing through whatever proxy is in front.
 */
export function registryConfig(input: RegistryConfigInput): string {
  const config: Record<string, unknown> = {
    version: '0.1',
    log: { level: 'info', formatter: 'text', accesslog: { disabled: true }, fields: { service: 'registry' } },
    storage: {
      filesystem: { rootdirectory: input.storageDir },
      delete: { enabled: true },
      maintenance: { uploadpurging: { enabled: false } },
    },
    http: {
      addr: `127.0.0.1:${input.port}`,
      secret: randomBytes(16).toString('hex'),
      relativeurls: true,
      headers: { 'X-Content-Type-Options': ['nosniff'] },
    },
  };
  const auth = input.auth;
  if (auth.kind === 'basic') {
    config.auth = { htpasswd: { realm: 'pullthrough-test', path: auth.htpasswdPath } };
  } else if (auth.kind === 'token') {
    config.auth = {
      token: { realm: auth.realm, service: auth.service, issuer: auth.issuer, rootcertbundle: auth.rootCertBundle },
    };
  }
  return `${JSON.stringify(config, null, 2)}\n`;
}
