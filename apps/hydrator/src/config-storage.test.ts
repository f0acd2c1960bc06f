import { loadHydratorConfig as load } from './config.js';

// The storage package's settings as the hydrator composes them: the frontend's rules and messages.
describe('hydrator storage settings', () => {
  test('filesystem by default', () => {
    const config = load({ PULLTHROUGH_AZURE_BLOB_CONTAINER: '' });
    expect(config.PULLTHROUGH_STORAGE).toBe('filesystem');
    expect(config.PULLTHROUGH_AZURE_BLOB_CONTAINER).toBeUndefined();
  });

  test('azure-blob with an account URL and a container', () => {
    const config = load({ PULLTHROUGH_STORAGE: 'azure-blob', PULLTHROUGH_AZURE_BLOB_ACCOUNT_URL: 'https://acct.blob.core.windows.net', PULLTHROUGH_AZURE_BLOB_CONTAINER: 'pullthrough' });
    expect(config).toMatchObject({ PULLTHROUGH_STORAGE: 'azure-blob', PULLTHROUGH_AZURE_BLOB_ACCOUNT_URL: 'https://acct.blob.core.windows.net', PULLTHROUGH_AZURE_BLOB_CONTAINER: 'pullthrough' });
  });

  test.each([
    [{ PULLTHROUGH_STORAGE: 's3' }, 'PULLTHROUGH_STORAGE'],
    [{ PULLTHROUGH_STORAGE: 'azure-blob', PULLTHROUGH_AZURE_BLOB_ACCOUNT_URL: 'https://acct.blob.core.windows.net' }, 'PULLTHROUGH_AZURE_BLOB_CONTAINER'],
    [{ PULLTHROUGH_STORAGE: 'azure-blob', PULLTHROUGH_AZURE_BLOB_CONTAINER: 'pullthrough' }, 'PULLTHROUGH_AZURE_BLOB_ACCOUNT_URL'],
    [{ PULLTHROUGH_STORAGE: 'azure-blob', PULLTHROUGH_AZURE_BLOB_CONTAINER: 'Bad_Name', PULLTHROUGH_AZURE_BLOB_ACCOUNT_URL: 'https://a.example' }, 'PULLTHROUGH_AZURE_BLOB_CONTAINER'],
    [{ PULLTHROUGH_STORAGE: 'azure-blob', PULLTHROUGH_AZURE_BLOB_CONTAINER: 'cache1', PULLTHROUGH_AZURE_BLOB_ACCOUNT_URL: 'acct.blob.core.windows.net' }, 'PULLTHROUGH_AZURE_BLOB_ACCOUNT_URL'],
  ])('%j stops start naming %s', (env, field) => {
    expect(() => load(env)).toThrow(new RegExp(`^invalid configuration:\\n  ${field}: `));
  });

  test('both a connection string and an account URL is refused, and the message never shows the secret', () => {
    const secret = 'DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=c2VjcmV0LWtleQ==';
    let message = '';
    try {
      load({ PULLTHROUGH_STORAGE: 'azure-blob', PULLTHROUGH_AZURE_BLOB_CONTAINER: 'cache1', PULLTHROUGH_AZURE_BLOB_ACCOUNT_URL: 'https://acct.blob.core.windows.net', PULLTHROUGH_AZURE_BLOB_CONNECTION_STRING: secret });
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/^invalid configuration:\n {2}PULLTHROUGH_AZURE_BLOB_ACCOUNT_URL: azure-blob storage needs exactly one of/);
    expect(message).not.toContain('c2VjcmV0LWtleQ');
  });
});
