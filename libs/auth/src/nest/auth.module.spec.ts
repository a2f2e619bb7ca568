import { isDomainError, subjectOf, type Principal } from '@agentplane/domain';
import { Catch, Controller, Get, Module, Post, type ArgumentsHost, type ExceptionFilter } from '@nestjs/common';
import { MessagePattern } from '@nestjs/microservices';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import type { AuthConfig } from '../config.js';
import { signDevToken } from '../dev-token.js';
import { Authenticated, Public, RequiresRole, RequiresScope } from './access-rules.decorator.js';
import { AuthModule } from './auth.module.js';
import { CurrentPrincipal } from './principal-context.js';

const config: AuthConfig = { jwtSecret: 'nest-test-secret-0123456789', issuer: 'agentplane', audience: 'agentplane', extraIssuers: [] };
const token = (over: { roles?: string[]; scopes?: string[]; serviceAccount?: boolean; secret?: string } = {}) =>
  signDevToken({ secret: config.jwtSecret, issuer: config.issuer, audience: config.audience, tenant: 'acme', sub: 'u1', ...over });

/** Stand-in for the gateway's filter: the code is what this test asserts on. */
@Catch()
class CodeFilter implements ExceptionFilter {
  catch(err: unknown, host: ArgumentsHost) {
    const reply = host.switchToHttp().getResponse<{ status(n: number): { send(b: unknown): void } }>();
    if (isDomainError(err)) reply.status(err.code === 'FORBIDDEN' ? 403 : err.code === 'UNAUTHENTICATED' ? 401 : 400).send({ code: err.code, message: err.message });
    else reply.status(500).send({ code: 'INTERNAL', message: String(err) });
  }
}

@Controller('hooks')
@Authenticated()
class HooksController {
  @Get()
  list(@CurrentPrincipal() principal: Principal) {
    return { subject: subjectOf(principal), kind: principal.kind };
  }

  @Post('releases')
  @RequiresScope('hooks:write')
  release(@CurrentPrincipal() principal: Principal) {
    return { subject: subjectOf(principal) };
  }

  @Post('live')
  @RequiresRole('admin')
  setLive() {
    return { ok: true };
  }

  @Get('healthz')
  @Public()
  health() {
    return { ok: true };
  }

  /** Not a handler: needs no rule. */
  helper() {
    return 1;
  }
}

async function boot(controllers: Array<new (...args: never[]) => unknown>): Promise<NestFastifyApplication> {
  @Module({ imports: [AuthModule.forRoot(config)], controllers })
  class AppModule {}
  const moduleRef = await Test.createTestingModule({ imports: [AppModule] }).compile();
  const app = moduleRef.createNestApplication<NestFastifyApplication>(new FastifyAdapter(), { logger: false });
  app.useGlobalFilters(new CodeFilter());
  await app.init();
  return app;
}

describe('AuthModule over HTTP', () => {
  let app: NestFastifyApplication;
  let base: string;
  beforeAll(async () => {
    app = await boot([HooksController]);
    // Real HTTP, not inject(): light-my-request require()s an ESM-only package that Jest's ESM runtime cannot load.
    await app.listen(0, '127.0.0.1');
    base = await app.getUrl();
  });
  afterAll(() => app.close());

  const call = async (method: 'GET' | 'POST', url: string, bearer?: string) => {
    const res = await fetch(base + url, { method, headers: bearer ? { authorization: `Bearer ${bearer}` } : {} });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };

  it('admits a token with the scope on a scope-gated route, with its principal', async () => {
    expect(await call('POST', '/hooks/releases', await token({ scopes: ['hooks:write'] }))).toEqual({ status: 201, body: { subject: 'user:u1' } });
  });

  it('admits an admin without the scope', async () => {
    expect((await call('POST', '/hooks/releases', await token({ roles: ['admin'] }))).status).toBe(201);
  });

  it('refuses a token without the scope as FORBIDDEN', async () => {
    const res = await call('POST', '/hooks/releases', await token({ scopes: ['conventions:write'] }));
    expect(res).toEqual({ status: 403, body: { code: 'FORBIDDEN', message: 'requires scope hooks:write' } });
  });

  it('applies role rules, with admin only passing as admin', async () => {
    expect((await call('POST', '/hooks/live', await token({ scopes: ['hooks:write'] }))).body['code']).toBe('FORBIDDEN');
    expect((await call('POST', '/hooks/live', await token({ roles: ['admin'] }))).status).toBe(201);
  });

  it('applies the class-level rule to handlers without their own', async () => {
    expect(await call('GET', '/hooks', await token({ serviceAccount: true }))).toEqual({
      status: 200,
      body: { subject: 'service_account:u1', kind: 'service_account' },
    });
  });

  it('answers UNAUTHENTICATED without a token, with a bad one, or with a token outside the header', async () => {
    expect((await call('GET', '/hooks')).body['code']).toBe('UNAUTHENTICATED');
    expect((await call('GET', '/hooks', await token({ secret: 'some-other-secret-0123456789' }))).body).toEqual({
      code: 'UNAUTHENTICATED',
      message: 'invalid signature',
    });
    const res = await fetch(`${base}/hooks?access_token=${await token()}`);
    expect(await res.json()).toMatchObject({ code: 'UNAUTHENTICATED' });
  });

  it('lets anyone call a @Public() route', async () => {
    expect(await call('GET', '/hooks/healthz')).toEqual({ status: 200, body: { ok: true } });
  });
});

describe('AccessRuleAuditor', () => {
  it('refuses to start an app with an undeclared route handler, naming it', async () => {
    @Controller('tasks')
    class TasksController {
      @Get(':id')
      @Authenticated()
      get() {
        return {};
      }

      @Post()
      create() {
        return {};
      }
    }
    await expect(boot([TasksController])).rejects.toThrow(/access rule missing on TasksController\.create:/);
  });

  it('refuses to start an app with an undeclared @MessagePattern handler, naming it', async () => {
    @Controller()
    class TasksRpc {
      @MessagePattern('tasks.v1.get')
      @RequiresScope('tasks:read')
      get() {
        return {};
      }

      @MessagePattern('tasks.v1.cancel')
      cancel() {
        return {};
      }
    }
    await expect(boot([TasksRpc])).rejects.toThrow(/access rule missing on TasksRpc\.cancel:/);
  });

  it('starts when every handler declares a rule at method or class level', async () => {
    @Controller()
    @Authenticated()
    class TasksRpc {
      @MessagePattern('tasks.v1.list')
      list() {
        return {};
      }
    }
    const app = await boot([TasksRpc, HooksController]);
    await app.close();
  });

  it('refuses @Public() combined with another rule where it is written', () => {
    expect(() => {
      class Bad {
        @Public()
        @Authenticated()
        handler() {
          return 1;
        }
      }
      return Bad;
    }).toThrow(/cannot be combined/);
  });
});
