import { runWithRequestContext } from '@agentplane/auth';
import type { RpcContract } from '@agentplane/contracts';
import { DomainError, systemPrincipal, type Principal } from '@agentplane/domain';
import type { CallContext } from '@agentplane/messaging';
import { AuthzClient, type RpcCaller } from './authz-client.js';

const alice: Principal = { kind: 'user', tenantId: 'acme', userId: 'alice', roles: [], scopes: [], issuer: 'agentplane' };

/** A fake authz answering from a table of allowed `action resource` pairs, recording what it was sent. */
function fakeAuthz(allowed: string[]) {
  const calls: Array<{ subject: string; payload: { action: string; resource: string }; ctx?: CallContext }> = [];
  const rpc: RpcCaller = {
    call: async (contract: RpcContract, payload: unknown, ctx?: CallContext) => {
      const p = payload as { action: string; resource: string };
      calls.push({ subject: contract.subject, payload: p, ctx });
      return { data: { allowed: allowed.includes(`${p.action} ${p.resource}`), reason: 'x' }, replayed: false } as never;
    },
  };
  return { client: new AuthzClient(rpc), calls };
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'OK';
  } catch (err) {
    return (err as DomainError).code;
  }
}

describe('AuthzClient.require', () => {
  const ctx = { principal: alice, token: 'tok-alice', requestId: 'req-1' };

  it('passes an allowed action, forwarding the request\'s token and id', async () => {
    const { client, calls } = fakeAuthz(['cancel task:1']);
    await runWithRequestContext(ctx, () => client.require(alice, 'cancel', 'task:1'));
    expect(calls).toEqual([{ subject: 'authz.v1.check', payload: { action: 'cancel', resource: 'task:1' }, ctx: { token: 'tok-alice', requestId: 'req-1' } }]);
  });

  it('turns a denied read into NOT_FOUND, a denied mutation into FORBIDDEN only when the caller can read', async () => {
    const { client } = fakeAuthz(['read task:1']);
    await runWithRequestContext(ctx, async () => {
      expect(await codeOf(client.require(alice, 'read', 'task:2'))).toBe('NOT_FOUND');
      expect(await codeOf(client.require(alice, 'cancel', 'task:1'))).toBe('FORBIDDEN');
      expect(await codeOf(client.require(alice, 'cancel', 'task:2'))).toBe('NOT_FOUND');
    });
  });

  it('refuses to check a principal with another caller\'s token, or without any token', async () => {
    const { client } = fakeAuthz(['read task:1']);
    const bob: Principal = { ...alice, userId: 'bob' };
    expect(await codeOf(runWithRequestContext(ctx, () => client.require(bob, 'read', 'task:1')))).toBe('INTERNAL');
    expect(await codeOf(client.require(alice, 'read', 'task:1'))).toBe('INTERNAL');
    expect(await codeOf(client.require(alice, 'read', 'task:1', { token: 'explicit' }))).toBe('OK');
  });

  it('does not ask about the in-process system principal', async () => {
    const { client, calls } = fakeAuthz([]);
    await client.require(systemPrincipal('acme'), 'delete', 'task:1');
    expect(calls).toEqual([]);
  });
});
