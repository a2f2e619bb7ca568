import { Injectable } from '@nestjs/common';
import { Idempotency } from '@agentplane/idempotency';
import { DomainError, type Principal } from '@agentplane/domain';
import type { ReplyOf, hooksContract } from '@agentplane/contracts';
import { toHook } from './hook.js';
import { HooksRepository } from './hooks.repository.js';
import { ReleaseMinter } from './release-minter.js';

@Injectable()
export class SetLive {
  constructor(
    private readonly idempotency: Idempotency,
    private readonly repo: HooksRepository,
    private readonly minter: ReleaseMinter,
  ) {}

  /**
   * Moves the live pointer to any existing version (rollback or forward) and audits the move; history stays. To the
   * version live already: nothing changes, nothing is recorded, and the reply says so (`changed: false`).
   */
  execute(principal: Principal, input: { name: string; version: number }): Promise<ReplyOf<typeof hooksContract.setLive>> {
    return this.repo.transaction(async (tx) => {
      const hook = await this.repo.lockHook(tx, principal.tenantId, input.name);
      if (!hook) throw new DomainError('NOT_FOUND', `hook "${input.name}" not found`);
      const target = await this.repo.findReleaseByVersion(hook.id, input.version, tx);
      if (!target) throw new DomainError('NOT_FOUND', `hook "${input.name}" has no version ${input.version}`, { field: 'version' });
      const from = await this.repo.findReleaseById(hook.liveReleaseId, tx);
      const changed = await this.minter.moveLive(tx, principal, hook, from?.version ?? null, target, 'set_live');
      const reply = { ...toHook({ ...hook, liveReleaseId: target.id }, target.version), changed };
      await this.idempotency.completeWithin(tx, reply);
      return reply;
    });
  }
}
