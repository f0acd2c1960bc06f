/**
 * @azure/storage-blob, loaded on first use (like the credentials package's Azure SDKs): a cache
 * on filesystem storage never loads it. Types come from a type-only import.
 */
export type AzureStorageBlob = typeof import('@azure/storage-blob');
export type { BlobServiceClient, ContainerClient, BlockBlobClient } from '@azure/storage-blob';

export const azureStorageBlob = (): AzureStorageBlob => require('@azure/storage-blob') as AzureStorageBlob;

/** The HTTP status of a failed storage call (a RestError), if it has one. */
export function azureStatus(err: unknown): number | undefined {
  const status = (err as { statusCode?: unknown } | null)?.statusCode;
  return typeof status === 'number' ? status : undefined;
}

/** The storage service's error code (`BlobNotFound`, `InvalidRange`...), if it sent one. */
export function azureErrorCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown; details?: { errorCode?: unknown } } | null);
  const value = code?.details?.errorCode ?? code?.code;
  return typeof value === 'string' ? value : undefined;
}
