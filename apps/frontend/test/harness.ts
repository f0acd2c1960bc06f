import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger, type Logger } from '@pullthrough/pull-through';
import { startFixtureUpstream, startRedis, uniquePrefix, type FixtureUpstream, type JwksServer, type RedisServer } from '@pullthrough/test-support';
import { loadFrontendConfig } from '../src/config.js';
import { startFrontend, type RunningFrontend } from '../src/frontend.js';

export const ADMIN_TOKEN = 'test-admin-token-0123456789';

export type Upstream = FixtureUpstream;

/** A real docker-registry with the fixtures pushed, behind a counting proxy. */
export const startUpstream = startFixtureUpstream;

export interface Cache {
  frontend: RunningFrontend;
  /** `127.0.0.1:<port>` of the data plane, for skopeo. */
  host: string;
  dataUrl: string;
  adminUrl: string;
  dataDir: string;
  queuePrefix: string;
  stop(): Promise<void>;
}

/** The real frontend in-process on ephemeral ports, filesystem storage in a temp dir. */
export async function startCache(
  redis: RedisServer,
  insecure: string[],
  env: Record<string, string> = {},
  secretEnv: Record<string, string> = {},
  existingDataDir?: string,
  /** The frontend's logger (default: silent); give a pino logger on an in-memory stream to read its lines. */
  logger: Logger = silentLogger,
): Promise<Cache> {
  const dataDir = existingDataDir ?? (await mkdtemp(join(tmpdir(), 'pullthrough-data-')));
  const queuePrefix = uniquePrefix('frontend');
  const config = loadFrontendConfig({
    PULLTHROUGH_DATA_PORT: '0',
    PULLTHROUGH_ADMIN_PORT: '0',
    PULLTHROUGH_DATA_DIR: dataDir,
    REDIS_URL: redis.url,
    PULLTHROUGH_QUEUE_PREFIX: queuePrefix,
    PULLTHROUGH_INSECURE_UPSTREAMS: insecure.join(','),
    // Test upstreams and webhook receivers listen on loopback: the egress policy lets them through explicitly.
    PULLTHROUGH_EGRESS_ALLOW: '127.0.0.1',
    ...env,
  });
  const frontend = await startFrontend({ config, logger, adminToken: ADMIN_TOKEN, secretEnv });
  return {
    frontend,
    host: new URL(frontend.dataUrl).host,
    dataUrl: frontend.dataUrl,
    adminUrl: frontend.adminUrl,
    dataDir,
    queuePrefix,
    async stop() {
      await frontend.close();
      if (!existingDataDir) await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** PUT a cache rule through the admin API. */
export async function putRule(cache: Cache, rule: Record<string, unknown> & { name: string }): Promise<Response> {
  return fetch(`${cache.adminUrl}/api/v1/cache-rules/${rule.name}`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify(rule),
  });
}

/** Secrets a test's credential set reads through `env:` references (pass as startCache's secretEnv). */
export const UPSTREAM_SECRETS = { PULLTHROUGH_SECRET_UP_USER: 'someone', PULLTHROUGH_SECRET_UP_PASS: 'upstream-pass' };

/** PUT a credential set for `loginServer` whose secrets are UPSTREAM_SECRETS' env references. */
export function putEnvCredentialSet(cache: Cache, name: string, loginServer: string): Promise<Response> {
  return fetch(`${cache.adminUrl}/api/v1/credential-sets/${name}`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      loginServer,
      authCredentials: [{ usernameSecretIdentifier: 'env:PULLTHROUGH_SECRET_UP_USER', passwordSecretIdentifier: 'env:PULLTHROUGH_SECRET_UP_PASS' }],
    }),
  });
}

/** An htpasswd file (bcrypt cost 5, made by the real htpasswd) in `dir` with these users; returns its path. */
export async function writeHtpasswd(dir: string, users: Record<string, string>): Promise<string> {
  const path = join(dir, 'htpasswd');
  const lines = Object.entries(users).map(([user, password]) => execFileSync('htpasswd', ['-nbB', '-C', '5', user, password]).toString().trim());
  await writeFile(path, `${lines.join('\n')}\n`);
  return path;
}

/** The admin API's OIDC settings for a test issuer; `roleMap` is PULLTHROUGH_ADMIN_OIDC_ROLE_MAP (unset when absent). */
export function adminOidcEnv(issuer: JwksServer, audience: string, roleMap?: string): Record<string, string> {
  const env: Record<string, string> = { PULLTHROUGH_ADMIN_OIDC_ISSUER: issuer.issuer, PULLTHROUGH_ADMIN_OIDC_AUDIENCE: audience, PULLTHROUGH_ADMIN_OIDC_JWKS_URL: issuer.jwksUrl };
  if (roleMap !== undefined) env.PULLTHROUGH_ADMIN_OIDC_ROLE_MAP = roleMap;
  return env;
}

export { startRedis };
