import { Controller } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import { Authenticated, CurrentPrincipal } from '@agentplane/auth';
import { workspacesContract, type RequestOf } from '@agentplane/contracts';
import type { Principal } from '@agentplane/domain';
import { Idempotent } from '@agentplane/idempotency';
import { zodPipe } from '@agentplane/messaging';
import { CreateWorkspace } from './create-workspace.js';
import { GetWorkspace } from './get-workspace.js';
import { Heartbeat } from './heartbeat.js';
import { ListWorkspaces } from './list-workspaces.js';
import { RemoveWorkspace } from './remove-workspace.js';

const c = workspacesContract;

/** Role rules that depend on the workspace (admin, its own service account) live in the use cases: NOT_FOUND first. */
@Controller()
export class WorkspacesRpc {
  constructor(
    private readonly createWorkspace: CreateWorkspace,
    private readonly getWorkspace: GetWorkspace,
    private readonly listWorkspaces: ListWorkspaces,
    private readonly removeWorkspace: RemoveWorkspace,
    private readonly heartbeat: Heartbeat,
  ) {}

  @Authenticated()
  @Idempotent()
  @MessagePattern(c.create.subject)
  create(@Payload(zodPipe(c.create.request)) body: RequestOf<typeof c.create>, @CurrentPrincipal() principal: Principal) {
    return this.createWorkspace.execute(principal, body);
  }

  @Authenticated()
  @MessagePattern(c.get.subject)
  get(@Payload(zodPipe(c.get.request)) body: RequestOf<typeof c.get>, @CurrentPrincipal() principal: Principal) {
    return this.getWorkspace.execute(principal, body);
  }

  @Authenticated()
  @MessagePattern(c.list.subject)
  list(@Payload(zodPipe(c.list.request)) body: RequestOf<typeof c.list>, @CurrentPrincipal() principal: Principal) {
    return this.listWorkspaces.execute(principal, body);
  }

  @Authenticated()
  @Idempotent()
  @MessagePattern(c.remove.subject)
  remove(@Payload(zodPipe(c.remove.request)) body: RequestOf<typeof c.remove>, @CurrentPrincipal() principal: Principal) {
    return this.removeWorkspace.execute(principal, body);
  }

  @Authenticated()
  @Idempotent()
  @MessagePattern(c.heartbeat.subject)
  beat(@Payload(zodPipe(c.heartbeat.request)) body: RequestOf<typeof c.heartbeat>, @CurrentPrincipal() principal: Principal) {
    return this.heartbeat.execute(principal, body);
  }
}
