import type { RpcClient } from '@agentplane/messaging';
import { tasksContract } from '@agentplane/contracts';
import { Forwarder, fields, strayBodyIssues, waitBudgetMs } from './forwarder.js';

describe('a body read for its fields', () => {
  it('is the object itself, or {} when there is no body at all', () => {
    expect(fields({ workerId: 'w' })).toEqual({ workerId: 'w' });
    expect(fields(undefined)).toEqual({});
  });

  it.each([
    [null, 'null'],
    [[{ workerId: 'w' }], 'array'],
    ['workerId', 'string'],
    [42, 'number'],
  ])('is VALIDATION for a body that is not an object (%j), never read as empty', (body, kind) => {
    expect(() => fields(body)).toThrow(expect.objectContaining({ code: 'VALIDATION', details: { issues: [{ path: '', message: `Invalid input: expected object, received ${kind}` }] } }));
  });
});

describe("a body's fields the route did not take", () => {
  it('are none when the route passed each on as it came, or read no body at all', () => {
    const rows = [{ n: 1 }];
    expect(strayBodyIssues({ rows }, { rows, runId: 'r' })).toEqual([]);
    expect(strayBodyIssues(undefined, { id: 'x' })).toEqual([]);
    expect(strayBodyIssues({}, { id: 'x' })).toEqual([]);
    // the same value as the path's, as a query parameter may repeat it
    expect(strayBodyIssues({ id: 'x' }, { id: 'x' })).toEqual([]);
  });

  it("name a field the path gives with another value, and any field of a body the route does not read", () => {
    const rows = [{ n: 1 }];
    expect(strayBodyIssues({ runId: 'other', rows }, { runId: 'r', rows })).toEqual([{ path: 'runId', message: 'unknown field: the path gives it' }]);
    expect(strayBodyIssues({ reason: 'why' }, { id: 'x' })).toEqual([{ path: 'reason', message: 'unknown field' }]);
  });

  it('leave a body that is not an object to the route that reads it', () => {
    expect(strayBodyIssues([{ id: 'y' }], { id: 'x' })).toEqual([]);
    expect(strayBodyIssues(null, { id: 'x' })).toEqual([]);
  });
});

describe('the time a waiting call is given', () => {
  it('is its wait, bounded to 30 s, plus 5 s to answer', () => {
    expect(waitBudgetMs({})).toBe(5_000);
    expect(waitBudgetMs({ waitMs: 2_000 })).toBe(7_000);
    expect(waitBudgetMs({ waitMs: 'soon' })).toBe(5_000);
    expect(waitBudgetMs({ waitMs: 120_000 })).toBe(35_000);
    expect(waitBudgetMs({ waitMs: '2000' })).toBe(7_000);
  });

  it('reads nothing else, before the contract has checked it: an array 6 000 deep is no wait, not a stack overflow', () => {
    expect(waitBudgetMs({ waitMs: JSON.parse(`${'['.repeat(6_000)}${']'.repeat(6_000)}`) })).toBe(5_000);
    expect(waitBudgetMs({ waitMs: [1_000] })).toBe(5_000);
  });
});

describe('a waiting call when the gateway stops', () => {
  /** An RpcClient whose calls with a wait answer only when told to; those without one answer at once. */
  function rpc() {
    const calls: Array<{ subject: string; input: Record<string, unknown> }> = [];
    const held: Array<(v: unknown) => void> = [];
    const client = {
      call: (contract: { subject: string }, input: Record<string, unknown>) => {
        calls.push({ subject: contract.subject, input });
        if (typeof input.waitMs === 'number' && input.waitMs > 0) return new Promise((r) => held.push(r));
        return Promise.resolve({ data: { answeredWithout: 'wait' }, replayed: false });
      },
    };
    return { client: client as unknown as RpcClient, calls, held };
  }
  const req = { id: 'r1', headers: { authorization: 'Bearer t' } };
  const reply = { status: () => undefined, header: () => undefined };
  const id = '0197a1b2-0000-7000-8000-000000000001';

  it('a read is asked again without its wait and answered with that; a claim still waits for its own answer', async () => {
    const { client, calls, held } = rpc();
    const fwd = new Forwarder(client);
    const get = fwd.forward(tasksContract.get, { id, waitMs: 30_000 }, req, reply);
    const claim = fwd.forward(tasksContract.claim, { agentId: id, workerId: 'w', waitMs: 30_000 }, req, reply);
    let claimed: unknown;
    void claim.then((v) => (claimed = v));
    fwd.beforeApplicationShutdown();
    expect(await get).toEqual({ answeredWithout: 'wait' });
    expect(calls.map((c) => [c.subject, c.input.waitMs])).toEqual([
      ['tasks.v1.get', 30_000],
      ['tasks.v1.claim', 30_000],
      ['tasks.v1.get', 0],
    ]);
    await new Promise((r) => setTimeout(r, 20));
    expect(claimed).toBeUndefined();
    held[1]!({ data: { items: [] }, replayed: false });
    expect(await claim).toEqual({ items: [] });
    // once stopping, a read that waits does not wait at all
    expect(await fwd.forward(tasksContract.get, { id, waitMs: 30_000 }, req, reply)).toEqual({ answeredWithout: 'wait' });
    expect(calls.at(-1)).toMatchObject({ subject: 'tasks.v1.get', input: { waitMs: 0 } });
  });
});
