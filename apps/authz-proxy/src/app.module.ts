import { Module, type DynamicModule } from '@nestjs/common';
import { serviceShell } from '@agentplane/service-shell';
import { PrismaClient } from '@agentplane/db-authz-proxy';
import { AUTHZ_SETTINGS, SERVICE, type ServiceConfig } from './config.js';
import { AuthzRpc } from './authz/authz.rpc.js';
import { ResourceEventsConsumer } from './authz/authz.events.js';
import { CheckAccess } from './authz/check-access.js';
import { CheckResponder } from './authz/check.responder.js';
import { RevisionAnnouncer } from './authz/revision.announcer.js';
import { DeregisterResource } from './authz/deregister-resource.js';
import { ExplainAccess } from './authz/explain-access.js';
import { GrantAccess } from './authz/grant-access.js';
import { LookupResources } from './authz/lookup-resources.js';
import { RegisterResource } from './authz/register-resource.js';
import { ResourceFactsClient } from './authz/resource-facts.client.js';
import { RevokeAccess } from './authz/revoke-access.js';
import { SetTenantMode } from './authz/set-tenant-mode.js';
import { TenantStatus } from './authz/tenant-status.js';
import { GrantAudit } from './authz/grant-audit.js';
import { AuthzRetention } from './authz/retention.js';
import { ReadPool, TuplesRepository } from './authz/tuples.repository.js';

@Module({})
export class AppModule {
  static forRoot(config: ServiceConfig, opts: { logDestination?: NodeJS.WritableStream } = {}): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ...serviceShell({ service: SERVICE, config, client: PrismaClient, logDestination: opts.logDestination }),
      ],
      controllers: [AuthzRpc],
      providers: [
        { provide: AUTHZ_SETTINGS, useValue: config.authz },
        { provide: ReadPool, useFactory: () => new ReadPool({ url: config.database.url, max: config.database.poolMax }) },
        TuplesRepository,
        ResourceFactsClient,
        CheckAccess,
        CheckResponder,
        RevisionAnnouncer,
        LookupResources,
        ExplainAccess,
        RegisterResource,
        DeregisterResource,
        GrantAccess,
        RevokeAccess,
        SetTenantMode,
        TenantStatus,
        GrantAudit,
        ResourceEventsConsumer,
        AuthzRetention,
      ],
    };
  }
}
