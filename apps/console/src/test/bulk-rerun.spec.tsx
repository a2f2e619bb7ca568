import { describe, expect, it } from 'vitest';
import { ApiError } from '../api/client.js';
import { bulkRerunName, collectRerunnable, rerunAll } from '../api/bulk-rerun.js';
import type { CreateTaskBody, Task } from '../api/rerun.js';

const task = (n: number, over: Partial<Task> = {}): Task => ({
  id: `00000000-0000-7000-8000-00000000000${n}`,
  tenantId: 'acme',
  agentId: '00000000-0000-7000-8000-0000000000aa',
  name: `job-${n}`,
  status: 'failed',
  params: { n },
  result: null,
  creatorUserId: 'alice',
  creatorServiceAccountId: null,
  createdAt: '2026-12-06T12:00:00.000Z',
  updatedAt: '2026-12-06T12:00:00.000Z',
  priority: n,
  attempt: 3,
  maxAttempts: 3,
  runAfter: '2026-12-06T12:00:00.000Z',
  leaseExpiresAt: null,
  workerId: null,
  startedAt: null,
  finishedAt: '2026-12-06T12:01:00.000Z',
  cancelRequested: false,
  progress: null,
  error: { message: 'boom' },
  heartbeatTimeoutSeconds: 60,
  timeoutSeconds: 3600,
  retry: { initialIntervalMs: 1000, backoffCoefficient: 2, maximumIntervalMs: 60_000 },
  ...over,
});

describe('collectRerunnable', () => {
  it('takes the ended tasks of the filter\'s status, every page; without an ended status it asks nothing', async () => {
    const asked: Array<Record<string, unknown>> = [];
    const rows = [task(1), task(2), task(3)];
    const list = async (q: { status?: string; cursor?: string; limit: number }) => {
      asked.push({ status: q.status, cursor: q.cursor });
      const from = Number(q.cursor ?? 0);
      return { items: rows.slice(from, from + 2), nextCursor: from + 2 < rows.length ? String(from + 2) : null };
    };
    expect((await collectRerunnable({ status: 'failed', agentId: 'a' }, list)).items.map((t) => t.name)).toEqual(['job-1', 'job-2', 'job-3']);
    expect(asked).toEqual([
      { status: 'failed', cursor: undefined },
      { status: 'failed', cursor: '2' },
    ]);
    asked.length = 0;
    expect(await collectRerunnable({}, list)).toEqual({ items: [], truncated: false });
    expect(await collectRerunnable({ status: 'running' }, list)).toEqual({ items: [], truncated: false });
    expect(asked).toEqual([]);
  });
});

describe('rerunAll', () => {
  it('creates one new task per task, with what defines its work and the run\'s name suffix, each under its own key', async () => {
    const sent: Array<{ body: CreateTaskBody; key: string }> = [];
    const tasks = [task(1), task(2, { params: { big: true }, priority: -5, maxAttempts: 1 })];
    const { outcomes } = await rerunAll(
      tasks,
      async (body, key) => {
        sent.push({ body, key });
        return { id: `new-${body.name}` };
      },
      { runId: 'abcdef12-run', concurrency: 1 },
    );
    expect(sent).toEqual([
      {
        key: `console-rerun:abcdef12-run:${tasks[0]!.id}`,
        body: {
          agentId: tasks[0]!.agentId,
          name: 'job-1-rerun-abcdef',
          params: { n: 1 },
          priority: 1,
          maxAttempts: 3,
          heartbeatTimeoutSeconds: 60,
          timeoutSeconds: 3600,
          retry: { initialIntervalMs: 1000, backoffCoefficient: 2, maximumIntervalMs: 60_000 },
        },
      },
      {
        key: `console-rerun:abcdef12-run:${tasks[1]!.id}`,
        body: expect.objectContaining({ name: 'job-2-rerun-abcdef', params: { big: true }, priority: -5, maxAttempts: 1 }),
      },
    ]);
    expect(outcomes.get(tasks[0]!.id)).toEqual({ kind: 'created', taskId: 'new-job-1-rerun-abcdef' });
    expect(bulkRerunName('abcdef12-run', 'job-1')).toBe('job-1-rerun-abcdef');
  });

  it('says why a task was not run again, and asks again under the same key when the answer was lost', async () => {
    const calls: Record<string, string[]> = {};
    const tasks = [task(1), task(2), task(3), task(4)];
    const { outcomes } = await rerunAll(
      tasks,
      async (body, key) => {
        (calls[body.name] ??= []).push(key);
        if (body.name.startsWith('job-1')) throw new ApiError(403, 'FORBIDDEN', 'write on agent is not allowed');
        if (body.name.startsWith('job-2')) throw new ApiError(409, 'CONFLICT', 'a task named … already exists');
        if (body.name.startsWith('job-3')) throw new ApiError(404, 'NOT_FOUND', 'agent not found');
        if (calls[body.name]!.length === 1) throw new ApiError(0, 'NETWORK', 'Failed to fetch');
        return { id: 'made' };
      },
      { runId: 'r00000', retryDelayMs: 1 },
    );
    expect(tasks.map((t) => outcomes.get(t.id)?.kind)).toEqual(['forbidden', 'taken', 'gone', 'created']);
    const retried = calls['job-4-rerun-r00000']!;
    expect(retried).toHaveLength(2);
    expect(new Set(retried).size).toBe(1);
  });
});
