export * from './credential-set.js';
export * from './secret-resolver.js';
export * from './secret-credential-provider.js';
export * from './stored-credentials.js';
