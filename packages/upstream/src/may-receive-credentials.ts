import { isIP } from 'node:net';

/**
 * The one rule for where our upstream credentials may go: a token realm receives basic credentials
 * only over https (or plain http to the very same host, when the operator listed the registry as
 * insecure), and only when the realm shares the registry's registrable domain (last two labels;
 * IP addresses and single-label hosts such as localhost must match exactly). Ports are ignored.
 */
export function mayReceiveCredentials(registry: string, realmUrl: string | URL, insecure = false): boolean {
  let realm: URL;
  let registryHost: string;
  try {
    realm = new URL(realmUrl);
    registryHost = normalizeHost(new URL(`https://${registry}`).hostname);
  } catch {
    return false;
  }
  const realmHost = normalizeHost(realm.hostname);
  if (realm.protocol === 'http:') {
    if (!insecure || realmHost !== registryHost) return false;
  } else if (realm.protocol !== 'https:') {
    return false;
  }
  return registrableDomain(realmHost) === registrableDomain(registryHost);
}

/** mayReceiveCredentials, or a realm host the operator allowed for these credentials (https only). */
export function realmMayReceive(registry: string, realmUrl: URL, insecure: boolean, allowedHosts: readonly string[] = []): boolean {
  if (mayReceiveCredentials(registry, realmUrl, insecure)) return true;
  return realmUrl.protocol === 'https:' && allowedHosts.some((h) => normalizeHost(h) === normalizeHost(realmUrl.hostname));
}

function normalizeHost(host: string): string {
  return host.toLowerCase().replace(/\.$/, '');
}

function registrableDomain(host: string): string {
  const bare = host.startsWith('[') ? host.slice(1, -1) : host;
  if (isIP(bare) !== 0 || !host.includes('.')) return host;
  return host.split('.').slice(-2).join('.');
}
