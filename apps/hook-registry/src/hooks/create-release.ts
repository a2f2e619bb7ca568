import { Injectable } from '@nestjs/common';
import { Idempotency } from '@agentplane/idempotency';
import { DomainError, type Principal } from '@agentplane/domain';
import type { CreateReleaseRequest, ReplyOf, hooksContract } from '@agentplane/contracts';
import type { z } from 'zod';
import { toRelease } from './hook.js';
import { HooksRepository } from './hooks.repository.js';
import { ReleaseMinter } from './release-minter.js';

@Injectable()
export class CreateRelease {
  constructor(
    private readonly idempotency: Idempotency,
    private readonly repo: HooksRepository,
    private readonly minter: ReleaseMinter,
  ) {}

  /** A new digest → the next version, live (`created`); a released digest → that release, nothing written. */
  execute(principal: Principal, input: z.infer<typeof CreateReleaseRequest>): Promise<ReplyOf<typeof hooksContract.createRelease>> {
    const { name, ...release } = input;
    return this.repo.transaction(async (tx) => {
      const hook = await this.repo.lockHook(tx, principal.tenantId, name);
      if (!hook) throw new DomainError('NOT_FOUND', `hook "${name}" not found`);
      const minted = await this.minter.mintOnLocked(tx, principal, hook, release, 'release');
      const reply = { created: minted.created, release: toRelease(minted.release, hook.name) };
      await this.idempotency.completeWithin(tx, reply);
      return reply;
    });
  }
}
