import { AccessPolicy, AccessPolicyValidationError, DEFAULT_ACCESS_POLICY, parseAccessPolicy } from './access-policy.js';

const policy = new AccessPolicy(
  parseAccessPolicy({
    groups: { nodes: ['pool-a', 'pool-b'], team: ['alice'] },
    grants: [
      { groups: ['nodes'], repositories: ['dockerhub/*', 'ghcr/*'], actions: ['pull'] },
      { users: ['alice'], repositories: ['team/app'], actions: ['pull', 'push'] },
      { groups: ['team'], repositories: ['team/*'], actions: ['delete'] },
    ],
  }),
);

describe('AccessPolicy', () => {
  it.each([
    ['pool-a', 'dockerhub/library/node', ['pull']],
    ['pool-b', 'ghcr/x/y', ['pull']],
    ['pool-a', 'team/app', []],
    ['pool-a', 'dockerhubx/library/node', []],
    ['alice', 'team/app', ['pull', 'push', 'delete']],
    ['alice', 'team/other', ['delete']],
    ['alice', 'dockerhub/library/node', []],
    ['mallory', 'dockerhub/library/node', []],
  ])('%s on %s -> %j', (user, repo, actions) => {
    expect([...policy.actionsFor(user, repo)].sort()).toEqual([...actions].sort());
  });

  it('default: every authenticated user pulls everything, nothing else', () => {
    const d = new AccessPolicy(DEFAULT_ACCESS_POLICY);
    expect([...d.actionsFor('anyone', 'a/b/c')]).toEqual(['pull']);
  });
});

describe('parseAccessPolicy', () => {
  const issues = (input: unknown) => {
    try {
      parseAccessPolicy(input);
    } catch (err) {
      return (err as AccessPolicyValidationError).issues;
    }
    throw new Error('accepted');
  };

  it.each([
    [null, ''],
    [{ grants: [{ users: ['a'], repositories: ['../x'], actions: ['pull'] }] }, 'grants[0].repositories[0]'],
    [{ grants: [{ users: ['a'], repositories: ['x'], actions: ['admin'] }] }, 'grants[0].actions[0]'],
    [{ grants: [{ repositories: ['x'], actions: ['pull'] }] }, 'grants[0].users'],
    [{ grants: [{ users: ['a b'], repositories: ['x'], actions: ['pull'] }] }, 'grants[0].users[0]'],
    [{ grants: [], extra: 1 }, 'extra'],
    [{ grants: [{ users: ['a'], repositories: [], actions: ['pull'] }] }, 'grants[0].repositories'],
  ])('%j is refused at %s', (input, field) => {
    expect(issues(input).map((i) => i.field)).toContain(field);
  });
});
