export * from './access-policy.js';
export * from './authorizer.js';
export * from './htpasswd.js';
export * from './jwt.js';
export * from './key-ring.js';
export * from './principal.js';
export * from './scope.js';
export * from './token-service.js';
