import { Controller } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import { Authenticated, CurrentPrincipal } from '@agentplane/auth';
import { authzContract, type RequestOf } from '@agentplane/contracts';
import type { Principal } from '@agentplane/domain';
import { Idempotent } from '@agentplane/idempotency';
import { zodPipe } from '@agentplane/messaging';
import { DeregisterResource } from './deregister-resource.js';
import { ExplainAccess } from './explain-access.js';
import { GrantAccess } from './grant-access.js';
import { GrantAudit } from './grant-audit.js';
import { LookupResources } from './lookup-resources.js';
import { RegisterResource } from './register-resource.js';
import { RevokeAccess } from './revoke-access.js';
import { SetTenantMode } from './set-tenant-mode.js';
import { TenantStatus } from './tenant-status.js';

const c = authzContract;

/**
 * authz.v1.* over NATS, except `check` (see CheckResponder: the hot path skips Nest's pipeline); who may do what beyond a valid token is decided in each use case. Mutations honour the
 * `idempotency-key` header (register, deregister and grant store their response in their own transaction).
 */
@Controller()
@Authenticated()
export class AuthzRpc {
  constructor(
    private readonly lookupResources: LookupResources,
    private readonly explainAccess: ExplainAccess,
    private readonly registerResource: RegisterResource,
    private readonly deregisterResource: DeregisterResource,
    private readonly grantAccess: GrantAccess,
    private readonly revokeAccess: RevokeAccess,
    private readonly setTenantMode: SetTenantMode,
    private readonly tenantStatus: TenantStatus,
    private readonly grantAudit: GrantAudit,
  ) {}

  @MessagePattern(c.lookup.subject)
  lookup(@Payload(zodPipe(c.lookup.request)) body: RequestOf<typeof c.lookup>, @CurrentPrincipal() principal: Principal) {
    return this.lookupResources.execute(principal, body);
  }

  @MessagePattern(c.explain.subject)
  explain(@Payload(zodPipe(c.explain.request)) body: RequestOf<typeof c.explain>, @CurrentPrincipal() principal: Principal) {
    return this.explainAccess.execute(principal, body);
  }

  @Idempotent({ mode: 'transaction' })
  @MessagePattern(c.register.subject)
  register(@Payload(zodPipe(c.register.request)) body: RequestOf<typeof c.register>, @CurrentPrincipal() principal: Principal) {
    return this.registerResource.execute(principal, body);
  }

  @Idempotent({ mode: 'transaction' })
  @MessagePattern(c.deregister.subject)
  deregister(@Payload(zodPipe(c.deregister.request)) body: RequestOf<typeof c.deregister>, @CurrentPrincipal() principal: Principal) {
    return this.deregisterResource.execute(principal, body);
  }

  @Idempotent({ mode: 'transaction' })
  @MessagePattern(c.grant.subject)
  grant(@Payload(zodPipe(c.grant.request)) body: RequestOf<typeof c.grant>, @CurrentPrincipal() principal: Principal) {
    return this.grantAccess.execute(principal, body);
  }

  @Idempotent()
  @MessagePattern(c.revoke.subject)
  revoke(@Payload(zodPipe(c.revoke.request)) body: RequestOf<typeof c.revoke>, @CurrentPrincipal() principal: Principal) {
    return this.revokeAccess.execute(principal, body);
  }

  @Idempotent()
  @MessagePattern(c.setMode.subject)
  setMode(@Payload(zodPipe(c.setMode.request)) body: RequestOf<typeof c.setMode>, @CurrentPrincipal() principal: Principal) {
    return this.setTenantMode.execute(principal, body);
  }

  @MessagePattern(c.listGrants.subject)
  listGrants(@Payload(zodPipe(c.listGrants.request)) body: RequestOf<typeof c.listGrants>, @CurrentPrincipal() principal: Principal) {
    return this.grantAudit.grants(principal, body);
  }

  @MessagePattern(c.grantHistory.subject)
  grantHistory(@Payload(zodPipe(c.grantHistory.request)) body: RequestOf<typeof c.grantHistory>, @CurrentPrincipal() principal: Principal) {
    return this.grantAudit.history(principal, body);
  }

  @MessagePattern(c.tenantStatus.subject)
  status(@Payload(zodPipe(c.tenantStatus.request)) body: RequestOf<typeof c.tenantStatus>, @CurrentPrincipal() principal: Principal) {
    return this.tenantStatus.execute(principal, body);
  }
}
