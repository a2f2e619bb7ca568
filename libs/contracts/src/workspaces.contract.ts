import { z } from 'zod';
import { auditPage, Cursor, Limit, Name, NoContent, Timestamp, Uuid, event, page, rpc } from './rpc.js';
import { ResourceRef, ResourceReparentedPayload, SubjectRef } from './authz.contract.js';

export const WORKSPACE_KINDS = ['platform', 'workspace'] as const;
export const WORKSPACE_STATUSES = ['offline', 'online', 'removed'] as const;
export const DEFAULT_PLATFORM_AGENT_NAME = 'platform-agent';

/**
 * A workspace of the caller's org. `status` is computed on read: `online` only with a heartbeat inside the
 * silence window (HEARTBEAT_SILENCE_SECONDS), whether or not the sweeper has run yet.
 */
export const Workspace = z.object({
  id: Uuid,
  orgId: z.string(),
  parentId: Uuid.nullable(),
  name: z.string(),
  kind: z.enum(WORKSPACE_KINDS),
  status: z.enum(WORKSPACE_STATUSES),
  lastHeartbeatAt: Timestamp.nullable(),
  createdAt: Timestamp,
  updatedAt: Timestamp,
  /** Its creator's authz subject (`user:<id>` / `service_account:<id>`); null for the platform agent. */
  createdBy: z.string().nullable(),
  /** Who removed it and when; null while it is live (and for one removed before they were kept). */
  removedBy: z.string().nullable(),
  removedAt: Timestamp.nullable(),
});
export type Workspace = z.infer<typeof Workspace>;

/** A plugin name: a path segment, 1–128 of letters, digits, `.`, `_`, `-`, starting with a letter or digit. */
export const PluginName = z.string().max(128, { abort: true }).regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, 'must be 1-128 of [A-Za-z0-9._-], starting with a letter or digit');

export const AllowedPlugin = z.object({
  workspaceId: Uuid,
  plugin: z.string(),
  /** The authz subject who enabled it first (`user:<id>` / `service_account:<id>`); kept when the install moves it. */
  enabledBy: z.string(),
  enabledAt: Timestamp,
});
export type AllowedPlugin = z.infer<typeof AllowedPlugin>;

export const PLUGIN_CHANGES = ['enabled', 'disabled', 'moved_out', 'moved_in'] as const;
/**
 * One change of a root workspace's allowlist that took effect: `enabled`, `disabled` (also when the root is removed),
 * `moved_out` / `moved_in` when the platform agent's install carries the roots' allowlists onto its own.
 */
export const PluginChange = z.object({
  workspaceId: Uuid,
  plugin: z.string(),
  change: z.enum(PLUGIN_CHANGES),
  /** Who made it: `user:<id>` / `service_account:<id>`. */
  changedBy: z.string(),
  changedAt: Timestamp,
});
export type PluginChange = z.infer<typeof PluginChange>;

/**
 * Without `parentId`, a workspace goes at the top of the org's tree: under the platform agent once it is
 * installed, else as a new root.
 */
export const CreateWorkspaceRequest = z.object({ name: Name, parentId: Uuid.optional() }).strict();
/** Without `status`, the live workspaces (online and offline); `status: "removed"` lists the removed ones. */
export const ListWorkspacesRequest = z.object({ parentId: Uuid.optional(), status: z.enum(WORKSPACE_STATUSES).optional(), limit: Limit, cursor: Cursor }).strict();
export const WorkspaceIdRequest = z.object({ id: Uuid }).strict();
export const InstallPlatformAgentRequest = z.object({ name: Name.optional() }).strict();
export const InstallPlatformAgentReply = z.object({
  status: z.literal('installed'),
  platformAgentId: Uuid,
  kind: z.literal('platform'),
  /** Its name after this call (a re-run with another `name` renames it). */
  name: Name,
  /**
   * True when this call created the platform agent, or brought a removed one back (a new row: `offline`, no
   * heartbeat, an empty allowlist, the removal cleared); false when it was installed already.
   */
  created: z.boolean(),
  /** Former roots moved under the platform agent by this call (0 on a re-run). */
  reparented: z.number().int(),
  /** Distinct plugins carried over from the former roots' allowlists by this call (0 on a re-run). */
  allowlistMoved: z.number().int(),
});
export const PluginRequest = z.object({ id: Uuid, plugin: PluginName }).strict();
export const ListPluginsReply = z.object({ items: z.array(AllowedPlugin) });
export const ListPluginChangesRequest = z.object({ id: Uuid, limit: Limit, cursor: Cursor }).strict();

export const workspacesContract = {
  create: rpc('workspaces.v1.create', CreateWorkspaceRequest, Workspace, { mutating: true }),
  list: rpc('workspaces.v1.list', ListWorkspacesRequest, page(Workspace)),
  get: rpc('workspaces.v1.get', WorkspaceIdRequest, Workspace),
  remove: rpc('workspaces.v1.remove', WorkspaceIdRequest, NoContent, { mutating: true }),
  installPlatformAgent: rpc('workspaces.v1.install_platform_agent', InstallPlatformAgentRequest, InstallPlatformAgentReply, { mutating: true }),
  heartbeat: rpc('workspaces.v1.heartbeat', WorkspaceIdRequest, Workspace, { mutating: true }),
  enablePlugin: rpc('workspaces.v1.enable_plugin', PluginRequest, AllowedPlugin, { mutating: true }),
  disablePlugin: rpc('workspaces.v1.disable_plugin', PluginRequest, NoContent, { mutating: true }),
  listPlugins: rpc('workspaces.v1.list_plugins', WorkspaceIdRequest, ListPluginsReply),
  /**
   * The allowlist's audit, newest first (tenant admin); a former or removed root keeps its history. Changes before
   * `keptSince` may be forgotten (PLUGIN_HISTORY_RETENTION_HOURS).
   */
  listPluginChanges: rpc('workspaces.v1.list_plugin_changes', ListPluginChangesRequest, auditPage(PluginChange)),
} as const;

/** Facts for authz-proxy (published through the outbox), shaped like every service's registrations. */
export const WorkspaceRegistered = z.object({ resource: ResourceRef, tenant: z.string().min(1).max(200), owner: SubjectRef.optional(), parent: ResourceRef.optional() });
export const WorkspaceDeregistered = z.object({ resource: ResourceRef });

export const workspacesEvents = {
  resourceRegistered: event('events.workspaces.resource_registered', WorkspaceRegistered),
  resourceDeregistered: event('events.workspaces.resource_deregistered', WorkspaceDeregistered),
  resourceReparented: event('events.workspaces.resource_reparented', ResourceReparentedPayload),
} as const;
