import { Injectable } from '@nestjs/common';
import { DomainError, creatorOf, newId, resourceRef, subjectOf, type Principal } from '@agentplane/domain';
import { RETRY_DEFAULTS, type RequestOf, type Task, type tasksContract } from '@agentplane/contracts';
import { Idempotency } from '@agentplane/idempotency';
import { isUniqueViolation } from '@agentplane/persistence';
import { DatabaseClock } from '@agentplane/service-shell';
import { TasksRepository } from './tasks.repository.js';
import { AuthzRegistration } from '../authz-registration.js';
import { TASK_CREATED_CODEC, newTaskRowAsWritten, toTask, type NewTaskRow } from './task.js';
import { TaskAccess } from './task-access.js';
import { TaskHistory } from './task-history.js';

/**
 * Creates a task (DESIGN §4): `write` on the agent; the creator columns from the principal; the row, its authz
 * registration event and the idempotent response commit together. In `sync` mode the registration is also
 * tried inline after commit, and a failure there never turns the committed task into an error.
 */
@Injectable()
export class CreateTask {
  constructor(
    private readonly tasks: TasksRepository,
    private readonly access: TaskAccess,
    private readonly registration: AuthzRegistration,
    private readonly idempotency: Idempotency,
    private readonly history: TaskHistory,
    private readonly clock: DatabaseClock,
  ) {
    // Before any request: a replay may reach this instance before any create does.
    idempotency.registerCodec(TASK_CREATED_CODEC);
  }

  async execute(principal: Principal, input: RequestOf<typeof tasksContract.create>): Promise<Task> {
    await this.access.require(principal, 'write', input.agentId);
    const id = newId();
    const event = {
      resource: resourceRef('task', id),
      tenant: principal.tenantId,
      parent: resourceRef('agent', input.agentId),
      ...(principal.kind === 'system' ? {} : { owner: subjectOf(principal) }),
    };
    // The statement sends it (its response is stored with the key before it runs): the database's time where this
    // instance's clock is off from it, as a claim reads run_after.
    const createdAt = this.clock.now();
    const row: NewTaskRow = {
      id,
      tenantId: principal.tenantId,
      agentId: input.agentId,
      name: input.name,
      params: input.params ?? {},
      ...creatorOf(principal),
      priority: input.priority ?? 0,
      maxAttempts: input.maxAttempts ?? 3,
      runAfter: input.runAfter ? new Date(input.runAfter) : createdAt,
      heartbeatTimeoutSeconds: input.heartbeatTimeoutSeconds ?? 60,
      timeoutSeconds: input.timeoutSeconds ?? 3600,
      retryInitialIntervalMs: input.retry?.initialIntervalMs ?? RETRY_DEFAULTS.initialIntervalMs,
      retryBackoffCoefficient: input.retry?.backoffCoefficient ?? RETRY_DEFAULTS.backoffCoefficient,
      retryMaximumIntervalMs: input.retry?.maximumIntervalMs ?? RETRY_DEFAULTS.maximumIntervalMs,
      createdAt,
    };
    const registration = this.registration.registerRow(event);
    // The row, its history, its authz registration, the wake-up of this agent's long-polling claims and, with an
    // idempotency key, the key's lock and its stored response: one statement, one round trip (issue 19). The stored
    // response, and the answer with or without a key, is the task as written (a GET reads back the same); the key
    // stores it packed, as the row it was rendered from (TASK_CREATED_CODEC).
    const response = toTask(newTaskRowAsWritten(row));
    let task: Task;
    try {
      task = await this.idempotency.inStatement({ data: response, packed: { codec: TASK_CREATED_CODEC, value: TASK_CREATED_CODEC.pack(row) } }, async (key) => {
        const out = await this.tasks.create(row, registration ? [registration] : [], this.history.eventHeaders(), key);
        return { result: response, locked: out.locked, stored: out.stored, held: out.held };
      });
    } catch (err) {
      if (isUniqueViolation(err)) throw new DomainError('CONFLICT', `a task named "${input.name}" already exists`, { field: 'name' });
      throw err;
    }
    await this.registration.registerNow(event);
    return task;
  }
}

