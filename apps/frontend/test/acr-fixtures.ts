/**
 * Documents in ACR's shapes, written from the documented resource model (ARM REST API 2023-07-01
 * `cacheRules` / `credentialSets`, and what `az acr cache show -o json` / `az acr credential-set show
 * -o json` print: the SDK model flattened, `resourceGroup` added, unset fields as `null`). The names
 * and ids are of an imaginary registry `contosoacr`; the test copies are deep (structuredClone).
 */
const REGISTRY = '/subscriptions/7f3c2a10-4b5d-4e8f-9a61-2c0d5e7b9f14/resourceGroups/platform-rg/providers/Microsoft.ContainerRegistry/registries/contosoacr';

const systemData = {
  createdAt: '2026-11-30T09:12:44.5170930+00:00',
  createdBy: 'alice@contoso.example',
  createdByType: 'User',
  lastModifiedAt: '2026-11-30T09:12:44.5170930+00:00',
  lastModifiedBy: 'alice@contoso.example',
  lastModifiedByType: 'User',
};

/** `az acr cache show -r contosoacr -n <name> -o json` of a rule with a credential set. */
export function azCacheRuleShow(name: string, credentialSet: string, sourceRepository: string, targetRepository: string) {
  return structuredClone({
    creationDate: '2026-11-30T09:12:44.517093+00:00',
    credentialSetResourceId: `${REGISTRY}/credentialSets/${credentialSet}`,
    id: `${REGISTRY}/cacheRules/${name}`,
    name,
    provisioningState: 'Succeeded',
    resourceGroup: 'platform-rg',
    sourceRepository,
    systemData,
    targetRepository,
    type: 'Microsoft.ContainerRegistry/registries/cacheRules',
  });
}

/** The same rule without a credential set, as az prints it (unset fields are null). */
export function azCacheRuleShowAnonymous(name: string, sourceRepository: string, targetRepository: string) {
  return { ...azCacheRuleShow(name, 'unused-set', sourceRepository, targetRepository), credentialSetResourceId: null };
}

/** The ARM GET body of a rule (`GET .../cacheRules/<name>?api-version=2023-07-01`). */
export function armCacheRuleGet(name: string, credentialSet: string, sourceRepository: string, targetRepository: string) {
  return structuredClone({
    id: `${REGISTRY}/cacheRules/${name}`,
    name,
    type: 'Microsoft.ContainerRegistry/registries/cacheRules',
    systemData,
    properties: {
      credentialSetResourceId: `${REGISTRY}/credentialSets/${credentialSet}`,
      sourceRepository,
      targetRepository,
      creationDate: '2026-11-30T09:12:44.5170930+00:00',
      provisioningState: 'Succeeded',
    },
  });
}

/** `az acr credential-set show -r contosoacr -n <name> -o json`: Key Vault secret identifiers, the Key Vault identity, health. */
export function azCredentialSetShow(name: string, loginServer: string, vault: string) {
  return structuredClone({
    authCredentials: [
      {
        credentialHealth: { errorCode: null, errorMessage: null, status: 'Healthy' },
        name: 'Credential1',
        passwordSecretIdentifier: `https://${vault}.vault.azure.net/secrets/registry-token`,
        usernameSecretIdentifier: `https://${vault}.vault.azure.net/secrets/registry-user`,
      },
    ],
    creationDate: '2026-11-30T09:10:02.118452+00:00',
    id: `${REGISTRY}/credentialSets/${name}`,
    identity: {
      principalId: '3d9a6c1e-52f0-4b7a-8e21-9c4f0d7a6b38',
      tenantId: 'a1b2c3d4-e5f6-4711-8899-aabbccddeeff',
      type: 'SystemAssigned',
      userAssignedIdentities: null,
    },
    loginServer,
    name,
    provisioningState: 'Succeeded',
    resourceGroup: 'platform-rg',
    systemData,
    type: 'Microsoft.ContainerRegistry/registries/credentialSets',
  });
}

/** The ARM GET body of a credential set. */
export function armCredentialSetGet(name: string, loginServer: string, vault: string) {
  const az = azCredentialSetShow(name, loginServer, vault);
  return {
    id: az.id,
    name,
    type: az.type,
    identity: { principalId: az.identity.principalId, tenantId: az.identity.tenantId, type: 'SystemAssigned' },
    systemData: az.systemData,
    properties: {
      loginServer,
      authCredentials: az.authCredentials.map((c) => ({ ...c, credentialHealth: { status: 'Healthy' } })),
      creationDate: az.creationDate,
      provisioningState: 'Succeeded',
    },
  };
}
