import { Controller } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import { Authenticated, CurrentPrincipal } from '@agentplane/auth';
import { tasksContract, type RequestOf } from '@agentplane/contracts';
import type { Principal } from '@agentplane/domain';
import { Idempotent } from '@agentplane/idempotency';
import { zodPipe } from '@agentplane/messaging';
import { CreateAgent } from './create-agent.js';
import { GetAgent } from './get-agent.js';
import { ListAgents } from './list-agents.js';
import { AgentStats } from './agent-stats.js';

const c = tasksContract;

@Controller()
export class AgentsRpc {
  constructor(
    private readonly createAgent: CreateAgent,
    private readonly getAgent: GetAgent,
    private readonly listAgents: ListAgents,
    private readonly agentStats: AgentStats,
  ) {}

  @Authenticated()
  @Idempotent({ mode: 'transaction' })
  @MessagePattern(c.createAgent.subject)
  create(@Payload(zodPipe(c.createAgent.request)) body: RequestOf<typeof c.createAgent>, @CurrentPrincipal() principal: Principal) {
    return this.createAgent.execute(principal, body);
  }

  @Authenticated()
  @MessagePattern(c.getAgent.subject)
  get(@Payload(zodPipe(c.getAgent.request)) body: RequestOf<typeof c.getAgent>, @CurrentPrincipal() principal: Principal) {
    return this.getAgent.execute(principal, body);
  }

  @Authenticated()
  @MessagePattern(c.getAgentByName.subject)
  getByName(@Payload(zodPipe(c.getAgentByName.request)) body: RequestOf<typeof c.getAgentByName>, @CurrentPrincipal() principal: Principal) {
    return this.getAgent.execute(principal, body);
  }

  @Authenticated()
  @MessagePattern(c.listAgents.subject)
  list(@Payload(zodPipe(c.listAgents.request)) body: RequestOf<typeof c.listAgents>, @CurrentPrincipal() principal: Principal) {
    return this.listAgents.execute(principal, body);
  }

  @Authenticated()
  @MessagePattern(c.agentStats.subject)
  stats(@Payload(zodPipe(c.agentStats.request)) body: RequestOf<typeof c.agentStats>, @CurrentPrincipal() principal: Principal) {
    return this.agentStats.execute(principal, body);
  }
}
