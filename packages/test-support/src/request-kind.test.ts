import { classifyRequest } from './request-kind.js';

const d = `sha256:${'a'.repeat(64)}`;

test.each([
  ['/v2/', { kind: 'base' }],
  ['/v2', { kind: 'base' }],
  ['/v2/library/node/manifests/20', { kind: 'manifest', repository: 'library/node', reference: '20' }],
  [`/v2/a/b/c/manifests/${d}`, { kind: 'manifest', repository: 'a/b/c', reference: d }],
  [`/v2/library/node/blobs/${d}`, { kind: 'blob', repository: 'library/node', reference: d }],
  [`/v2/x/blobs/blobs/${d}`, { kind: 'blob', repository: 'x/blobs', reference: d }],
  ['/v2/library/node/blobs/uploads/', { kind: 'other', repository: 'library/node' }],
  [`/v2/library/node/blobs/uploads/1234-abcd?digest=${d}`, { kind: 'other', repository: 'library/node' }],
  ['/v2/library/node/tags/list?n=10', { kind: 'tags', repository: 'library/node' }],
  [`/v2/library/node/referrers/${d}`, { kind: 'other', repository: 'library/node', reference: d }],
  ['/v2/_catalog', { kind: 'other' }],
  ['/token?scope=x', { kind: 'other' }],
])('%s', (path, expected) => {
  expect(classifyRequest(path)).toEqual(expected);
});
