import { z } from 'zod';
import { Cursor, Empty, Limit, Name, JsonObject, NoContent, Timestamp, Uuid, event, page, rpc } from './rpc.js';

export const TASK_STATUSES = ['pending', 'running', 'completed', 'failed', 'canceled'] as const;
export const TERMINAL_TASK_STATUSES = ['completed', 'failed', 'canceled'] as const;

export const Agent = z.object({ id: Uuid, tenantId: z.string(), name: z.string(), createdAt: Timestamp });
export type Agent = z.infer<typeof Agent>;

export const Task = z.object({
  id: Uuid,
  tenantId: z.string(),
  agentId: Uuid,
  name: z.string(),
  status: z.enum(TASK_STATUSES),
  params: JsonObject,
  result: z.unknown().nullable(),
  creatorUserId: z.string().nullable(),
  creatorServiceAccountId: z.string().nullable(),
  createdAt: Timestamp,
  updatedAt: Timestamp,
});
export type Task = z.infer<typeof Task>;

export const CreateAgentRequest = z.object({ name: Name }).strict();
export const GetAgentRequest = z.object({ id: Uuid }).strict();
export const CreateTaskRequest = z
  .object({ agentId: Uuid, name: Name, params: JsonObject.optional() })
  .strict();
export const TaskIdRequest = z.object({ id: Uuid }).strict();
export const TaskNameRequest = z.object({ name: Name }).strict();
export const ListTasksRequest = z
  .object({
    agentId: Uuid.optional(),
    status: z.enum(TASK_STATUSES).optional(),
    creatorUserId: z.string().min(1).max(200).optional(),
    creatorServiceAccountId: z.string().min(1).max(200).optional(),
    limit: Limit,
    cursor: Cursor,
  })
  .strict();

export const tasksContract = {
  createAgent: rpc('tasks.v1.create_agent', CreateAgentRequest, Agent, { mutating: true }),
  getAgent: rpc('tasks.v1.get_agent', GetAgentRequest, Agent),
  create: rpc('tasks.v1.create', CreateTaskRequest, Task, { mutating: true }),
  get: rpc('tasks.v1.get', TaskIdRequest, Task),
  getByName: rpc('tasks.v1.get_by_name', TaskNameRequest, Task),
  list: rpc('tasks.v1.list', ListTasksRequest, page(Task)),
  cancel: rpc('tasks.v1.cancel', TaskIdRequest, Task, { mutating: true }),
  delete: rpc('tasks.v1.delete', TaskIdRequest.or(TaskNameRequest), NoContent, { mutating: true }),
} as const;

export const ResourceRegistered = z.object({
  resource: z.string(),
  tenant: z.string(),
  owner: z.string().optional(),
  parent: z.string().optional(),
});
export const ResourceDeregistered = z.object({ resource: z.string() });

export const tasksEvents = {
  resourceRegistered: event('events.tasks.resource_registered', ResourceRegistered),
  resourceDeregistered: event('events.tasks.resource_deregistered', ResourceDeregistered),
} as const;

export { Empty };
