import { SignJWT } from 'jose';
import pg from 'pg';
import { signDevToken } from '@agentplane/auth';
import { bootStack, call, sqlQuery, waitFor, ciKeys, CI_ISSUER, CI_PUBLIC_PEM, E2E_SECRET, type E2E } from './harness.js';
import { callerOf, callWithLines } from './harness.js';

const primary = { secret: E2E_SECRET, issuer: 'agentplane', audience: 'agentplane' };
const user = (tenant = 'acme', sub = 'alice', extra: object = {}) => signDevToken({ ...primary, tenant, sub, ...extra });

function ciToken(claims: Record<string, unknown>, alg: 'EdDSA' = 'EdDSA') {
  return new SignJWT(claims).setProtectedHeader({ alg }).setIssuer(CI_ISSUER).setAudience('agentplane').setIssuedAt().setExpirationTime('5m').sign(ciKeys.privateKey);
}

describe('the whole stack through the gateway', () => {
  let e2e: E2E;

  beforeAll(async () => {
    e2e = await bootStack('e2e_gw');
  }, 90_000);

  afterAll(async () => {
    await e2e?.stop();
  });

  it('runs every app on the repo\'s Node 24 and each app says so (start log line and nodejs_version_info)', async () => {
    for (const [name, app] of Object.entries(e2e.stack.apps)) {
      const metrics = await (await fetch(`${app.url}/metrics`)).text();
      const info = /^nodejs_version_info\{([^}]*)\} 1$/m.exec(metrics);
      expect([name, info?.[1]]).toEqual([name, expect.stringContaining('major="24"')]);
      const started = app.output.map((l) => { try { return JSON.parse(l); } catch { return {}; } }).find((l) => l.msg === `${name} started`);
      expect([name, started?.node]).toEqual([name, expect.stringMatching(/^v24\./)]);
      expect(started.pid).toBe(app.child.pid);
    }
  });

  it('serves a user: gateway → NATS → tasks → its database → back', async () => {
    const token = await user();
    const created = await call(e2e, 'POST', '/v1/agents', { token, body: { name: 'builder' } });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ tenantId: 'acme', name: 'builder' });
    const read = await call(e2e, 'GET', `/v1/agents/${created.body.id}`, { token });
    expect(read.status).toBe(200);
    expect(read.body).toEqual(created.body);
    // a tenant's data, read with a token: never stored by a cache, never sniffed, never framed; an error alike
    const missing = await call(e2e, 'GET', '/v1/agents/00000000-0000-4000-8000-000000000000', { token });
    for (const res of [read, missing]) {
      expect(['cache-control', 'x-content-type-options', 'x-frame-options'].map((h) => res.headers.get(h))).toEqual(['no-store', 'nosniff', 'DENY']);
    }
  });

  it('admits an extra-issuer (EdDSA) machine token', async () => {
    const token = await ciToken({ sub: 'ci-pipeline', tid: 'acme', scope: 'hooks:write' });
    const created = await call(e2e, 'POST', '/v1/agents', { token, body: { name: 'ci-made' } });
    expect(created.status).toBe(201);
  });

  it('answers 401 for a missing, forged, expired, alg:none, alg-confused or sub-less token', async () => {
    const body = { name: 'x' };
    const good = await user();
    const [h, p] = good.split('.');
    const none = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')}.${p}.`;
    const expired = await user('acme', 'alice', { expiresIn: -60 });
    const wrongSecret = await signDevToken({ ...primary, secret: 'another-secret-0123456789abcdef', tenant: 'acme', sub: 'alice' });
    // HS256 signed with the extra issuer's *public* key as the HMAC secret: the classic algorithm confusion.
    const confused = await new SignJWT({ sub: 'mallory', tid: 'acme' })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer(CI_ISSUER)
      .setAudience('agentplane')
      .setExpirationTime('5m')
      .sign(new TextEncoder().encode(CI_PUBLIC_PEM));
    const noSub = await ciToken({ tid: 'acme', scope: 'hooks:write' });
    const cases: Array<[string, string | undefined]> = [
      ['missing', undefined],
      ['garbage', 'not-a-jwt'],
      ['bad signature', `${h}.${p}.AAAA`],
      ['wrong secret', wrongSecret],
      ['expired', expired],
      ['alg none', none],
      ['HS256 with the public key', confused],
      ['extra issuer without sub', noSub],
    ];
    for (const [name, token] of cases) {
      const res = await call(e2e, 'POST', '/v1/agents', { token, body });
      expect({ name, status: res.status, code: res.body?.error?.code }).toEqual({ name, status: 401, code: 'UNAUTHENTICATED' });
    }
    // the scheme is case-insensitive (RFC 9110 §11.1), through the gateway to the service; another scheme is none
    const asWritten = async (authorization: string) => (await call(e2e, 'GET', '/v1/agents?limit=2', { headers: { authorization } })).status;
    expect([await asWritten(`bearer ${good}`), await asWritten(`BEARER ${good}`), await asWritten(`Bearer  ${good}`), await asWritten(`Basic ${good}`)]).toEqual([200, 200, 200, 401]);
  });

  it('answers 400 with the failing field path for a bad body, bad JSON or unknown field', async () => {
    const token = await user();
    const bad = await call(e2e, 'POST', '/v1/agents', { token, body: { name: '' } });
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('VALIDATION');
    expect(bad.body.error.details.issues[0].path).toBe('name');
    const unknown = await call(e2e, 'POST', '/v1/agents', { token, body: { name: 'ok', admin: true, nme: 'x' } });
    expect([unknown.status, unknown.body.error.message, unknown.body.error.details.issues]).toEqual([
      400,
      'admin: unknown field',
      [{ path: 'admin', message: 'unknown field' }, { path: 'nme', message: 'unknown field' }],
    ]);
    expect(await sqlQuery(e2e.dbs.tasks!.url, "SELECT count(*)::int AS n FROM agents WHERE name = 'ok'")).toEqual([{ n: 0 }]);
    // no body at all is `{}` at every route, as an empty NATS message is: each field it lacks is named, the same over both
    const caller = await callerOf(e2e);
    try {
      for (const [path, subject] of [['/v1/tasks', 'tasks.v1.create'], ['/v1/authz/grants', 'authz.v1.revoke']] as const) {
        const none = await call(e2e, path === '/v1/tasks' ? 'POST' : 'DELETE', path, { token });
        const empty = await caller.request(subject, undefined, { token, raw: '' });
        expect([path, none.status, empty.body]).toEqual([path, 400, { ok: false, error: none.body.error }]);
        expect(none.body.error.details.issues.length).toBeGreaterThan(1);
      }
      // a body that is not an object: the same words from both doors, at a route with a path parameter too
      for (const raw of ['null', '[]', '"x"', '7']) {
        const viaHttp = await call(e2e, 'POST', '/v1/tasks/00000000-0000-4000-8000-000000000000/heartbeat', { token, rawBody: raw });
        const viaNats = await caller.request('tasks.v1.heartbeat', undefined, { token, raw });
        expect([raw, viaHttp.status, viaNats.body]).toEqual([raw, 400, { ok: false, error: viaHttp.body.error }]);
      }
    } finally {
      await caller.close();
    }
    const notJson = await call(e2e, 'POST', '/v1/agents', { token, rawBody: '{"name":' });
    expect(notJson.status).toBe(400);
    expect(notJson.body.error.code).toBe('VALIDATION');
    // a compressed body is named as such, not read as JSON that is not valid
    const gzipped = await call(e2e, 'POST', '/v1/agents', { token, rawBody: '{"name":"zipped"}', headers: { 'content-encoding': 'gzip' } });
    expect([gzipped.status, gzipped.body.error.code, gzipped.body.error.details.issues[0].path]).toEqual([400, 'VALIDATION', 'header.content-encoding']);
    const badId = await call(e2e, 'GET', '/v1/agents/not-a-uuid', { token });
    expect(badId.status).toBe(400);
    expect(badId.body.error.details.issues[0].path).toBe('id');
    // one text is one name: its decomposed form (e + U+0301) is refused, at a create and at a lookup, never a second name
    const nfd = `cafe\u0301-${Math.random().toString(16).slice(2, 8)}`;
    const decomposed = await call(e2e, 'POST', '/v1/agents', { token, body: { name: nfd } });
    expect([decomposed.status, decomposed.body.error.details.issues]).toEqual([400, [expect.objectContaining({ path: 'name', message: expect.stringContaining('NFC') })]]);
    expect((await call(e2e, 'POST', '/v1/agents', { token, body: { name: nfd.normalize('NFC') } })).status).toBe(201);
    const lookup = await call(e2e, 'GET', `/v1/tasks/by-name/${encodeURIComponent(nfd)}`, { token });
    expect([lookup.status, lookup.body.error.details.issues[0].path]).toEqual([400, 'name']);
  });

  it('names a query parameter a route does not take, never ignoring it: a misspelt one, one a body route was given, one a path overrides', async () => {
    const token = await user();
    const agent = await call(e2e, 'POST', '/v1/agents', { token, body: { name: `query-${Math.random().toString(16).slice(2, 8)}` } });
    const issues = (r: { status: number; body: any }) => [r.status, r.body.error?.details?.issues];
    // a route that reads its query: the contract names the field it does not know
    expect(issues(await call(e2e, 'GET', '/v1/tasks?limit=5&agentID=x', { token }))).toEqual([400, [{ path: 'agentID', message: 'unknown field' }]]);
    // a route that reads a body: nothing of its query is read, so none is taken, and nothing is written
    const created = await call(e2e, 'POST', '/v1/tasks?priority=9', { token, body: { agentId: agent.body.id, name: 'stray-query' } });
    expect(issues(created)).toEqual([400, [{ path: 'query.priority', message: 'not a parameter of this route' }]]);
    expect(await sqlQuery(e2e.dbs.tasks!.url, "SELECT count(*)::int AS n FROM tasks WHERE name = 'stray-query'")).toEqual([{ n: 0 }]);
    // both at once: the body's issue and the query's, in one answer
    expect(issues(await call(e2e, 'POST', '/v1/tasks?x=1', { token, body: { agentId: agent.body.id } }))).toEqual([
      400,
      [expect.objectContaining({ path: 'name' }), { path: 'query.x', message: 'not a parameter of this route' }],
    ]);
    // a route that reads nothing but its path, and a path parameter given again in the query
    expect(issues(await call(e2e, 'GET', `/v1/agents/${agent.body.id}?fields=name`, { token }))).toEqual([400, [{ path: 'query.fields', message: 'not a parameter of this route' }]]);
    const other = '00000000-0000-4000-8000-000000000000';
    expect(issues(await call(e2e, 'GET', `/v1/agents/${agent.body.id}/stats?id=${other}`, { token }))).toEqual([400, [{ path: 'query.id', message: 'not a parameter of this route' }]]);
    // the same path and query as the route takes them still answer
    expect((await call(e2e, 'GET', `/v1/agents/${agent.body.id}`, { token })).status).toBe(200);
    expect((await call(e2e, 'GET', `/v1/tasks?agentId=${agent.body.id}&limit=1`, { token })).status).toBe(200);
  });

  it('a payload that is not UTF-8, or carries a prototype key, is the same VALIDATION over REST and NATS, and stores nothing', async () => {
    const caller = await callerOf(e2e);
    try {
      const token = await user();
      const agent = await call(e2e, 'POST', '/v1/agents', { token, body: { name: `payload-${Math.random().toString(16).slice(2, 8)}` } });
      // "café" in Latin-1 (0xE9): decoded as UTF-8 it became U+FFFD and was stored so, a name nobody sent
      const latin1 = (json: string) => Buffer.from(json, 'latin1');
      const cases: Array<[string, string, Uint8Array | string, string]> = [
        ['a Latin-1 body', '/v1/agents', latin1('{"name":"caf\u00e9-latin1"}'), 'tasks.v1.create_agent'],
        ['a lone continuation byte', '/v1/agents', Buffer.concat([Buffer.from('{"name":"x'), Buffer.from([0x80]), Buffer.from('"}')]), 'tasks.v1.create_agent'],
        ['a "__proto__" key in params', '/v1/tasks', `{"agentId":"${agent.body.id}","name":"proto-nats","params":{"__proto__":{"admin":true}}}`, 'tasks.v1.create'],
        ['a "constructor.prototype" key', '/v1/tasks', `{"agentId":"${agent.body.id}","name":"ctor-nats","params":{"constructor":{"prototype":{"admin":true}}}}`, 'tasks.v1.create'],
      ];
      const answers: Array<[string, unknown, unknown, unknown]> = [];
      for (const [label, path, raw, subject] of cases) {
        const viaHttp = await call(e2e, 'POST', path, { token, rawBody: raw });
        const viaNats = await caller.request(subject, undefined, { token, raw });
        answers.push([label, viaHttp.status, viaNats.body, { ok: false, error: viaHttp.body.error }]);
      }
      expect(answers.map(([label, status, nats]) => [label, status, (nats as { error?: { code?: string } }).error?.code])).toEqual(cases.map(([label]) => [label, 400, 'VALIDATION']));
      for (const [label, , nats, http] of answers) expect([label, nats]).toEqual([label, http]);
      expect(answers.map(([, , nats]) => (nats as { error: { message: string } }).error.message)).toEqual([
        'the body is not valid UTF-8 (JSON text is UTF-8)',
        'the body is not valid UTF-8 (JSON text is UTF-8)',
        'a "__proto__" or "constructor.prototype" key is not accepted',
        'a "__proto__" or "constructor.prototype" key is not accepted',
      ]);
      // no name with U+FFFD (what the bytes were decoded to), no task of the refused ones
      const stored = await sqlQuery(e2e.dbs.tasks!.url, "SELECT name FROM agents WHERE strpos(name, chr(65533)) > 0 UNION ALL SELECT name FROM tasks WHERE name IN ('proto-nats', 'ctor-nats')");
      expect(stored).toEqual([]);
    } finally {
      await caller.close();
    }
  });

  it('refuses a body over the size limit with 413, never a 500', async () => {
    const token = await user();
    const res = await call(e2e, 'POST', '/v1/agents', { token, rawBody: JSON.stringify({ name: 'x'.repeat(2_000_000) }) });
    expect(res.status).toBe(413);
    expect(res.body.error.code).toBe('VALIDATION');
  });

  it('gives a NATS caller with its own token the same answers as the gateway', async () => {
    const caller = await callerOf(e2e);
    try {
      const token = await user();
      const viaGateway = await call(e2e, 'POST', '/v1/agents', { token, body: { name: 'same-answers' } });
      const viaNats = await caller.request('tasks.v1.get_agent', { id: viaGateway.body.id }, { token });
      expect(viaNats.body).toEqual({ ok: true, data: viaGateway.body });
      const dupHttp = await call(e2e, 'POST', '/v1/agents', { token, body: { name: 'same-answers' } });
      const dupNats = await caller.request('tasks.v1.create_agent', { name: 'same-answers' }, { token });
      expect(dupHttp.status).toBe(409);
      expect(dupNats.body).toEqual({ ok: false, error: dupHttp.body.error });
      // a key no door accepts: the same error from both, naming the header alike
      const longKey = 'k'.repeat(256);
      const badKeyHttp = await call(e2e, 'POST', '/v1/agents', { token, body: { name: 'bad-key' }, headers: { 'Idempotency-Key': longKey } });
      const badKeyNats = await caller.request('tasks.v1.create_agent', { name: 'bad-key' }, { token, idempotencyKey: longKey });
      expect(badKeyHttp.status).toBe(400);
      expect(badKeyHttp.body.error).toEqual({ code: 'VALIDATION', message: expect.any(String), details: { issues: [{ path: 'header.idempotency-key', message: 'invalid' }] } });
      expect(badKeyNats.body).toEqual({ ok: false, error: badKeyHttp.body.error });
      const anon = await caller.request('tasks.v1.create_agent', { name: 'anon' });
      expect(anon.body).toMatchObject({ ok: false, error: { code: 'UNAUTHENTICATED' } });
    } finally {
      await caller.close();
    }
  });

  it('a header given twice is taken by neither door: an Idempotency-Key is invalid, an Authorization is refused, over REST and NATS alike', async () => {
    const caller = await callerOf(e2e);
    try {
      const token = await user();
      const body = (name: string) => JSON.stringify({ name });
      // two Idempotency-Key lines: HTTP joins them ("k1, k2"), so the key is invalid; over NATS the first was taken
      const keyHttp = await callWithLines(e2e, 'POST', '/v1/agents', { authorization: `Bearer ${token}`, 'idempotency-key': ['k1', 'k2'] }, body('twice-key'));
      expect([keyHttp.status, keyHttp.body.error.details]).toEqual([400, { issues: [{ path: 'header.idempotency-key', message: 'invalid' }] }]);
      const keyNats = await caller.request('tasks.v1.create_agent', { name: 'twice-key' }, { token, idempotencyKey: 'k1', headers: [['idempotency-key', 'k2']] });
      expect(keyNats.body).toEqual({ ok: false, error: keyHttp.body.error });
      // one name in two spellings is one header, as in HTTP
      const caseNats = await caller.request('tasks.v1.create_agent', { name: 'twice-key' }, { token, idempotencyKey: 'k1', headers: [['Idempotency-Key', 'k1']] });
      expect(caseNats.body).toEqual({ ok: false, error: keyHttp.body.error });
      // two Authorization lines, even the same token twice: Node kept the first, a proxy may read the last
      const authHttp = await callWithLines(e2e, 'POST', '/v1/agents', { authorization: [`Bearer ${token}`, `Bearer ${token}`] }, body('twice-auth'));
      expect([authHttp.status, authHttp.body.error]).toEqual([401, { code: 'UNAUTHENTICATED', message: 'the Authorization header is given more than once' }]);
      const authNats = await caller.request('tasks.v1.create_agent', { name: 'twice-auth' }, { token, headers: [['Authorization', `Bearer ${token}`]] });
      expect(authNats.body).toEqual({ ok: false, error: authHttp.body.error });
      expect(await sqlQuery(e2e.dbs.tasks!.url, "SELECT name FROM agents WHERE name IN ('twice-key', 'twice-auth')")).toEqual([]);
      // one line of each still answers
      expect((await callWithLines(e2e, 'POST', '/v1/agents', { authorization: `Bearer ${token}`, 'idempotency-key': 'k1' }, body('once-each'))).status).toBe(201);
    } finally {
      await caller.close();
    }
  });

  it('an integer in a query string is its decimal digits: a parameter given twice, hex, an exponent or nothing is named, over REST and NATS', async () => {
    const caller = await callerOf(e2e);
    try {
      const token = await user();
      const issues = (r: { status: number; body: any }) => [r.status, r.body.error?.details?.issues];
      expect(issues(await call(e2e, 'GET', '/v1/tasks?limit=1&limit=2', { token }))).toEqual([400, [{ path: 'query.limit', message: 'given more than once' }]]);
      expect(issues(await call(e2e, 'GET', '/v1/tasks?status=pending&status=running', { token }))).toEqual([400, [{ path: 'query.status', message: 'given more than once' }]]);
      // with the contract's own issue about another field, in one answer; a parameter no route takes is that alone
      expect(issues(await call(e2e, 'GET', '/v1/tasks?limit=1&limit=2&status=nope', { token }))).toEqual([
        400,
        [expect.objectContaining({ path: 'status' }), { path: 'query.limit', message: 'given more than once' }],
      ]);
      expect(issues(await call(e2e, 'GET', `/v1/agents/00000000-0000-4000-8000-000000000000?x=1&x=2`, { token }))).toEqual([400, [{ path: 'query.x', message: 'not a parameter of this route' }]]);
      expect(issues(await call(e2e, 'GET', '/v1/tasks?x=1&x=2', { token }))).toEqual([400, [{ path: 'x', message: 'unknown field' }]]);
      for (const limit of ['0x10', '1e2', '', '1.5']) {
        expect([limit, ...issues(await call(e2e, 'GET', `/v1/tasks?limit=${limit}`, { token }))]).toEqual([limit, 400, [{ path: 'limit', message: 'expected an integer' }]]);
      }
      const id = '00000000-0000-4000-8000-000000000000';
      expect(issues(await call(e2e, 'GET', `/v1/tasks/${id}?waitMs=`, { token }))).toEqual([400, [{ path: 'waitMs', message: 'expected an integer' }]]);
      expect(issues(await call(e2e, 'GET', '/v1/hooks/no-such/releases/0x1', { token }))).toEqual([400, [{ path: 'version', message: 'expected an integer' }]]);
      // a NATS caller's JSON: a boolean or a one-item array is no count either; digits as text still are
      expect((await caller.request('tasks.v1.list', { limit: true }, { token })).body).toMatchObject({ ok: false, error: { code: 'VALIDATION', details: { issues: [{ path: 'limit', message: 'expected an integer' }] } } });
      expect((await caller.request('tasks.v1.list', { limit: [5] }, { token })).body).toMatchObject({ ok: false, error: { code: 'VALIDATION' } });
      expect((await caller.request('tasks.v1.list', { limit: '07' }, { token })).body).toMatchObject({ ok: true });
      expect((await call(e2e, 'GET', '/v1/tasks?limit=07', { token })).status).toBe(200);
    } finally {
      await caller.close();
    }
  });

  it('answers a method a path does not take 405 with Allow, and a path that is not there 404', async () => {
    const token = await user();
    const id = '00000000-0000-4000-8000-000000000000';
    const cases: Array<[string, string, string]> = [
      ['PATCH', `/v1/tasks/${id}`, 'DELETE, GET, HEAD'],
      ['PUT', '/v1/tasks', 'GET, HEAD, POST'],
      ['DELETE', '/v1/agents', 'GET, HEAD, POST'],
      ['GET', `/v1/tasks/${id}/complete`, 'POST'],
      ['POST', '/healthz', 'GET, HEAD'],
    ];
    const got = [];
    for (const [method, path] of cases) {
      const res = await call(e2e, method, path, { token, ...(method === 'GET' ? {} : { body: {} }) });
      got.push([method, path, res.status, res.headers.get('allow'), res.body.error.code, res.body.error.details?.issues]);
    }
    expect(got).toEqual(cases.map(([method, path, allow]) => [method, path, 405, allow, 'VALIDATION', [{ path: 'method', message: `one of ${allow}` }]]));
    // nothing under that path at all, or a method no path takes: 404 as before, with no Allow
    // and a route that took the request but found nothing (the API docs' static files), whichever of its methods
    for (const [method, path] of [['GET', '/v1/nothing-here'], ['GET', '/v1/tasks/'], ['PATCH', '/v1/nothing-here'], ['GET', '/docs/nothing.js'], ['HEAD', '/docs/nothing.js']]) {
      const res = await call(e2e, method!, path!, { token });
      const code = method === 'HEAD' ? 'NOT_FOUND' : res.body.error.code;
      expect([method, path, res.status, res.headers.get('allow'), code]).toEqual([method, path, 404, null, 'NOT_FOUND']);
    }
    expect((await call(e2e, 'GET', '/docs/swagger-ui.css', {})).status).toBe(200);
    // a handler's own 404 is not a method question
    const missing = await call(e2e, 'GET', `/v1/tasks/${id}`, { token });
    expect([missing.status, missing.headers.get('allow')]).toEqual([404, null]);
  });

  it('turns an unexpected failure into 500 with an errorId that is in the service log, and no stack or SQL', async () => {
    const token = await user();
    const db = new pg.Client({ connectionString: e2e.dbs.tasks!.url });
    await db.connect();
    await db.query('ALTER TABLE agents RENAME TO agents_gone');
    try {
      const res = await call(e2e, 'POST', '/v1/agents', { token, body: { name: 'boom' } });
      expect(res.status).toBe(500);
      expect(res.body.error.code).toBe('INTERNAL');
      const errorId = res.body.error.errorId as string;
      expect(errorId).toMatch(/^[0-9a-f-]{36}$/);
      expect(res.text).not.toMatch(/agents|SELECT|INSERT|stack|at \w+ \(/i);
      // pino writes asynchronously: wait for the line rather than for a fixed time
      const logged = await waitFor(() => e2e.stack.apps.tasks!.output.filter((l) => l.includes(errorId)), (l) => l.length > 0);
      expect(logged.length).toBeGreaterThan(0);
      expect(logged.join('\n')).toContain('"level":50');
    } finally {
      await db.query('ALTER TABLE agents_gone RENAME TO agents');
      await db.end();
    }
  });

  it('logs each HTTP request once with the caller\'s x-request-id, which the service\'s line for its NATS request carries too', async () => {
    const token = await user();
    const lines = (name: string) => e2e.stack.apps[name]!.output.map((l) => { try { return JSON.parse(l); } catch { return {}; } });
    const id = `e2e-trace-${Math.random().toString(16).slice(2, 10)}`;
    const created = await call(e2e, 'POST', '/v1/agents', { token, body: { name: `traced-${id}` }, headers: { 'x-request-id': id } });
    expect(created.status).toBe(201);
    expect(created.headers.get('x-request-id')).toBe(id);
    const access = await waitFor(() => lines('gateway').filter((l) => l.req?.id === id), (l) => l.length > 0);
    expect(access).toEqual([expect.objectContaining({ msg: 'request completed', req: { id, method: 'POST', url: '/v1/agents' }, res: expect.objectContaining({ statusCode: 201 }) })]);
    const served = await waitFor(() => lines('tasks').filter((l) => l.reqId === id), (l) => l.length > 0);
    expect(served).toEqual([expect.objectContaining({ msg: 'message completed', rpc: expect.objectContaining({ pattern: 'tasks.v1.create_agent' }) })]);
    // an id that is not well-formed is not taken (no spaces, control characters or log forging): a new one is made
    const forged = 'x"} {"level":50';
    const listed = await call(e2e, 'GET', '/v1/agents?limit=1', { token, headers: { 'x-request-id': forged } });
    const other = await waitFor(() => lines('gateway').filter((l) => l.req?.url === '/v1/agents?limit=1'), (l) => l.length > 0);
    expect(other[0].req.id).toMatch(/^[0-9a-f-]{36}$/);
    // the reply names the id that was made, the one the log line and the service's line carry
    expect(listed.headers.get('x-request-id')).toBe(other[0].req.id);
    await waitFor(() => lines('tasks').filter((l) => l.reqId === other[0].req.id), (l) => l.length > 0);
    // every reply says its id, the framework's own answers too: an unknown route, a URL that cannot be decoded
    for (const path of ['/v1/nowhere', '/v1/tasks/by-name/%E0%A4%A']) {
      const res = await call(e2e, 'GET', path, { token, headers: { 'x-request-id': `${id}-edge` } });
      expect({ path, status: res.status, id: res.headers.get('x-request-id') }).toEqual({ path, status: path === '/v1/nowhere' ? 404 : 400, id: `${id}-edge` });
    }
    // probes and scrapes are not requests
    await fetch(`${e2e.url}/readyz`);
    await call(e2e, 'GET', `/v1/agents/${id}`, { token }); // a 400 that is logged after the probe
    await waitFor(() => lines('gateway').filter((l) => l.req?.url === `/v1/agents/${id}`), (l) => l.length > 0);
    expect(lines('gateway').filter((l) => ['/readyz', '/healthz', '/metrics'].includes(l.req?.url))).toEqual([]);
  });

  it('never logs a bearer token, nor echoes or logs one a client put in a query string', async () => {
    const token = await user('acme', 'log-check');
    await call(e2e, 'POST', '/v1/agents', { token, body: { name: 'log-check' } });
    // no route takes a token in its query, but a client may send one: refused, and kept out of bodies and logs
    const stray = await user('acme', 'log-check-query');
    const listed = await call(e2e, 'GET', `/v1/tasks?access_token=${stray}`, { token });
    expect([listed.status, listed.body.error.details.issues]).toEqual([400, [{ path: 'access_token', message: 'unknown field' }]]);
    const unrouted = await call(e2e, 'GET', `/v1/nothing-here?token=${stray}`, { token });
    expect(unrouted.body).toEqual({ error: { code: 'NOT_FOUND', message: 'no route for GET /v1/nothing-here' } });
    await waitFor(
      () => e2e.stack.apps.gateway!.output.join('\n'),
      (out) => out.includes('/v1/nothing-here?token=[redacted]'),
    );
    for (const t of [token, stray]) {
      const signature = t.split('.')[2]!;
      for (const app of Object.values(e2e.stack.apps)) expect(app.output.join('\n')).not.toContain(signature);
    }
  });

  it('publishes health, readiness, metrics and the OpenAPI document', async () => {
    expect((await call(e2e, 'GET', '/healthz')).status).toBe(200);
    expect((await call(e2e, 'GET', '/readyz')).status).toBe(200);
    const metrics = await call(e2e, 'GET', '/metrics');
    expect(metrics.text).toContain('process_cpu_user_seconds_total');
    for (const app of Object.values(e2e.stack.apps)) {
      const ready = await fetch(`${app.url}/readyz`);
      expect({ app: app.spec.name, status: ready.status }).toEqual({ app: app.spec.name, status: 200 });
    }
    const doc = await call(e2e, 'GET', '/docs-json');
    expect(doc.status).toBe(200);
    expect(doc.body.paths['/v1/agents'].post.responses['201']).toBeDefined();
    expect(doc.body.paths['/v1/agents'].post.requestBody.content['application/json'].schema.properties.name).toBeDefined();
  });

  it('answers 503 UNAVAILABLE when the owning service is down', async () => {
    const tasks = e2e.stack.apps.tasks!;
    tasks.child.kill('SIGTERM');
    await new Promise((r) => tasks.child.once('exit', r));
    const res = await call(e2e, 'POST', '/v1/agents', { token: await user(), body: { name: 'nobody-home' } });
    expect(res.status).toBe(503);
    // no instance took it: the caller learns that nothing was done
    expect(res.body.error).toEqual({ code: 'UNAVAILABLE', message: 'tasks.v1.create_agent is unavailable: no instance serves it now, and nothing was done', details: { outcome: 'not_taken' } });
    expect(res.headers.get('retry-after')).toBe('1');
  });
});
