import { startAzurite, type Azurite } from '@pullthrough/test-support';
import { runDriverContract } from './driver-contract.js';
import { runUploadContract } from './upload-contract.js';
import { azureBlobDriverFrom, checkStorageConfig, storageDriverFrom } from './storage-config.js';
import { FilesystemDriver } from './filesystem-driver.js';
import { AzureBlobDriver } from './azure-blob-driver.js';

let azurite: Azurite;
beforeAll(async () => {
  azurite = await startAzurite();
}, 60_000);
afterAll(async () => {
  await azurite?.stop();
});

async function freshDriver(): Promise<AzureBlobDriver> {
  const driver = azureBlobDriverFrom({
    PULLTHROUGH_STORAGE: 'azure-blob',
    PULLTHROUGH_DATA_DIR: '/nonexistent',
    PULLTHROUGH_AZURE_BLOB_CONNECTION_STRING: azurite.connectionString,
    PULLTHROUGH_AZURE_BLOB_CONTAINER: azurite.uniqueContainer(),
    PULLTHROUGH_AZURE_CREDENTIAL: 'default',
  });
  await driver.ensureContainer();
  return driver;
}

const freshAzure = async () => {
  const driver = await freshDriver();
  return { driver, cleanup: async () => void (await driver.container.deleteIfExists()) };
};
runDriverContract('azure-blob (Azurite)', freshAzure);
runUploadContract('azure-blob (Azurite)', freshAzure);

describe('azure blob driver specifics', () => {
  test('a writer not told its path keeps its upload under _uploads/ until commit, then removes it', async () => {
    const driver = await freshDriver();
    try {
      const writer = await driver.createWriter();
      writer.end(Buffer.from('staged'));
      await new Promise((resolve) => writer.once('finish', resolve));
      const uploads: string[] = [];
      for await (const blob of driver.container.listBlobsFlat()) uploads.push(blob.name);
      expect(uploads).toHaveLength(1);
      expect(uploads[0]).toMatch(/^_uploads\/[0-9a-f-]{36}$/);
      await writer.commit('w/obj');
      const after: string[] = [];
      for await (const blob of driver.container.listBlobsFlat()) after.push(blob.name);
      expect(after).toEqual(['w/obj']);
    } finally {
      await driver.container.deleteIfExists();
    }
  });

  test('a finished upload whose content another writer is staging at the same path waits for that commit and keeps it', async () => {
    const driver = await freshDriver();
    try {
      const bytes = Buffer.alloc(5 * 1024 * 1024, 7);
      const path = 'blobs/sha256/ab/ab00/data';
      // A fetch through a rule writes the same content at its content address: blocks staged, not committed.
      const writer = await driver.createWriter({ path });
      writer.write(bytes.subarray(0, 4 * 1024 * 1024 + 1));
      await new Promise((resolve) => setTimeout(resolve, 300));
      // A chunked push of the same content finishes meanwhile.
      const id = await driver.createUpload({ repository: 'local/app' });
      expect(await driver.appendUpload(id, 0, (async function* () {
        yield bytes;
      })())).toBe(bytes.length);
      const finishing = driver.commitUpload(id, path, bytes.length);
      await new Promise((resolve) => setTimeout(resolve, 500));
      writer.end(bytes.subarray(4 * 1024 * 1024 + 1));
      await Promise.all([writer.commit(path), finishing]);
      const stored = await driver.getContent(path);
      expect(stored?.equals(bytes)).toBe(true);
    } finally {
      await driver.container.deleteIfExists();
    }
  }, 60_000);

  test('a missing container is an error, not an empty store', async () => {
    const driver = azureBlobDriverFrom({
      PULLTHROUGH_STORAGE: 'azure-blob',
      PULLTHROUGH_DATA_DIR: '/nonexistent',
      PULLTHROUGH_AZURE_BLOB_CONNECTION_STRING: azurite.connectionString,
      PULLTHROUGH_AZURE_BLOB_CONTAINER: azurite.uniqueContainer(),
      PULLTHROUGH_AZURE_CREDENTIAL: 'default',
    });
    await expect(driver.putContent('a', Buffer.from('x'))).rejects.toMatchObject({ statusCode: 404 });
  });
});

describe('storage settings', () => {
  const issues = (config: Parameters<typeof checkStorageConfig>[0]) => {
    const found: Array<{ path: string[]; message: string }> = [];
    checkStorageConfig(config, { addIssue: (i) => found.push(i) });
    return found.map((i) => i.path.join('.'));
  };

  test.each([
    [{ PULLTHROUGH_STORAGE: 'filesystem' as const }, []],
    [{ PULLTHROUGH_STORAGE: 'azure-blob' as const }, ['PULLTHROUGH_AZURE_BLOB_CONTAINER', 'PULLTHROUGH_AZURE_BLOB_ACCOUNT_URL']],
    [{ PULLTHROUGH_STORAGE: 'azure-blob' as const, PULLTHROUGH_AZURE_BLOB_CONTAINER: 'c1', PULLTHROUGH_AZURE_BLOB_ACCOUNT_URL: 'https://a.blob.core.windows.net' }, []],
    [{ PULLTHROUGH_STORAGE: 'azure-blob' as const, PULLTHROUGH_AZURE_BLOB_CONNECTION_STRING: 'x', PULLTHROUGH_AZURE_BLOB_ACCOUNT_URL: 'https://a' }, ['PULLTHROUGH_AZURE_BLOB_CONTAINER', 'PULLTHROUGH_AZURE_BLOB_ACCOUNT_URL']],
  ])('%j -> %j', (config, expected) => {
    expect(issues(config)).toEqual(expected);
  });

  test('filesystem is the default driver; a connection string file that cannot be read names the file, not the secret', () => {
    const fsDriver = storageDriverFrom({ PULLTHROUGH_STORAGE: 'filesystem', PULLTHROUGH_DATA_DIR: '/tmp/x', PULLTHROUGH_AZURE_CREDENTIAL: 'default' });
    expect(fsDriver).toBeInstanceOf(FilesystemDriver);
    const build = () =>
      storageDriverFrom({
        PULLTHROUGH_STORAGE: 'azure-blob',
        PULLTHROUGH_DATA_DIR: '/tmp/x',
        PULLTHROUGH_AZURE_BLOB_CONNECTION_STRING: 'file:/nonexistent/conn',
        PULLTHROUGH_AZURE_BLOB_CONTAINER: 'c1',
        PULLTHROUGH_AZURE_CREDENTIAL: 'default',
      });
    expect(build).toThrow('PULLTHROUGH_AZURE_BLOB_CONNECTION_STRING: cannot read /nonexistent/conn (ENOENT)');
    const secret = 'AccountName=acct;AccountKey=c2VjcmV0LWtleQ==';
    const bad = () =>
      storageDriverFrom({
        PULLTHROUGH_STORAGE: 'azure-blob',
        PULLTHROUGH_DATA_DIR: '/tmp/x',
        PULLTHROUGH_AZURE_BLOB_CONNECTION_STRING: secret,
        PULLTHROUGH_AZURE_BLOB_CONTAINER: 'c1',
        PULLTHROUGH_AZURE_CREDENTIAL: 'default',
      });
    expect(bad).toThrow(/^PULLTHROUGH_AZURE_BLOB_CONNECTION_STRING: not a usable connection string/);
    expect(bad).not.toThrow(/c2VjcmV0/);
  });
});
