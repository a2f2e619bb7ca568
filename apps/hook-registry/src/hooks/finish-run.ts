import { Injectable } from '@nestjs/common';
import { Idempotency } from '@agentplane/idempotency';
import { DomainError, type Principal } from '@agentplane/domain';
import type { Run } from '@agentplane/contracts';
import { toRun } from './hook.js';
import { HooksRepository } from './hooks.repository.js';

@Injectable()
export class FinishRun {
  constructor(
    private readonly idempotency: Idempotency,
    private readonly repo: HooksRepository,
  ) {}

  /** Records status, duration and OOM retries, once: a finished run is CONFLICT, with what was recorded. */
  execute(principal: Principal, input: { id: string; status: 'succeeded' | 'failed'; oomRetries?: number }): Promise<Run> {
    return this.repo.transaction(async (tx) => {
      const run = await this.repo.finishRun(tx, principal.tenantId, input.id, input.status, input.oomRetries ?? 0);
      if (!run) {
        const existing = await this.repo.findRun(principal.tenantId, input.id, tx);
        if (!existing) throw new DomainError('NOT_FOUND', 'run not found');
        // what was recorded, so a finish retried after a lost answer can tell whether the record is its own
        throw new DomainError('CONFLICT', `run already finished (${existing.status})`, {
          status: existing.status,
          oomRetries: existing.oomRetries,
          finishedAt: existing.finishedAt?.toISOString() ?? null,
        });
      }
      const [hook, release] = [await this.repo.findHookById(principal.tenantId, run.hookId, tx), await this.repo.findReleaseById(run.releaseId, tx)];
      if (!hook || !release) throw new Error(`run ${run.id}: hook or release vanished`);
      const reply = toRun(run, hook.hook.name, release.version);
      await this.idempotency.completeWithin(tx, reply);
      return reply;
    });
  }
}
