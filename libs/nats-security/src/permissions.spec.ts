import { loadPermissionTable, permissionsOf } from './permissions.js';

describe('permissionsOf', () => {
  const table = loadPermissionTable();

  // a caller's identity is any [A-Za-z0-9_-]{1,64}: some of those name members of Object's prototype
  it.each(['constructor', 'toString', 'hasOwnProperty', 'valueOf'])('gives a caller named %s the caller template', (name) => {
    expect(permissionsOf(table, name, { prefix: '' })).toEqual({ ...permissionsOf(table, 'billing-backend', { prefix: '' }), subscribe: [`_INBOX_${name}.>`] });
  });
});
