import { Module, type DynamicModule } from '@nestjs/common';
import type { NatsConnection } from '@nats-io/transport-node';
import { AuthModule } from '@agentplane/auth';
import { PrismaClient } from '@agentplane/db-authz-proxy';
import { IdempotencyModule } from '@agentplane/idempotency';
import { MessagingModule, NATS_CONNECTION, pingNats } from '@agentplane/messaging';
import { HealthModule, MetricsModule, READINESS_CHECKS, loggingModule } from '@agentplane/observability';
import { pingDatabase, prismaModule } from '@agentplane/persistence';
import { AUTHZ_SETTINGS, SERVICE, type ServiceConfig } from './config.js';
import { AuthzRpc } from './authz/authz.rpc.js';
import { ResourceEventsConsumer } from './authz/authz.events.js';
import { CheckAccess } from './authz/check-access.js';
import { CheckResponder } from './authz/check.responder.js';
import { DeregisterResource } from './authz/deregister-resource.js';
import { GrantAccess } from './authz/grant-access.js';
import { LookupResources } from './authz/lookup-resources.js';
import { RegisterResource } from './authz/register-resource.js';
import { RevokeAccess } from './authz/revoke-access.js';
import { SetTenantMode } from './authz/set-tenant-mode.js';
import { ReadPool, TuplesRepository } from './authz/tuples.repository.js';

@Module({})
export class AppModule {
  static forRoot(config: ServiceConfig, opts: { logDestination?: NodeJS.WritableStream } = {}): DynamicModule {
    return {
      module: AppModule,
      imports: [
        loggingModule({ service: SERVICE, level: config.logLevel, destination: opts.logDestination }),
        MetricsModule.forRoot(SERVICE),
        MessagingModule.forRoot({ ...config.nats, name: SERVICE }),
        AuthModule.forRoot(config.auth),
        prismaModule(PrismaClient, { url: config.database.url, poolMax: config.database.poolMax }),
        IdempotencyModule.forRoot({ client: PrismaClient, config: config.idempotency }),
        HealthModule.forRoot({
          provide: READINESS_CHECKS,
          useFactory: (db: PrismaClient, nc: NatsConnection) => [
            { name: 'database', check: () => pingDatabase(db) },
            { name: 'nats', check: () => pingNats(nc) },
          ],
          inject: [PrismaClient, NATS_CONNECTION],
        }),
      ],
      controllers: [AuthzRpc],
      providers: [
        { provide: AUTHZ_SETTINGS, useValue: config.authz },
        { provide: ReadPool, useFactory: () => new ReadPool({ url: config.database.url, max: config.database.poolMax }) },
        TuplesRepository,
        CheckAccess,
        CheckResponder,
        LookupResources,
        RegisterResource,
        DeregisterResource,
        GrantAccess,
        RevokeAccess,
        SetTenantMode,
        ResourceEventsConsumer,
      ],
    };
  }
}
