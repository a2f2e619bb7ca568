import { Injectable } from '@nestjs/common';
import { AuthzClient } from '@agentplane/authz-client';
import { DomainError, resourceRef, subjectOf, type Principal } from '@agentplane/domain';
import type { Action } from '@agentplane/contracts';
import { TasksRepository } from './tasks.repository.js';
import { creatorSubject, type TaskRow } from './task.js';

/**
 * Access to agents and tasks with 404-not-403 semantics (DESIGN §3). The creator of a row is its owner; until the
 * authz proxy has applied the row's registration (outbox mode: a window of a relay poll), the owner is recognised
 * from the row itself, so a creator can always read, cancel and delete what it just created. Everyone else is
 * decided by the authz proxy. Rows are always looked up in the caller's tenant, so nothing crosses tenants.
 */
/** Whether the caller created the row (its creator's subject): the system principal owns nothing. */
function owns(principal: Principal, creator: string | null | undefined): boolean {
  return !!creator && principal.kind !== 'system' && creator === subjectOf(principal);
}

@Injectable()
export class TaskAccess {
  constructor(
    private readonly authz: AuthzClient,
    private readonly tasks: TasksRepository,
  ) {}

  /** `action` on the agent, which is returned (its max_concurrency, set when it was created, spares a claim a read). */
  async require(principal: Principal, action: Action, agentId: string): Promise<{ id: string; createdBy: string | null; maxConcurrency: number | null }> {
    const agent = await this.tasks.agentInTenant(principal.tenantId, agentId);
    if (!agent) throw new DomainError('NOT_FOUND', 'agent not found');
    await this.requireOnAgent(principal, action, agent);
    return agent;
  }

  /**
   * `action` on an agent already read (an agent is never deleted nor moved): a long-poll asks again after each wait,
   * so a grant revoked while it waited ends it instead of handing out work, or showing a task, the caller may no
   * longer have. Asking again is a decision-cache hit unless a grant changed meanwhile.
   */
  async requireOnAgent(principal: Principal, action: Action, agent: { id: string; createdBy: string | null }): Promise<void> {
    if (owns(principal, agent.createdBy)) return;
    await this.authz.require(principal, action, resourceRef('agent', agent.id));
  }

  async requireOnTask(principal: Principal, action: Action, task: TaskRow): Promise<void> {
    if (owns(principal, creatorSubject(task))) return;
    await this.authz.require(principal, action, resourceRef('task', task.id));
  }

  /**
   * `execute` on a task, for a worker's heartbeat, complete and fail. A grant on the agent covers its tasks (parent),
   * so it is asked first: a worker that claimed a task a moment after its create need not wait for the task's own
   * registration to land (it gains nothing it would not have once it has). Failing that, the task itself decides,
   * with its 404-not-403 answer.
   */
  async requireExecute(principal: Principal, task: TaskRow): Promise<void> {
    if (principal.kind === 'system' || owns(principal, creatorSubject(task))) return;
    if ((await this.authz.check(principal, 'execute', resourceRef('agent', task.agentId))).allowed) return;
    await this.authz.require(principal, 'execute', resourceRef('task', task.id));
  }

  /** Whether the caller may read an agent (its creator, or a `read` the authz proxy allows): a get, a list's filter. */
  async canReadAgent(principal: Principal, agent: { id: string; createdBy: string | null }): Promise<boolean> {
    if (owns(principal, agent.createdBy)) return true;
    return (await this.authz.check(principal, 'read', resourceRef('agent', agent.id))).allowed;
  }

  /** Like requireOnTask, but a boolean for `read` (list filtering). */
  async canRead(principal: Principal, task: TaskRow): Promise<boolean> {
    if (owns(principal, creatorSubject(task))) return true;
    return (await this.authz.check(principal, 'read', resourceRef('task', task.id))).allowed;
  }
}
