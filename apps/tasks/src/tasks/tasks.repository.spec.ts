import type { PrismaClient } from '@agentplane/db-tasks';
import type { SqlPool } from '@agentplane/persistence';
import { TasksRepository } from './tasks.repository.js';
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
