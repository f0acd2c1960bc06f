import { claimValues } from './claim-values.js';

test.each<[string, Record<string, unknown>, string, string[]]>([
  ['an array claim (Entra roles)', { roles: ['Pullthrough.Reader', 7, 'X'] }, 'roles', ['Pullthrough.Reader', 'X']],
  ['a space-separated string (scp)', { scp: 'read  write' }, 'scp', ['read', 'write']],
  ['a dotted path', { realm_access: { roles: ['admin'] } }, 'realm_access.roles', ['admin']],
  ['a literal name with dots wins', { 'https://x.example/roles': ['a'] }, 'https://x.example/roles', ['a']],
  ['absent', {}, 'roles', []],
  ['not a string or list', { roles: { admin: true } }, 'roles', []],
  ['no prototype walk', {}, 'constructor.name', []],
])('%s', (_label, claims, name, values) => {
  expect(claimValues(claims, name)).toEqual(values);
});
