import fc from 'fast-check';
import * as contractsModule from './index.js';
import type { RpcContract } from './index.js';
import { GRANTABLE_TYPES, GrantRequest, ListGrantsRequest, PENDING_REGISTRATIONS_BY_TYPE, RESOURCE_FACTS_BY_TYPE, SUBJECTS, subjectOf, tasksContract, authzContract, hooksContract, workspacesContract, CreateTaskRequest, ResourceRef, CompleteRequest, FailRequest, TASK_LIMITS, MAX_INT4, MAX_JSON_DEPTH, JSON_OBJECT_MAX_BYTES, itemsWithinBudget, unstorableIssues, Name, isNfc, jsonBytes, jsonWithin } from './index.js';

describe('contracts', () => {
  it('implements every subject of SUBJECTS, and nothing else', () => {
    const implemented = [tasksContract, authzContract, hooksContract, workspacesContract].flatMap((c) => Object.values(c).map((r) => r.subject)).sort();
    const listed = Object.entries(SUBJECTS).flatMap(([svc, verbs]) => verbs.map((v) => subjectOf(svc as keyof typeof SUBJECTS, v))).sort();
    expect(implemented).toEqual(listed);
  });

  it('names every implemented subject <service>.v1.<verb> and lists it in SUBJECTS', () => {
    for (const c of Object.values(tasksContract)) {
      expect(c.subject).toMatch(/^tasks\.v1\.[a-z_]+$/);
      expect(SUBJECTS.tasks.map((v) => subjectOf('tasks', v))).toContain(c.subject);
    }
    for (const c of Object.values(authzContract)) {
      expect(SUBJECTS.authz.map((v) => subjectOf('authz', v))).toContain(c.subject);
    }
  });

  it('reports the failing field path', () => {
    const r = CreateTaskRequest.safeParse({ agentId: 'nope', name: 'x' });
    expect(r.success).toBe(false);
    expect(r.error!.issues[0]!.path).toEqual(['agentId']);
  });

  it('rejects unknown fields and control characters', () => {
    expect(CreateTaskRequest.safeParse({ agentId: '5d0c0b3e-3b7a-4a3e-9d3a-9c1f1f6f0a11', name: 'a', extra: 1 }).success).toBe(false);
    expect(CreateTaskRequest.safeParse({ agentId: '5d0c0b3e-3b7a-4a3e-9d3a-9c1f1f6f0a11', name: 'a\u0000b' }).success).toBe(false);
    expect(ResourceRef.safeParse('task:abc').success).toBe(true);
    expect(ResourceRef.safeParse('task:a b').success).toBe(false);
  });

  it('takes a grant, a revocation or a grant listing only on a type a service owns, and says which', () => {
    for (const type of GRANTABLE_TYPES) expect(GrantRequest.safeParse({ subject: 'user:u', action: 'read', resource: `${type}:x` }).success).toBe(true);
    expect(Object.keys(RESOURCE_FACTS_BY_TYPE).sort()).toEqual([...GRANTABLE_TYPES].sort());
    // the owner that states a type's facts is the one that lists its pending registrations
    const owner = (subject = '') => subject.slice(0, subject.indexOf('.'));
    expect(Object.fromEntries(Object.entries(PENDING_REGISTRATIONS_BY_TYPE).map(([t, c]) => [t, owner(c?.subject)]))).toEqual(
      Object.fromEntries(Object.entries(RESOURCE_FACTS_BY_TYPE).map(([t, c]) => [t, owner(c?.subject)])),
    );
    // a type named as an object's own property is no owner's (it reached Object.prototype: a 500 on check)
    for (const type of ['constructor', '__proto__', 'toString', 'hasOwnProperty']) {
      expect([RESOURCE_FACTS_BY_TYPE[type], PENDING_REGISTRATIONS_BY_TYPE[type]]).toEqual([undefined, undefined]);
    }
    for (const resource of ['tenant:acme', 'agents:x', 'group:eng']) {
      const r = GrantRequest.safeParse({ subject: 'user:u', action: 'read', resource });
      expect(r.error?.issues.map((i) => [i.path.join('.'), i.message])).toEqual([['resource', 'grants are on an agent, task, hook, release, run or workspace (<type>:<id>)']]);
      expect(ListGrantsRequest.safeParse({ resource, limit: 10 }).success).toBe(false);
    }
    // not `<type>:<id>` at all: one issue, the shape's
    expect(GrantRequest.safeParse({ subject: 'user:u', action: 'read', resource: 'agent' }).error?.issues.map((i) => i.message)).toEqual(['must look like <type>:<id>']);
  });

  it('bounds the worker protocol\'s fields (DESIGN §4.1) and names the field', () => {
    const agentId = '5d0c0b3e-3b7a-4a3e-9d3a-9c1f1f6f0a11';
    const pathOf = (r: { success: boolean; error?: { issues: Array<{ path: PropertyKey[] }> } }) => r.error?.issues[0]?.path.join('.');
    expect(pathOf(CreateTaskRequest.safeParse({ agentId, name: 'a', maxAttempts: 101 }))).toBe('maxAttempts');
    expect(pathOf(CreateTaskRequest.safeParse({ agentId, name: 'a', heartbeatTimeoutSeconds: 3601 }))).toBe('heartbeatTimeoutSeconds');
    expect(pathOf(CreateTaskRequest.safeParse({ agentId, name: 'a', timeoutSeconds: 0 }))).toBe('timeoutSeconds');
    expect(CreateTaskRequest.safeParse({ agentId, name: 'a', runAfter: '2026-12-01T10:00:00+02:00', retry: {} }).success).toBe(true);
    const ok = CreateTaskRequest.parse({ agentId, name: 'a', retry: { maximumIntervalMs: 5_000 } });
    expect(ok.retry).toEqual({ initialIntervalMs: 1_000, backoffCoefficient: 2, maximumIntervalMs: 5_000 });
    const token = agentId;
    // a JSON string of n characters is n + 2 bytes
    expect(CompleteRequest.safeParse({ id: agentId, leaseToken: token, result: 'x'.repeat(TASK_LIMITS.resultBytes - 2) }).success).toBe(true);
    expect(pathOf(CompleteRequest.safeParse({ id: agentId, leaseToken: token, result: 'x'.repeat(TASK_LIMITS.resultBytes - 1) }))).toBe('result');
    expect(FailRequest.parse({ id: agentId, leaseToken: token, error: { message: 'm' } }).error).toEqual({ message: 'm', retryable: true });
  });
});

describe('what no service can store (unstorableIssues, on every request by rpc())', () => {
  const agentId = '5d0c0b3e-3b7a-4a3e-9d3a-9c1f1f6f0a11';
  const BAD = ['a\u0000b', '\u0000', 'x\ud800', '\udc00y', '\ud83d\ude00\ud83d'];
  const paths = (r: { success: boolean; error?: { issues: Array<{ path: PropertyKey[]; message: string }> } }) => r.error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`);

  it('names a NUL, an unpaired surrogate (in a value or a key) and too deep a value at its path, in the payload\'s order', () => {
    const deep = (n: number): unknown => (n === 0 ? 1 : [deep(n - 1)]);
    expect(
      unstorableIssues({ a: 'ok \ud83d\ude00', b: ['x', 'y\u0000'], c: { 'k\ud800': 1, n: { m: '\udfff' } }, d: deep(MAX_JSON_DEPTH - 1), e: deep(MAX_JSON_DEPTH) }).map(
        (i) => `${i.path.join('.')}: ${i.message}`,
      ),
    ).toEqual([
      'b.1: must not contain a NUL character (\\u0000)',
      'c.k\ud800: the key must not contain an unpaired UTF-16 surrogate',
      'c.n.m: must not contain an unpaired UTF-16 surrogate',
      `e.${Array(MAX_JSON_DEPTH - 1).fill(0).join('.')}: must not nest deeper than ${MAX_JSON_DEPTH} levels`,
    ]);
  });

  it('names a number JSON reads but cannot write (1e400 is Infinity), which no key could hash and a column stores as null', () => {
    expect(unstorableIssues(JSON.parse('{"a":1e400,"b":[1,-1e400],"c":{"d":1.5e308}}')).map((i) => `${i.path.join('.')}: ${i.message}`)).toEqual([
      'a: must be a finite number (JSON has no Infinity)',
      'b.1: must be a finite number (JSON has no Infinity)',
    ]);
  });

  it('finds any such string wherever it is put in any JSON value, and nothing in JSON without one', () => {
    const json = fc.jsonValue({ maxDepth: 4 });
    fc.assert(fc.property(json, (v) => unstorableIssues(v).length === 0 || JSON.stringify(v).includes('\\u0000')));
    // a random path into a random object, and a bad string there, as a value or as the last key
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.string({ maxLength: 5 }), fc.nat(3)), { maxLength: 8 }), fc.constantFrom(...BAD), fc.boolean(), (path, bad, asKey) => {
        const root: Record<string, unknown> = {};
        let at: Record<string | number, unknown> = root;
        const keys = path.length === 0 ? ['f'] : path.map(String);
        for (const k of keys.slice(0, -1)) at = (at[k] = {}) as Record<string, unknown>;
        const last = keys[keys.length - 1]!;
        if (asKey) at[last + bad] = 1;
        else at[last] = bad;
        const issues = unstorableIssues(root);
        expect(issues).toHaveLength(1);
        expect(issues[0]!.path.map(String)).toEqual([...keys.slice(0, -1), asKey ? last + bad : last]);
      }),
    );
  });

  it('cannot be driven to exhaust the stack: 200 000 levels are one issue', () => {
    const text = `{"a":${'['.repeat(200_000)}${']'.repeat(200_000)}}`;
    const issues = unstorableIssues(JSON.parse(text));
    expect(issues).toHaveLength(1);
    expect(issues[0]!.path).toHaveLength(MAX_JSON_DEPTH);
  });

  it('is part of every request schema: the create, a worker\'s result, a list filter; names at most 10', () => {
    const create = tasksContract.create.request;
    expect(paths(create.safeParse({ agentId, name: 'a', params: { note: 'x\u0000' } }))).toEqual(['params.note: must not contain a NUL character (\\u0000)']);
    expect(paths(create.safeParse({ agentId, name: 'a', params: { ['\ud800']: 1 } }))).toEqual(['params.\ud800: the key must not contain an unpaired UTF-16 surrogate']);
    const result = JSON.parse(`${'['.repeat(5_000)}${']'.repeat(5_000)}`);
    // too deep for JSON.stringify, so for the byte bound: named once, by the depth
    expect(paths(tasksContract.complete.request.safeParse({ id: agentId, leaseToken: agentId, result }))).toEqual([
      `result.${Array(MAX_JSON_DEPTH - 1).fill(0).join('.')}: must not nest deeper than ${MAX_JSON_DEPTH} levels`,
    ]);
    expect(paths(tasksContract.list.request.safeParse({ creatorUserId: 'a\u0000' }))).toEqual(['creatorUserId: must not contain a NUL character (\\u0000)']);
    expect(create.safeParse({ agentId, name: 'a', params: Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`k${i}`, '\u0000'])) }).error!.issues).toHaveLength(10);
    expect(create.safeParse({ agentId, name: 'a', params: { emoji: '\ud83d\ude00', nested: [[['fine']]] } }).success).toBe(true);
  });

  it('reads an integer a query string or a path carries as a JSON number or its decimal text, and nothing else', () => {
    const list = tasksContract.list.request;
    const limit = (v: unknown) => list.safeParse({ limit: v });
    expect(limit('07').data).toMatchObject({ limit: 7 });
    expect(limit(12).data).toMatchObject({ limit: 12 });
    expect(limit(undefined).data).toMatchObject({ limit: 50 });
    // what Number() reads but no one writes as a count: hex, an exponent, nothing, a boolean, a one-item array
    for (const v of ['0x10', '1e2', '', ' ', true, null, [5], '1.5', 1.5]) expect(paths(limit(v))).toEqual(['limit: expected an integer']);
    expect(paths(limit('-1'))).toEqual(['limit: Too small: expected number to be >=1']);
    expect(paths(limit('501'))).toEqual(['limit: Too big: expected number to be <=500']);
    expect(paths(tasksContract.get.request.safeParse({ id: agentId, waitMs: '' }))).toEqual(['waitMs: expected an integer']);
    expect(tasksContract.get.request.safeParse({ id: agentId }).data).toEqual({ id: agentId });
    expect(paths(tasksContract.listEvents.request.safeParse({ id: agentId, after: 'x' }))).toEqual(['after: expected an integer']);
    expect(paths(hooksContract.getRelease.request.safeParse({ name: 'h', version: '0x1' }))).toEqual(['version: expected an integer']);
    expect(hooksContract.getRelease.request.safeParse({ name: 'h', version: '3' }).data).toEqual({ name: 'h', version: 3 });
  });

  it('bounds what reaches an integer column or a timestamp: `after` to 2^31 − 1, `runAfter` to the years 0001–9999 in UTC', () => {
    const events = tasksContract.listEvents.request;
    expect(events.safeParse({ id: agentId, after: MAX_INT4 }).success).toBe(true);
    expect(paths(events.safeParse({ id: agentId, after: MAX_INT4 + 1 }))).toEqual(['after: Too big: expected number to be <=2147483647']);
    const at = (runAfter: string) => CreateTaskRequest.safeParse({ agentId, name: 'a', runAfter }).success;
    expect(at('0001-01-01T00:00:00Z')).toBe(true);
    expect(at('9999-12-31T23:59:59.999Z')).toBe(true);
    expect(at('0000-12-31T23:59:59Z')).toBe(false);
    expect(at('0001-01-01T00:00:00+01:00')).toBe(false); // year 0 in UTC
    expect(at('9999-12-31T23:00:00-02:00')).toBe(false); // year 10000 in UTC
  });
});

describe('every request field is bounded where a column or an index would otherwise refuse it', () => {
  /** Each leaf of a request schema that can carry an unbounded value into a column, an index or a query parameter. */
  function unbounded(schema: unknown, path: string, out: string[], seen = new Set<unknown>()): string[] {
    if (seen.has(schema)) return out;
    seen.add(schema);
    const s = schema as {
      def: { type: string; innerType?: unknown; in?: unknown; out?: unknown; options?: unknown[]; element?: unknown; valueType?: unknown; checks?: Array<{ _zod: { def: { check: string } } }> };
      shape?: Record<string, unknown>;
      format?: string | null;
      maxLength?: number | null;
      minValue?: number | null;
      maxValue?: number | null;
    };
    const checks = (s.def.checks ?? []).map((c) => c._zod.def.check);
    switch (s.def.type) {
      case 'object':
        for (const [k, v] of Object.entries(s.shape ?? {})) unbounded(v, `${path}.${k}`, out, seen);
        break;
      case 'optional':
      case 'nullable':
      case 'default':
        unbounded(s.def.innerType, path, out, seen);
        break;
      case 'pipe':
        // a preprocess (`intParam`): what its transform reads, the pipe's output schema bounds
        if ((s.def.in as { def: { type: string } }).def.type !== 'transform') unbounded(s.def.in, path, out, seen);
        unbounded(s.def.out, path, out, seen);
        break;
      case 'union':
        for (const o of s.def.options ?? []) unbounded(o, path, out, seen);
        break;
      case 'array':
        if (!checks.includes('max_length')) out.push(`${path}: an array with no maximum length`);
        unbounded(s.def.element, `${path}[]`, out, seen);
        break;
      case 'record':
        // a JSON object stored as jsonb: its strings are checked by unstorableIssues, its size by the body limit
        break;
      case 'number':
        if (s.maxValue == null || s.maxValue > MAX_INT4 || s.minValue == null || s.minValue < -MAX_INT4 - 1) out.push(`${path}: a number outside −2^31…2^31 − 1 (${s.minValue}…${s.maxValue})`);
        break;
      case 'string':
        // a uuid or an ISO datetime has a fixed grammar; any other string declares its longest
        if (s.format !== 'uuid' && s.format !== 'datetime' && s.maxLength == null) out.push(`${path}: a string with no maximum length`);
        break;
      case 'enum':
      case 'boolean':
      case 'literal':
      case 'unknown':
      case 'null':
        break;
      default:
        out.push(`${path}: a ${s.def.type} this test does not know`);
    }
    return out;
  }

  it('every string has a maximum length, every integer fits PostgreSQL\'s integer, every array has a maximum size', () => {
    // every request/reply contract the package exports, public, service-only and internal
    const all = [...new Map(Object.values(contractsModule).flatMap((g) => (g && typeof g === 'object' ? Object.values(g) : [])).filter((c): c is RpcContract => typeof c?.subject === 'string' && !!c.request).map((c) => [c.subject, c])).values()];
    expect(all.length).toBeGreaterThan(50);
    expect(all.flatMap((c) => unbounded(c.request, c.subject, []))).toEqual([]);
  });

  it('an OCI digest\'s algorithm is bounded too (it reaches a unique index)', () => {
    const digest = (alg: string) => hooksContract.createRelease.request.safeParse({ name: 'h', image: 'i', digest: `${alg}:${'b'.repeat(64)}` }).success;
    expect(digest('sha256')).toBe(true);
    expect(digest('a'.repeat(64))).toBe(true);
    expect(digest('a'.repeat(65))).toBe(false);
  });
});

describe('one issue per field', () => {
  const agentId = '5d0c0b3e-3b7a-4a3e-9d3a-9c1f1f6f0a11';
  const messages = (r: { error?: { issues: Array<{ path: PropertyKey[]; message: string }> } }) => r.error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`);

  it('a field its own schema refused is not named again for a NUL; a datetime that is none is named by its format alone', () => {
    expect(messages(tasksContract.create.request.safeParse({ agentId, name: 'a\u0000b' }))).toEqual(['name: must not contain control characters']);
    expect(messages(tasksContract.create.request.safeParse({ agentId, name: 'a', runAfter: 'tomorrow' }))).toEqual(['runAfter: Invalid ISO datetime']);
    expect(messages(tasksContract.create.request.safeParse({ agentId, name: 'a\u0000b', params: { k: '\u0000' } }))).toEqual([
      'name: must not contain control characters',
      'params.k: must not contain a NUL character (\\u0000)',
    ]);
  });
});

describe('a name is one text, shown as it is', () => {
  const agentId = '5d0c0b3e-3b7a-4a3e-9d3a-9c1f1f6f0a11';
  const messages = (r: { error?: { issues: Array<{ path: PropertyKey[]; message: string }> } }) => r.error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
  const nfc = 'caf\u00e9';
  const nfd = 'cafe\u0301';

  it('takes a name in NFC, any script, and refuses the same text decomposed, naming the field once', () => {
    for (const name of [nfc, '東京-1', 'Ωmega', 'naïve report', 'x'.repeat(200)]) expect({ name, ok: Name.safeParse(name).success }).toEqual({ name, ok: true });
    expect(nfd.normalize('NFC')).toBe(nfc);
    expect(messages(tasksContract.create.request.safeParse({ agentId, name: nfd }))).toEqual([
      'name: must be in Unicode normalization form C (NFC: String.prototype.normalize, unicodedata.normalize)',
    ]);
    expect(messages(tasksContract.getByName.request.safeParse({ name: 'Ame\u0301lie' }))).toHaveLength(1);
    expect(tasksContract.createAgent.request.safeParse({ name: nfd }).success).toBe(false);
    expect(messages(workspacesContract.create.request.safeParse({ name: ` ${nfd}` }))).toEqual(['name: must not start or end with white space']);
  });

  it('refuses C1 controls and the bidirectional controls that make a name display other than it reads', () => {
    for (const bad of ['a\u0085b', 'a\u009bb', 'invoice\u202egpj.exe', 'a\u2066b\u2069', 'a\u202ab']) {
      expect({ bad, issues: messages(tasksContract.create.request.safeParse({ agentId, name: bad }))?.length }).toEqual({ bad, issues: 1 });
    }
    expect(messages(tasksContract.create.request.safeParse({ agentId, name: 'invoice\u202egpj.exe' }))).toEqual([
      'name: must not contain bidirectional control characters (U+202A–U+202E, U+2066–U+2069)',
    ]);
    // a worker's name for itself is shown too: the same readability, without the name's other rules
    expect(messages(tasksContract.claim.request.safeParse({ agentId, workerId: 'host\u202e1' }))).toEqual([
      'workerId: must not contain bidirectional control characters (U+202A–U+202E, U+2066–U+2069)',
    ]);
    expect(tasksContract.claim.request.safeParse({ agentId, workerId: ' cafe\u0301 ' }).success).toBe(true);
    // … but not white space alone, which would show as no worker at all
    for (const blank of [' ', '   ', '\u00a0\u3000']) {
      expect(messages(tasksContract.claim.request.safeParse({ agentId, workerId: blank }))).toEqual(['workerId: must not be white space only']);
    }
    expect(isNfc('plain ascii')).toBe(true);
  });
});

describe('what fits one reply', () => {
  it('a page keeps the leading items that fit REPLY_BUDGET_BYTES, at least one', () => {
    const item = (kb: number) => ({ blob: 'x'.repeat(kb * 1024) });
    expect(itemsWithinBudget([])).toBe(0);
    expect(itemsWithinBudget([item(1), item(1)])).toBe(2);
    expect(itemsWithinBudget([item(300), item(300), item(300), item(1)])).toBe(2);
    expect(itemsWithinBudget([item(900), item(1)])).toBe(1);
    // bytes, not characters: 200 K three-byte characters are 600 KB
    expect(itemsWithinBudget([{ t: '€'.repeat(200_000) }, { t: '€'.repeat(200_000) }])).toBe(1);
  });

  it('a stored JSON object a caller gives is at most JSON_OBJECT_MAX_BYTES: params, a release\'s config, a schema, an output row', () => {
    const agentId = '5d0c0b3e-3b7a-4a3e-9d3a-9c1f1f6f0a11';
    const within = { b: 'x'.repeat(JSON_OBJECT_MAX_BYTES - 10) };
    const over = { b: 'x'.repeat(JSON_OBJECT_MAX_BYTES) };
    const first = (r: { error?: { issues: Array<{ path: PropertyKey[] }> } }) => r.error?.issues.map((i) => i.path.join('.'));
    expect(tasksContract.create.request.safeParse({ agentId, name: 'a', params: within }).success).toBe(true);
    expect(first(tasksContract.create.request.safeParse({ agentId, name: 'a', params: over }))).toEqual(['params']);
    expect(first(hooksContract.createRelease.request.safeParse({ name: 'h', image: 'i', digest: `sha256:${'b'.repeat(64)}`, config: over }))).toEqual(['config']);
    expect(first(hooksContract.addOutputs.request.safeParse({ runId: agentId, rows: [{}, over] }))).toEqual(['rows.1']);
    const convention = { slug: 's', schema: over, hooks: [{ name: 'h', feature: 'f', release: { image: 'i', digest: `sha256:${'b'.repeat(64)}` } }] };
    expect(first(hooksContract.deployConvention.request.safeParse(convention))).toEqual(['schema']);
  });

  it('counts UTF-8 bytes exactly where characters alone cannot tell: multi-byte text and surrogate pairs at the line', () => {
    const max = 30;
    // {"t":"…"} is 8 bytes around the text: 22 bytes of text fit, 23 do not
    expect(jsonBytes({ t: '€'.repeat(7) + 'x' })).toBe(30); // 8 characters that 3 × 8 > 30 cannot clear: counted
    expect(jsonWithin({ t: '€'.repeat(7) + 'x' }, max)).toBe(true);
    expect(jsonWithin({ t: '€'.repeat(7) + 'xy' }, max)).toBe(false);
    expect(jsonBytes({ t: '😀'.repeat(5) + 'xx' })).toBe(30); // 4 bytes per pair, 2 code units
    expect(jsonWithin({ t: '😀'.repeat(5) + 'xx' }, max)).toBe(true);
    expect(jsonWithin({ t: '😀'.repeat(6) }, max)).toBe(false);
    expect(jsonWithin({ t: '€'.repeat(10) }, 36)).toBe(false); // 18 characters, 38 bytes
    expect(jsonWithin({ t: 'x'.repeat(22) }, max)).toBe(true);
    expect(jsonWithin({ t: 'x'.repeat(23) }, max)).toBe(false);
    // the same as encoding the text, for any text
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom('x', 'é', '€', '😀', '\u0001'), maxLength: 40 }), fc.integer({ min: 0, max: 200 }), (t, m) => {
        const bytes = new TextEncoder().encode(JSON.stringify({ t })).length;
        return jsonBytes({ t }) === bytes && jsonWithin({ t }, m) === bytes <= m;
      }),
      { numRuns: 500 },
    );
  });

  it('a page far under the budget is kept whole without counting; one near it is counted item by item', () => {
    const small = Array.from({ length: 50 }, (_, i) => ({ i, t: 'é'.repeat(100) }));
    expect(itemsWithinBudget(small)).toBe(50);
    // 5 items of 40 two-byte characters: 3 × characters is over a budget of 400 bytes, the bytes (5 × 89) are not all in
    const near = Array.from({ length: 5 }, () => ({ t: 'é'.repeat(40) }));
    expect(jsonBytes(near[0])).toBe(88);
    expect(itemsWithinBudget(near, 400)).toBe(4);
    expect(itemsWithinBudget(near, 445)).toBe(5);
  });
});
