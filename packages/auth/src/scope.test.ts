import { formatScope, parseScopes } from './scope.js';

describe('parseScopes', () => {
  it.each([
    [['repository:library/node:pull'], [{ type: 'repository', name: 'library/node', actions: ['pull'] }]],
    [['repository:a/b:pull,push'], [{ type: 'repository', name: 'a/b', actions: ['pull', 'push'] }]],
    [['repository:a:*'], [{ type: 'repository', name: 'a', actions: ['pull', 'push', 'delete'] }]],
    // containerd sends several scopes space-separated in one value
    [['repository:a:pull repository:b:push'], [{ type: 'repository', name: 'a', actions: ['pull'] }, { type: 'repository', name: 'b', actions: ['push'] }]],
    // the same repository twice merges
    [['repository:a:pull', 'repository:a:delete'], [{ type: 'repository', name: 'a', actions: ['pull', 'delete'] }]],
    // unknown actions are dropped, an entry with none left stays with none
    [['repository:a:pull,admin'], [{ type: 'repository', name: 'a', actions: ['pull'] }]],
    [['repository:a:admin'], [{ type: 'repository', name: 'a', actions: [] }]],
  ])('%j', (input, expected) => {
    expect(parseScopes(input)).toEqual(expected);
  });

  it.each([['registry:catalog:*'], ['repository:UPPER:pull'], ['repository:../etc:pull'], ['repository::pull'], ['nonsense'], [''], ['repository:a']])('drops %j', (input) => {
    expect(parseScopes([input])).toEqual([]);
  });

  it('keeps at most 64 scopes', () => {
    const many = Array.from({ length: 100 }, (_, i) => `repository:r${i}:pull`);
    expect(parseScopes(many)).toHaveLength(64);
  });

  it('formats a challenge scope', () => {
    expect(formatScope('a/b', ['pull'])).toBe('repository:a/b:pull');
  });
});
