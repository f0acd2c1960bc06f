import { NameInvalidError } from '@pullthrough/oci';
import { parseRegistryPath } from './registry-path.js';

describe('parseRegistryPath', () => {
  test.each([
    ['/v2/', { kind: 'base' }],
    ['/v2', { kind: 'base' }],
    ['/v2/_catalog', { kind: 'catalog' }],
    ['/v2/dockerhub/library/node/manifests/20', { kind: 'manifest', name: 'dockerhub/library/node', reference: '20' }],
    ['/v2/a/blobs/sha256:abc', { kind: 'blob', name: 'a', digest: 'sha256:abc' }],
    ['/v2/a/b/tags/list', { kind: 'tags', name: 'a/b' }],
    ['/v2/a/referrers/sha256%3Aabc', { kind: 'referrers', name: 'a', digest: 'sha256:abc' }],
    ['/v2/a/blobs/uploads/', { kind: 'upload', name: 'a' }],
    ['/v2/a/blobs/uploads', { kind: 'upload', name: 'a' }],
    ['/v2/team/app/blobs/uploads/0f5c8a4e-1b2c-4d3e-8f90-123456789abc', { kind: 'upload', name: 'team/app', session: '0f5c8a4e-1b2c-4d3e-8f90-123456789abc' }],
    // the Azure SDK encodes the slashes of names
    ['/v2/a%2Fb/manifests/x', { kind: 'manifest', name: 'a/b', reference: 'x' }],
    ['/v2/a%2fb%2Fc/blobs/sha256:abc', { kind: 'blob', name: 'a/b/c', digest: 'sha256:abc' }],
    ['/v2/a/b%2Fc/tags/list', { kind: 'tags', name: 'a/b/c' }],
    ['/v2/a/other/x', undefined],
    ['/v3/a', undefined],
  ])('%s', (path, expected) => {
    expect(parseRegistryPath(path)).toEqual(expected);
  });
  test.each([
    '/v2/../etc/manifests/x',
    '/v2/Upper/manifests/x',
    '/v2/a//b/blobs/sha256:x',
    '/v2/a/../b/tags/list',
    '/v2/a%2F..%2Fb/manifests/x',
    '/v2/a%2F%2Fb/manifests/x',
    '/v2/%2Fa/manifests/x',
    '/v2/a%2F/manifests/x',
    '/v2/a%2e%2e/manifests/x',
    '/v2/a%252Fb/manifests/x',
  ])(
    '%s is a bad name',
    (path) => {
      expect(() => parseRegistryPath(path)).toThrow(NameInvalidError);
    },
  );
  test('an encoded slash in a reference is rejected later as an invalid reference', () => {
    expect(parseRegistryPath('/v2/a/manifests/x%2Fy')).toEqual({ kind: 'manifest', name: 'a', reference: '\u0000invalid' });
  });
});
