import { Controller } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import { Authenticated, CurrentPrincipal } from '@agentplane/auth';
import { tasksContract, type RequestOf } from '@agentplane/contracts';
import type { Principal } from '@agentplane/domain';
import { Idempotent } from '@agentplane/idempotency';
import { zodPipe } from '@agentplane/messaging';
import { CreateTask } from './create-task.js';
import { GetTask } from './get-task.js';
import { ListTasks } from './list-tasks.js';
import { CancelTask } from './cancel-task.js';
import { DeleteTask } from './delete-task.js';
import { ClaimTasks } from './claim-tasks.js';
import { HeartbeatTask } from './heartbeat-task.js';
import { CompleteTask } from './complete-task.js';
import { FailTask } from './fail-task.js';
import { ListTaskEvents } from './list-task-events.js';

const c = tasksContract;

/** tasks.v1.* — access beyond "authenticated" is decided per resource by the authz proxy in each use case. */
@Controller()
@Authenticated()
export class TasksRpc {
  constructor(
    private readonly createTask: CreateTask,
    private readonly getTask: GetTask,
    private readonly listTasks: ListTasks,
    private readonly cancelTask: CancelTask,
    private readonly deleteTask: DeleteTask,
    private readonly claimTasks: ClaimTasks,
    private readonly heartbeatTask: HeartbeatTask,
    private readonly completeTask: CompleteTask,
    private readonly failTask: FailTask,
    private readonly listTaskEvents: ListTaskEvents,
  ) {}

  @Idempotent({ mode: 'transaction' })
  @MessagePattern(c.create.subject)
  create(@Payload(zodPipe(c.create.request)) body: RequestOf<typeof c.create>, @CurrentPrincipal() p: Principal) {
    return this.createTask.execute(p, body);
  }

  @MessagePattern(c.get.subject)
  get(@Payload(zodPipe(c.get.request)) body: RequestOf<typeof c.get>, @CurrentPrincipal() p: Principal) {
    return this.getTask.execute(p, body);
  }

  @MessagePattern(c.getByName.subject)
  getByName(@Payload(zodPipe(c.getByName.request)) body: RequestOf<typeof c.getByName>, @CurrentPrincipal() p: Principal) {
    return this.getTask.execute(p, body);
  }

  @MessagePattern(c.list.subject)
  list(@Payload(zodPipe(c.list.request)) body: RequestOf<typeof c.list>, @CurrentPrincipal() p: Principal) {
    return this.listTasks.execute(p, body);
  }

  @Idempotent({ mode: 'transaction' })
  @MessagePattern(c.cancel.subject)
  cancel(@Payload(zodPipe(c.cancel.request)) body: RequestOf<typeof c.cancel>, @CurrentPrincipal() p: Principal) {
    return this.cancelTask.execute(p, body);
  }

  @Idempotent({ mode: 'transaction' })
  @MessagePattern(c.delete.subject)
  delete(@Payload(zodPipe(c.delete.request)) body: RequestOf<typeof c.delete>, @CurrentPrincipal() p: Principal) {
    return this.deleteTask.execute(p, body);
  }

  // The worker calls hold a key in claim mode: a claim may long-poll, and a repeated complete or fail answers the
  // same from the row itself (DESIGN §4.1) with or without a key.
  @Idempotent()
  @MessagePattern(c.claim.subject)
  claim(@Payload(zodPipe(c.claim.request)) body: RequestOf<typeof c.claim>, @CurrentPrincipal() p: Principal) {
    return this.claimTasks.execute(p, body);
  }

  @Idempotent()
  @MessagePattern(c.heartbeat.subject)
  heartbeat(@Payload(zodPipe(c.heartbeat.request)) body: RequestOf<typeof c.heartbeat>, @CurrentPrincipal() p: Principal) {
    return this.heartbeatTask.execute(p, body);
  }

  @Idempotent()
  @MessagePattern(c.complete.subject)
  async complete(@Payload(zodPipe(c.complete.request)) body: RequestOf<typeof c.complete>, @CurrentPrincipal() p: Principal) {
    const task = await this.completeTask.execute(p, body);
    if (!body.next) return task;
    return { ...task, next: await this.claimTasks.claimAfterComplete(p, task.agentId, body.next) };
  }

  @Idempotent()
  @MessagePattern(c.fail.subject)
  fail(@Payload(zodPipe(c.fail.request)) body: RequestOf<typeof c.fail>, @CurrentPrincipal() p: Principal) {
    return this.failTask.execute(p, body);
  }

  @MessagePattern(c.listEvents.subject)
  listEvents(@Payload(zodPipe(c.listEvents.request)) body: RequestOf<typeof c.listEvents>, @CurrentPrincipal() p: Principal) {
    return this.listTaskEvents.execute(p, body);
  }
}
