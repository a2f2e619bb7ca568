import { startTestService, testEnv, testPrefix, type RunningService } from '@agentplane/testing';
import { loadConfig, SERVICE } from '../src/config.js';
import { AppModule } from '../src/app.module.js';
import { OpenApiBuilder } from '../src/http/openapi.js';

interface Operation {
  operationId?: string;
  parameters?: Array<{ name: string; in: string }>;
  responses: Record<string, { content?: Record<string, { schema: unknown }> }>;
}
type Doc = { paths: Record<string, Record<string, Operation>> };

/** Every route of DESIGN §11 with its success statuses, written out by hand (not derived from the controllers). */
const DESIGN_ROUTES: Array<[method: string, path: string, success: number[], extra?: number[]]> = [
  ['post', '/v1/agents', [201]],
  ['get', '/v1/agents', [200]],
  ['get', '/v1/agents/{id}', [200], [404]],
  ['get', '/v1/agents/{id}/stats', [200], [404]],
  ['post', '/v1/agents/{id}/claims', [200], [403, 404]],
  ['post', '/v1/tasks/{id}/heartbeat', [200], [409]],
  ['post', '/v1/tasks/{id}/complete', [200], [409]],
  ['post', '/v1/tasks/{id}/fail', [200], [409]],
  ['get', '/v1/tasks/{id}/events', [200], [404]],
  ['post', '/v1/tasks', [201]],
  ['get', '/v1/tasks/{id}', [200], [404]],
  ['get', '/v1/tasks/by-name/{name}', [200], [404]],
  ['get', '/v1/tasks', [200]],
  ['post', '/v1/tasks/{id}/cancel', [200], [403, 409]],
  ['delete', '/v1/tasks/{id}', [204]],
  ['delete', '/v1/tasks/by-name/{name}', [204]],
  ['post', '/v1/authz/check', [200]],
  ['post', '/v1/authz/grants', [201]],
  ['delete', '/v1/authz/grants', [204]],
  ['get', '/v1/authz/lookup', [200]],
  ['put', '/v1/authz/tenants/{tenantId}/mode', [200]],
  ['post', '/v1/conventions', [201, 200]],
  ['get', '/v1/conventions/{slug}', [200]],
  ['get', '/v1/hooks', [200]],
  ['get', '/v1/hooks/{name}', [200]],
  ['get', '/v1/hooks/{name}/releases', [200]],
  ['get', '/v1/hooks/{name}/releases/{version}', [200]],
  ['post', '/v1/hooks/{name}/releases', [201, 200]],
  ['put', '/v1/hooks/{name}/live', [200]],
  ['post', '/v1/hooks/{name}/runs', [201]],
  ['post', '/v1/runs/{id}/finish', [200]],
  ['post', '/v1/runs/{id}/outputs', [201]],
  ['get', '/v1/outputs/{id}/provenance', [200]],
  ['post', '/v1/workspaces', [201]],
  ['get', '/v1/workspaces', [200]],
  ['get', '/v1/workspaces/{id}', [200]],
  ['delete', '/v1/workspaces/{id}', [204]],
  ['post', '/v1/platform-agent/install', [200]],
  ['post', '/v1/workspaces/{id}/heartbeat', [200]],
  ['put', '/v1/workspaces/{id}/plugins/{plugin}', [200]],
  ['delete', '/v1/workspaces/{id}/plugins/{plugin}', [204]],
  ['get', '/v1/workspaces/{id}/plugins', [200]],
  ['get', '/healthz', [200]],
  ['get', '/readyz', [200]],
  ['get', '/metrics', [200]],
  ['get', '/docs', [200]],
];
/** Every /v1 route can answer these (DESIGN §8 codes); mutating ones also 422 for a reused Idempotency-Key. */
const ERRORS = [400, 401, 403, 404, 409, 500, 503];
const NOT_IDEMPOTENT = new Set(['post /v1/authz/check']);

describe('the OpenAPI document covers DESIGN §11', () => {
  let gw: RunningService;
  let doc: Doc;

  beforeAll(async () => {
    const prefix = testPrefix('gwdoc');
    gw = await startTestService(AppModule.forRoot(loadConfig(testEnv({ NATS_SUBJECT_PREFIX: prefix }, SERVICE))), { service: SERVICE, prefix, nats: false });
    doc = gw.app.get(OpenApiBuilder).build() as Doc;
  });

  afterAll(async () => {
    await gw?.close();
  });

  it.each(DESIGN_ROUTES)('%s %s documents its success and error responses', (method, path, success, extra = []) => {
    const op = doc.paths[path]?.[method];
    expect(op).toBeDefined();
    const statuses = Object.keys(op!.responses).map(Number);
    expect(statuses).toEqual(expect.arrayContaining([...success, ...extra]));
    if (!path.startsWith('/v1/')) return;
    const mutating = method !== 'get' && !NOT_IDEMPOTENT.has(`${method} ${path}`);
    expect(statuses).toEqual(expect.arrayContaining(mutating ? [...ERRORS, 422] : ERRORS));
    expect(op!.responses['401']!.content!['application/json']!.schema).toEqual({ $ref: '#/components/schemas/Error' });
    expect(op!.parameters?.some((p) => p.in === 'header' && p.name === 'Idempotency-Key') ?? false).toBe(mutating);
    for (const s of success.filter((x) => x !== 204)) expect(op!.responses[String(s)]!.content?.['application/json']).toBeDefined();
  });

  it('takes the claim\'s agent from the path, and a task\'s waitMs and events page from the query', () => {
    const claim = doc.paths['/v1/agents/{id}/claims']!.post as Operation & { requestBody: { content: Record<string, { schema: { properties: object; required: string[] } }> } };
    const body = claim.requestBody.content['application/json']!.schema;
    expect(Object.keys(body.properties).sort()).toEqual(['max', 'waitMs', 'workerId']);
    expect(body.required).toEqual(['workerId']);
    expect(claim.parameters).toContainEqual(expect.objectContaining({ name: 'id', in: 'path', schema: expect.objectContaining({ format: 'uuid' }) }));
    expect(doc.paths['/v1/tasks/{id}']!.get!.parameters).toContainEqual(expect.objectContaining({ name: 'waitMs', in: 'query' }));
    const events = doc.paths['/v1/tasks/{id}/events']!.get!;
    expect(events.parameters!.map((p) => p.name).sort()).toEqual(['Last-Event-ID', 'after', 'id', 'limit', 'waitMs']);
    expect(Object.keys(events.responses['200']!.content!)).toEqual(['application/json', 'text/event-stream']);
    // a stream takes `after` and pages itself: the others are said to be refused there
    const streamOnly = events.parameters!.filter((p) => p.in === 'query').map((p) => [p.name, (p as { description?: string }).description]);
    expect(streamOnly).toEqual([
      ['after', undefined],
      ['limit', expect.stringContaining('Not with `Accept: text/event-stream`')],
      ['waitMs', expect.stringContaining('Not with `Accept: text/event-stream`')],
    ]);
  });

  it('requires a body only where the contract requires a field of it', () => {
    const body = (path: string) => (doc.paths[path]!.post as Operation & { requestBody: { required: boolean } }).requestBody.required;
    expect(body('/v1/agents/{id}/claims')).toBe(true);
    expect(body('/v1/agents')).toBe(true);
    // `{name?}`: a POST without a body installs under the default name
    expect(body('/v1/platform-agent/install')).toBe(false);
  });

  it('gives every operation a unique operationId', () => {
    const ids = Object.values(doc.paths).flatMap((ops) => Object.values(ops).map((o) => o.operationId));
    expect(ids.every((id) => typeof id === 'string' && id.length > 0)).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
  });
});
