import { Injectable } from '@nestjs/common';
import { newId, subjectOf, type Principal } from '@agentplane/domain';
import type { z } from 'zod';
import type { ReleaseInput } from '@agentplane/contracts';
import { registerResource } from './authz-registration.js';
import type { HookRow, ReleaseRow } from './hook.js';
import { HooksRepository, type Tx } from './hooks.repository.js';

export type LiveChangeReason = 'release' | 'set_live' | 'deploy';

export interface Minted {
  created: boolean;
  release: ReleaseRow;
}

/**
 * Mints releases inside the caller's transaction. The rules of DESIGN §5 live here, shared by create_release and
 * deploy_convention: the digest check and the version are decided under the hook's row lock; a new release
 * becomes live and the move is audited.
 */
@Injectable()
export class ReleaseMinter {
  constructor(private readonly repo: HooksRepository) {}

  /** The caller holds the hook's row lock (`lockHook`). */
  async mintOnLocked(tx: Tx, principal: Principal, hook: HookRow, input: z.infer<typeof ReleaseInput>, reason: LiveChangeReason): Promise<Minted> {
    const existing = await this.repo.findReleaseByDigest(tx, hook.id, input.digest);
    if (existing) return { created: false, release: existing };
    const version = await this.repo.nextVersion(tx, hook.id);
    const from = await this.repo.findReleaseById(hook.liveReleaseId, tx);
    const release = await this.insert(tx, principal, hook.id, version, input);
    await this.moveLive(tx, principal, hook, from?.version ?? null, release, reason);
    return { created: true, release };
  }

  /**
   * Creates a hook with its first release, live. Returns null when the name was taken meanwhile (the caller then
   * locks the existing hook). The hook row points at a release inserted after it: the FK is deferred to commit.
   */
  async createHookWithFirstRelease(
    tx: Tx,
    principal: Principal,
    hook: { name: string; feature: string },
    input: z.infer<typeof ReleaseInput>,
    reason: LiveChangeReason,
  ): Promise<{ hook: HookRow; release: ReleaseRow } | null> {
    const row: Omit<HookRow, 'createdAt'> = {
      id: newId(),
      tenantId: principal.tenantId,
      name: hook.name,
      feature: hook.feature,
      liveReleaseId: newId(),
      createdBy: subjectOf(principal),
    };
    const createdAt = await this.repo.insertHookIfAbsent(tx, row);
    if (!createdAt) return null;
    await registerResource(tx, principal, { type: 'hook', id: row.id });
    const release = await this.insert(tx, principal, row.id, 1, input, row.liveReleaseId);
    const created = { ...row, createdAt };
    await this.repo.insertLiveChange(tx, {
      id: newId(),
      tenantId: principal.tenantId,
      hookId: row.id,
      fromVersion: null,
      toVersion: 1,
      reason,
      changedBy: subjectOf(principal),
    });
    return { hook: created, release };
  }

  /** Points the (locked) hook at `to` and records who moved it, from which version. No-op when already live. */
  async moveLive(tx: Tx, principal: Principal, hook: HookRow, fromVersion: number | null, to: ReleaseRow, reason: LiveChangeReason): Promise<boolean> {
    if (hook.liveReleaseId === to.id) return false;
    await this.repo.setLiveRelease(tx, hook.id, to.id);
    await this.repo.insertLiveChange(tx, {
      id: newId(),
      tenantId: principal.tenantId,
      hookId: hook.id,
      fromVersion,
      toVersion: to.version,
      reason,
      changedBy: subjectOf(principal),
    });
    return true;
  }

  private async insert(tx: Tx, principal: Principal, hookId: string, version: number, input: z.infer<typeof ReleaseInput>, id = newId()): Promise<ReleaseRow> {
    const release = await this.repo.insertRelease(tx, {
      id,
      hookId,
      version,
      image: input.image,
      digest: input.digest,
      config: input.config ?? {},
      sourceRef: input.sourceRef ?? null,
      builtBy: subjectOf(principal),
    });
    await registerResource(tx, principal, { type: 'release', id: release.id }, { type: 'hook', id: hookId });
    return release;
  }
}
