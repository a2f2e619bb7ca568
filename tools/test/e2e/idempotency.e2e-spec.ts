import pg from 'pg';
import { signDevToken } from '@agentplane/auth';
import { bootStack, call, waitFor, E2E_SECRET, type E2E } from './harness.js';

const primary = { secret: E2E_SECRET, issuer: 'agentplane', audience: 'agentplane' };
// Distinctive ids, so the log check below cannot pass by accident.
const TENANT = 'tenant-e2e-4d1f8a';
const USER = 'principal-e2e-b7c2e9';

describe('Idempotency-Key through the gateway (DESIGN §7, §11)', () => {
  let e2e: E2E;
  let token: string;

  beforeAll(async () => {
    e2e = await bootStack('e2e_idem', { LOG_LEVEL: 'debug' });
    token = await signDevToken({ ...primary, tenant: TENANT, sub: USER });
  }, 90_000);

  afterAll(async () => {
    await e2e?.stop();
  });

  async function agentRows(name: string): Promise<number> {
    const db = new pg.Client({ connectionString: e2e.dbs.tasks!.url });
    await db.connect();
    try {
      return Number((await db.query('SELECT count(*) FROM agents WHERE name = $1', [name])).rows[0].count);
    } finally {
      await db.end();
    }
  }

  const post = (name: string, key?: string) =>
    call(e2e, 'POST', '/v1/agents', { token, body: { name }, headers: key === undefined ? {} : { 'Idempotency-Key': key } });

  it('25 concurrent identical requests with one key make one agent; each answer is that agent or 409; a later retry replays', async () => {
    const key = 'e2e-race-0f9d2c';
    const responses = await Promise.all(Array.from({ length: 25 }, () => post('race-agent', key)));
    expect(await agentRows('race-agent')).toBe(1);

    const created = responses.filter((r) => r.status === 201);
    expect(created.length).toBeGreaterThanOrEqual(1);
    for (const r of responses) {
      if (r.status === 201) expect(r.body).toEqual(created[0]!.body);
      else expect({ status: r.status, code: r.body?.error?.code }).toEqual({ status: 409, code: 'IDEMPOTENCY_IN_PROGRESS' });
    }
    expect(created.filter((r) => r.headers.get('idempotent-replayed') !== 'true')).toHaveLength(1);

    const retry = await post('race-agent', key);
    expect(retry.status).toBe(201);
    expect(retry.headers.get('idempotent-replayed')).toBe('true');
    expect(retry.body).toEqual(created[0]!.body);
    expect(await agentRows('race-agent')).toBe(1);
  });

  it('answers 422 IDEMPOTENCY_MISMATCH when the key comes back with another body', async () => {
    expect((await post('mismatch-a', 'e2e-mismatch')).status).toBe(201);
    const other = await post('mismatch-b', 'e2e-mismatch');
    expect(other.status).toBe(422);
    expect(other.body.error.code).toBe('IDEMPOTENCY_MISMATCH');
    expect(await agentRows('mismatch-b')).toBe(0);
  });

  it('answers 400 for a malformed key, and does not replay a failure', async () => {
    expect((await post('bad-key', 'not valid')).status).toBe(400);
    expect((await post('bad-key', 'k'.repeat(256))).status).toBe(400);
    // A 409 CONFLICT (duplicate name) is not stored: the same key runs again once the name is free.
    expect((await post('taken', 'e2e-first')).status).toBe(201);
    const dup = await post('taken', 'e2e-dup');
    expect(dup.status).toBe(409);
    expect(dup.body.error.code).toBe('CONFLICT');
    expect(dup.headers.get('idempotent-replayed')).toBeNull();
    const again = await post('taken', 'e2e-dup');
    expect({ status: again.status, replayed: again.headers.get('idempotent-replayed') }).toEqual({ status: 409, replayed: null });
  });

  it('logs requests by a hashed scope and a key prefix, never the raw tenant or principal', async () => {
    await post('log-agent', 'e2e-log-key');
    await post('log-agent', 'e2e-log-key');
    const tasks = e2e.stack.apps.tasks!;
    const lines = await waitFor(() => tasks.output.filter((l) => l.includes('idempotent replay scope=sha256:')), (l) => l.length >= 2);
    expect(lines.length).toBeGreaterThanOrEqual(2);
    for (const app of Object.values(e2e.stack.apps)) {
      const text = app.output.join('\n');
      expect({ app: app.spec.name, tenant: text.includes(TENANT), principal: text.includes(USER) }).toEqual({ app: app.spec.name, tenant: false, principal: false });
    }
  });
});
