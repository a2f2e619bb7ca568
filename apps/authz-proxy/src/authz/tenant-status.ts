import { Inject, Injectable } from '@nestjs/common';
import type { ReplyOf, authzContract } from '@agentplane/contracts';
import { DomainError, isAdmin, type Principal } from '@agentplane/domain';
import { AUTHZ_SETTINGS, type AuthzSettings } from '../config.js';
import { ResourceFactsClient } from './resource-facts.client.js';
import { TuplesRepository } from './tuples.repository.js';

type TenantStatusReply = ReplyOf<typeof authzContract.tenantStatus>;

/**
 * `authz.v1.tenant_status` (DESIGN §3, the rollout's missing step): what an operator needs to move a tenant to
 * `enforce`: its mode, registration coverage per resource type (the owning services' rows against the registered
 * resources), the shadow mismatches counted so far, and who set the mode when. A tenant admin of that tenant only.
 */
@Injectable()
export class TenantStatus {
  constructor(
    private readonly tuples: TuplesRepository,
    private readonly owners: ResourceFactsClient,
    @Inject(AUTHZ_SETTINGS) private readonly settings: AuthzSettings,
  ) {}

  async execute(principal: Principal, input: { tenantId: string }): Promise<TenantStatusReply> {
    if (input.tenantId !== principal.tenantId || !isAdmin(principal)) {
      throw new DomainError('FORBIDDEN', 'only an admin of the tenant may read its authz status');
    }
    const [mode, registered, rows, shadowMismatches] = await Promise.all([
      this.tuples.modeSettingOf(input.tenantId),
      this.tuples.registeredByType(input.tenantId),
      this.owners.rowCounts(),
      this.tuples.shadowMismatchesOf(input.tenantId),
    ]);
    const coverage: TenantStatusReply['coverage'] = {};
    for (const type of [...new Set([...Object.keys(rows), ...Object.keys(registered)])].sort()) {
      coverage[type] = { rows: rows[type] ?? null, registered: registered[type] ?? 0 };
    }
    return {
      tenantId: input.tenantId,
      mode: mode?.mode ?? this.settings.defaultMode,
      coverage,
      shadowMismatches,
      modeSetBy: mode?.updated_by ?? null,
      modeSetAt: mode?.updated_at.toISOString() ?? null,
    };
  }
}
