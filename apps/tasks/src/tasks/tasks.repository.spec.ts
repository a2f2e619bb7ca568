import type { PrismaClient } from '@agentplane/db-tasks';
import type { SqlPool } from '@agentplane/persistence';
import { CREATE_MANY_MAX, TasksRepository, createGroups } from './tasks.repository.js';
import type { TaskWakeups } from './task-wakeups.js';

describe('TasksRepository.agentInTenant', () => {
  const agentId = '6f1c2b9e-4a53-4c1d-9a7e-2f0e5b8d1c33';

  it('reads an agent from the database once, then from KnownAgents; an unknown one every time', async () => {
    const queries: unknown[][] = [];
    let exists = true;
    const sql = {
      $queryRaw: async (...args: unknown[]) => {
        queries.push(args);
        return exists ? [{ id: agentId, createdBy: 'user:alice', maxConcurrency: null }] : [];
      },
    } as unknown as SqlPool;
    const repo = new TasksRepository({} as PrismaClient, sql, {} as TaskWakeups);

    expect(await repo.agentInTenant('acme', agentId)).toEqual({ id: agentId, createdBy: 'user:alice', maxConcurrency: null });
    expect(await repo.agentInTenant('acme', agentId)).toEqual({ id: agentId, createdBy: 'user:alice', maxConcurrency: null });
    expect(queries).toHaveLength(1);

    exists = false;
    expect(await repo.agentInTenant('globex', agentId)).toBeNull();
    expect(await repo.agentInTenant('globex', agentId)).toBeNull();
    expect(queries).toHaveLength(3);
  });
});

describe('createGroups (group commit)', () => {
  const key = (leaseSeconds = 30) => ({ key: { leaseSeconds } });

  it('groups a turn by shape: without keys, with keys by lease (the same key twice shares a group too)', () => {
    const a = {};
    const b = {};
    const k1 = key();
    const k2 = key();
    const k3Lease = key(60);
    expect(createGroups([a, k1, b, k2, k3Lease, k1])).toEqual([[a, b], [k1, k2, k1], [k3Lease]]);
  });

  it(`cuts a group at ${CREATE_MANY_MAX}`, () => {
    const many = Array.from({ length: CREATE_MANY_MAX * 2 + 1 }, () => ({}));
    expect(createGroups(many).map((g) => g.length)).toEqual([CREATE_MANY_MAX, CREATE_MANY_MAX, 1]);
    const keyed = Array.from({ length: CREATE_MANY_MAX + 1 }, () => key());
    expect(createGroups(keyed).map((g) => g.length)).toEqual([CREATE_MANY_MAX, 1]);
  });
});
