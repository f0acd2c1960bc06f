import { readFileSync } from 'node:fs';
import { createAzureCredential, type AzureCredentialKind } from '@pullthrough/credentials';
import { z } from 'zod';
import { AzureBlobDriver } from './azure-blob-driver.js';
import { azureStorageBlob } from './azure-blob-sdk.js';
import { FilesystemDriver } from './filesystem-driver.js';
import type { StorageDriver } from './storage-driver.js';

/** Unset or empty: undefined (a ConfigMap can only say ""). */
const optionalText = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim()));

/**
 * The storage settings, as zod fields both apps put in their config.ts (both open the same store).
 * Cross-field rules are in `checkStorageConfig` (the apps' schemas call it from superRefine).
 */
export const storageConfigFields = {
  /** Where the registry store lives: `filesystem` (PULLTHROUGH_DATA_DIR) or `azure-blob` (one container). */
  PULLTHROUGH_STORAGE: z.enum(['filesystem', 'azure-blob']).default('filesystem'),
  /**
   * A secret: the storage account's connection string (Azurite, development), or `file:<path>` of
   * a file holding it (a mounted Secret). Never logged. Production uses the account URL and an identity.
   */
  PULLTHROUGH_AZURE_BLOB_CONNECTION_STRING: optionalText,
  /** `https://<account>.blob.core.windows.net`: the account, reached with the Entra ID credential (PULLTHROUGH_AZURE_CREDENTIAL). */
  PULLTHROUGH_AZURE_BLOB_ACCOUNT_URL: optionalText.refine((v) => v === undefined || /^https?:\/\/[^\s/?#]+(\/[^\s?#]*)?$/.test(v), 'must be an http(s) URL without query or fragment'),
  /** The container holding everything (blobs, repository metadata, control documents). */
  PULLTHROUGH_AZURE_BLOB_CONTAINER: optionalText.refine(
    (v) => v === undefined || (/^[a-z0-9](?:[a-z0-9]|-(?!-))*[a-z0-9]$/.test(v) && v.length >= 3 && v.length <= 63),
    'must be a container name: 3-63 lowercase letters, digits and single hyphens, starting and ending with a letter or digit',
  ),
};

export interface StorageConfig {
  PULLTHROUGH_STORAGE: 'filesystem' | 'azure-blob';
  PULLTHROUGH_DATA_DIR: string;
  PULLTHROUGH_AZURE_BLOB_CONNECTION_STRING?: string | undefined;
  PULLTHROUGH_AZURE_BLOB_ACCOUNT_URL?: string | undefined;
  PULLTHROUGH_AZURE_BLOB_CONTAINER?: string | undefined;
  PULLTHROUGH_AZURE_CREDENTIAL: AzureCredentialKind;
  PULLTHROUGH_AZURE_CLIENT_ID?: string | undefined;
}

interface IssueSink {
  addIssue(issue: { code: 'custom'; path: string[]; message: string }): void;
}

/** `azure-blob` needs a container and exactly one of connection string and account URL. */
export function checkStorageConfig(config: Omit<StorageConfig, 'PULLTHROUGH_DATA_DIR' | 'PULLTHROUGH_AZURE_CREDENTIAL'>, ctx: IssueSink): void {
  if (config.PULLTHROUGH_STORAGE !== 'azure-blob') return;
  if (!config.PULLTHROUGH_AZURE_BLOB_CONTAINER) {
    ctx.addIssue({ code: 'custom', path: ['PULLTHROUGH_AZURE_BLOB_CONTAINER'], message: 'required when PULLTHROUGH_STORAGE is azure-blob' });
  }
  const both = config.PULLTHROUGH_AZURE_BLOB_CONNECTION_STRING !== undefined && config.PULLTHROUGH_AZURE_BLOB_ACCOUNT_URL !== undefined;
  const neither = config.PULLTHROUGH_AZURE_BLOB_CONNECTION_STRING === undefined && config.PULLTHROUGH_AZURE_BLOB_ACCOUNT_URL === undefined;
  if (both || neither) {
    ctx.addIssue({
      code: 'custom',
      path: ['PULLTHROUGH_AZURE_BLOB_ACCOUNT_URL'],
      message: 'azure-blob storage needs exactly one of PULLTHROUGH_AZURE_BLOB_ACCOUNT_URL and PULLTHROUGH_AZURE_BLOB_CONNECTION_STRING',
    });
  }
}

/** The connection string itself, or the content of its `file:` path. The error never shows the secret. */
function connectionString(setting: string): string {
  if (!setting.startsWith('file:')) return setting;
  const path = setting.slice('file:'.length);
  try {
    return readFileSync(path, 'utf8').trim();
  } catch (err) {
    throw new Error(`PULLTHROUGH_AZURE_BLOB_CONNECTION_STRING: cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
}

/** The SDK's own messages ("Invalid URL") do not say which setting is wrong; none of them shows the string. */
function fromConnectionString<T>(make: () => T): T {
  try {
    return make();
  } catch (err) {
    const message = (err as Error).message;
    throw new Error(message.startsWith('PULLTHROUGH_') ? message : `PULLTHROUGH_AZURE_BLOB_CONNECTION_STRING: not a usable connection string (${message})`);
  }
}

/** The storage driver the settings describe (both apps build theirs here). */
export function storageDriverFrom(config: StorageConfig): StorageDriver {
  if (config.PULLTHROUGH_STORAGE === 'filesystem') return new FilesystemDriver(config.PULLTHROUGH_DATA_DIR);
  return azureBlobDriverFrom(config);
}

/** The Azure Blob driver of the settings (checked by checkStorageConfig). */
export function azureBlobDriverFrom(config: StorageConfig): AzureBlobDriver {
  const container = config.PULLTHROUGH_AZURE_BLOB_CONTAINER;
  if (!container) throw new Error('PULLTHROUGH_AZURE_BLOB_CONTAINER is required for azure-blob storage');
  const { BlobServiceClient } = azureStorageBlob();
  const setting = config.PULLTHROUGH_AZURE_BLOB_CONNECTION_STRING;
  const service = setting
    ? fromConnectionString(() => BlobServiceClient.fromConnectionString(connectionString(setting)))
    : new BlobServiceClient(
        config.PULLTHROUGH_AZURE_BLOB_ACCOUNT_URL ?? '',
        createAzureCredential({ kind: config.PULLTHROUGH_AZURE_CREDENTIAL, clientId: config.PULLTHROUGH_AZURE_CLIENT_ID }),
      );
  return new AzureBlobDriver(service.getContainerClient(container), service);
}
