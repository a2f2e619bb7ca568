import { ExecutionContextHost } from '@nestjs/core/helpers/execution-context-host.js';
import { NatsContext } from '@nestjs/microservices';
import { headers as natsHeaders } from '@nats-io/nats-core';
import { lastValueFrom, defer } from 'rxjs';
import type { AuthConfig } from '../config.js';
import { signDevToken } from '../dev-token.js';
import { currentRequestContext, type RequestContext } from '../request-context.js';
import { createTokenVerifier } from '../verifier.js';
import { AccessGuard } from './access.guard.js';
import { Authenticated } from './access-rules.decorator.js';
import { RequestContextInterceptor } from './request-context.interceptor.js';

const config: AuthConfig = { jwtSecret: 'ctx-test-secret-0123456789', issuer: 'agentplane', audience: 'agentplane', extraIssuers: [] };
const verifier = createTokenVerifier(config);
const guard = new AccessGuard(verifier);
const interceptor = new RequestContextInterceptor();

class Rpc {
  @Authenticated()
  handle() {
    return 1;
  }
}

function rpcContext(token: string, requestId: string) {
  const hdrs = natsHeaders();
  hdrs.set('authorization', `Bearer ${token}`);
  hdrs.set('x-request-id', requestId);
  const host = new ExecutionContextHost([{}, new NatsContext(['demo.v1.handle', hdrs])], Rpc, Rpc.prototype.handle);
  host.setType('rpc');
  return host;
}

describe('RequestContextInterceptor', () => {
  it('gives the handler (and what it awaits) the verified principal, raw token and request id; concurrent calls stay apart', async () => {
    const tokens = await Promise.all(['acme', 'globex'].map((tenant) => signDevToken({ secret: config.jwtSecret, issuer: 'agentplane', audience: 'agentplane', tenant, sub: 'u' })));
    const seen = await Promise.all(
      tokens.map(async (token, i) => {
        const ctx = rpcContext(token, `req-${i}`);
        await guard.canActivate(ctx);
        const handler = { handle: () => defer(async () => { await new Promise((r) => setTimeout(r, 10 - i * 5)); return currentRequestContext(); }) };
        return (await lastValueFrom(interceptor.intercept(ctx, handler))) as RequestContext | undefined;
      }),
    );
    expect(seen.map((c) => [c?.principal.tenantId, c?.token, c?.requestId])).toEqual([
      ['acme', tokens[0], 'req-0'],
      ['globex', tokens[1], 'req-1'],
    ]);
    expect(currentRequestContext()).toBeUndefined();
  });
});
