import { DomainError, ERROR_CODES } from '@agentplane/domain';
import { EnvelopeSerializer, JsonRequestDeserializer, RpcReply } from './serializer.js';
import { InvalidPayload } from './json-body.js';
import { httpStatusOf } from './http-status.js';
import { normaliseError } from './errors.js';
import { ZodPipe } from './zod.pipe.js';
import { z } from 'zod';

const msg = (data: string) =>
  ({
    subject: 'p.tasks.v1.create',
    data: new TextEncoder().encode(data),
    json: () => JSON.parse(data),
  }) as never;

describe('plain-JSON wire', () => {
  const ser = new EnvelopeSerializer();
  const de = new JsonRequestDeserializer();

  it('passes the request body through as the payload, with an id only when a reply is expected', () => {
    const req = de.deserialize(msg('{"name":"a"}'), { channel: 'tasks.v1.create', replyTo: '_INBOX.1' });
    expect(req).toMatchObject({ pattern: 'tasks.v1.create', data: { name: 'a' } });
    expect(req.id).toBeDefined();
    expect(de.deserialize(msg('{}'), { channel: 'x' }).id).toBeUndefined();
  });

  it('marks bytes that are not JSON, and reads an empty body as {}', () => {
    const bad = de.deserialize(msg('{"name":'), { channel: 'x', replyTo: 'r' }).data;
    expect(bad).toEqual(new InvalidPayload('the body is not valid JSON'));
    expect(de.deserialize(msg(''), { channel: 'x', replyTo: 'r' }).data).toEqual({});
    expect(() => new ZodPipe(z.object({})).transform(bad)).toThrow(expect.objectContaining({ code: 'VALIDATION', details: { issues: [{ path: '', message: 'the body is not valid JSON' }] } }));
  });

  it('reads a message as the HTTP body parser reads a body: UTF-8 only, no prototype key', () => {
    const raw = (data: Uint8Array) => ({ subject: 'x', data, json: () => undefined }) as never;
    expect(de.deserialize(raw(Buffer.from('{"name":"caf\u00e9"}', 'latin1')), { channel: 'x', replyTo: 'r' }).data).toEqual(new InvalidPayload('the body is not valid UTF-8 (JSON text is UTF-8)'));
    expect(de.deserialize(raw(Buffer.from('{"name":"café"}', 'utf8')), { channel: 'x', replyTo: 'r' }).data).toEqual({ name: 'café' });
    expect(de.deserialize(raw(Buffer.from('{"p":{"__proto__":{"a":1}}}')), { channel: 'x', replyTo: 'r' }).data).toEqual(new InvalidPayload('a "__proto__" or "constructor.prototype" key is not accepted'));
  });

  it('reads no payload as {}, but a JSON null as what it is: not an object, VALIDATION', () => {
    const pipe = new ZodPipe(z.object({ limit: z.number().optional() }).strict());
    expect(pipe.transform(undefined)).toEqual({});
    expect(pipe.transform(de.deserialize(msg(''), { channel: 'x', replyTo: 'r' }).data)).toEqual({});
    expect(() => pipe.transform(null)).toThrow(expect.objectContaining({ code: 'VALIDATION', details: { issues: [{ path: '', message: expect.stringContaining('null') }] } }));
  });

  it('wraps results and errors in the envelope, with no Nest packet fields', () => {
    expect(JSON.parse(ser.serialize({ id: '1', response: { a: 1 }, isDisposed: true }).data)).toEqual({ ok: true, data: { a: 1 } });
    const err = new DomainError('NOT_FOUND', 'nope').toBody();
    expect(JSON.parse(ser.serialize({ id: '1', err, isDisposed: true }).data)).toEqual({ ok: false, error: { code: 'NOT_FOUND', message: 'nope' } });
    expect(JSON.parse(ser.serialize({ id: '1', err: new Error('secret SQL'), isDisposed: true }).data)).toEqual({
      ok: false,
      error: { code: 'INTERNAL', message: 'internal error' },
    });
  });

  it('sets reply headers from an RpcReply', () => {
    const out = ser.serialize({ id: '1', response: new RpcReply({ a: 1 }, { 'idempotent-replayed': 'true' }) });
    expect(JSON.parse(out.data)).toEqual({ ok: true, data: { a: 1 } });
    expect(out.headers?.get('idempotent-replayed')).toBe('true');
  });
});

describe('errors', () => {
  it('maps every code to an HTTP status', () => {
    const statuses = Object.fromEntries(ERROR_CODES.map((c) => [c, httpStatusOf(c)]));
    expect(statuses).toEqual({
      VALIDATION: 400,
      UNAUTHENTICATED: 401,
      FORBIDDEN: 403,
      NOT_FOUND: 404,
      CONFLICT: 409,
      IDEMPOTENCY_IN_PROGRESS: 409,
      IDEMPOTENCY_MISMATCH: 422,
      UNAVAILABLE: 503,
      INTERNAL: 500,
    });
  });

  it('hides an unexpected error behind an errorId', () => {
    const n = normaliseError(new Error('relation "agents" does not exist'));
    expect(n.body.code).toBe('INTERNAL');
    expect(n.body.errorId).toMatch(/^[0-9a-f-]{36}$/);
    expect(JSON.stringify(n.body)).not.toContain('agents');
    expect(n.unexpected).toBeInstanceOf(Error);
  });

  it('keeps a domain error as it is', () => {
    expect(normaliseError(new DomainError('CONFLICT', 'taken', { field: 'name' }))).toEqual({
      body: { code: 'CONFLICT', message: 'taken', details: { field: 'name' } },
    });
  });
});
