import {
  createTlsCertificate,
  startIdentityEmulator,
  startKeyVaultEmulator,
  tempDir,
  type IdentityEmulator,
  type KeyVaultEmulator,
  type RedisServer,
  type TempDir,
} from '@pullthrough/test-support';
import { startCache, startRedis, startUpstream, type Cache, type Upstream } from './harness.js';
import { startHydratorFor, type HydratorProcess } from './hydrator-process.js';

// A frontend with the built hydrator as its own process (real redis-server, a real docker-registry
// upstream) whose credential sets read secrets from a Key Vault emulator (managed identity via an
// identity emulator, set in IDENTITY_ENDPOINT/IDENTITY_HEADER until stop() puts them back).
export interface VaultHydrationStack {
  redis: RedisServer;
  upstream: Upstream;
  cache: Cache;
  hydrator: HydratorProcess;
  identity: IdentityEmulator;
  vault: KeyVaultEmulator;
  stop(): Promise<void>;
}

export async function startVaultHydrationStack(certDirPrefix: string): Promise<VaultHydrationStack> {
  const savedEnv = { IDENTITY_ENDPOINT: process.env.IDENTITY_ENDPOINT, IDENTITY_HEADER: process.env.IDENTITY_HEADER };
  const parts: Partial<VaultHydrationStack> & { certDir?: TempDir } = {};
  const stop = async (): Promise<void> => {
    await parts.hydrator?.stop();
    await parts.cache?.stop();
    await parts.upstream?.stop();
    await parts.vault?.stop();
    await parts.identity?.stop();
    await parts.certDir?.remove();
    await parts.redis?.stop();
    for (const [key, value] of Object.entries(savedEnv)) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  };
  try {
    const redis = (parts.redis = await startRedis());
    const upstream = (parts.upstream = await startUpstream());
    parts.certDir = await tempDir(certDirPrefix);
    const tls = await createTlsCertificate(parts.certDir.path);
    const identity = (parts.identity = await startIdentityEmulator());
    const vault = (parts.vault = await startKeyVaultEmulator(tls, identity));
    process.env.IDENTITY_ENDPOINT = identity.endpoint;
    process.env.IDENTITY_HEADER = identity.header;
    const cache = (parts.cache = await startCache(redis, [upstream.proxy.host], {
      PULLTHROUGH_HYDRATION_DELAY_MS: '0',
      PULLTHROUGH_AZURE_CREDENTIAL: 'managed-identity',
      PULLTHROUGH_AZURE_CLIENT_ID: '0f0e0d0c-1111-2222-3333-444455556666',
      PULLTHROUGH_KEYVAULT_CA_FILE: tls.certPath,
      PULLTHROUGH_KEYVAULT_VERIFY_CHALLENGE_RESOURCE: 'false',
      PULLTHROUGH_KEYVAULT_HOSTS: '127.0.0.1',
    }));
    const hydrator = (parts.hydrator = await startHydratorFor(cache, redis, upstream));
    return { redis, upstream, cache, hydrator, identity, vault, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
