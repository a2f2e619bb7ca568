import { z } from 'zod';
import { auditPage, Cursor, Limit, NoContent, pathSegment, rpc, Timestamp } from './rpc.js';

export const ACTIONS = ['read', 'write', 'delete', 'cancel', 'execute', 'admin'] as const;
export type Action = (typeof ACTIONS)[number];
export const ROLLOUT_MODES = ['legacy', 'shadow', 'enforce'] as const;
export type RolloutMode = (typeof ROLLOUT_MODES)[number];
/** Relations of a resource besides the per-action grants. */
export const STRUCTURAL_RELATIONS = ['tenant', 'owner', 'parent'] as const;

/** `<type>:<id>`: type lower-case letters/underscore, id without control characters or white space. */
// eslint-disable-next-line no-control-regex
export const ResourceRef = z.string().max(241, { abort: true }).regex(/^[a-z_]{1,40}:[^\s\u0000-\u001f\u007f]{1,200}$/, 'must look like <type>:<id>');
// eslint-disable-next-line no-control-regex
export const SubjectRef = z.string().max(216, { abort: true }).regex(/^(user|service_account):[^\s\u0000-\u001f\u007f]{1,200}$/, 'must be user:<id> or service_account:<id>');

export const PrincipalSchema = z.object({
  kind: z.enum(['user', 'service_account', 'system']),
  tenantId: z.string(),
  userId: z.string().optional(),
  serviceAccountId: z.string().optional(),
  roles: z.array(z.string()),
  scopes: z.array(z.string()),
  issuer: z.string(),
});

export const RegisterRequest = z
  .object({ resource: ResourceRef, tenant: z.string().min(1).max(200), owner: SubjectRef.optional(), parent: ResourceRef.optional() })
  .strict();
export const DeregisterRequest = z.object({ resource: ResourceRef }).strict();
/**
 * The resource types a grant may name: those a service owns and registers (RESOURCE_FACTS_BY_TYPE's). A tenant takes
 * no grant: its admins are those whose token carries the admin role.
 */
export const GRANTABLE_TYPES = ['agent', 'task', 'hook', 'release', 'run', 'workspace'] as const;
/** A ResourceRef of a grantable type: `tenant:acme` or `agents:x` is refused naming the types, never "not found". */
const GrantableRef = ResourceRef.refine((r) => !/^[a-z_]{1,40}:/.test(r) || (GRANTABLE_TYPES as readonly string[]).includes(r.slice(0, r.indexOf(':'))), {
  message: `grants are on an ${GRANTABLE_TYPES.slice(0, -1).join(', ')} or ${GRANTABLE_TYPES.at(-1)} (<type>:<id>)`,
});
export const GrantRequest = z.object({ subject: SubjectRef, action: z.enum(ACTIONS), resource: GrantableRef }).strict();
/** The grant, and whether this call made it (`false`: the subject held it already, and nothing changed). */
export const GrantReply = GrantRequest.extend({ created: z.boolean() });
/** A tenant's revision of its decisions: a positive decimal integer (0 before its first change). */
export const Revision = z.string().regex(/^(0|[1-9][0-9]{0,18})$/);
/**
 * What authz-proxy decides with besides the tuples (its AUTHZ_DEFAULT_MODE and AUTHZ_MAX_DEPTH): a change of either
 * can take access away without a revision, so a decision is kept only under the epoch it was made in.
 */
export const DecisionEpoch = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/);
/** `<revision>.<epoch>`: where an allowed answer a service may keep was read (DESIGN §3, the decision cache). */
export const DecisionStamp = z.string().regex(/^(0|[1-9][0-9]{0,18})\.[A-Za-z0-9_-]{1,64}$/);
export const CheckRequest = z
  .object({ subject: SubjectRef.optional(), action: z.enum(ACTIONS), resource: ResourceRef })
  .strict();
/**
 * `reason` names the rule that decided (`tenant_admin`, `owner`, `grant`, `inherited_grant`, `tenant_member`,
 * `no_relation`, `not_found`); an unregistered resource and another tenant's are both `not_found`.
 */
export const CheckReply = z.object({
  allowed: z.boolean(),
  reason: z.string(),
  /**
   * On an allowed answer read from the tuples alone: the revision of the tenant's decisions it was read at and the
   * epoch of authz-proxy's configuration, `<revision>.<epoch>`. A service may keep such an answer until it hears of a
   * later revision of the tenant or another epoch (DESIGN §3, the decision cache).
   */
  revision: DecisionStamp.optional(),
});
/**
 * `authz.v1.explain`: the same question and the same answer as `check`, with `path`: the tuples that granted it
 * (`task:t#tenant@tenant:acme`, `task:t#parent@agent:a`, `agent:a#read@user:bob`; a tenant admin's
 * `tenant:acme#admin@user:root`; an owner's `task:t#owner@user:x`), or, when denied, what was checked and missing
 * (each prefixed `missing `). Tuples of a resource whose registration has not landed yet are its owner's facts.
 */
export const ExplainRequest = CheckRequest;
export const ExplainReply = z.object({ allowed: z.boolean(), reason: z.string(), path: z.array(z.string()) });
export const LookupRequest = z
  .object({ subject: SubjectRef.optional(), action: z.enum(ACTIONS), type: z.string().max(40, { abort: true }).regex(/^[a-z_]{1,40}$/), limit: Limit, cursor: Cursor })
  .strict();
/**
 * `items` are resource refs (`<type>:<id>`) in ascending order; `nextCursor` is null only on the last page. Listed from
 * the registered tuples and, for a resource whose registration is still on its way, from its owning service's pending
 * registrations (PendingRegistrationsRequest): a resource created a moment ago is listed as it will be once registered.
 */
export const LookupReply = z.object({ items: z.array(z.string()), nextCursor: z.string().nullable() });
/** A tenant id as the tenant routes carry it in their path. */
const TenantIdSegment = pathSegment(z.string().min(1).max(200));
export const SetModeRequest = z.object({ tenantId: TenantIdSegment, mode: z.enum(ROLLOUT_MODES) }).strict();
export const SetModeReply = z.object({ tenantId: z.string(), mode: z.enum(ROLLOUT_MODES) });
export const TenantStatusRequest = z.object({ tenantId: TenantIdSegment }).strict();
/**
 * `authz.v1.tenant_status` (tenant admin): the tenant's rollout mode; per resource type, the owning service's rows
 * (`rows`, null when that service does not count them or did not answer) and the registered resources
 * (`registered`); and the checks in `shadow` mode that disagreed with the legacy answer. Move a tenant to `enforce`
 * when every `registered` equals its `rows` and `shadowMismatches` is 0. `modeSetBy` / `modeSetAt`: who set the mode
 * and when (null while the tenant runs on the default).
 */
export const TenantStatusReply = z.object({
  tenantId: z.string(),
  mode: z.enum(ROLLOUT_MODES),
  coverage: z.record(z.string(), z.object({ rows: z.number().int().nullable(), registered: z.number().int() })),
  shadowMismatches: z.number().int(),
  /** Who set the mode, and when (authz.v1.set_mode); both null while the tenant has the default mode. */
  modeSetBy: z.string().nullable(),
  modeSetAt: Timestamp.nullable(),
});

/**
 * `authz.v1.list_grants` and `authz.v1.grant_history` (`admin` on the resource, as granting needs): the audit of access
 * to one resource. Who holds which action on it by a direct grant now, and who granted it when (`grantedBy` null for
 * a grant made before the audit began); and every grant that took effect and every revocation that removed one,
 * newest first, with who and when. Inherited access (a grant on a parent, a tenant admin, the owner) is not a grant of
 * this resource: `explain` says why a subject may act.
 */
export const ListGrantsRequest = z.object({ resource: GrantableRef, limit: Limit, cursor: Cursor }).strict();
export const GrantEntry = z.object({ subject: z.string(), action: z.enum(ACTIONS), grantedBy: z.string().nullable(), grantedAt: Timestamp });
/** In (action, subject) order. */
export const ListGrantsReply = z.object({ items: z.array(GrantEntry), nextCursor: z.string().nullable() });
export const GrantHistoryRequest = ListGrantsRequest;
export const GrantChangeEntry = z.object({ change: z.enum(['granted', 'revoked']), subject: z.string(), action: z.enum(ACTIONS), by: z.string(), at: Timestamp });
/** Newest first; changes before `keptSince` may be forgotten (AUTHZ_GRANT_HISTORY_RETENTION_HOURS). */
export const GrantHistoryReply = auditPage(GrantChangeEntry);

export const authzContract = {
  register: rpc('authz.v1.register', RegisterRequest, z.object({ resource: z.string() }), { mutating: true }),
  deregister: rpc('authz.v1.deregister', DeregisterRequest, NoContent, { mutating: true }),
  grant: rpc('authz.v1.grant', GrantRequest, GrantReply, { mutating: true }),
  revoke: rpc('authz.v1.revoke', GrantRequest, NoContent, { mutating: true }),
  check: rpc('authz.v1.check', CheckRequest, CheckReply),
  explain: rpc('authz.v1.explain', ExplainRequest, ExplainReply),
  lookup: rpc('authz.v1.lookup', LookupRequest, LookupReply),
  setMode: rpc('authz.v1.set_mode', SetModeRequest, SetModeReply, { mutating: true }),
  tenantStatus: rpc('authz.v1.tenant_status', TenantStatusRequest, TenantStatusReply),
  listGrants: rpc('authz.v1.list_grants', ListGrantsRequest, ListGrantsReply),
  grantHistory: rpc('authz.v1.grant_history', GrantHistoryRequest, GrantHistoryReply),
} as const;

/**
 * Internal (DESIGN §3, a fresh resource answers like an old one): authz-proxy asks the OWNING service for the committed
 * row of a resource it has no registration for yet, and decides with those facts exactly as if they were registered
 * (never storing them). Forwarded with the asking caller's token; the owner answers only about rows of that token's
 * tenant, `facts: null` when there is none. Only authz-proxy may publish these subjects and only the owner serves
 * each (docker/nats/permissions.json); they live outside `<svc>.v1.>`, so no caller or gateway permission covers them.
 */
export const ResourceFactsRequest = z.object({ resource: ResourceRef }).strict();
export const ResourceFacts = z.object({ tenant: z.string().min(1).max(200), owner: SubjectRef.optional(), parent: ResourceRef.optional() }).strict();
export const ResourceFactsReply = z.object({ facts: ResourceFacts.nullable() });
/** The owner's row count per resource type it registers, in the forwarded token's tenant (for tenant_status). */
export const ResourceCountsRequest = z.object({}).strict();
export const ResourceCountsReply = z.object({ counts: z.record(z.string(), z.number().int()) });
export const resourceFactsContract = {
  tasks: rpc('tasks.internal.v1.resource_facts', ResourceFactsRequest, ResourceFactsReply),
  hooks: rpc('hooks.internal.v1.resource_facts', ResourceFactsRequest, ResourceFactsReply),
  workspaces: rpc('workspaces.internal.v1.resource_facts', ResourceFactsRequest, ResourceFactsReply),
} as const;
/**
 * The owner's registrations of a type in the forwarded token's tenant that authz-proxy may not have applied yet
 * (DESIGN §3: `lookup` lists a fresh resource as it will once registered): its outbox's `resource_registered` messages
 * not yet published, or published within the last `publishedWithinMs`, whose resource sorts after `after`, in resource
 * order, at most `limit` (`truncated`: there were more).
 */
export const PendingRegistrationsRequest = z
  .object({
    type: z.enum(GRANTABLE_TYPES),
    after: ResourceRef.optional(),
    publishedWithinMs: z.number().int().min(0).max(86_400_000),
    limit: z.number().int().min(1).max(10_000),
  })
  .strict();
export const PendingRegistration = ResourceFacts.extend({ resource: ResourceRef });
export const PendingRegistrationsReply = z.object({ registrations: z.array(PendingRegistration), truncated: z.boolean() });
export const pendingRegistrationsContract = {
  tasks: rpc('tasks.internal.v1.pending_registrations', PendingRegistrationsRequest, PendingRegistrationsReply),
  hooks: rpc('hooks.internal.v1.pending_registrations', PendingRegistrationsRequest, PendingRegistrationsReply),
  workspaces: rpc('workspaces.internal.v1.pending_registrations', PendingRegistrationsRequest, PendingRegistrationsReply),
} as const;
export const resourceCountsContract = {
  tasks: rpc('tasks.internal.v1.resource_counts', ResourceCountsRequest, ResourceCountsReply),
  hooks: rpc('hooks.internal.v1.resource_counts', ResourceCountsRequest, ResourceCountsReply),
  workspaces: rpc('workspaces.internal.v1.resource_counts', ResourceCountsRequest, ResourceCountsReply),
} as const;
/** Which service owns each grantable type: registers it, states its facts, counts it (the events' origins' split). */
const OWNER_OF_TYPE = {
  agent: 'tasks',
  task: 'tasks',
  hook: 'hooks',
  release: 'hooks',
  run: 'hooks',
  workspace: 'workspaces',
} as const satisfies Record<(typeof GRANTABLE_TYPES)[number], keyof typeof resourceFactsContract>;
type Owner = (typeof OWNER_OF_TYPE)[keyof typeof OWNER_OF_TYPE];
const OWNED_TYPES = Object.keys(OWNER_OF_TYPE) as Array<keyof typeof OWNER_OF_TYPE>;
/** Type → its owner's contract, with no prototype: a type named `constructor` or `__proto__` is no owner's. */
const byType = <C>(contracts: Record<Owner, C>): Readonly<Record<string, C | undefined>> =>
  Object.assign(Object.create(null) as Record<string, C>, Object.fromEntries(OWNED_TYPES.map((t) => [t, contracts[OWNER_OF_TYPE[t]]])));
/** The resource types whose rows each owner counts (tenant_status asks every one of them). */
export const RESOURCE_COUNTS_TYPES = (['tasks', 'hooks', 'workspaces'] as const).map((owner) => ({
  contract: resourceCountsContract[owner],
  types: OWNED_TYPES.filter((t) => OWNER_OF_TYPE[t] === owner),
}));
/** Which owner's facts subject answers for a resource type. */
export const RESOURCE_FACTS_BY_TYPE = byType<(typeof resourceFactsContract)[Owner]>(resourceFactsContract);
/** Which owner's subject lists a type's pending registrations. */
export const PENDING_REGISTRATIONS_BY_TYPE = byType<(typeof pendingRegistrationsContract)[Owner]>(pendingRegistrationsContract);

/**
 * Internal (DESIGN §3, the decision cache): authz-proxy publishes, after each commit that took access away in a tenant
 * (a revocation, a deregistration, a reparent, a rollout mode change), the tenant's new revision, and every
 * AUTHZ_REVISION_BEACON_MS the revisions bumped in the last few seconds (a beacon: the announcer is alive, and a lost
 * announcement is heard anyway). Every instance of a service that caches decisions hears it (no queue group). Only
 * authz-proxy may publish it (docker/nats/permissions.json).
 */
export const AUTHZ_REVISION_SUBJECT = 'authz.internal.v1.revision';
export const RevisionNotice = z.object({
  revisions: z.array(z.object({ tenant: z.string().min(1).max(200), rev: Revision })).max(10_000),
  beacon: z.boolean(),
  epoch: DecisionEpoch,
});
export type RevisionNotice = z.infer<typeof RevisionNotice>;

/** The type of a resource ref (`task` of `task:123`). */
export function resourceTypeOf(ref: string): string {
  return ref.slice(0, ref.indexOf(':'));
}

/**
 * Event types authz-proxy applies from any service (`events.<service>.<type>`), e.g. published by the tasks outbox.
 * Unknown fields are ignored, so a producer may add some without breaking the consumer.
 */
export const RESOURCE_EVENT_TYPES = { registered: 'resource_registered', deregistered: 'resource_deregistered', reparented: 'resource_reparented' } as const;
export const ResourceRegisteredPayload = z.object({
  resource: ResourceRef,
  tenant: z.string().min(1).max(200),
  owner: SubjectRef.optional(),
  parent: ResourceRef.optional(),
});
export const ResourceDeregisteredPayload = z.object({ resource: ResourceRef });
/** A registered resource moved under another registered parent (e.g. an old root under the platform agent). */
export const ResourceReparentedPayload = z.object({ resource: ResourceRef, parent: ResourceRef });
