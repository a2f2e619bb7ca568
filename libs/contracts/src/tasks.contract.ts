import { z } from 'zod';
import { Cursor, DateTimeInput, Empty, intParam, Limit, MAX_INT4, Name, readableText, JsonObject, JsonObjectInput, NoContent, Timestamp, Uuid, event, page, pathSegment, rpc, boundedJson } from './rpc.js';

export const TASK_STATUSES = ['pending', 'running', 'completed', 'failed', 'canceled'] as const;
export const TERMINAL_TASK_STATUSES = ['completed', 'failed', 'canceled'] as const;

/** Size limits of what workers store on a task (bytes of its JSON text); over → VALIDATION naming the field. */
export const TASK_LIMITS = { resultBytes: 65_536, progressBytes: 16_384, errorBytes: 16_384 } as const;

/** The retry policy of a task's attempts (DESIGN §4.1): delay = random(0, min(max, initial × coefficient^(attempt-1))). */
export const RETRY_DEFAULTS = { initialIntervalMs: 1_000, backoffCoefficient: 2, maximumIntervalMs: 60_000 } as const;

/** Any JSON value whose text is at most `max` bytes. */
const BoundedJson = (max: number) => boundedJson(z.unknown(), max);

/** A task's name, also a URL path segment (`/v1/tasks/by-name/{name}`). */
export const TaskName = pathSegment(Name);

export const Agent = z.object({ id: Uuid, tenantId: z.string(), name: z.string(), maxConcurrency: z.number().int().nullable(), createdAt: Timestamp });
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
  priority: z.number().int(),
  attempt: z.number().int(),
  maxAttempts: z.number().int(),
  runAfter: Timestamp,
  leaseExpiresAt: Timestamp.nullable(),
  workerId: z.string().nullable(),
  startedAt: Timestamp.nullable(),
  finishedAt: Timestamp.nullable(),
  cancelRequested: z.boolean(),
  progress: z.unknown().nullable(),
  error: z.unknown().nullable(),
  heartbeatTimeoutSeconds: z.number().int(),
  timeoutSeconds: z.number().int(),
  retry: z.object({ initialIntervalMs: z.number().int(), backoffCoefficient: z.number(), maximumIntervalMs: z.number().int() }),
});
export type Task = z.infer<typeof Task>;

/** A claimed task carries the fencing token of its attempt. */
export const ClaimedTask = Task.extend({ leaseToken: Uuid });
export type ClaimedTask = z.infer<typeof ClaimedTask>;

export const TASK_EVENT_TYPES = [
  'created', 'claimed', 'progress', 'retry_scheduled', 'lease_expired', 'timed_out', 'cancel_requested', 'completed', 'failed', 'canceled',
] as const;
export type TaskEventType = (typeof TASK_EVENT_TYPES)[number];
/**
 * What `events.tasks.task_updated` may say: every history entry's type, and `deleted`, the last event of a task
 * (its history goes with it, so no page of history holds it).
 */
export const TASK_UPDATE_TYPES = [...TASK_EVENT_TYPES, 'deleted'] as const;
export type TaskUpdateType = (typeof TASK_UPDATE_TYPES)[number];

export const TaskEvent = z.object({ taskId: Uuid, seq: z.number().int(), type: z.enum(TASK_EVENT_TYPES), at: Timestamp, data: JsonObject });
export type TaskEvent = z.infer<typeof TaskEvent>;

export const AgentStats = z.object({
  pending: z.number().int(),
  running: z.number().int(),
  completed: z.number().int(),
  failed: z.number().int(),
  canceled: z.number().int(),
  oldestPendingAt: Timestamp.nullable(),
});

/** An agent's name: as a task's, one path segment (`GET /v1/agents/by-name/{name}` can address every one created). */
export const AgentName = pathSegment(Name);
export const CreateAgentRequest = z.object({ name: AgentName, maxConcurrency: z.number().int().min(1).max(100_000).optional() }).strict();
export const GetAgentRequest = z.object({ id: Uuid }).strict();
/** An agent by its name, unique in its tenant (`GET /v1/agents/by-name/{name}`). */
export const AgentNameRequest = z.object({ name: AgentName }).strict();
export const ListAgentsRequest = z.object({ limit: Limit, cursor: Cursor }).strict();
export const RetryPolicy = z
  .object({
    initialIntervalMs: z.number().int().min(1).max(86_400_000).default(RETRY_DEFAULTS.initialIntervalMs),
    backoffCoefficient: z.number().min(1).max(100).default(RETRY_DEFAULTS.backoffCoefficient),
    maximumIntervalMs: z.number().int().min(1).max(86_400_000).default(RETRY_DEFAULTS.maximumIntervalMs),
  })
  .strict();
export const CreateTaskRequest = z
  .object({
    agentId: Uuid,
    name: TaskName,
    params: JsonObjectInput.optional(),
    /** Higher first. */
    priority: z.number().int().min(-1_000_000).max(1_000_000).optional(),
    maxAttempts: z.number().int().min(1).max(100).optional(),
    heartbeatTimeoutSeconds: z.number().int().min(5).max(3600).optional(),
    /** Per attempt. */
    timeoutSeconds: z.number().int().min(1).max(86_400).optional(),
    /** Not claimable before. */
    runAfter: DateTimeInput.optional(),
    retry: RetryPolicy.optional(),
  })
  .strict();
export const TaskIdRequest = z.object({ id: Uuid }).strict();
/** `waitMs`: answer once the task is terminal or after the wait. */
export const GetTaskRequest = z.object({ id: Uuid, waitMs: intParam((n) => n.min(0).max(30_000).optional()) }).strict();
/** A worker's name for itself (host, pid, …), recorded on the attempt. */
/** A worker's name for itself, shown beside each attempt: readable, and not white space alone (it would show blank). */
const WorkerId = readableText(z.string().min(1).max(200)).refine((s) => s.trim() !== '', 'must not be white space only');
export const ClaimRequest = z
  .object({
    agentId: Uuid,
    workerId: WorkerId,
    max: z.number().int().min(1).max(100).default(1),
    waitMs: z.number().int().min(0).max(30_000).default(0),
  })
  .strict();
export const HeartbeatRequest = z.object({ id: Uuid, leaseToken: Uuid, progress: BoundedJson(TASK_LIMITS.progressBytes).optional() }).strict();
export const HeartbeatReply = z.object({ leaseExpiresAt: Timestamp, cancelRequested: z.boolean() });
/**
 * `next`: after the complete has committed, claim up to `max` more tasks of the task's agent for `workerId` (as
 * `tasks.v1.claim` would, without waiting): a busy worker's complete and its next claim in one round trip. They come
 * back in the reply's `next` (an empty list when none is claimable, or the claim was refused).
 */
export const CompleteRequest = z
  .object({
    id: Uuid,
    leaseToken: Uuid,
    result: BoundedJson(TASK_LIMITS.resultBytes).optional(),
    next: z.object({ workerId: WorkerId, max: z.number().int().min(1).max(100) }).strict().optional(),
  })
  .strict();
/** The completed task; with `next` asked for, the tasks claimed after it. */
export const CompleteReply = Task.extend({ next: z.array(ClaimedTask).optional() });
export const TaskError = boundedJson(
  z
    .object({
      message: z.string().min(1).max(4_000),
      type: z.string().min(1).max(200).optional(),
      retryable: z.boolean().default(true),
      details: JsonObject.optional(),
    })
    .strict(),
  TASK_LIMITS.errorBytes,
);
export const FailRequest = z.object({ id: Uuid, leaseToken: Uuid, error: TaskError }).strict();
/** `waitMs`: when nothing follows `after` yet, wait up to this long for the next event (long-poll; SSE rides on it). */
export const ListTaskEventsRequest = z
  .object({ id: Uuid, after: intParam((n) => n.min(0).max(MAX_INT4).default(0)), limit: Limit, waitMs: intParam((n) => n.min(0).max(30_000).optional()) })
  .strict();
export const TaskNameRequest = z.object({ name: TaskName }).strict();
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
  getAgentByName: rpc('tasks.v1.get_agent_by_name', AgentNameRequest, Agent),
  listAgents: rpc('tasks.v1.list_agents', ListAgentsRequest, page(Agent)),
  agentStats: rpc('tasks.v1.agent_stats', GetAgentRequest, AgentStats),
  create: rpc('tasks.v1.create', CreateTaskRequest, Task, { mutating: true }),
  get: rpc('tasks.v1.get', GetTaskRequest, Task),
  getByName: rpc('tasks.v1.get_by_name', TaskNameRequest, Task),
  list: rpc('tasks.v1.list', ListTasksRequest, page(Task)),
  cancel: rpc('tasks.v1.cancel', TaskIdRequest, Task, { mutating: true }),
  delete: rpc('tasks.v1.delete', TaskIdRequest.or(TaskNameRequest), NoContent, { mutating: true }),
  claim: rpc('tasks.v1.claim', ClaimRequest, z.object({ items: z.array(ClaimedTask) }), { mutating: true }),
  heartbeat: rpc('tasks.v1.heartbeat', HeartbeatRequest, HeartbeatReply, { mutating: true }),
  complete: rpc('tasks.v1.complete', CompleteRequest, CompleteReply, { mutating: true }),
  fail: rpc('tasks.v1.fail', FailRequest, Task, { mutating: true }),
  /** `status`: the task's status when the page was read (a stream ends once it is terminal and the history is read). */
  listEvents: rpc(
    'tasks.v1.list_events',
    ListTaskEventsRequest,
    z.object({ items: z.array(TaskEvent), nextAfter: z.number().int().nullable(), status: z.enum(TASK_STATUSES) }),
  ),
} as const;

export const ResourceRegistered = z.object({
  resource: z.string(),
  tenant: z.string(),
  owner: z.string().optional(),
  parent: z.string().optional(),
});
export const ResourceDeregistered = z.object({ resource: z.string() });
/**
 * One transition of a task (the row appended to task_events), with the task's state after it; or its deletion
 * (`deleted`: the next seq, the state it was deleted in, `data.by` the caller).
 */
export const TaskUpdated = z.object({
  taskId: Uuid,
  tenantId: z.string(),
  agentId: Uuid,
  seq: z.number().int(),
  type: z.enum(TASK_UPDATE_TYPES),
  at: Timestamp,
  status: z.enum(TASK_STATUSES),
  attempt: z.number().int(),
  data: JsonObject,
});

export const tasksEvents = {
  resourceRegistered: event('events.tasks.resource_registered', ResourceRegistered),
  resourceDeregistered: event('events.tasks.resource_deregistered', ResourceDeregistered),
  taskUpdated: event('events.tasks.task_updated', TaskUpdated),
} as const;

export { Empty };
