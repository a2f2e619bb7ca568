import { Inject, Injectable } from '@nestjs/common';
import type { PluginChange } from '@agentplane/contracts';
import { DomainError, parseBigintId, type Principal } from '@agentplane/domain';
import { keptSince } from '@agentplane/persistence';
import { PLUGIN_HISTORY_SETTINGS, type PluginHistorySettings } from '../config.js';
import { notFound, requireAdmin } from '../workspaces/workspace.js';
import { WorkspacesRepository } from '../workspaces/workspaces.repository.js';

/**
 * The audit of a workspace's allowlist, newest first (tenant admin), in keyset pages whose cursor is the last line's
 * id. Any workspace of the org answers, removed or no longer a root: its history stays (a workspace that never was a
 * root has none). Another org's is NOT_FOUND. Lines before `keptSince` may be forgotten (PLUGIN_HISTORY_RETENTION_HOURS).
 */
@Injectable()
export class ListPluginChanges {
  constructor(
    private readonly repo: WorkspacesRepository,
    @Inject(PLUGIN_HISTORY_SETTINGS) private readonly settings: PluginHistorySettings,
  ) {}

  async execute(principal: Principal, input: { id: string; limit: number; cursor?: string }): Promise<{ items: PluginChange[]; nextCursor: string | null; keptSince: string | null }> {
    const before = input.cursor === undefined ? undefined : parseBigintId(input.cursor);
    if (before === null) throw new DomainError('VALIDATION', 'cursor: invalid', { issues: [{ path: 'cursor', message: 'invalid cursor' }] });
    if (!(await this.repo.findInOrg(principal.tenantId, input.id))) throw notFound();
    requireAdmin(principal, 'reading the plugin changes');
    const rows = await this.repo.pluginChanges(input.id, input.limit + 1, before === undefined ? undefined : BigInt(before));
    const page = rows.slice(0, input.limit);
    return {
      items: page.map((r) => ({ workspaceId: r.workspaceId, plugin: r.plugin, change: r.change, changedBy: r.changedBy, changedAt: r.changedAt.toISOString() })),
      nextCursor: rows.length > input.limit ? (page.at(-1)?.id ?? null) : null,
      keptSince: keptSince(this.settings.retentionHours),
    };
  }
}
