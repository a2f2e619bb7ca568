import { Injectable } from '@nestjs/common';
import { Idempotency } from '@agentplane/idempotency';
import { DomainError, newId, type Principal } from '@agentplane/domain';
import { HooksRepository } from './hooks.repository.js';

@Injectable()
export class AddOutputs {
  constructor(
    private readonly idempotency: Idempotency,
    private readonly repo: HooksRepository,
  ) {}

  /** Output rows of a running run; each carries `run_id`, hence its exact release. A finished run takes no more. */
  execute(principal: Principal, input: { runId: string; rows: Array<Record<string, unknown>> }): Promise<{ ids: string[] }> {
    return this.repo.transaction(async (tx) => {
      const run = await this.repo.lockRun(tx, principal.tenantId, input.runId);
      if (!run) throw new DomainError('NOT_FOUND', 'run not found');
      if (run.status !== 'running') throw new DomainError('CONFLICT', `run already finished (${run.status})`, { status: run.status });
      const rows = input.rows.map((payload) => ({ id: newId(), payload }));
      await this.repo.insertOutputs(tx, principal.tenantId, input.runId, rows);
      const reply = { ids: rows.map((r) => r.id) };
      await this.idempotency.completeWithin(tx, reply);
      return reply;
    });
  }
}
