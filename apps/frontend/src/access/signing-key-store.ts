import type { SigningKeyStore, StoredSigningKey } from '@pullthrough/auth';
import type { RegistryStore } from '@pullthrough/storage';

const KIND = 'token-signing-keys';

/** Token signing keys in the storage control area, shared by every frontend of the deployment. */
export function controlSigningKeyStore(store: RegistryStore): SigningKeyStore {
  return {
    list: () => store.listControl<StoredSigningKey>(KIND),
    // A private key: written owner-only (0600 on a filesystem).
    put: (key) => store.putControl(KIND, key.kid, key, { private: true }),
    delete: (kid) => store.deleteControl(KIND, kid),
  };
}
