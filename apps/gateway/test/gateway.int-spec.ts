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

  it('answers an unknown route with the error body and 404', async () => {
    const res = await fetch(`${gw.url}/v1/nothing-here`);
    expect(res.status).toBe(404);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('NOT_FOUND');
  });

  it('documents every /v1 route from its contract', () => {
    const doc = gw.app.get(OpenApiBuilder).build() as { paths: Record<string, Record<string, { responses: Record<string, unknown>; description: string }>> };
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/v1/agents', '/v1/agents/{id}', '/healthz', '/readyz', '/metrics', '/docs']));
    expect(doc.paths['/v1/agents']!.post!.description).toContain('tasks.v1.create_agent');
    expect(Object.keys(doc.paths['/v1/agents']!.post!.responses)).toEqual(expect.arrayContaining(['201', '400', '401', '409', '422', '500', '503']));
  });
});
