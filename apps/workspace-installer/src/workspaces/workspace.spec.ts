import { platformAgentIdOf, uuidV5, mayHeartbeat } from './workspace.js';

describe('workspace', () => {
  it('computes RFC 4122 version-5 UUIDs', () => {
    // The classic vector: "www.example.com" in the DNS namespace.
    expect(uuidV5('www.example.com', '6ba7b810-9dad-11d1-80b4-00c04fd430c8')).toBe('2ed6657d-e927-568b-95e1-2665a8aea6a2');
  });

  it('gives each org one platform-agent id forever, different per org', () => {
    expect(platformAgentIdOf('acme')).toBe(platformAgentIdOf('acme'));
    expect(platformAgentIdOf('acme')).not.toBe(platformAgentIdOf('globex'));
    expect(platformAgentIdOf('acme')).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  it('lets a workspace heartbeat as its own service account, or an admin', () => {
    const base = { tenantId: 't', roles: [] as string[], scopes: [] as string[], issuer: 'agentplane' };
    expect(mayHeartbeat({ ...base, kind: 'service_account', serviceAccountId: 'w1' }, 'w1')).toBe(true);
    expect(mayHeartbeat({ ...base, kind: 'service_account', serviceAccountId: 'w2' }, 'w1')).toBe(false);
    expect(mayHeartbeat({ ...base, kind: 'user', userId: 'w1' }, 'w1')).toBe(false);
    expect(mayHeartbeat({ ...base, kind: 'user', userId: 'ada', roles: ['admin'] }, 'w1')).toBe(true);
  });
});
