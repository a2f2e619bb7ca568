import { Injectable } from '@nestjs/common';
import { DomainError, type Principal } from '@agentplane/domain';
import type { ReplyOf, hooksContract } from '@agentplane/contracts';
import { toHook, toOutput, toRelease, toRun } from './hook.js';
import { HooksRepository } from './hooks.repository.js';

@Injectable()
export class GetProvenance {
  constructor(private readonly repo: HooksRepository) {}

  /** output → run → release (version, digest, config, source ref, built by) → hook. */
  async execute(principal: Principal, input: { id: string }): Promise<ReplyOf<typeof hooksContract.getProvenance>> {
    const output = await this.repo.findOutput(principal.tenantId, input.id);
    if (!output) throw new DomainError('NOT_FOUND', 'output not found');
    const run = await this.repo.findRun(principal.tenantId, output.runId);
    const release = run && (await this.repo.findReleaseById(run.releaseId));
    const hook = run && (await this.repo.findHookById(principal.tenantId, run.hookId));
    if (!run || !release || !hook) throw new Error(`output ${output.id}: broken provenance chain`);
    return {
      output: toOutput(output),
      run: toRun(run, hook.hook.name, release.version),
      release: toRelease(release, hook.hook.name),
      hook: toHook(hook.hook, hook.liveVersion),
    };
  }
}
