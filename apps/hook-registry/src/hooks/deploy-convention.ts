import { Injectable } from '@nestjs/common';
import { Idempotency } from '@agentplane/idempotency';
import { DomainError, newId, subjectOf, type Principal } from '@agentplane/domain';
import type { DeployConventionRequest, ReplyOf, hooksContract } from '@agentplane/contracts';
import type { z } from 'zod';
import { canonicalJson, toConvention } from './hook.js';
import { HooksRepository } from './hooks.repository.js';
import { ReleaseMinter } from './release-minter.js';

type Reply = ReplyOf<typeof hooksContract.deployConvention>;
type HookResult = Reply['hooks'][number];

@Injectable()
export class DeployConvention {
  constructor(
    private readonly idempotency: Idempotency,
    private readonly repo: HooksRepository,
    private readonly minter: ReleaseMinter,
  ) {}

  /**
   * One transaction: upsert each hook (a changed output contract is CONFLICT), mint a release for each new digest
   * (live), upsert the convention by slug. Any failure rolls all of it back. `changed` is false when the identical
   * bundle was deployed already: then nothing was written.
   */
  execute(principal: Principal, input: z.infer<typeof DeployConventionRequest>): Promise<Reply> {
    const tenantId = principal.tenantId;
    return this.repo.transaction(async (tx) => {
      await this.repo.lockConventionSlug(tx, tenantId, input.slug);
      const results = new Map<string, HookResult>();
      // Hooks are locked in name order, so two deploys sharing hooks never wait on each other in a cycle.
      const ordered = input.hooks.map((h, index) => ({ ...h, index })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      for (const h of ordered) {
        let hook = await this.repo.lockHook(tx, tenantId, h.name);
        if (!hook) {
          const created = await this.minter.createHookWithFirstRelease(tx, principal, h, h.release, 'deploy');
          if (created) {
            results.set(h.name, { name: h.name, feature: h.feature, hookCreated: true, releaseCreated: true, version: 1, digest: h.release.digest });
            continue;
          }
          hook = await this.repo.lockHook(tx, tenantId, h.name); // created by a concurrent deploy that committed first
          if (!hook) throw new Error(`hook "${h.name}" neither inserted nor found`);
        }
        if (hook.feature !== h.feature) {
          throw new DomainError('CONFLICT', `hook "${h.name}" produces feature "${hook.feature}"; its output contract cannot change to "${h.feature}"`, {
            path: `hooks.${h.index}.feature`,
            hook: h.name,
            feature: hook.feature,
          });
        }
        const minted = await this.minter.mintOnLocked(tx, principal, hook, h.release, 'deploy');
        results.set(h.name, { name: h.name, feature: h.feature, hookCreated: false, releaseCreated: minted.created, version: minted.release.version, digest: minted.release.digest });
      }

      const hookNames = input.hooks.map((h) => h.name);
      const existing = await this.repo.findConvention(tenantId, input.slug, tx);
      const same =
        existing !== null &&
        canonicalJson(existing.schema) === canonicalJson(input.schema) &&
        canonicalJson(existing.hookNames) === canonicalJson(hookNames);
      const convention = same
        ? existing
        : await this.repo.upsertConvention(tx, { id: newId(), tenantId, slug: input.slug, schema: input.schema, hookNames, updatedBy: subjectOf(principal) });
      const hooks = input.hooks.flatMap((h) => results.get(h.name) ?? []);
      const changed = !same || hooks.some((h) => h.hookCreated || h.releaseCreated);
      const reply = { changed, convention: toConvention(convention), hooks };
      // The replayable response commits with the deploy, or neither does.
      await this.idempotency.completeWithin(tx, reply);
      return reply;
    });
  }
}
