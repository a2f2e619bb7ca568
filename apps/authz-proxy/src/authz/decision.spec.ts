import { ACTIONS } from '@agentplane/contracts';
import { fineGrained, legacy, type Asker, type CheckFacts } from './decision.js';

const alice: Asker = { tenantId: 'acme', subject: 'user:alice', tenantAdmin: false };
const facts = (f: Partial<CheckFacts>): CheckFacts => ({ resourceTenant: 'acme', mode: null, owner: false, grantDepth: null, revision: '0', ...f });

describe('decisions', () => {
  it('denies every action on another tenant\'s or an unregistered resource, for admins too, with one reason', () => {
    for (const action of ACTIONS) {
      for (const asker of [alice, { ...alice, tenantAdmin: true }]) {
        expect(fineGrained(asker, action, facts({ resourceTenant: 'globex', owner: true, grantDepth: 0 }))).toEqual({ allowed: false, reason: 'not_found' });
        expect(fineGrained(asker, action, facts({ resourceTenant: null }))).toEqual({ allowed: false, reason: 'not_found' });
        expect(legacy(asker, facts({ resourceTenant: 'globex' })).allowed).toBe(false);
      }
    }
  });

  it('lets owners do everything but admin, and grants decide the rest', () => {
    expect(fineGrained(alice, 'delete', facts({ owner: true }))).toEqual({ allowed: true, reason: 'owner' });
    expect(fineGrained(alice, 'admin', facts({ owner: true }))).toEqual({ allowed: false, reason: 'no_relation' });
    expect(fineGrained(alice, 'admin', facts({ owner: true, grantDepth: 0 }))).toEqual({ allowed: true, reason: 'grant' });
    expect(fineGrained(alice, 'cancel', facts({ grantDepth: 1 }))).toEqual({ allowed: true, reason: 'inherited_grant' });
    expect(fineGrained({ ...alice, tenantAdmin: true }, 'admin', facts({}))).toEqual({ allowed: true, reason: 'tenant_admin' });
    expect(legacy(alice, facts({}))).toEqual({ allowed: true, reason: 'tenant_member' });
  });
});
