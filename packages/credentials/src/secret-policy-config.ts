import { isAbsolute, resolve } from 'node:path';
import { z } from 'zod';
import { DEFAULT_SECRET_ENV_PREFIX, DEFAULT_SECRET_FILE_DIRS, MAX_SECRET_BYTES, type SecretReferencePolicy } from './secret-reference-policy.js';

const commaList = (v: string) =>
  v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);

/**
 * The secret reference policy's settings, as zod fields both apps put in their config.ts (both
 * resolve secrets). Environment strings in, parsed values out.
 */
export const secretPolicyConfigFields = {
  /**
   * Directories `file:` secret references must lie in (real path); empty: no `file:` references at all.
   * Platform credentials (service-account and workload identity tokens), /proc, /sys and the data
   * directory are refused whatever this says.
   */
  PULLTHROUGH_SECRET_FILE_DIRS: z
    .string()
    .default(DEFAULT_SECRET_FILE_DIRS.join(','))
    .transform(commaList)
    .refine((dirs) => dirs.every((d) => isAbsolute(d) && d !== '/'), 'must be a comma-separated list of absolute directories (not /)'),
  /** Prefix every `env:` secret reference's variable name must have. */
  PULLTHROUGH_SECRET_ENV_PREFIX: z
    .string()
    .default(DEFAULT_SECRET_ENV_PREFIX)
    .refine((p) => /^[A-Za-z_][A-Za-z0-9_]*$/.test(p), 'must be a non-empty environment variable name prefix (letters, digits, _)')
    .refine((p) => !'PULLTHROUGH_ADMIN_TOKEN'.startsWith(p) && !'REDIS_URL'.startsWith(p), 'must not let references read PULLTHROUGH_ADMIN_TOKEN or REDIS_URL'),
  /** Key Vault hosts besides the Azure Key Vault domains (`host` or `host:port`), e.g. a local emulator. */
  PULLTHROUGH_KEYVAULT_HOSTS: z
    .string()
    .default('')
    .transform(commaList)
    .refine((hosts) => hosts.every((h) => /^[A-Za-z0-9.-]+(?::[0-9]{1,5})?$|^\[[A-Fa-f0-9:]+\](?::[0-9]{1,5})?$/.test(h)), 'must be a comma-separated list of host or host:port'),
};

/** The policy from the parsed settings; the data directory (admin token, redis password, keys) is never readable. */
export function secretPolicyFrom(config: {
  PULLTHROUGH_SECRET_FILE_DIRS: string[];
  PULLTHROUGH_SECRET_ENV_PREFIX: string;
  PULLTHROUGH_KEYVAULT_HOSTS: string[];
  PULLTHROUGH_DATA_DIR?: string;
}): SecretReferencePolicy {
  return {
    fileDirs: config.PULLTHROUGH_SECRET_FILE_DIRS,
    envPrefix: config.PULLTHROUGH_SECRET_ENV_PREFIX,
    keyVaultHosts: config.PULLTHROUGH_KEYVAULT_HOSTS,
    maxSecretBytes: MAX_SECRET_BYTES,
    ...(config.PULLTHROUGH_DATA_DIR !== undefined ? { refusedDirs: [resolve(config.PULLTHROUGH_DATA_DIR)] } : {}),
  };
}
