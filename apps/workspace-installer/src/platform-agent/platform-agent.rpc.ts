import { Controller } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import { CurrentPrincipal, RequiresRole } from '@agentplane/auth';
import { workspacesContract, type RequestOf } from '@agentplane/contracts';
import type { Principal } from '@agentplane/domain';
import { Idempotent } from '@agentplane/idempotency';
import { zodPipe } from '@agentplane/messaging';
import { InstallPlatformAgent } from './install-platform-agent.js';

const c = workspacesContract;

@Controller()
export class PlatformAgentRpc {
  constructor(private readonly installPlatformAgent: InstallPlatformAgent) {}

  /** Always into the caller's own org: there is no org parameter to point at another tenant. */
  @RequiresRole('admin')
  @Idempotent()
  @MessagePattern(c.installPlatformAgent.subject)
  install(@Payload(zodPipe(c.installPlatformAgent.request)) body: RequestOf<typeof c.installPlatformAgent>, @CurrentPrincipal() principal: Principal) {
    return this.installPlatformAgent.execute(principal, body);
  }
}
