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
}
