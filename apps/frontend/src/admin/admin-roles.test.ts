import { DEFAULT_ROLE_MAP, parseRoleMap, roleAtLeast, strongestRole } from './admin-roles.js';

test('the default map gives each Entra app role its role', () => {
  expect([...parseRoleMap(DEFAULT_ROLE_MAP)]).toEqual([
    ['Pullthrough.Reader', 'reader'],
    ['Pullthrough.Operator', 'operator'],
    ['Pullthrough.Admin', 'admin'],
  ]);
});

test('several values may map to one role; spaces around entries are ignored', () => {
  expect([...parseRoleMap(' viewers=reader , ops=operator, sre=operator ')]).toEqual([
    ['viewers', 'reader'],
    ['ops', 'operator'],
    ['sre', 'operator'],
  ]);
});

test.each([
  ['no role', 'viewers', /claimValue=role/],
  ['an unknown role', 'viewers=root', /one of reader, operator, admin/],
  ['an empty value', '=reader', /claimValue=role/],
  ['a value twice', 'a=reader,a=admin', /mapped twice/],
  ['nothing', ' , ', /maps no claim value/],
])('%s is refused', (_label, text, message) => {
  expect(() => parseRoleMap(text)).toThrow(message);
});

test('roles are ordered reader < operator < admin', () => {
  expect(roleAtLeast('admin', 'operator')).toBe(true);
  expect(roleAtLeast('reader', 'operator')).toBe(false);
  expect(strongestRole(['reader', 'admin', 'operator'])).toBe('admin');
  expect(strongestRole([])).toBeUndefined();
});
