import { runWithRequestContext } from '@agentplane/auth';
import type { RpcContract } from '@agentplane/contracts';
import type { Principal } from '@agentplane/domain';
import type { CallContext } from '@agentplane/messaging';
import { AuthzClient, type RpcCaller } from './authz-client.js';
import { DecisionCache } from './decision-cache.js';

const alice: Principal = { kind: 'user', tenantId: 'acme', userId: 'alice', roles: [], scopes: [], issuer: 'agentplane' };
const aliceAdmin: Principal = { ...alice, roles: ['admin'] };
const mallory: Principal = { ...alice, tenantId: 'globex', userId: 'mallory' };

/** A clock the test moves, and a cache on it that has just heard a beacon. */
function clocked(opts = { freshMs: 500, maxEntries: 100 }) {
  let t = 1_000;
  const cache = new DecisionCache(opts, () => t);
  cache.hear({ revisions: [], beacon: true, epoch: 'e1' });
  return { cache, tick: (ms: number) => (t += ms) };
}

describe('DecisionCache', () => {
  it('keeps an allowed decision until a later revision of its tenant is heard, whoever else changes', () => {
    const { cache } = clocked();
    cache.put('k', 'acme', '3.e1', 'grant');
    expect(cache.get('k')).toBe('grant');
    cache.hear({ revisions: [{ tenant: 'globex', rev: '9' }, { tenant: 'acme', rev: '3' }], beacon: true, epoch: 'e1' });
    expect(cache.get('k')).toBe('grant'); // another tenant's change, or the revision it was read at: still good
    cache.hear({ revisions: [{ tenant: 'acme', rev: '4' }], beacon: false, epoch: 'e1' });
    expect(cache.get('k')).toBeUndefined();
    expect(cache.size).toBe(0);
    expect(cache.stats).toEqual({ hits: 2, misses: 1, unheard: 0 });
  });

  it('does not keep a decision read before a revision already heard of (its reply overtaken by the announcement)', () => {
    const { cache } = clocked();
    cache.hear({ revisions: [{ tenant: 'acme', rev: '5' }], beacon: false, epoch: 'e1' });
    cache.put('old', 'acme', '4.e1', 'grant');
    cache.put('new', 'acme', '5.e1', 'grant');
    expect(cache.get('old')).toBeUndefined();
    expect(cache.get('new')).toBe('grant');
    // an older revision heard late changes nothing
    cache.hear({ revisions: [{ tenant: 'acme', rev: '2' }], beacon: true, epoch: 'e1' });
    expect(cache.get('new')).toBe('grant');
  });

  it('answers nothing while announcements are not heard, and forgets everything kept before such a gap', () => {
    const { cache, tick } = clocked();
    cache.put('k', 'acme', '1.e1', 'owner');
    tick(400);
    expect(cache.get('k')).toBe('owner');
    tick(200); // 600 ms since the last beacon
    expect(cache.get('k')).toBeUndefined();
    cache.put('during', 'acme', '1.e1', 'owner'); // not kept while unheard
    cache.hear({ revisions: [], beacon: true, epoch: 'e1' });
    expect(cache.get('k')).toBeUndefined(); // a bump announced in the gap could have been missed
    expect(cache.size).toBe(0);
    expect(cache.stats.unheard).toBe(1);
  });

  it('never answers before the first beacon', () => {
    const cache = new DecisionCache({ freshMs: 500, maxEntries: 10 }, () => 1_000);
    cache.put('k', 'acme', '1.e1', 'owner');
    expect(cache.get('k')).toBeUndefined();
  });

  it('keeps a decision only in the epoch it was made in (authz-proxy\'s default mode and depth), and forgets all at another', () => {
    const { cache } = clocked();
    cache.put('k', 'acme', '1.e1', 'owner');
    cache.put('other', 'acme', '1.e2', 'owner'); // made under a configuration not heard of: not kept
    expect([cache.get('k'), cache.get('other')]).toEqual(['owner', undefined]);
    cache.hear({ revisions: [], beacon: true, epoch: 'e2' });
    expect(cache.get('k')).toBeUndefined();
    expect(cache.size).toBe(0);
    cache.put('k', 'acme', '1.e1', 'owner'); // a late answer of the old configuration
    expect(cache.get('k')).toBeUndefined();
    cache.put('k', 'acme', 'garbage', 'owner');
    expect(cache.get('k')).toBeUndefined();
  });

  it('keeps at most maxEntries, dropping the oldest', () => {
    const { cache } = clocked({ freshMs: 500, maxEntries: 2 });
    cache.put('a', 'acme', '1.e1', 'grant');
    cache.put('b', 'acme', '1.e1', 'grant');
    cache.put('c', 'acme', '1.e1', 'grant');
    expect([cache.get('a'), cache.get('b'), cache.get('c')]).toEqual([undefined, 'grant', 'grant']);
    expect(cache.size).toBe(2);
  });
});

describe('AuthzClient with a decision cache', () => {
  /** A fake authz-proxy: `allowed` maps `action resource` to the revision it answers with; records each question. */
  function setup(allowed: Record<string, string | undefined>) {
    const calls: string[] = [];
    const rpc: RpcCaller = {
      call: async (_contract: RpcContract, payload: unknown, ctx?: CallContext) => {
        const p = payload as { action: string; resource: string };
        calls.push(`${ctx?.token} ${p.action} ${p.resource}`);
        const key = `${p.action} ${p.resource}`;
        const ok = key in allowed;
        return { data: { allowed: ok, reason: ok ? 'grant' : 'no_relation', ...(ok && allowed[key] ? { revision: `${allowed[key]}.e1` } : {}) }, replayed: false } as never;
      },
    };
    const { cache } = clocked();
    return { client: new AuthzClient(rpc, cache), cache, calls };
  }
  const as = <T>(principal: Principal, token: string, fn: () => Promise<T>) => runWithRequestContext({ principal, token, requestId: 'r' }, fn);

  it('asks once for an allowed decision with a revision, then answers from the cache until the tenant moves on', async () => {
    const { client, cache, calls } = setup({ 'write agent:1': '7' });
    await as(alice, 'tok-a', async () => {
      await client.require(alice, 'write', 'agent:1');
      await client.require(alice, 'write', 'agent:1');
      expect(await client.check(alice, 'write', 'agent:1')).toEqual({ allowed: true, reason: 'grant' });
    });
    expect(calls).toEqual(['tok-a write agent:1']);
    cache.hear({ revisions: [{ tenant: 'acme', rev: '8' }], beacon: false, epoch: 'e1' });
    await as(alice, 'tok-a', () => client.require(alice, 'write', 'agent:1'));
    expect(calls).toHaveLength(2);
  });

  it('keeps each asker\'s answers apart: another subject, another tenant, the admin role', async () => {
    const { client, calls } = setup({ 'read agent:1': '1' });
    await as(alice, 'tok-a', () => client.require(alice, 'read', 'agent:1'));
    await as(aliceAdmin, 'tok-admin', () => client.require(aliceAdmin, 'read', 'agent:1'));
    await as(mallory, 'tok-m', () => client.require(mallory, 'read', 'agent:1'));
    await as(alice, 'tok-a', () => client.require(alice, 'read', 'agent:2').catch(() => undefined));
    expect(calls).toEqual(['tok-a read agent:1', 'tok-admin read agent:1', 'tok-m read agent:1', 'tok-a read agent:2']);
  });

  it('never keeps a denial, an answer without a revision, or one asked with explicit credentials', async () => {
    const { client, calls } = setup({ 'read agent:2': undefined, 'read agent:3': '1' });
    await as(alice, 'tok-a', async () => {
      for (let i = 0; i < 2; i++) {
        await client.require(alice, 'read', 'agent:1').catch(() => undefined); // denied
        await client.require(alice, 'read', 'agent:2'); // allowed, no revision (decided from an owner's row)
      }
    });
    for (let i = 0; i < 2; i++) await client.require(alice, 'read', 'agent:3', { token: 'explicit' });
    expect(calls).toEqual(['tok-a read agent:1', 'tok-a read agent:2', 'tok-a read agent:1', 'tok-a read agent:2', 'explicit read agent:3', 'explicit read agent:3']);
  });
});
