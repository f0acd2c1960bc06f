import { isAbsolute, resolve, sep } from 'node:path';

/**
 * What the operator lets secret references point at. Checked when a credential set is saved
 * (lexically: nothing is read) and again each time a secret is read (on the real path), so a set
 * stored before a policy change cannot read past it.
 */
export interface SecretReferencePolicy {
  /** `file:` references must resolve (symlinks and `..` followed) inside one of these absolute directories. */
  fileDirs: readonly string[];
  /** `env:` references may only name variables starting with this (never empty). */
  envPrefix: string;
  /** Key Vault hosts besides the Azure Key Vault domains: `host` (any port) or `host:port` (emulators). */
  keyVaultHosts: readonly string[];
  /** A secret value longer than this many bytes is refused when it is read. */
  maxSecretBytes: number;
  /**
   * Directories never read, whatever `fileDirs` allows: the cache's own data directory (admin token,
   * redis password, token signing keys, webhook secrets). The platform's credential paths
   * (PLATFORM_CREDENTIAL_DIRS) are refused on top of these, always.
   */
  refusedDirs?: readonly string[];
}

/**
 * 8 KiB: registry passwords and tokens are well under 1 KiB, a GCP service-account JSON key (the
 * largest credential registries take as a password) about 2.5 KiB; the value also becomes a Basic
 * header, and servers commonly cap all headers at 8-16 KiB. Anything bigger is not a credential.
 */
export const MAX_SECRET_BYTES = 8 * 1024;

/**
 * A directory of its own: `/run/secrets` and `/var/run/secrets` as a whole also hold the pod's
 * platform tokens (Kubernetes service account, AKS workload identity, EKS pod identity).
 */
export const DEFAULT_SECRET_FILE_DIRS: readonly string[] = ['/run/secrets/pullthrough'];

/**
 * Never read by a `file:` reference, whatever the operator allows: the pod's platform credentials
 * (service-account tokens, Azure workload identity and EKS web identity tokens, projected tokens)
 * and the kernel's views of processes and devices (`/proc/self/environ` holds every variable).
 * A credential set's secrets are sent to its registry: these would leave with them.
 */
export const PLATFORM_CREDENTIAL_DIRS: readonly string[] = [
  ...['/var/run/secrets', '/run/secrets'].flatMap((root) => ['kubernetes.io', 'azure', 'eks.amazonaws.com', 'tokens'].map((dir) => `${root}/${dir}`)),
  '/proc',
  '/sys',
];
export const DEFAULT_SECRET_ENV_PREFIX = 'PULLTHROUGH_SECRET_';

export const DEFAULT_SECRET_POLICY: SecretReferencePolicy = {
  fileDirs: DEFAULT_SECRET_FILE_DIRS,
  envPrefix: DEFAULT_SECRET_ENV_PREFIX,
  keyVaultHosts: [],
  maxSecretBytes: MAX_SECRET_BYTES,
};

/** Azure Key Vault DNS suffixes: public cloud, Azure China, Azure US Government, Azure Germany. */
export const KEY_VAULT_DOMAINS: readonly string[] = ['.vault.azure.net', '.vault.azure.cn', '.vault.usgovcloudapi.net', '.vault.microsoftazure.de'];

/** Is `path` (absolute, normalized) `dir` itself or inside it? */
export function isInsideDir(path: string, dir: string): boolean {
  const base = dir.endsWith(sep) ? dir : dir + sep;
  return path.startsWith(base);
}

/** Is `path` (absolute, normalized) one of `dirs` or inside one? */
export function isAtOrInside(path: string, dirs: readonly string[]): boolean {
  return dirs.some((dir) => path === resolve(dir) || isInsideDir(path, resolve(dir)));
}

export const PLATFORM_CREDENTIAL_ISSUE =
  'file: references may never point at platform credentials (Kubernetes service-account, Azure workload identity, EKS and projected tokens under /var/run/secrets or /run/secrets) nor into /proc or /sys';
export const DATA_DIR_ISSUE = "file: references may never point into the cache's data directory (admin token, redis password, signing keys)";

/** Why `path` (absolute, normalized: lexical or real) may never be read, whatever the allowed directories (null: it may). */
export function refusedPathIssue(path: string, policy: SecretReferencePolicy): string | null {
  if (isAtOrInside(path, PLATFORM_CREDENTIAL_DIRS)) return PLATFORM_CREDENTIAL_ISSUE;
  if (isAtOrInside(path, policy.refusedDirs ?? [])) return DATA_DIR_ISSUE;
  return null;
}

/** May a vault at this URL be asked for secrets? */
export function isAllowedKeyVaultHost(url: URL, extraHosts: readonly string[]): boolean {
  const host = url.hostname.toLowerCase().replace(/\.$/, '');
  if (url.port === '' && KEY_VAULT_DOMAINS.some((d) => host.endsWith(d) && host.length > d.length)) return true;
  return extraHosts.some((entry) => {
    const e = entry.toLowerCase();
    return e === host || e === url.host.toLowerCase();
  });
}

/**
 * Why a reference breaks the policy, checked without reading anything (null: it does not). The
 * message never repeats the reference: it names what the operator allows.
 */
export function secretReferenceIssue(reference: string, policy: SecretReferencePolicy): string | null {
  if (reference.startsWith('env:')) {
    const name = reference.slice(4);
    return name.startsWith(policy.envPrefix) && name.length > policy.envPrefix.length
      ? null
      : `env: references may only name variables starting with "${policy.envPrefix}" (PULLTHROUGH_SECRET_ENV_PREFIX)`;
  }
  if (reference.startsWith('file:')) {
    const path = reference.slice(5);
    if (!isAbsolute(path) || path.includes('\0')) return 'file: references must be absolute paths';
    const normalized = resolve(path);
    const refused = refusedPathIssue(normalized, policy);
    if (refused !== null) return refused;
    return policy.fileDirs.some((dir) => isInsideDir(normalized, resolve(dir)))
      ? null
      : 'file: references must be inside a directory the operator allows (PULLTHROUGH_SECRET_FILE_DIRS)';
  }
  if (reference.startsWith('https://')) {
    let url: URL;
    try {
      url = new URL(reference);
    } catch {
      return 'is not a Key Vault secret URI (https://<vault>/secrets/<name>[/<version>])';
    }
    return isAllowedKeyVaultHost(url, policy.keyVaultHosts)
      ? null
      : 'Key Vault references must point at a Key Vault host (*.vault.azure.net, a sovereign cloud vault domain, or one listed in PULLTHROUGH_KEYVAULT_HOSTS)';
  }
  return 'must be env:NAME, file:/absolute/path or a Key Vault secret URI';
}

/** The two secret reference fields of a credential set, as the admin API names them. */
export const SECRET_FIELDS = ['usernameSecretIdentifier', 'passwordSecretIdentifier'] as const;
export type SecretField = (typeof SECRET_FIELDS)[number];

/** `authCredentials[0].passwordSecretIdentifier`. */
export function secretFieldPath(index: number, field: SecretField): string {
  return `authCredentials[${index}].${field}`;
}

/** Every reference of a set that breaks the policy, by field (no reference is repeated). */
export function credentialSetReferenceIssues(
  set: { authCredentials?: ReadonlyArray<Record<SecretField, string>> | undefined },
  policy: SecretReferencePolicy,
): Array<{ field: string; message: string }> {
  return (set.authCredentials ?? []).flatMap((cred, i) =>
    SECRET_FIELDS.flatMap((field) => {
      const issue = secretReferenceIssue(cred[field], policy);
      return issue === null ? [] : [{ field: secretFieldPath(i, field), message: issue }];
    }),
  );
}
