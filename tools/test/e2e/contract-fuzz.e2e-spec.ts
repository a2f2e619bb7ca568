import { randomUUID } from 'node:crypto';
import { connect } from 'node:net';
import fc from 'fast-check';
import type { z } from 'zod';
import { signDevToken } from '@agentplane/auth';
import * as contracts from '@agentplane/contracts';
import type { RpcContract } from '@agentplane/contracts';
import { headers as natsHeaders } from '@nats-io/transport-node';
import { loadPermissionTable, permissionsOf } from '@agentplane/nats-security';
import { NatsCaller } from '@agentplane/testing';
import { bootStack, call, natsAs, sqlQuery, waitFor, E2E_SECRET, type E2E } from './harness.js';

/*
 * Bad input, everywhere a caller can send it (DESIGN §8, §11; the brief: "a clear 4xx / VALIDATION error naming the
 * field, never a 500, never a partial write"). Every request/reply subject of every service, over NATS as a backend
 * calls it, and every operation of the gateway's served OpenAPI document, over HTTP. The oracle is the contract
 * itself: a payload that the subject's own zod schema rejects must be answered VALIDATION with exactly the issues that
 * schema names, and must write nothing (every table of every database counted before and after). Then random JSON
 * (fast-check) at every one of them: never INTERNAL, never a 5xx, and no app logs an error.
 */

const primary = { secret: E2E_SECRET, issuer: 'agentplane', audience: 'agentplane' };
const TENANT = 'fuzz-tenant';

/** Every request/reply contract the package exports, from the services' public, service-only and internal groups. */
function allContracts(): RpcContract[] {
  const out = new Map<string, RpcContract>();
  for (const group of Object.values(contracts)) {
    if (!group || typeof group !== 'object') continue;
    for (const c of Object.values(group as Record<string, unknown>)) {
      const rc = c as Partial<RpcContract> | null;
      if (rc && typeof rc === 'object' && typeof rc.subject === 'string' && rc.request && rc.reply) out.set(rc.subject, rc as RpcContract);
    }
  }
  return [...out.values()].sort((a, b) => a.subject.localeCompare(b.subject));
}

/** Whether a NATS permission pattern (`*` one token, `>` the rest) covers a subject. */
function covers(pattern: string, subject: string): boolean {
  const p = pattern.split('.');
  const t = subject.split('.');
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '>') return t.length > i;
    if (i >= t.length || (p[i] !== '*' && p[i] !== t[i])) return false;
  }
  return p.length === t.length;
}

/** The identities the fuzz sends as, in order of preference: a caller first, then the processes some subjects are for. */
const SENDERS = ['test-caller', 'tasks', 'authz-proxy'] as const;
const PERMISSIONS = loadPermissionTable();

/** The first identity the committed permission table (docker/nats/permissions.json) lets publish a subject. */
function publisherOf(subject: string): (typeof SENDERS)[number] {
  const id = SENDERS.find((i) => permissionsOf(PERMISSIONS, i, { prefix: '' }).publish.some((p) => covers(p, subject)));
  if (!id) throw new Error(`none of ${SENDERS.join(', ')} may publish ${subject}`);
  return id;
}

/** The top-level keys an object schema knows (zod 4: `shape`, also through a pipe or default). */
function keysOf(schema: z.ZodType): string[] {
  const s = schema as unknown as { shape?: Record<string, unknown>; def?: { in?: z.ZodType; innerType?: z.ZodType } };
  if (s.shape) return Object.keys(s.shape);
  if (s.def?.in) return keysOf(s.def.in);
  if (s.def?.innerType) return keysOf(s.def.innerType);
  return [];
}

/** `[[…[]…]]`, `depth` arrays deep. */
const nested = (depth: number): unknown => JSON.parse(`${'['.repeat(depth)}${']'.repeat(depth)}`);
/**
 * Values of every JSON type and some edge cases; a field gets each one in turn. Also what valid JSON can carry and no
 * column can hold (a NUL, an unpaired surrogate, as a value or a key, anywhere), and nesting past `MAX_JSON_DEPTH`.
 */
const ODD_VALUES: unknown[] = [
  null, true, 0, -1, 12.5, 1e21, 2 ** 31, '', 'x', ' padded ', 'a'.repeat(600), [], [1], {}, { a: { b: [null] } },
  'a\u0000b', 'x\ud800', '\udc00', ['ok', '\u0000'], { 'k\u0000': 1 }, { k: { '\ud83d': 'half an emoji' } }, nested(contracts.MAX_JSON_DEPTH + 1),
];
/** Too deep for `JSON.stringify` (so sent as text): a field given this must still be VALIDATION, never a crash. */
const TOO_DEEP_TO_SERIALISE = 6_000;
const tooDeepText = (key: string) => `{${JSON.stringify(key)}:${'['.repeat(TOO_DEEP_TO_SERIALISE)}${']'.repeat(TOO_DEEP_TO_SERIALISE)}}`;
/** Whole payloads that are not an object of the contract, and what each reads as (undefined: not JSON). */
const ODD_PAYLOADS: Array<{ label: string; raw: string | Uint8Array; value?: unknown }> = [
  { label: 'not JSON', raw: '{"unterminated": ' },
  { label: 'binary', raw: '\u0000\u00ff\u0001garbage' },
  // JSON whose text is not UTF-8 (Latin-1 é): refused, never stored as U+FFFD
  { label: 'not UTF-8', raw: Buffer.from('{"name":"caf\u00e9"}', 'latin1') },
  // an empty message reads as `{}` (a request with no fields), so it is a case only where a field is required
  { label: 'empty', raw: '', value: {} },
  { label: 'null', raw: 'null', value: null },
  { label: 'an array', raw: '[{"a":1}]', value: [{ a: 1 }] },
  { label: 'a string', raw: '"hello"', value: 'hello' },
  { label: 'a number', raw: '42', value: 42 },
  // a key that would reach a prototype is refused as a payload, before any contract reads it, over HTTP and NATS alike
  { label: 'a __proto__ key', raw: '{"__proto__":{"admin":true}}' },
  { label: 'a constructor key', raw: '{"constructor":{"prototype":{"admin":true}}}' },
];

interface Case {
  label: string;
  payload: unknown;
  /** Sent as these bytes instead of the payload's JSON. */
  raw?: string | Uint8Array;
  /** Dotted issue paths the contract's own schema names for it (sorted, unique). */
  expected: string[];
}

function issuePaths(issues: Array<{ path: string }> | undefined): string[] {
  return [...new Set((issues ?? []).map((i) => i.path))].sort();
}

/** The paths the schema's issues name; a field it does not know is named itself (the object's path plus its key). */
function localIssues(schema: z.ZodType, payload: unknown): string[] | undefined {
  const r = schema.safeParse(payload);
  if (r.success) return undefined;
  const paths = r.error.issues.flatMap((i) => (i.code === 'unrecognized_keys' ? i.keys.map((k) => [...i.path, k]) : [i.path]));
  return [...new Set(paths.map((p) => p.map(String).join('.')))].sort();
}

/** Payloads the contract rejects: each known field given each odd value, an unknown field, and `{}`. */
function invalidCases(c: RpcContract): Case[] {
  const out: Case[] = [];
  const push = (label: string, payload: unknown) => {
    const expected = localIssues(c.request, payload);
    if (expected) out.push({ label, payload, expected });
  };
  push('{}', {});
  push('an unknown field', { fuzzUnknownField: 1 });
  for (const key of keysOf(c.request)) {
    for (const v of ODD_VALUES) push(`${key} = ${JSON.stringify(v).slice(0, 30)}`, { [key]: v });
    const raw = tooDeepText(key);
    const expected = localIssues(c.request, JSON.parse(raw));
    if (expected) out.push({ label: `${key} = ${TOO_DEEP_TO_SERIALISE} levels deep`, payload: undefined, raw, expected });
  }
  return out;
}

/** Row counts of every table of every service's database. */
async function rowCounts(e2e: E2E): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const [service, db] of Object.entries(e2e.dbs)) {
    const tables = await sqlQuery<{ schema: string; name: string }>(
      db.url,
      "SELECT table_schema AS schema, table_name AS name FROM information_schema.tables WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema')",
    );
    const sql = tables.map((t) => `SELECT '${t.schema}.${t.name}' AS t, count(*)::int AS n FROM "${t.schema}"."${t.name}"`).join(' UNION ALL ');
    for (const r of await sqlQuery<{ t: string; n: number }>(db.url, sql)) counts[`${service}:${r.t}`] = r.n;
  }
  return counts;
}

/** The apps' log lines at level error or above since `since` (an index into each app's output). */
function errorLogs(e2e: E2E, since: Record<string, number>): string[] {
  const out: string[] = [];
  for (const [name, app] of Object.entries(e2e.stack.apps)) {
    for (const line of app.output.slice(since[name] ?? 0)) {
      try {
        if ((JSON.parse(line) as { level?: number }).level! >= 50) out.push(`${name}: ${line.slice(0, 400)}`);
      } catch {
        // not a log line
      }
    }
  }
  return out;
}

function outputMarks(e2e: E2E): Record<string, number> {
  return Object.fromEntries(Object.entries(e2e.stack.apps).map(([n, a]) => [n, a.output.length]));
}

/** A batch of bad input: every answer as expected, over 500 of them sent, no row written, no error logged. */
async function expectAllRejectedHarmlessly(e2e: E2E, run: { wrong: string[]; sent: number; before: Record<string, number>; marks: Record<string, number> }): Promise<void> {
  expect(run.wrong).toEqual([]);
  expect(run.sent).toBeGreaterThan(500);
  expect(await rowCounts(e2e)).toEqual(run.before);
  expect(errorLogs(e2e, run.marks)).toEqual([]);
}

interface Operation {
  method: string;
  path: string;
  subject: string;
  contract: RpcContract;
  pathParams: Array<{ name: string; field: string }>;
  queryParams: string[];
  body: { properties: Record<string, unknown> } | undefined;
}

/** The gateway's operations that forward to a contract, read off its served document (`/docs-json`). */
async function operationsOf(e2e: E2E, bySubject: Map<string, RpcContract>): Promise<Operation[]> {
  const doc = (await (await fetch(`${e2e.url}/docs-json`)).json()) as {
    paths: Record<string, Record<string, { description?: string; parameters?: Array<{ name: string; in: string }>; requestBody?: { content: Record<string, { schema: { properties?: Record<string, unknown> } }> } }>>;
  };
  const ops: Operation[] = [];
  for (const [path, methods] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      const subject = /NATS subject `([^`]+)`/.exec(op.description ?? '')?.[1];
      if (!subject) continue;
      const contract = bySubject.get(subject);
      if (!contract) throw new Error(`${method} ${path} names ${subject}, which no contract has`);
      const params = op.parameters ?? [];
      const queryParams = params.filter((p) => p.in === 'query').map((p) => p.name);
      const bodySchema = op.requestBody?.content['application/json']?.schema;
      const taken = new Set([...queryParams, ...Object.keys(bodySchema?.properties ?? {})]);
      const names = params.filter((p) => p.in === 'path').map((p) => p.name);
      // A path parameter is the contract's field of its name, or the one field left that neither body nor query has.
      const left = keysOf(contract.request).filter((k) => !taken.has(k) && !names.includes(k));
      const pathParams = names.map((name) => ({ name, field: keysOf(contract.request).includes(name) ? name : (left.shift() ?? name) }));
      ops.push({ method: method.toUpperCase(), path, subject, contract, pathParams, queryParams, body: bodySchema ? { properties: bodySchema.properties ?? {} } : undefined });
    }
  }
  return ops;
}

/** A path parameter's value that its field accepts (a uuid where the contract wants one, else a short name). */
function validParam(contract: RpcContract, field: string): string {
  for (const v of [randomUUID(), 'fuzz-name', '1.0.0']) {
    const issues = localIssues(contract.request, { [field]: v });
    if (!issues?.includes(field)) return v;
  }
  return 'fuzz-name';
}

function urlOf(op: Operation, values: Record<string, string>, query: Record<string, string | string[]> = {}): string {
  let url = op.path;
  for (const p of op.pathParams) url = url.replace(`{${p.name}}`, encodeURIComponent(values[p.name]!));
  const pairs = Object.entries(query).flatMap(([k, v]): Array<[string, string]> => (Array.isArray(v) ? v.map((x) => [k, x]) : [[k, v]]));
  const qs = new URLSearchParams(pairs).toString();
  return qs ? `${url}?${qs}` : url;
}

describe('bad input at every subject and every route (contract fuzz)', () => {
  let e2e: E2E;
  let token: string;
  const callers: Record<string, NatsCaller> = {};
  const all = allContracts();
  const bySubject = new Map(all.map((c) => [c.subject, c]));
  let ops: Operation[] = [];

  beforeAll(async () => {
    // at debug, the most any app writes: the log check at the end reads every line
    e2e = await bootStack('e2e_fuzz', { LOG_LEVEL: 'debug' });
    token = await signDevToken({ ...primary, tenant: TENANT, sub: 'fuzzer', roles: ['admin'] });
    for (const id of SENDERS) callers[id] = NatsCaller.over(await natsAs(e2e, id), e2e.prefix);
    ops = await operationsOf(e2e, bySubject);
  }, 90_000);

  afterAll(async () => {
    for (const c of Object.values(callers)) await c.close();
    await e2e?.stop();
  });

  it('knows every subject of SUBJECTS and every forwarding route of the document', () => {
    const listed = Object.entries(contracts.SUBJECTS).flatMap(([svc, verbs]) => verbs.map((v) => contracts.subjectOf(svc as keyof typeof contracts.SUBJECTS, v)));
    expect(all.map((c) => c.subject)).toEqual(expect.arrayContaining(listed));
    expect(all.length).toBeGreaterThanOrEqual(listed.length);
    expect(ops.length).toBeGreaterThanOrEqual(40);
  });

  it('over NATS, every subject answers a payload its contract rejects with VALIDATION naming exactly those fields, and writes nothing', async () => {
    const before = await rowCounts(e2e);
    const marks = outputMarks(e2e);
    const wrong: string[] = [];
    let sent = 0;
    for (const c of all) {
      const caller = callers[publisherOf(c.subject)]!;
      const cases = invalidCases(c);
      for (const odd of ODD_PAYLOADS) {
        const expected = 'value' in odd ? localIssues(c.request, odd.value) : [''];
        if (expected) cases.push({ label: odd.label, payload: undefined, raw: odd.raw, expected });
      }
      await Promise.all(
        cases.map(async (k) => {
          const raw = k.raw;
          const reply = await caller.request(c.subject, k.payload, { token, raw, idempotencyKey: c.mutating ? `fuzz-${randomUUID()}` : undefined });
          sent++;
          const err = reply.body.error;
          const got = issuePaths((err?.details as { issues?: Array<{ path: string }> } | undefined)?.issues);
          const ok = reply.body.ok === false && err?.code === 'VALIDATION' && JSON.stringify(got) === JSON.stringify(k.expected);
          if (!ok) wrong.push(`${c.subject} ${k.label}: expected VALIDATION ${JSON.stringify(k.expected)}, got ${JSON.stringify(reply.body).slice(0, 300)}`);
        }),
      );
    }
    await expectAllRejectedHarmlessly(e2e, { wrong, sent, before, marks });
  }, 120_000);

  it('over NATS, every subject answers a missing or malformed bearer token UNAUTHENTICATED, whatever the payload', async () => {
    const [h, p] = token.split('.');
    const tokens: Array<[string, string | undefined]> = [
      ['none', undefined],
      ['garbage', 'not-a-token'],
      ['three empty parts', '..'],
      ['a header alone', `${h}..`],
      ['a forged signature', `${h}.${p}.${'A'.repeat(43)}`],
      ['alg none', `${Buffer.from('{"alg":"none","typ":"JWT"}').toString('base64url')}.${p}.`],
      ['64 KB', 'x'.repeat(65_536)],
    ];
    const wrong: string[] = [];
    for (const c of all) {
      const caller = callers[publisherOf(c.subject)]!;
      await Promise.all(
        tokens.map(async ([label, t]) => {
          const h = natsHeaders();
          if (t !== undefined) h.set('authorization', `Bearer ${t}`);
          const msg = await caller.nc.request(`${e2e.prefix}${c.subject}`, '{}', { headers: h, timeout: 5000 });
          const body = msg.json<{ ok: boolean; error?: { code: string } }>();
          if (body.ok !== false || body.error?.code !== 'UNAUTHENTICATED') wrong.push(`${c.subject} ${label}: ${JSON.stringify(body).slice(0, 200)}`);
        }),
      );
    }
    expect(wrong).toEqual([]);
  }, 60_000);

  it('over HTTP, every route answers a body, path or query its contract rejects with 400 VALIDATION naming exactly those fields, and writes nothing', async () => {
    const before = await rowCounts(e2e);
    const marks = outputMarks(e2e);
    const wrong: string[] = [];
    let sent = 0;
    const check = async (op: Operation, label: string, url: string, input: Record<string, unknown>, body?: { json?: unknown; raw?: string }, stray: string[] = []) => {
      // a query parameter given twice is named as that (`query.<name>`), and the contract judges the rest; a field the
      // path gives is named as the path names it (`{id}` of `POST /v1/runs/{id}/outputs`, whose contract says `runId`)
      const twice = Object.keys(input).filter((k) => Array.isArray(input[k]) && op.queryParams.includes(k));
      const inPath = (path: string) => {
        const [head, ...rest] = path.split('.');
        const p = op.pathParams.find((q) => q.field === head);
        return p ? [p.name, ...rest].join('.') : path;
      };
      const judged = localIssues(op.contract.request, input)?.map(inPath);
      const named = twice.length === 0 ? judged : [...(judged ?? []).filter((p) => !twice.includes(p.split('.')[0]!)), ...twice.map((k) => `query.${k}`)];
      // a body field the route does not read (on a route that reads none, or one its path gives) is named too
      const expected = named || stray.length > 0 ? [...new Set([...(named ?? []), ...stray])].sort() : undefined;
      if (!expected) return; // the contract takes it: not a case for this test
      const res = await call(e2e, op.method, url, { token, ...(body?.raw !== undefined ? { rawBody: body.raw } : body && 'json' in body ? { body: body.json } : {}), headers: op.contract.mutating ? { 'Idempotency-Key': `fuzz-${randomUUID()}` } : {} });
      sent++;
      const got = issuePaths(res.body?.error?.details?.issues);
      if (res.status !== 400 || res.body?.error?.code !== 'VALIDATION' || JSON.stringify(got) !== JSON.stringify(expected)) {
        wrong.push(`${op.method} ${op.path} ${label}: expected 400 ${JSON.stringify(expected)}, got ${res.status} ${res.text.slice(0, 300)}`);
      }
    };
    for (const op of ops) {
      const valid = Object.fromEntries(op.pathParams.map((p) => [p.name, validParam(op.contract, p.field)]));
      const pathInput = Object.fromEntries(op.pathParams.map((p) => [p.field, valid[p.name]]));
      const jobs: Array<Promise<void>> = [];
      // each path parameter made invalid in turn, by every odd value that a URL can carry
      for (const p of op.pathParams) {
        for (const v of ['not-a-uuid', 'a'.repeat(600), ' padded ', '\u0007bell', '%', 'x\u00ff', 'a\u0000b']) {
          const values = { ...valid, [p.name]: v };
          jobs.push(check(op, `path ${p.name} = ${JSON.stringify(v).slice(0, 20)}`, urlOf(op, values), { ...pathInput, [p.field]: v }, op.body ? { json: {} } : undefined));
        }
      }
      for (const q of op.queryParams) {
        for (const v of ['abc', '-1', '0', '1.5', '100000', '2147483648', '', 'a'.repeat(600), 'a\u0000b', ['1', '2']]) {
          jobs.push(check(op, `query ${q} = ${JSON.stringify(v).slice(0, 20)}`, urlOf(op, valid, { [q]: v }), { ...pathInput, [q]: v }));
        }
      }
      if (op.body) {
        const bodyKeys = Object.keys(op.body.properties);
        const bodies: Array<[string, unknown]> = [['{}', {}], ['an unknown field', { fuzzUnknownField: 1 }]];
        for (const key of bodyKeys) for (const v of ODD_VALUES) bodies.push([`${key} = ${JSON.stringify(v).slice(0, 30)}`, { [key]: v }]);
        for (const [label, json] of bodies) jobs.push(check(op, `body ${label}`, urlOf(op, valid), { ...(json as object), ...pathInput }, { json }));
        for (const key of bodyKeys) {
          const raw = tooDeepText(key);
          jobs.push(check(op, `body ${key} = ${TOO_DEEP_TO_SERIALISE} levels deep`, urlOf(op, valid), { ...(JSON.parse(raw) as object), ...pathInput }, { raw }));
        }
        // A field the path gives is never taken from the body, where the path would override it unseen.
        for (const p of op.pathParams) {
          const fresh = validParam(op.contract, p.field);
          const other = fresh === valid[p.name] ? `${valid[p.name]}-other` : fresh;
          jobs.push(check(op, `body ${p.field} beside the path's`, urlOf(op, valid), pathInput, { json: { [p.field]: other } }, [p.field]));
        }
        // A body that is not a JSON object is never read as one (nor as empty): 400 naming the body itself.
        for (const odd of ODD_PAYLOADS.filter((o) => o.raw !== '')) {
          jobs.push(
            (async () => {
              const res = await call(e2e, op.method, urlOf(op, valid), { token, rawBody: odd.raw, headers: op.contract.mutating ? { 'Idempotency-Key': `fuzz-${randomUUID()}` } : {} });
              sent++;
              const got = issuePaths(res.body?.error?.details?.issues);
              if (res.status !== 400 || res.body?.error?.code !== 'VALIDATION' || JSON.stringify(got) !== '[""]') wrong.push(`${op.method} ${op.path} body ${odd.label}: expected 400 VALIDATION [""], got ${res.status} ${res.text.slice(0, 300)}`);
            })(),
          );
        }
      }
      // A route that reads no body names each field of one it is sent (GET and HEAD bodies are never read).
      if (!op.body && op.method !== 'GET' && op.method !== 'HEAD') {
        jobs.push(check(op, 'a body on a route that reads none', urlOf(op, valid), pathInput, { json: { fuzzUnknownField: 1 } }, ['fuzzUnknownField']));
      }
      await Promise.all(jobs);
    }
    await expectAllRejectedHarmlessly(e2e, { wrong, sent, before, marks });
  }, 120_000);

  it('what no column can hold is refused naming the field, through the gateway and on the bus; the edges a column can hold are stored', async () => {
    const marks = outputMarks(e2e);
    const agent = await call(e2e, 'POST', '/v1/agents', { token, body: { name: 'stored-values' } });
    expect(agent.status).toBe(201);
    const agentId = agent.body.id as string;
    const create = (name: string, extra: object) => call(e2e, 'POST', '/v1/tasks', { token, body: { agentId, name, ...extra } });
    const issuesOf = (r: { status: number; body: any }) => (r.status === 400 && r.body.error.code === 'VALIDATION' ? issuePaths(r.body.error.details.issues) : `${r.status} ${JSON.stringify(r.body).slice(0, 200)}`);
    const convention = (alg: string) => ({ slug: `stored-${alg.length}`, schema: {}, hooks: [{ name: `stored-${alg.length}`, feature: 'f', release: { image: 'img', digest: `${alg}:${'b'.repeat(64)}` } }] });
    const deepAlg = Array.from({ length: 20_000 }, (_, i) => 'abcdefghijklmnopqrstuvwxyz0123456789'[(i * 7919) % 36]).join('');
    const tooDeep = `{"agentId":"${agentId}","name":"deep","params":{"a":${'['.repeat(TOO_DEEP_TO_SERIALISE)}${']'.repeat(TOO_DEEP_TO_SERIALISE)}}}`;
    const sse = (lastEventId: string) => call(e2e, 'GET', `/v1/tasks/${randomUUID()}/events`, { token, headers: { accept: 'text/event-stream', 'last-event-id': lastEventId } });
    // the agent's registration has landed (its two tuples and the applied event), so nothing else writes meanwhile
    const registered = () => sqlQuery<{ n: number }>(e2e.dbs['authz-proxy']!.url, `SELECT count(*)::int AS n FROM tuples WHERE resource = 'agent:${agentId}'`);
    expect((await waitFor(registered, (r) => r[0]!.n === 2, 15_000))[0]!.n).toBe(2);
    const before = await rowCounts(e2e);

    // each of these answered INTERNAL (PostgreSQL refused it) or 503 (a stack overflow) before its contract said no
    const refused: Array<[string, Promise<{ status: number; body: any }>, string[]]> = [
      ['a NUL in a params value', create('nul', { params: { k: 'a\u0000b' } }), ['params.k']],
      ['a NUL in a params key', create('nul-key', { params: { 'k\u0000': 1 } }), ['params.k\u0000']],
      ['an unpaired surrogate', create('half', { params: { k: ['\ud800'] } }), ['params.k.0']],
      ['year 0000', create('year0', { runAfter: '0000-06-01T00:00:00Z' }), ['runAfter']],
      ['year 0000 once in UTC', create('year0-utc', { runAfter: '0001-01-01T00:00:00+01:00' }), ['runAfter']],
      ['nesting too deep to serialise', call(e2e, 'POST', '/v1/tasks', { token, rawBody: tooDeep }), [`params.a.${Array(contracts.MAX_JSON_DEPTH - 2).fill(0).join('.')}`]],
      ['a NUL in a list filter', call(e2e, 'GET', '/v1/tasks?creatorUserId=a%00b', { token }), ['creatorUserId']],
      ['a seq past integer', call(e2e, 'GET', `/v1/tasks/${randomUUID()}/events?after=2147483648`, { token }), ['after']],
      ['the same, as an SSE query', call(e2e, 'GET', `/v1/tasks/${randomUUID()}/events?after=2147483648`, { token, headers: { accept: 'text/event-stream' } }), ['after']],
      ['a Last-Event-ID that is no seq', sse('abc'), ['header.last-event-id']],
      ['a Last-Event-ID past integer', sse('99999999999'), ['header.last-event-id']],
      ['a page size or wait given to a stream, which pages and waits itself', call(e2e, 'GET', `/v1/tasks/${randomUUID()}/events?after=1&limit=5&waitMs=100`, { token, headers: { accept: 'text/event-stream' } }), ['query.limit', 'query.waitMs']],
      ['a digest algorithm of 20 000 characters', call(e2e, 'POST', '/v1/conventions', { token, body: convention(deepAlg) }), ['hooks.0.release.digest']],
    ];
    const wrong: string[] = [];
    for (const [label, res, expected] of refused) {
      const got = issuesOf(await res);
      if (JSON.stringify(got) !== JSON.stringify(expected)) wrong.push(`${label}: expected 400 ${JSON.stringify(expected)}, got ${JSON.stringify(got)}`);
    }
    // a backend on the bus meets the same contract at the service, with or without an idempotency key
    const bus = callers['test-caller']!;
    for (const [label, payload, raw, expected] of [
      ['a NUL over NATS', { agentId, name: 'bus-nul', params: { k: '\u0000' } }, undefined, ['params.k']],
      ['nesting too deep over NATS', undefined, tooDeep, [`params.a.${Array(contracts.MAX_JSON_DEPTH - 2).fill(0).join('.')}`]],
    ] as const) {
      for (const idempotencyKey of [undefined, `stored-${randomUUID()}`]) {
        const reply = await bus.request(contracts.tasksContract.create.subject, payload, { token, raw, idempotencyKey });
        const got = reply.body.error?.code === 'VALIDATION' ? issuePaths((reply.body.error.details as { issues: Array<{ path: string }> }).issues) : JSON.stringify(reply.body).slice(0, 200);
        if (JSON.stringify(got) !== JSON.stringify(expected)) wrong.push(`${label} (key: ${!!idempotencyKey}): expected VALIDATION ${JSON.stringify(expected)}, got ${JSON.stringify(got)}`);
      }
    }
    expect(wrong).toEqual([]);
    expect(await rowCounts(e2e)).toEqual(before);

    // the edges a column holds are taken, and read back as written
    const params = { emoji: '\ud83d\ude00', 'ключ': 'значение', deep: nested(contracts.MAX_JSON_DEPTH - 3) };
    const edge = await create('edges', { params, runAfter: '0001-01-01T00:00:00Z' });
    expect(edge.status).toBe(201);
    expect((await call(e2e, 'GET', `/v1/tasks/${edge.body.id}`, { token })).body.params).toEqual(params);
    expect((await create('far', { runAfter: '9999-12-31T23:59:59.999Z' })).status).toBe(201);
    const last = await call(e2e, 'GET', `/v1/tasks/${edge.body.id}/events?after=2147483647`, { token });
    expect([last.status, last.body.items]).toEqual([200, []]);
    const released = await call(e2e, 'POST', '/v1/conventions', { token, body: convention('a'.repeat(64)) });
    expect(released.status).toBe(201);
    expect(errorLogs(e2e, marks)).toEqual([]);
  });

  it('every value a path parameter\'s contract accepts survives a WHATWG URL (fetch, browsers), so it can be addressed', async () => {
    const seed = Number(process.env.FUZZ_SEED ?? 20261206);
    const lost: string[] = [];
    const candidates = ['.', '..', '%2E', '%2e%2E', 'a/..', './a', 'a/b', '?', '#', '%', '\\', ...fc.sample(fc.string({ maxLength: 8, unit: 'grapheme' }), { numRuns: 300, seed })];
    for (const op of ops) {
      for (const p of op.pathParams) {
        for (const v of candidates) {
          if (localIssues(op.contract.request, { [p.field]: v })?.includes(p.field)) continue; // the contract refuses it
          const url = new URL(`http://gateway${urlOf(op, { ...Object.fromEntries(op.pathParams.map((q) => [q.name, 'x'])), [p.name]: v })}`);
          const template = op.path.split('/');
          const at = template.indexOf(`{${p.name}}`);
          const got = url.pathname.split('/');
          if (got.length !== template.length || decodeURIComponent(got[at]!) !== v) lost.push(`${op.method} ${op.path} ${p.name} = ${JSON.stringify(v)} → ${url.pathname}`);
        }
      }
    }
    expect(lost).toEqual([]);
    // and a task named so is refused at creation, not found unreachable later
    const agent = await call(e2e, 'POST', '/v1/agents', { token, body: { name: 'dot-names' } });
    for (const name of ['.', '..']) {
      const res = await call(e2e, 'POST', '/v1/tasks', { token, body: { agentId: agent.body.id, name } });
      expect([res.status, issuePaths(res.body.error?.details?.issues)]).toEqual([400, ['name']]);
    }
  });

  it('what the HTTP server rejects before any route runs answers in the same error envelope, without echoing the URL', async () => {
    const long = 'b'.repeat(3000);
    // `issues`: the paths `details.issues` names, where a client finds the fault as in every other VALIDATION
    const cases: Array<{ method: string; path: string; body?: string; type?: string; status: number; code: string; issues?: string[] }> = [
      { method: 'GET', path: `/v1/tasks/${long}`, status: 400, code: 'VALIDATION' },
      { method: 'GET', path: '/v1/tasks/%zz', status: 400, code: 'VALIDATION' },
      { method: 'GET', path: '/v1/tasks/by-name/%E0%A4%A', status: 400, code: 'VALIDATION' },
      { method: 'POST', path: '/v1/agents', body: JSON.stringify({ name: 'x'.repeat(1_100_000) }), status: 413, code: 'VALIDATION', issues: [''] },
      { method: 'POST', path: '/v1/agents', body: 'name=x', type: 'application/x-www-form-urlencoded', status: 415, code: 'VALIDATION', issues: ['header.content-type'] },
      { method: 'POST', path: '/v1/agents', body: '<agent name="x"/>', type: 'application/xml', status: 415, code: 'VALIDATION', issues: ['header.content-type'] },
      { method: 'POST', path: '/v1/agents', body: 'name: x', type: 'text/plain', status: 415, code: 'VALIDATION', issues: ['header.content-type'] },
      { method: 'POST', path: '/v1/agents', body: '{"name":"sent-as-text"}', type: 'text/plain', status: 415, code: 'VALIDATION', issues: ['header.content-type'] },
      { method: 'POST', path: '/v1/agents', body: '{"name": "x",}', status: 400, code: 'VALIDATION' },
    ];
    const wrong: string[] = [];
    for (const k of cases) {
      const res = await call(e2e, k.method, k.path, { token, ...(k.body !== undefined ? { rawBody: k.body } : {}), headers: k.type ? { 'content-type': k.type } : {} });
      const shaped = res.body?.error?.code === k.code && typeof res.body?.error?.message === 'string' && Object.keys(res.body).join() === 'error';
      const named = k.issues === undefined || JSON.stringify(issuePaths(res.body?.error?.details?.issues)) === JSON.stringify(k.issues);
      if (res.status !== k.status || !shaped || !named || res.text.includes(long.slice(0, 200))) wrong.push(`${k.method} ${k.path.slice(0, 40)}: ${res.status} ${res.text.slice(0, 300)}`);
    }
    expect(wrong).toEqual([]);

    // what Node's parser refuses before Fastify has a request: over its 16 KiB of request line and headers (a long
    // query, a large header), and what is not HTTP at all (a body framed both ways, request smuggling's shape)
    const raw = (request: string) =>
      new Promise<string>((resolve, reject) => {
        const socket = connect(Number(new URL(e2e.url).port), new URL(e2e.url).hostname, () => socket.end(request));
        let text = '';
        socket.on('data', (d) => (text += d.toString('utf8')));
        socket.on('close', () => resolve(text));
        socket.on('error', reject);
      });
    const answers = [
      await raw(`GET /v1/tasks?creatorUserId=${'a'.repeat(20_000)} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\n\r\n`),
      await raw(`GET /v1/tasks HTTP/1.1\r\nHost: x\r\nX-Junk: ${'j'.repeat(20_000)}\r\n\r\n`),
      await raw('POST /v1/agents HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'),
    ].map((text) => {
      const [head = '', body = ''] = text.split('\r\n\r\n');
      return { status: head.split(' ')[1], body: JSON.parse(body || 'null'), echoes: body.includes('aaaaaaaaaa') || body.includes('jjjjjjjjjj') };
    });
    expect(answers).toEqual([
      { status: '431', body: { error: { code: 'VALIDATION', message: expect.stringContaining('16 KiB'), details: { issues: [{ path: 'header', message: expect.any(String) }] } } }, echoes: false },
      { status: '431', body: { error: expect.objectContaining({ code: 'VALIDATION' }) }, echoes: false },
      { status: '400', body: { error: { code: 'VALIDATION', message: 'the request is not valid HTTP', details: { issues: [{ path: '', message: 'the request is not valid HTTP' }] } } }, echoes: false },
    ]);
  });

  it('random JSON at every subject and every body route: never INTERNAL or a 5xx, VALIDATION whenever the contract rejects it, no error logged', async () => {
    const marks = outputMarks(e2e);
    const seed = Number(process.env.FUZZ_SEED ?? 20261206);
    const wrong: string[] = [];
    // strings of any UTF-16 code units: NULs and unpaired surrogates too, in values and in keys
    const payload = fc.oneof(
      fc.jsonValue({ maxDepth: 3, stringUnit: 'binary' }),
      fc.dictionary(fc.string({ maxLength: 12, unit: 'binary' }), fc.jsonValue({ maxDepth: 2, stringUnit: 'binary' }), { maxKeys: 4 }),
    );
    for (const c of all) {
      const caller = callers[publisherOf(c.subject)]!;
      const samples = fc.sample(payload, { numRuns: 15, seed: seed + c.subject.length });
      await Promise.all(
        samples.map(async (p) => {
          const reply = await caller.request(c.subject, p, { token, idempotencyKey: c.mutating ? `fuzz-${randomUUID()}` : undefined, timeoutMs: 10_000 });
          const err = reply.body.error;
          const rejected = localIssues(c.request, p);
          if (err?.code === 'INTERNAL' || (rejected && err?.code !== 'VALIDATION')) wrong.push(`${c.subject} ${JSON.stringify(p).slice(0, 200)}: ${JSON.stringify(reply.body).slice(0, 300)}`);
        }),
      );
    }
    for (const op of ops.filter((o) => o.body)) {
      const valid = Object.fromEntries(op.pathParams.map((p) => [p.name, validParam(op.contract, p.field)]));
      const samples = fc.sample(payload, { numRuns: 15, seed: seed + op.path.length });
      await Promise.all(
        samples.map(async (json) => {
          const res = await call(e2e, op.method, urlOf(op, valid), { token, body: json, headers: op.contract.mutating ? { 'Idempotency-Key': `fuzz-${randomUUID()}` } : {} });
          if (res.status >= 500 || (res.status === 400 && res.body?.error?.code !== 'VALIDATION')) wrong.push(`${op.method} ${op.path} ${JSON.stringify(json).slice(0, 200)}: ${res.status} ${res.text.slice(0, 300)}`);
        }),
      );
    }
    expect(wrong).toEqual([]);
    expect(errorLogs(e2e, marks)).toEqual([]);
    // and every service still serves
    const created = await call(e2e, 'POST', '/v1/agents', { token, body: { name: 'after-the-fuzz' } });
    expect(created.status).toBe(201);
  }, 180_000);

  it('a cursor no list gave, at every list that takes one (on a resource that exists): a page or VALIDATION, never INTERNAL', async () => {
    const marks = outputMarks(e2e);
    // what each list needs to reach its cursor: a resource of the fuzzer's tenant that it may read
    const agent = (await call(e2e, 'POST', '/v1/agents', { token, body: { name: `cursor-fuzz-${randomUUID()}` } })).body.id as string;
    const hook = `cursor-fuzz-${randomUUID().slice(0, 8)}`;
    const deployed = await call(e2e, 'POST', '/v1/conventions', { token, body: { slug: hook, schema: {}, hooks: [{ name: hook, feature: 'f', release: { image: 'img', digest: `sha256:${'c'.repeat(64)}` } }] } });
    expect(deployed.status).toBe(201);
    const workspace = (await call(e2e, 'POST', '/v1/workspaces', { token, body: { name: `cursor-fuzz-${randomUUID().slice(0, 8)}` } })).body.id as string;
    await waitFor(() => call(e2e, 'GET', `/v1/authz/grants?resource=agent:${agent}`, { token }), (r) => r.status === 200, 15_000);
    const base: Record<string, Record<string, unknown>> = {
      'tasks.v1.list_agents': {},
      'tasks.v1.list': { agentId: agent },
      'authz.v1.lookup': { action: 'read', type: 'agent' },
      'authz.v1.list_grants': { resource: `agent:${agent}` },
      'authz.v1.grant_history': { resource: `agent:${agent}` },
      'hooks.v1.list': {},
      'hooks.v1.list_releases': { name: hook },
      'hooks.v1.list_live_changes': { name: hook },
      'workspaces.v1.list': {},
      'workspaces.v1.list_plugin_changes': { id: workspace },
    };
    // every list that takes a cursor is here (a new one must say how to reach its cursor)
    expect(all.filter((c) => keysOf(c.request).includes('cursor')).map((c) => c.subject).sort()).toEqual(Object.keys(base).sort());
    const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64url');
    const texts = [
      '9999999999999999999', '99999999999999999999999', '-1', '0', '1e400', 'NaN', 'null', '[]', '{}', '["x"]', '[null,null]', '[1,2,3]',
      '["9999-12-31T23:59:59.999Z","ffffffff-ffff-ffff-ffff-ffffffffffff"]', '["2026-13-45T99:00:00Z","x"]', '["read","user:\\u0000"]',
      'ffffffff-ffff-ffff-ffff-ffffffffffff', '00000000-0000-0000-0000-000000000000', 'agent:x', 'x\u0000y', '\ud800', ' ', 'a'.repeat(512),
      // each an INTERNAL once: an id no UUID, year 0, a negative year, a NUL name, a version no int4
      '["2026-01-01T00:00:00.000Z","------------------------------------"]', '["0000-06-01T00:00:00Z","0194b3a0-1c2d-7e3f-8a4b-5c6d7e8f9a0b"]',
      '["-100000-01-01T00:00:00Z","0194b3a0-1c2d-7e3f-8a4b-5c6d7e8f9a0b"]', '["2026-01-01T00:00:00Z","x"]', '"\\u0000"', '["\\u0000"]', '[1e300]',
    ];
    const cursors = [...texts, ...texts.map(b64)].filter((c) => c.length <= 512);
    const wrong: string[] = [];
    for (const [subject, payload] of Object.entries(base)) {
      const c = bySubject.get(subject)!;
      // the base payload reaches the list: a page, no cursor
      const first = await callers[publisherOf(subject)]!.request(subject, payload, { token, timeoutMs: 10_000 });
      if (!first.body.ok) wrong.push(`${subject} ${JSON.stringify(payload)} without a cursor: ${JSON.stringify(first.body).slice(0, 200)}`);
      await Promise.all(
        cursors.map(async (cursor) => {
          const reply = await callers[publisherOf(subject)]!.request(subject, { ...payload, cursor }, { token, timeoutMs: 10_000 });
          const err = reply.body.error;
          if (err && (err.code !== 'VALIDATION' || !issuePaths((err.details as { issues?: Array<{ path: string }> } | undefined)?.issues).includes('cursor')) && localIssues(c.request, { ...payload, cursor }) === undefined) {
            wrong.push(`${subject} cursor ${JSON.stringify(cursor).slice(0, 60)}: ${JSON.stringify(reply.body).slice(0, 200)}`);
          }
        }),
      );
    }
    expect(wrong).toEqual([]);
    expect(errorLogs(e2e, marks)).toEqual([]);
  }, 120_000);

  it('no app logged a bearer token through all of it, good or malformed (the tests above sent thousands)', () => {
    const secrets = [token.split('.')[2]!, 'not-a-token', 'x'.repeat(64)];
    const lines = Object.entries(e2e.stack.apps).flatMap(([name, app]) => app.output.map((l) => `${name}: ${l}`));
    expect(lines.length).toBeGreaterThan(1000);
    expect(lines.filter((l) => secrets.some((s) => l.includes(s))).map((l) => l.slice(0, 300))).toEqual([]);
  });
});
