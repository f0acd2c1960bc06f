export * from './credential-set.js';
export * from './secret-resolver.js';
export * from './secret-credential-provider.js';
export * from './stored-credentials.js';
export * from './azure-credential.js';
export * from './key-vault-secret-resolver.js';
export * from './chain-secret-resolver.js';
export * from './create-secret-resolver.js';
