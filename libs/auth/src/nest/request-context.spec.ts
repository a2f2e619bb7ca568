import { ExecutionContextHost } from '@nestjs/core/helpers/execution-context-host.js';
import { NatsContext } from '@nestjs/microservices';
import { headers as natsHeaders } from '@nats-io/nats-core';
import type { AuthConfig } from '../config.js';
import { signDevToken } from '../dev-token.js';
import { currentRequestContext, openRequestScope, type RequestContext } from '../request-context.js';
import { createTokenVerifier } from '../verifier.js';
import { AccessGuard } from './access.guard.js';
import { Authenticated, Public } from './access-rules.decorator.js';

const config: AuthConfig = { jwtSecret: 'ctx-test-secret-0123456789', issuer: 'agentplane', audience: 'agentplane', extraIssuers: [] };
const verifier = createTokenVerifier(config);
const guard = new AccessGuard(verifier);

class Rpc {
  @Authenticated()
  handle() {
    return 1;
  }

  @Public()
  open() {
    return 2;
  }
}

function rpcContext(token: string | undefined, requestId: string, handler: () => unknown = Rpc.prototype.handle) {
  const hdrs = natsHeaders();
  if (token) hdrs.set('authorization', `Bearer ${token}`);
  hdrs.set('x-request-id', requestId);
  const host = new ExecutionContextHost([{}, new NatsContext(['demo.v1.handle', hdrs])], Rpc, handler as never);
  host.setType('rpc');
  return host;
}

/** What the NATS server does per request: a scope of its own around the guard and the handler. */
function serve(ctx: ExecutionContextHost, handler: () => Promise<unknown>): Promise<unknown> {
  return openRequestScope(async () => {
    await guard.canActivate(ctx);
    return handler();
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('the request context (opened by the transport, filled by the AccessGuard)', () => {
  it('gives the handler (and what it awaits) the verified principal, raw token and request id; concurrent calls stay apart', async () => {
    const tokens = await Promise.all(['acme', 'globex'].map((tenant) => signDevToken({ secret: config.jwtSecret, issuer: 'agentplane', audience: 'agentplane', tenant, sub: 'u' })));
    const seen = await Promise.all(
      tokens.map((token, i) =>
        serve(rpcContext(token, `req-${i}`), async () => {
          // the second call's guard runs while the first one waits: each keeps its own
          await sleep(10 - i * 5);
          return currentRequestContext();
        }),
      ),
    );
    expect((seen as (RequestContext | undefined)[]).map((c) => [c?.principal.tenantId, c?.token, c?.requestId])).toEqual([
      ['acme', tokens[0], 'req-0'],
      ['globex', tokens[1], 'req-1'],
    ]);
    expect(currentRequestContext()).toBeUndefined();
  });

  it('carries the caller\'s request id only when well-formed, as the log line takes it: never any text of any length', async () => {
    const token = await signDevToken({ secret: config.jwtSecret, issuer: 'agentplane', audience: 'agentplane', tenant: 'acme', sub: 'u' });
    const idOf = (requestId: string) => serve(rpcContext(token, requestId), async () => currentRequestContext()?.requestId);
    expect(await idOf('r-1.a:b_C')).toBe('r-1.a:b_C');
    for (const bad of [`<script> ${'x'.repeat(5000)}`, 'x'.repeat(129), 'a b', 'r-1, r-2']) expect(await idOf(bad)).toBeUndefined();
  });

  it('a public handler, and a handler before its guard, have no context', async () => {
    expect(await serve(rpcContext(undefined, 'req-p', Rpc.prototype.open), async () => currentRequestContext())).toBeUndefined();
    expect(await openRequestScope(async () => currentRequestContext())).toBeUndefined();
  });

  it('without a scope, the guard names no one (nothing outlives a request)', async () => {
    const token = await signDevToken({ secret: config.jwtSecret, issuer: 'agentplane', audience: 'agentplane', tenant: 'acme', sub: 'u' });
    await guard.canActivate(rpcContext(token, 'req-x'));
    expect(currentRequestContext()).toBeUndefined();
  });
});
