import { scopeKey, scopeLabel } from '@agentplane/idempotency';
import type { TestDatabase } from '@agentplane/persistence';
import { LogCapture, NatsCaller, testPrefix, userToken, type RunningService } from '@agentplane/testing';
import { startTasks, tasksDatabase } from './setup.js';

// One app in this file: nestjs-pino's root logger is per process, so only this app's lines are captured.
describe('logs of idempotent requests', () => {
  const TENANT = 'tenant-raw-7f3a9c';
  const USER = 'principal-raw-91bc4e';
  let db: TestDatabase;
  let svc: RunningService;
  let caller: NatsCaller;
  const logs = new LogCapture();
  const prefix = testPrefix('idemlog');

  beforeAll(async () => {
    db = await tasksDatabase();
    svc = await startTasks(db, prefix, { LOG_LEVEL: 'debug' }, logs);
    caller = await NatsCaller.connect(prefix);
  });

  afterAll(async () => {
    await caller?.close();
    await svc?.close();
    await db?.drop();
  });

  it('name the scope by a truncated hash and the key by a prefix, never the raw tenant, principal or key', async () => {
    const token = await userToken(TENANT, USER);
    const key = 'log-key-0123456789abcdef';
    const first = await caller.request('tasks.v1.create_agent', { name: 'logged' }, { token, idempotencyKey: key });
    expect(first.body.ok).toBe(true);
    const replay = await caller.request('tasks.v1.create_agent', { name: 'logged' }, { token, idempotencyKey: key });
    expect(replay.headers['idempotent-replayed']).toBe('true');
    const mismatch = await caller.request('tasks.v1.create_agent', { name: 'other' }, { token, idempotencyKey: key });
    expect(mismatch.body.error?.code).toBe('IDEMPOTENCY_MISMATCH');

    const label = scopeLabel(scopeKey(TENANT, `user:${USER}`));
    const lines = await waitFor(() => logs.lines.filter((l) => l.includes(label)), (l) => l.length >= 3);
    const text = lines.join('\n');
    // tasks runs its handlers in transaction mode: the key is written once, with the response.
    expect(text).toContain(`idempotency key stored with its response scope=${label} key=log-ke…`);
    expect(text).toContain(`idempotent replay scope=${label}`);
    expect(text).toContain(`idempotency key reused with another payload scope=${label}`);

    const all = logs.text();
    expect(all).not.toContain(TENANT);
    expect(all).not.toContain(USER);
    expect(all).not.toContain(key);
  });
});

async function waitFor<T>(get: () => T, ok: (v: T) => boolean, timeoutMs = 3000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let v = get();
  while (!ok(v) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 25));
    v = get();
  }
  return v;
}
