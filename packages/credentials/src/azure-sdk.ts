/**
 * The Azure SDKs, loaded on first use. Together they add about 20 MiB of resident memory to a
 * process; a cache whose credential sets use no Key Vault secret and no Entra ID identity never
 * loads them. Types come from a type-only import, so nothing is loaded at import time.
 */
export type AzureIdentity = typeof import('@azure/identity');
export type AzureKeyVaultSecrets = typeof import('@azure/keyvault-secrets');

export const azureIdentity = (): AzureIdentity => require('@azure/identity') as AzureIdentity;
export const azureKeyVaultSecrets = (): AzureKeyVaultSecrets => require('@azure/keyvault-secrets') as AzureKeyVaultSecrets;
