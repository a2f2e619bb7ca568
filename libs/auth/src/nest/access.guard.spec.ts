import { DomainError, type Principal } from '@agentplane/domain';
import { ExecutionContextHost } from '@nestjs/core/helpers/execution-context-host.js';
import { ROUTE_ARGS_METADATA } from '@nestjs/common/constants.js';
import { NatsContext } from '@nestjs/microservices';
import { headers as natsHeaders } from '@nats-io/nats-core';
import type { AuthConfig } from '../config.js';
import { signDevToken } from '../dev-token.js';
import { createTokenVerifier } from '../verifier.js';
import { AccessGuard, readHeader } from './access.guard.js';
import { Public, RequiresScope } from './access-rules.decorator.js';
import { CurrentPrincipal, getPrincipal } from './principal-context.js';

const config: AuthConfig = { jwtSecret: 'rpc-test-secret-0123456789', issuer: 'agentplane', audience: 'agentplane', extraIssuers: [] };
const verifier = createTokenVerifier(config);
const guard = new AccessGuard(verifier);
const token = (scopes: string[] = []) =>
  signDevToken({ secret: config.jwtSecret, issuer: 'agentplane', audience: 'agentplane', tenant: 'acme', sub: 'ci', serviceAccount: true, scopes });

class HooksRpc {
  @RequiresScope('hooks:write')
  createRelease(_data: unknown, _principal: Principal) {
    return 1;
  }

  @Public()
  ping() {
    return 1;
  }

  undeclared() {
    return 1;
  }
}
// Applied by hand so the spec needs no @MessagePattern wiring: index 1 is the principal.
CurrentPrincipal()(HooksRpc.prototype, 'createRelease', 1);

function rpcContext(handler: keyof HooksRpc, authorization?: string) {
  const hdrs = natsHeaders();
  if (authorization !== undefined) hdrs.set('authorization', authorization);
  const nats = new NatsContext(['hooks.v1.create_release', hdrs]);
  const host = new ExecutionContextHost([{ name: 'x' }, nats], HooksRpc, HooksRpc.prototype[handler]);
  host.setType('rpc');
  return host;
}

/** The function Nest calls to resolve @CurrentPrincipal() for a handler argument. */
function principalParam(context: ExecutionContextHost): unknown {
  const args = Reflect.getMetadata(ROUTE_ARGS_METADATA, HooksRpc, 'createRelease') as Record<string, { factory: (d: unknown, c: unknown) => unknown }>;
  return Object.values(args)[0]!.factory(undefined, context);
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(DomainError);
    return (err as DomainError).code;
  }
  return 'ALLOWED';
}

describe('AccessGuard over NATS (rpc context)', () => {
  it('verifies the authorization header and hands the principal to @CurrentPrincipal()', async () => {
    const context = rpcContext('createRelease', `Bearer ${await token(['hooks:write'])}`);
    await expect(guard.canActivate(context)).resolves.toBe(true);
    expect(principalParam(context)).toEqual({
      kind: 'service_account',
      tenantId: 'acme',
      serviceAccountId: 'ci',
      roles: [],
      scopes: ['hooks:write'],
      issuer: 'agentplane',
    });
  });

  it('keeps principals of concurrent messages apart', async () => {
    const a = rpcContext('createRelease', `Bearer ${await token(['hooks:write'])}`);
    const b = rpcContext('createRelease', `Bearer ${await signDevToken({ secret: config.jwtSecret, issuer: 'agentplane', audience: 'agentplane', tenant: 'beta', sub: 'u2', roles: ['admin'] })}`);
    await Promise.all([guard.canActivate(a), guard.canActivate(b)]);
    expect(getPrincipal(a)?.tenantId).toBe('acme');
    expect(getPrincipal(b)?.tenantId).toBe('beta');
  });

  it('answers UNAUTHENTICATED without a token or with a bad one', async () => {
    expect(await codeOf(guard.canActivate(rpcContext('createRelease')))).toBe('UNAUTHENTICATED');
    expect(await codeOf(guard.canActivate(rpcContext('createRelease', 'Basic abc')))).toBe('UNAUTHENTICATED');
    expect(await codeOf(guard.canActivate(rpcContext('createRelease', 'Bearer not.a.token')))).toBe('UNAUTHENTICATED');
    const unauth = rpcContext('createRelease');
    await guard.canActivate(unauth).catch(() => undefined);
    expect(() => principalParam(unauth)).toThrow(DomainError);
  });

  it('answers FORBIDDEN without the scope', async () => {
    expect(await codeOf(guard.canActivate(rpcContext('createRelease', `Bearer ${await token(['conventions:write'])}`)))).toBe('FORBIDDEN');
  });

  it('lets a @Public() handler through without a token, and fails closed on an undeclared one', async () => {
    await expect(guard.canActivate(rpcContext('ping'))).resolves.toBe(true);
    expect(await codeOf(guard.canActivate(rpcContext('undeclared', `Bearer ${await token()}`)))).toBe('FORBIDDEN');
  });
});

describe('readHeader', () => {
  it('reads NATS headers and plain objects case-insensitively', () => {
    const hdrs = natsHeaders();
    hdrs.set('Authorization', 'Bearer x');
    expect(readHeader(new NatsContext(['s', hdrs]), 'authorization')).toBe('Bearer x');
    expect(readHeader(new NatsContext(['s', undefined]), 'authorization')).toBeUndefined();
    expect(readHeader({ getHeaders: () => ({ AUTHORIZATION: 'Bearer y' }) }, 'authorization')).toBe('Bearer y');
    expect(readHeader(undefined, 'authorization')).toBeUndefined();
  });

  it('joins the values of a header given more than once, in any case, as HTTP joins one field\'s lines', () => {
    const hdrs = natsHeaders();
    hdrs.append('idempotency-key', 'k1');
    hdrs.append('idempotency-key', 'k2');
    hdrs.append('Idempotency-Key', 'k3');
    expect(readHeader(new NatsContext(['s', hdrs]), 'idempotency-key')).toBe('k1, k2, k3');
    expect(readHeader({ getHeaders: () => ({ 'x-a': ['1', '2'], 'X-A': '3' }) }, 'x-a')).toBe('1, 2, 3');
  });
});
