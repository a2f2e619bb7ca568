import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { SqlPool, type TestDatabase } from '@agentplane/persistence';
import { CHECK_FACTS, CHECK_FACTS_MANY, ReadPool, TuplesRepository } from '../src/authz/tuples.repository.js';
import { ACME, ALICE, BOB, CAROL, DAVE, GLOBEX, agentRef, taskRef } from './constants.js';
import { authzDatabase } from './setup.js';

/**
 * Checks asked in one event-loop turn are read by one statement (issue 19: TuplesRepository.checkFacts): each gets
 * the facts it would get alone, and a statement the server refuses is read again question by question. The statements
 * are counted on the real read pool as they go to PostgreSQL.
 */
describe('authz-proxy: the checks of one turn are one statement', () => {
  let db: TestDatabase;
  let writes: SqlPool;
  let reads: ReadPool;
  let repo: TuplesRepository;
  const sent: string[] = [];

  beforeAll(async () => {
    db = await authzDatabase();
    writes = new SqlPool({ url: db.url, max: 2 });
    reads = new ReadPool({ url: db.url, max: 4 });
    const run = reads.$queryRawUnsafe.bind(reads);
    reads.$queryRawUnsafe = (<T>(text: string, ...values: unknown[]) => {
      sent.push(text);
      return run<T>(text, ...values);
    }) as typeof reads.$queryRawUnsafe;
    repo = new TuplesRepository(writes, reads);
    await repo.transaction(async (tx) => {
      await repo.register(tx, { resource: agentRef(1), tenant: ACME, owner: `user:${ALICE}` }, 16);
      await repo.grant(tx, { tenantId: ACME, resource: agentRef(1), action: 'write', subject: `user:${BOB}`, grantedBy: 'user:root' });
      await repo.register(tx, { resource: taskRef(1), tenant: ACME, owner: `user:${BOB}`, parent: agentRef(1) }, 16);
      await repo.register(tx, { resource: taskRef(2), tenant: ACME, owner: `user:${ALICE}`, parent: agentRef(1) }, 16);
      await repo.grant(tx, { tenantId: ACME, resource: taskRef(2), action: 'read', subject: `user:${CAROL}`, grantedBy: 'user:root' });
    });
  });

  afterAll(async () => {
    await writes?.end();
    await reads?.end();
    await db?.drop();
  });

  const questions = [
    { resource: agentRef(1), subject: `user:${BOB}`, action: 'write', tenantId: ACME, maxDepth: 16 },
    { resource: taskRef(1), subject: `user:${BOB}`, action: 'read', tenantId: ACME, maxDepth: 16 },
    { resource: taskRef(2), subject: `user:${BOB}`, action: 'write', tenantId: ACME, maxDepth: 16 },
    { resource: taskRef(2), subject: `user:${CAROL}`, action: 'read', tenantId: ACME, maxDepth: 16 },
    { resource: taskRef(2), subject: `user:${CAROL}`, action: 'write', tenantId: ACME, maxDepth: 16 },
    { resource: taskRef(2), subject: `user:${DAVE}`, action: 'read', tenantId: ACME, maxDepth: 16 },
    { resource: taskRef(1), subject: `user:${BOB}`, action: 'write', tenantId: GLOBEX, maxDepth: 16 },
    { resource: taskRef(999), subject: `user:${BOB}`, action: 'read', tenantId: ACME, maxDepth: 16 },
    { resource: taskRef(1), subject: `user:${BOB}`, action: 'write', tenantId: ACME, maxDepth: 0 },
  ] as const;

  it('answers each question of a turn as it would alone, in one statement', async () => {
    sent.length = 0;
    const alone = [];
    for (const q of questions) alone.push(await repo.checkFacts(q));
    expect(sent).toEqual(questions.map(() => CHECK_FACTS));
    // what they are, so the comparison below compares something
    expect(alone.slice(0, 4)).toEqual([
      { resourceTenant: ACME, mode: null, owner: false, grantDepth: 0, revision: '0' },
      { resourceTenant: ACME, mode: null, owner: true, grantDepth: null, revision: '0' },
      { resourceTenant: ACME, mode: null, owner: false, grantDepth: 1, revision: '0' },
      { resourceTenant: ACME, mode: null, owner: false, grantDepth: 0, revision: '0' },
    ]);
    expect(alone[7]).toEqual({ resourceTenant: null, mode: null, owner: false, grantDepth: null, revision: '0' });

    sent.length = 0;
    const together = await Promise.all(questions.map((q) => repo.checkFacts(q)));
    expect(sent).toEqual([CHECK_FACTS_MANY]);
    expect(together).toEqual(alone);
  });

  it('reads a refused statement again question by question: the bad question fails alone', async () => {
    sent.length = 0;
    // a depth that is not an integer: PostgreSQL refuses it as the int column of the JSON questions, so the whole statement
    const results = await Promise.allSettled([repo.checkFacts(questions[0]), repo.checkFacts({ ...questions[1], maxDepth: 1.5 }), repo.checkFacts(questions[3])]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((results[0] as PromiseFulfilledResult<unknown>).value).toEqual({ resourceTenant: ACME, mode: null, owner: false, grantDepth: 0, revision: '0' });
    expect((results[2] as PromiseFulfilledResult<unknown>).value).toEqual({ resourceTenant: ACME, mode: null, owner: false, grantDepth: 0, revision: '0' });
    expect(sent).toEqual([CHECK_FACTS_MANY, CHECK_FACTS, CHECK_FACTS, CHECK_FACTS]);
  });
});
