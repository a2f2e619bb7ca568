import { isDeepStrictEqual } from 'node:util';
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

  it('under random concurrent use of six keys, each with two bodies: per key one agent, of the body that won; every other answer a replay, 409 or 422', async () => {
    const keys = Array.from({ length: 6 }, (_, i) => `e2e-rand-${i}-${Math.random().toString(16).slice(2, 8)}`);
    const nameOf = (key: string, variant: 'a' | 'b') => `${key}-${variant}`;
    const sent: Array<{ key: string; variant: 'a' | 'b'; status: number; code?: string; body: unknown; replayed: boolean }> = [];
    const client = async () => {
      for (let i = 0; i < 12; i++) {
        const key = keys[Math.floor(Math.random() * keys.length)]!;
        const variant = Math.random() < 0.5 ? 'a' : 'b';
        const r = await post(nameOf(key, variant), key);
        sent.push({ key, variant, status: r.status, code: r.body?.error?.code, body: r.body, replayed: r.headers.get('idempotent-replayed') === 'true' });
      }
    };
    await Promise.all(Array.from({ length: 8 }, client));
    const wrong: string[] = [];
    for (const key of keys) {
      const mine = sent.filter((s) => s.key === key);
      const created = mine.filter((s) => s.status === 201);
      const rows = { a: await agentRows(nameOf(key, 'a')), b: await agentRows(nameOf(key, 'b')) };
      if (created.length === 0) {
        if (rows.a + rows.b !== 0) wrong.push(`${key}: no 201, yet rows ${JSON.stringify(rows)}`);
        continue;
      }
      const won = created[0]!.variant;
      if (rows[won] !== 1 || rows[won === 'a' ? 'b' : 'a'] !== 0) wrong.push(`${key}: ${won} won, rows ${JSON.stringify(rows)}`);
      // the same agent each time; a replay's key order may differ (docs/idempotency.md: stored as jsonb)
      if (created.some((c) => c.variant !== won || !isDeepStrictEqual(c.body, created[0]!.body))) wrong.push(`${key}: 201s differ`);
      if (created.filter((c) => !c.replayed).length !== 1) wrong.push(`${key}: ${created.filter((c) => !c.replayed).length} first answers`);
      for (const s of mine.filter((m) => m.status !== 201)) {
        const fine = (s.status === 409 && s.code === 'IDEMPOTENCY_IN_PROGRESS') || (s.status === 422 && s.code === 'IDEMPOTENCY_MISMATCH' && s.variant !== won);
        if (!fine) wrong.push(`${key} ${s.variant}: ${s.status} ${s.code}`);
      }
      // and afterwards: the winner replays, the other body is a mismatch
      const again = await post(nameOf(key, won), key);
      if (again.status !== 201 || again.headers.get('idempotent-replayed') !== 'true' || !isDeepStrictEqual(again.body, created[0]!.body)) wrong.push(`${key}: no replay afterwards (${again.status})`);
      const other = await post(nameOf(key, won === 'a' ? 'b' : 'a'), key);
      if (other.status !== 422) wrong.push(`${key}: the other body afterwards answered ${other.status}`);
    }
    expect(wrong).toEqual([]);
    expect(sent).toHaveLength(96);
    expect(sent.filter((s) => s.status === 422).length).toBeGreaterThan(0);
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
