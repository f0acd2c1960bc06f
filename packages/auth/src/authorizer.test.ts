import { AccessPolicy, parseAccessPolicy } from './access-policy.js';
import { Authorizer } from './authorizer.js';
import { ANONYMOUS } from './principal.js';

const policy = new AccessPolicy(parseAccessPolicy({ grants: [{ users: ['alice'], repositories: ['private/*'], actions: ['pull', 'push'] }] }));
const authorizer = new Authorizer({ policy: () => policy, anonymousPull: (repo) => repo.startsWith('public/') });

describe('Authorizer', () => {
  it.each([
    ['anonymous pulls a public repository', ANONYMOUS, 'public/x', 'pull', true],
    ['anonymous cannot pull a private one', ANONYMOUS, 'private/x', 'pull', false],
    ['anonymous never pushes', ANONYMOUS, 'public/x', 'push', false],
    ['alice pulls private', { kind: 'user', subject: 'alice' }, 'private/x', 'pull', true],
    ['alice pulls public (anonymous may)', { kind: 'user', subject: 'alice' }, 'public/x', 'pull', true],
    ['bob cannot pull private', { kind: 'user', subject: 'bob' }, 'private/x', 'pull', false],
    ['a token is capped by its scopes', { kind: 'token', subject: 'alice', anonymous: false, access: [{ type: 'repository', name: 'private/x', actions: ['pull'] }] }, 'private/x', 'push', false],
    ['a token for A is not for B', { kind: 'token', subject: 'alice', anonymous: false, access: [{ type: 'repository', name: 'private/a', actions: ['pull'] }] }, 'private/b', 'pull', false],
    ['a token never exceeds its subject now', { kind: 'token', subject: 'bob', anonymous: false, access: [{ type: 'repository', name: 'private/x', actions: ['pull'] }] }, 'private/x', 'pull', false],
    ['an anonymous token pulls public', { kind: 'token', subject: '', anonymous: true, access: [{ type: 'repository', name: 'public/x', actions: ['pull'] }] }, 'public/x', 'pull', true],
  ] as const)('%s', (_what, principal, repo, action, expected) => {
    expect(authorizer.allows(principal as never, repo, action)).toBe(expected);
  });
});

test('grant cuts requested scopes to what is permitted and drops empty ones', () => {
  const requested = [
    { type: 'repository' as const, name: 'private/x', actions: ['pull' as const, 'push' as const, 'delete' as const] },
    { type: 'repository' as const, name: 'public/y', actions: ['pull' as const, 'push' as const] },
  ];
  expect(authorizer.grant('alice', requested)).toEqual([
    { type: 'repository', name: 'private/x', actions: ['pull', 'push'] },
    { type: 'repository', name: 'public/y', actions: ['pull'] },
  ]);
  expect(authorizer.grant(undefined, requested)).toEqual([{ type: 'repository', name: 'public/y', actions: ['pull'] }]);
  expect(authorizer.grant('bob', [requested[0]!])).toEqual([]);
});
