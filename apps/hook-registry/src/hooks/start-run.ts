import { Injectable } from '@nestjs/common';
import { Idempotency } from '@agentplane/idempotency';
import { DomainError, newId, subjectOf, type Principal } from '@agentplane/domain';
import type { ReplyOf, hooksContract } from '@agentplane/contracts';
import { registerResource } from './authz-registration.js';
import { toRelease } from './hook.js';
import { HooksRepository } from './hooks.repository.js';

@Injectable()
export class StartRun {
  constructor(
    private readonly idempotency: Idempotency,
    private readonly repo: HooksRepository,
  ) {}

  /** Snapshots the live release once; moving the pointer later does not change what this run ran. */
  execute(principal: Principal, input: { name: string }): Promise<ReplyOf<typeof hooksContract.startRun>> {
    return this.repo.transaction(async (tx) => {
      const run = await this.repo.insertRunOnLiveRelease(tx, principal.tenantId, input.name, { id: newId(), startedBy: subjectOf(principal) });
      if (!run) throw new DomainError('NOT_FOUND', `hook "${input.name}" not found`);
      const release = await this.repo.findReleaseById(run.releaseId, tx);
      if (!release) throw new Error(`run ${run.id}: release ${run.releaseId} vanished`);
      await registerResource(tx, principal, { type: 'run', id: run.id }, { type: 'release', id: release.id });
      const reply = { runId: run.id, release: toRelease(release, input.name) };
      await this.idempotency.completeWithin(tx, reply);
      return reply;
    });
  }
}
