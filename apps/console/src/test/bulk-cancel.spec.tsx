import { describe, expect, it } from 'vitest';
import { ApiError } from '../api/client.js';
import { cancelAll, collectCancelable, idempotencyKeyOf, outcomeOf, tally, type Cancelable, type ListPage } from '../api/bulk-cancel.js';

const task = (n: number, status: Cancelable['status'] = 'pending'): Cancelable => ({ id: `t${n}`, name: `task-${n}`, status });

/** A list endpoint over fixed rows, `limit` per page, recording every query it was asked. */
function lister(rows: Array<{ id: string; name: string; status: string; agentId?: string }>, pageSize = 2) {
  const asked: Array<Record<string, unknown>> = [];
  const list = async (q: { status?: string; cursor?: string; agentId?: string; limit: number }): Promise<ListPage> => {
    asked.push({ ...q });
    const match = rows.filter((r) => (q.status === undefined || r.status === q.status) && (q.agentId === undefined || r.agentId === q.agentId));
    const from = q.cursor ? Number(q.cursor) : 0;
    const items = match.slice(from, from + pageSize);
    return { items, nextCursor: from + pageSize < match.length ? String(from + pageSize) : null };
  };
  return { list, asked };
}

describe('collectCancelable: the count preview', () => {
  const rows = [
    { id: 'p1', name: 'p1', status: 'pending', agentId: 'a' },
    { id: 'p2', name: 'p2', status: 'pending', agentId: 'a' },
    { id: 'p3', name: 'p3', status: 'pending', agentId: 'a' },
    { id: 'r1', name: 'r1', status: 'running', agentId: 'a' },
    { id: 'c1', name: 'c1', status: 'completed', agentId: 'a' },
    { id: 'x1', name: 'x1', status: 'pending', agentId: 'b' },
  ];

  it('asks only for pending and running tasks, with the page filters, following every cursor', async () => {
    const { list, asked } = lister(rows);
    const found = await collectCancelable({ agentId: 'a' }, list);
    expect(found).toEqual({
      items: [
        { id: 'p1', name: 'p1', status: 'pending' },
        { id: 'p2', name: 'p2', status: 'pending' },
        { id: 'p3', name: 'p3', status: 'pending' },
        { id: 'r1', name: 'r1', status: 'running' },
      ],
      truncated: false,
    });
    expect(asked.map((q) => [q.status, q.cursor ?? null, q.agentId])).toEqual([
      ['pending', null, 'a'],
      ['pending', '2', 'a'],
      ['running', null, 'a'],
    ]);
  });

  it('a status filter narrows it; a terminal one matches nothing to cancel and asks nothing', async () => {
    const { list, asked } = lister(rows);
    expect((await collectCancelable({ status: 'running' }, list)).items.map((t) => t.id)).toEqual(['r1']);
    expect(asked.map((q) => q.status)).toEqual(['running']);
    asked.length = 0;
    expect(await collectCancelable({ status: 'completed' }, list)).toEqual({ items: [], truncated: false });
    expect(asked).toEqual([]);
  });

  it('a task that moved from pending to running between the two listings is counted once', async () => {
    let calls = 0;
    const list = async (q: { status?: string }): Promise<ListPage> => {
      calls++;
      return { items: q.status === 'pending' ? [{ id: 'm', name: 'm', status: 'pending' }] : [{ id: 'm', name: 'm', status: 'running' }] };
    };
    const found = await collectCancelable({}, list);
    expect(calls).toBe(2);
    expect(found.items).toEqual([{ id: 'm', name: 'm', status: 'running' }]);
  });

  it('stops at the cap and says more matched', async () => {
    const { list } = lister(rows);
    expect(await collectCancelable({ agentId: 'a' }, list, { cap: 3 })).toEqual({
      items: [
        { id: 'p1', name: 'p1', status: 'pending' },
        { id: 'p2', name: 'p2', status: 'pending' },
        { id: 'p3', name: 'p3', status: 'pending' },
      ],
      truncated: true,
    });
    // exactly the cap is not "more"
    expect((await collectCancelable({ agentId: 'a' }, list, { cap: 4 })).truncated).toBe(false);
  });
});

describe('cancelAll: one cancel per task', () => {
  it('never has more than `concurrency` cancels in flight, and reaches every task', async () => {
    let inFlight = 0;
    let most = 0;
    const seen: string[] = [];
    const tasks = Array.from({ length: 10 }, (_, i) => task(i));
    const { outcomes } = await cancelAll(
      tasks,
      async (id) => {
        inFlight++;
        most = Math.max(most, inFlight);
        seen.push(id);
        await new Promise((r) => setTimeout(r, 5));
        inFlight--;
        return { status: 'canceled' };
      },
      { runId: 'run', concurrency: 3 },
    );
    expect(most).toBe(3);
    expect(seen.sort()).toEqual(tasks.map((t) => t.id).sort());
    expect(tally(outcomes.values())).toMatchObject({ canceled: 10 });
  });

  it('says what each answer meant', async () => {
    const answers: Record<string, () => { status: string }> = {
      t1: () => ({ status: 'canceled' }),
      t2: () => ({ status: 'running' }),
      t3: () => {
        throw new ApiError(409, 'CONFLICT', 'task is already completed');
      },
      t4: () => {
        throw new ApiError(403, 'FORBIDDEN', 'no cancel on task');
      },
      t5: () => {
        throw new ApiError(404, 'NOT_FOUND', 'task not found');
      },
      t6: () => {
        throw new ApiError(422, 'IDEMPOTENCY_MISMATCH', 'key reused');
      },
    };
    const { outcomes } = await cancelAll([1, 2, 3, 4, 5, 6].map((n) => task(n)), async (id) => answers[id]!(), { runId: 'r', retries: 0 });
    expect([...outcomes].map(([id, o]) => [id, o.kind]).sort()).toEqual([
      ['t1', 'canceled'],
      ['t2', 'requested'],
      ['t3', 'finished'],
      ['t4', 'forbidden'],
      ['t5', 'gone'],
      ['t6', 'error'],
    ]);
  });

  it('asks again after a lost answer or a 503 under the same key, so a cancel that landed is not done twice', async () => {
    const keys: string[] = [];
    const { outcomes } = await cancelAll(
      [task(1)],
      async (_id, key) => {
        keys.push(key);
        if (keys.length === 1) throw new ApiError(0, 'NETWORK', 'Failed to fetch');
        if (keys.length === 2) throw new ApiError(503, 'UNAVAILABLE', 'tasks is not answering');
        return { status: 'canceled' };
      },
      { runId: 'run-1', retryDelayMs: 1 },
    );
    expect(keys).toEqual([idempotencyKeyOf('run-1', 't1'), idempotencyKeyOf('run-1', 't1'), idempotencyKeyOf('run-1', 't1')]);
    expect(outcomes.get('t1')).toEqual({ kind: 'canceled' });
  });

  it('gives up after its retries, and never retries an answer that is not transient', async () => {
    let calls = 0;
    const { outcomes } = await cancelAll(
      [task(1)],
      async () => {
        calls++;
        throw new ApiError(503, 'UNAVAILABLE', 'down');
      },
      { runId: 'r', retries: 2, retryDelayMs: 1 },
    );
    expect(calls).toBe(3);
    expect(outcomes.get('t1')?.kind).toBe('error');
    calls = 0;
    await cancelAll(
      [task(2)],
      async () => {
        calls++;
        throw new ApiError(403, 'FORBIDDEN', 'no');
      },
      { runId: 'r', retries: 2, retryDelayMs: 1 },
    );
    expect(calls).toBe(1);
  });

  it('a 401 ends the run: nothing more is sent, the rest are not attempted, and the error is handed back', async () => {
    const sent: string[] = [];
    const expired = new ApiError(401, 'UNAUTHENTICATED', 'token expired');
    const { outcomes, sessionEnded } = await cancelAll(
      Array.from({ length: 6 }, (_, i) => task(i)),
      async (id) => {
        sent.push(id);
        if (id === 't1') throw expired;
        return { status: 'canceled' };
      },
      { runId: 'r', concurrency: 1 },
    );
    expect(sent).toEqual(['t0', 't1']);
    expect(sessionEnded).toBe(expired);
    expect(tally(outcomes.values())).toMatchObject({ canceled: 1, skipped: 5 });
  });

  it('Stop lets the cancels in flight finish and starts no other', async () => {
    const stop = new AbortController();
    const sent: string[] = [];
    const { outcomes } = await cancelAll(
      Array.from({ length: 8 }, (_, i) => task(i, 'running')),
      async (id) => {
        sent.push(id);
        if (sent.length === 3) stop.abort();
        await new Promise((r) => setTimeout(r, 2));
        return { status: 'running' };
      },
      { runId: 'r', concurrency: 2, signal: stop.signal },
    );
    expect(sent.length).toBeLessThanOrEqual(4);
    expect(outcomes.size).toBe(8);
    const counts = tally(outcomes.values());
    expect(counts.requested).toBe(sent.length);
    expect(counts.skipped).toBe(8 - sent.length);
  });

  it('reports each outcome as it lands, for the progress bar', async () => {
    const seen: string[] = [];
    await cancelAll([task(1), task(2)], async () => ({ status: 'canceled' }), { runId: 'r', onOutcome: (id) => seen.push(id) });
    expect(seen.sort()).toEqual(['t1', 't2']);
  });

  it('its idempotency keys are what the gateway accepts: 1-255 visible ASCII characters', () => {
    const key = idempotencyKeyOf(crypto.randomUUID(), crypto.randomUUID());
    expect(key).toMatch(/^[\x21-\x7e]{1,255}$/);
  });

  it('a success that is not canceled means the worker was asked to stop', () => {
    expect(outcomeOf({ ok: true, value: { status: 'running' } })).toEqual({ kind: 'requested' });
    // a 409 that is a key still in flight is not "the task had ended"
    expect(outcomeOf({ ok: false, error: new ApiError(409, 'IDEMPOTENCY_IN_PROGRESS', 'in flight') }).kind).toBe('error');
  });
});
