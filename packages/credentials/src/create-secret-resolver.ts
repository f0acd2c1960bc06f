import { createAzureCredential, type AzureCredentialKind } from './azure-credential.js';
import { ChainSecretResolver } from './chain-secret-resolver.js';
import { KeyVaultSecretResolver } from './key-vault-secret-resolver.js';
import { DEFAULT_SECRET_POLICY, type SecretReferencePolicy } from './secret-reference-policy.js';
import { LocalSecretResolver, type SecretResolver } from './secret-resolver.js';

export interface SecretResolverConfig {
  /** Where `env:` references are looked up (the app passes process.env). */
  env: Record<string, string | undefined>;
  /** Entra ID credential for Key Vault secret URIs. */
  azureCredential: AzureCredentialKind;
  azureClientId?: string | undefined;
  /** Extra CA certificates (PEM) trusted for Key Vault. */
  keyVaultCa?: string | undefined;
  /** Accept a Key Vault challenge resource outside the Key Vault domains (emulators, sovereign clouds). */
  keyVaultDisableChallengeResourceVerification?: boolean;
  /** What references may point at (default: DEFAULT_SECRET_POLICY). */
  policy?: SecretReferencePolicy;
}

/** The app's secret resolver chain: `env:`, `file:`, then `https://` Key Vault secret URIs, all within the policy. */
export function createSecretResolver(config: SecretResolverConfig): SecretResolver {
  const policy = config.policy ?? DEFAULT_SECRET_POLICY;
  const local = new LocalSecretResolver(config.env, policy);
  let keyVault: KeyVaultSecretResolver | undefined;
  const lazyKeyVault: SecretResolver = {
    resolve(reference) {
      // The Azure credential is built on first use: machines without Azure never touch the SDK.
      keyVault ??= new KeyVaultSecretResolver({
        credential: createAzureCredential({ kind: config.azureCredential, clientId: config.azureClientId }),
        ca: config.keyVaultCa,
        disableChallengeResourceVerification: config.keyVaultDisableChallengeResourceVerification ?? false,
        extraHosts: policy.keyVaultHosts,
        maxSecretBytes: policy.maxSecretBytes,
      });
      return keyVault.resolve(reference);
    },
  };
  return new ChainSecretResolver([
    ['env:', local],
    ['file:', local],
    ['https://', lazyKeyVault],
  ]);
}
