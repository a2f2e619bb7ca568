import { startTestService, testEnv, testPrefix, userToken, type RunningService } from '@agentplane/testing';
import { loadConfig, SERVICE } from '../src/config.js';
import { AppModule } from '../src/app.module.js';
import { OpenApiBuilder } from '../src/http/openapi.js';

describe('gateway on its own (no services behind it)', () => {
  let gw: RunningService;

  beforeAll(async () => {
    const prefix = testPrefix('gw');
    gw = await startTestService(AppModule.forRoot(loadConfig(testEnv({ NATS_SUBJECT_PREFIX: prefix, NATS_REQUEST_TIMEOUT_MS: '300' }, SERVICE))), {
      service: SERVICE,
      prefix,
      nats: false,
    });
  });

  afterAll(async () => {
    await gw?.close();
  });

  it('answers 503 UNAVAILABLE when no service answers the subject', async () => {
    const res = await fetch(`${gw.url}/v1/agents`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await userToken('acme', 'alice')}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'x' }),
    });
    expect(res.status).toBe(503);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('UNAVAILABLE');
  });

  it('rejects before forwarding: 401 without a token, 400 for a bad Idempotency-Key', async () => {
    const anon = await fetch(`${gw.url}/v1/agents`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"name":"x"}' });
    expect(anon.status).toBe(401);
    const badKey = await fetch(`${gw.url}/v1/agents`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await userToken('acme', 'alice')}`, 'content-type': 'application/json', 'idempotency-key': 'ä' },
      body: '{"name":"x"}',
    });
    expect(badKey.status).toBe(400);
  });

  it('answers 413, not a 503 to retry, for a body that grows past what the bus carries once forwarded', async () => {
    // 736 KB as sent, within the body limit; 2 MB as the gateway forwards it (`1e9` is written `1000000000`)
    const row = `{"a":[${Array(23_000).fill('1e9').join(',')}]}`;
    const res = await fetch(`${gw.url}/v1/runs/01a24c70-9942-75ee-b057-9ab6cba03f48/outputs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await userToken('acme', 'alice')}`, 'content-type': 'application/json' },
      body: `{"rows":[${Array(8).fill(row).join(',')}]}`,
    });
    expect([res.status, res.headers.get('retry-after')]).toEqual([413, null]);
    expect(await res.json()).toMatchObject({ error: { code: 'VALIDATION', message: 'the body is too large' } });
  });

  it('answers an unknown route with the error body and 404', async () => {
    const res = await fetch(`${gw.url}/v1/nothing-here`);
    expect(res.status).toBe(404);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('NOT_FOUND');
  });

  it('sends every reply\'s headers with a URL it cannot decode, which no hook of a route sees', async () => {
    for (const path of ['/v1/nothing-here', '/v1/tasks/by-name/%E0%A4%A']) {
      const res = await fetch(`${gw.url}${path}`, { headers: { 'x-request-id': 'edge-1' } });
      const headers = ['x-request-id', 'cache-control', 'x-content-type-options', 'x-frame-options'].map((h) => res.headers.get(h));
      expect({ path, status: res.status, headers }).toEqual({ path, status: path.endsWith('%A') ? 400 : 404, headers: ['edge-1', 'no-store', 'nosniff', 'DENY'] });
    }
  });

  it('documents every /v1 route from its contract', () => {
    const doc = gw.app.get(OpenApiBuilder).build() as { paths: Record<string, Record<string, { responses: Record<string, unknown>; description: string }>> };
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/v1/agents', '/v1/agents/{id}', '/healthz', '/readyz', '/metrics', '/docs']));
    expect(doc.paths['/v1/agents']!.post!.description).toContain('tasks.v1.create_agent');
    expect(Object.keys(doc.paths['/v1/agents']!.post!.responses)).toEqual(expect.arrayContaining(['201', '400', '401', '409', '422', '500', '503']));
  });
});
