import type { UserDelegationKey } from '@azure/storage-blob';
import { azureStorageBlob, type BlobServiceClient, type ContainerClient } from './azure-blob-sdk.js';

/** A SAS starts this long before now: the storage service's clock may be behind ours. */
const CLOCK_SKEW_MS = 5 * 60_000;
/** A user delegation key is asked for with this lifetime and reused until it would end before a new SAS. */
const DELEGATION_KEY_MS = 60 * 60_000;

/**
 * Read-only (`r`), blob-scoped, expiring SAS URLs. With a shared key (a connection string) the SAS
 * is signed with the account key; with an Entra ID credential it is a user delegation SAS, signed
 * with a user delegation key the identity asks for (Storage Blob Data Contributor may), cached for
 * an hour. HTTPS only, except for an http endpoint (Azurite).
 */
export class BlobSasSigner {
  private delegation: Promise<UserDelegationKey> | undefined;
  private delegationEndsAt = 0;

  constructor(
    private readonly container: ContainerClient,
    private readonly service: BlobServiceClient | undefined,
  ) {}

  async readUrl(path: string, ttlSeconds: number): Promise<string | undefined> {
    const sdk = azureStorageBlob();
    const blob = this.container.getBlobClient(path);
    const now = Date.now();
    const startsOn = new Date(now - CLOCK_SKEW_MS);
    const expiresOn = new Date(now + ttlSeconds * 1000);
    const permissions = sdk.BlobSASPermissions.parse('r');
    const protocol = blob.url.startsWith('https:') ? sdk.SASProtocol.Https : sdk.SASProtocol.HttpsAndHttp;
    if (this.container.credential instanceof sdk.StorageSharedKeyCredential) {
      return blob.generateSasUrl({ permissions, startsOn, expiresOn, protocol });
    }
    if (!this.service) return undefined;
    const key = await this.delegationKey(expiresOn.getTime());
    const query = sdk.generateBlobSASQueryParameters(
      { containerName: this.container.containerName, blobName: path, permissions, startsOn, expiresOn, protocol },
      key,
      this.container.accountName,
    );
    return `${blob.url}?${query.toString()}`;
  }

  /** The cached user delegation key, or a new one when it would end before `until`. */
  private async delegationKey(until: number): Promise<UserDelegationKey> {
    if (!this.delegation || this.delegationEndsAt < until) {
      const now = Date.now();
      this.delegationEndsAt = now + DELEGATION_KEY_MS;
      this.delegation = this.service!.getUserDelegationKey(new Date(now - CLOCK_SKEW_MS), new Date(this.delegationEndsAt));
      this.delegation.catch(() => {
        this.delegation = undefined;
      });
    }
    return this.delegation;
  }
}
