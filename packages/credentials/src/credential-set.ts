import { z } from 'zod';

const NAME = /^[A-Za-z0-9-]{5,50}$/;
// host[:port] as the distribution reference grammar has it (a domain or a bracketed IPv6 address):
// nothing that could carry a path, userinfo, query or fragment into the URL verify and pulls build.
const LABEL = '[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?';
const REGISTRY_HOST = new RegExp(`^(?:${LABEL}(?:\\.${LABEL})*|\\[[A-Fa-f0-9:]+\\])(?::(?:[1-9][0-9]{0,4}))?$`);
const secretRef = z
  .string()
  .min(1)
  .max(2048)
  .refine((v) => /^(env:[A-Za-z_][A-Za-z0-9_]*|file:\/.+|https:\/\/.+)$/.test(v), 'must be env:NAME, file:/absolute/path or a Key Vault secret URI');

const identitySchema = z
  .object({
    type: z.enum(['SystemAssigned', 'UserAssigned']),
    /** The user-assigned managed identity's client id. */
    clientId: z.string().regex(/^[0-9a-fA-F-]{36}$/, 'must be a client id (GUID)').optional(),
  })
  .refine((i) => i.type === 'SystemAssigned' || i.clientId !== undefined, { message: 'UserAssigned needs a clientId', path: ['clientId'] });

/**
 * ACR's credential set model: where to log in, and references to the secrets (never the secrets).
 * Without `authCredentials`, `identity` logs in to an ACR upstream with a managed identity
 * (Entra ID token exchange).
 */
export const credentialSetSchema = z
  .object({
    name: z.string().regex(NAME, "must be 5-50 characters of letters, digits and '-'"),
    /** The one registry (host[:port]) these credentials are for: rules may use the set only for it, verify contacts only it. */
    loginServer: z
      .string()
      .max(255)
      .regex(REGISTRY_HOST, 'must be a registry host[:port] such as docker.io, ghcr.io or 127.0.0.1:5000 (no scheme, path or user)')
      .refine((v) => !/:(\d+)$/.test(v) || Number(/:(\d+)$/.exec(v)![1]) <= 65535, 'port must be 1-65535'),
    authCredentials: z
      .array(
        z.object({
          name: z.string().default('Credential1'),
          usernameSecretIdentifier: secretRef,
          passwordSecretIdentifier: secretRef,
        }),
      )
      .min(1)
      .max(1)
      .optional(),
    identity: identitySchema.optional(),
    /** Token realm hosts outside the login server's registrable domain that may receive these credentials (https only). */
    tokenRealmHosts: z.array(z.string().regex(/^[A-Za-z0-9.-]+$/, 'must be a host name')).max(10).optional(),
  })
  .refine((s) => s.authCredentials !== undefined || s.identity !== undefined, {
    message: 'needs authCredentials (secret references) or an identity (managed identity for an ACR upstream)',
    path: ['authCredentials'],
  });

export type CredentialSet = z.infer<typeof credentialSetSchema>;

export function parseCredentialSet(input: unknown): CredentialSet {
  return credentialSetSchema.parse(input);
}

/** Storage control-area kind under which credential sets are kept. */
export const CREDENTIAL_SETS_KIND = 'credential-sets';
