import { RegistryError } from '@pullthrough/oci';
import { AcrTokenExchange, type IdentityTokenProvider } from './acr-token-exchange.js';
import { discard } from './body-streams.js';
import { createUpstreamAgent, type UpstreamAgentOptions } from './upstream-agent.js';
import { mayReceiveCredentials, realmMayReceive } from './may-receive-credentials.js';
import type { CredentialsProvider } from './upstream-answer.js';
import { UpstreamTransport } from './upstream-transport.js';
import { parseChallenges } from './www-authenticate.js';

export type LoginCheckStep = 'secrets-readable' | 'upstream-reachable' | 'upstream-accepts-credentials';

export interface LoginCheckStepResult {
  step: LoginCheckStep;
  status: 'ok' | 'failed' | 'skipped';
  /** What was found; holds no secret. */
  message: string;
  category?: string;
}

export interface LoginCheckResult {
  status: 'ok' | 'failed';
  /** The first step that failed. */
  failedStep?: LoginCheckStep;
  steps: LoginCheckStepResult[];
}

export interface LoginCheckOptions extends UpstreamAgentOptions {
  registry: string;
  insecure: boolean;
  /** Undefined: anonymous access is checked. */
  credentials?: CredentialsProvider;
  /** Entra ID token for an ACR upstream reached with a managed identity (used instead of `credentials` when it gives one). */
  identityToken?: IdentityTokenProvider;
  /** e.g. `repository:library/node:pull`; without it the token endpoint is asked for a login only. */
  scope?: string;
}

/**
 * A live check of one upstream login, step by step: the secrets are readable, the upstream's
 * `/v2/` answers, and the upstream accepts the credentials (a token for the pull scope from its
 * realm, or an authenticated `/v2/` for basic auth). Stops at the first failed step.
 */
export async function checkUpstreamLogin(options: LoginCheckOptions): Promise<LoginCheckResult> {
  const steps: LoginCheckStepResult[] = [];
  const done = (): LoginCheckResult => {
    const failed = steps.find((s) => s.status === 'failed');
    return failed ? { status: 'failed', failedStep: failed.step, steps } : { status: 'ok', steps };
  };
  let basic: string | undefined;
  let realmHosts: readonly string[] | undefined;
  let identity: string | undefined;
  if (options.identityToken) {
    try {
      identity = await options.identityToken();
    } catch (err) {
      steps.push({ step: 'secrets-readable', status: 'failed', message: messageOf(err), category: categoryOf(err) ?? 'credential-lookup' });
      return done();
    }
  }
  if (identity !== undefined) {
    steps.push({ step: 'secrets-readable', status: 'ok', message: 'an Entra ID token was issued to the managed identity' });
  } else if (options.credentials) {
    try {
      const found = await options.credentials();
      realmHosts = found?.realmHosts;
      if (found) basic = `Basic ${Buffer.from(`${found.username}:${found.password}`).toString('base64')}`;
      steps.push({ step: 'secrets-readable', status: 'ok', message: 'the credential set\'s secrets were read' });
    } catch (err) {
      steps.push({ step: 'secrets-readable', status: 'failed', message: messageOf(err), category: categoryOf(err) ?? 'credential-lookup' });
      return done();
    }
  } else {
    steps.push({ step: 'secrets-readable', status: 'skipped', message: 'no credential set: anonymous access' });
  }

  const agent = createUpstreamAgent(options);
  const transport = new UpstreamTransport({ upstream: options.registry, insecure: options.insecure, dispatcher: agent, userAgent: 'pullthrough-verify' });
  const origin = `${options.insecure ? 'http' : 'https'}://${options.registry}`;
  try {
    let ping;
    try {
      ping = await transport.send('GET', new URL(`${origin}/v2/`), {}, options.registry);
      await discard(ping.body);
    } catch (err) {
      steps.push({ step: 'upstream-reachable', status: 'failed', message: messageOf(err), category: categoryOf(err) ?? 'upstream-unavailable' });
      return done();
    }
    steps.push({ step: 'upstream-reachable', status: 'ok', message: `GET /v2/ answered ${ping.statusCode}` });
    if (ping.statusCode !== 401) {
      steps.push({ step: 'upstream-accepts-credentials', status: 'ok', message: `the upstream does not ask for credentials (GET /v2/ answered ${ping.statusCode})` });
      return done();
    }
    const challenges = parseChallenges(ping.headers['www-authenticate']);
    const bearer = challenges.find((c) => c.scheme === 'bearer' && c.params['realm']);
    const refused = (message: string) => steps.push({ step: 'upstream-accepts-credentials', status: 'failed', message, category: 'upstream-auth' });
    if (bearer && identity !== undefined) {
      const realm = new URL(bearer.params['realm']!);
      if (!mayReceiveCredentials(options.registry, realm, options.insecure)) {
        refused(`the token realm ${realm.origin} is not on the upstream's domain: the identity token is not sent there`);
        return done();
      }
      const result = await new AcrTokenExchange(options.registry, agent).accessToken(realm, bearer.params['service'] ?? options.registry, options.scope ?? '', identity);
      if (result.kind === 'refused') refused(`ACR /oauth2/${result.step} answered ${result.status}: the identity was refused`);
      else steps.push({ step: 'upstream-accepts-credentials', status: 'ok', message: `ACR exchanged the identity token for an access token${options.scope ? ` for ${options.scope}` : ''}` });
      return done();
    }
    if (bearer) {
      const realm = new URL(bearer.params['realm']!);
      if (bearer.params['service'] !== undefined) realm.searchParams.set('service', bearer.params['service']);
      if (options.scope) realm.searchParams.set('scope', options.scope);
      const headers: Record<string, string> = { accept: 'application/json' };
      if (basic !== undefined) {
        if (!realmMayReceive(options.registry, realm, options.insecure, realmHosts)) {
          refused(`the token realm ${realm.origin} is not on the upstream's domain nor allowed by the credential set: credentials are not sent there`);
          return done();
        }
        headers['authorization'] = basic;
      }
      const res = await transport.send('GET', realm, headers, realm.host);
      const body = await res.body.text().catch(() => '');
      if (res.statusCode !== 200) refused(`the token endpoint answered ${res.statusCode}${basic ? ': the credentials were refused' : ''}`);
      else if (options.scope && !grantsScope(body)) refused(`the token endpoint granted no ${options.scope} access`);
      else steps.push({ step: 'upstream-accepts-credentials', status: 'ok', message: `a token was issued${options.scope ? ` for ${options.scope}` : ''}` });
      return done();
    }
    if (challenges.some((c) => c.scheme === 'basic') && basic !== undefined) {
      const res = await transport.send('GET', new URL(`${origin}/v2/`), { authorization: basic }, options.registry);
      await discard(res.body);
      if (res.statusCode === 200) steps.push({ step: 'upstream-accepts-credentials', status: 'ok', message: 'GET /v2/ with the credentials answered 200' });
      else refused(`GET /v2/ with the credentials answered ${res.statusCode}`);
      return done();
    }
    refused(basic === undefined ? 'the upstream requires credentials and none are configured' : 'the upstream asks for an unsupported authentication scheme');
    return done();
  } catch (err) {
    steps.push({ step: 'upstream-accepts-credentials', status: 'failed', message: messageOf(err), category: categoryOf(err) ?? 'upstream-unavailable' });
    return done();
  } finally {
    await agent.close();
  }
}

/** Docker token responses carry the granted access only inside the JWT: read its `access` claim when it is one. */
function grantsScope(body: string): boolean {
  let token: unknown;
  try {
    const parsed = JSON.parse(body) as { token?: unknown; access_token?: unknown };
    token = parsed.token ?? parsed.access_token;
  } catch {
    return false;
  }
  if (typeof token !== 'string' || token === '') return false;
  const parts = token.split('.');
  if (parts.length !== 3) return true; // opaque token: issued is all we can tell
  try {
    const claims = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')) as { access?: Array<{ actions?: string[] }> };
    return !Array.isArray(claims.access) || claims.access.some((a) => a.actions?.includes('pull'));
  } catch {
    return true;
  }
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : 'failed';
}

function categoryOf(err: unknown): string | undefined {
  return err instanceof RegistryError ? err.category : undefined;
}
