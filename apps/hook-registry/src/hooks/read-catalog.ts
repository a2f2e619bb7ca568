import { Injectable } from '@nestjs/common';
import { DomainError, type Principal } from '@agentplane/domain';
import { itemsWithinBudget, type Convention, type Hook, type LiveChange, type Release } from '@agentplane/contracts';
import { decodeCursor, encodeCursor, toConvention, toHook, toLiveChange, toRelease, type HookRow } from './hook.js';
import { HooksRepository } from './hooks.repository.js';

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

function badCursor(): DomainError {
  return new DomainError('VALIDATION', 'cursor: invalid', { issues: [{ path: 'cursor', message: 'invalid cursor' }] });
}

/**
 * The catalog reads, tenant-scoped: another tenant's hook or convention does not exist for the caller (NOT_FOUND).
 * Read-only queries with no invariant of their own, so one class rather than one file each.
 */
@Injectable()
export class ReadCatalog {
  constructor(private readonly repo: HooksRepository) {}

  async hook(principal: Principal, name: string): Promise<Hook> {
    const found = await this.repo.findHook(principal.tenantId, name);
    if (!found) throw new DomainError('NOT_FOUND', `hook "${name}" not found`);
    return toHook(found.hook, found.liveVersion);
  }

  async hooks(principal: Principal, input: { limit: number; cursor?: string }): Promise<Page<Hook>> {
    const after = decodeCursor(input.cursor);
    if (input.cursor !== undefined && (after?.length !== 1 || typeof after[0] !== 'string')) throw badCursor();
    const rows = await this.repo.listHooks(principal.tenantId, input.limit + 1, after?.[0] as string | undefined);
    const items = rows.slice(0, input.limit).map((r) => toHook(r.hook, r.liveVersion));
    const last = items[items.length - 1];
    return { items, nextCursor: rows.length > input.limit && last ? encodeCursor([last.name]) : null };
  }

  async releases(principal: Principal, input: { name: string; limit: number; cursor?: string }): Promise<Page<Release>> {
    const hook = await this.hookRow(principal, input.name);
    const before = decodeCursor(input.cursor);
    if (input.cursor !== undefined && (before?.length !== 1 || !Number.isInteger(before[0]))) throw badCursor();
    const rows = await this.repo.listReleases(hook.id, input.limit + 1, before?.[0] as number | undefined);
    const all = rows.slice(0, input.limit).map((r) => toRelease(r, hook.name));
    // releases with big configs answer fewer, to fit one message; the cursor goes on after the last one held
    const items = all.slice(0, itemsWithinBudget(all));
    const last = items[items.length - 1];
    const more = rows.length > input.limit || items.length < all.length;
    return { items, nextCursor: more && last ? encodeCursor([last.version]) : null };
  }

  async release(principal: Principal, input: { name: string; version: number }): Promise<Release> {
    const hook = await this.hookRow(principal, input.name);
    const row = await this.repo.findReleaseByVersion(hook.id, input.version);
    if (!row) throw new DomainError('NOT_FOUND', `hook "${input.name}" has no version ${input.version}`);
    return toRelease(row, hook.name);
  }

  async liveChanges(principal: Principal, input: { name: string; limit: number; cursor?: string }): Promise<Page<LiveChange>> {
    const hook = await this.hookRow(principal, input.name);
    const before = decodeCursor(input.cursor);
    const valid = before?.length === 2 && typeof before[0] === 'string' && !Number.isNaN(Date.parse(before[0])) && typeof before[1] === 'string';
    if (input.cursor !== undefined && !valid) throw badCursor();
    const rows = await this.repo.listLiveChanges(hook.id, input.limit + 1, before ? { changedAt: new Date(before[0] as string), id: before[1] as string } : undefined);
    const page = rows.slice(0, input.limit);
    const last = page[page.length - 1];
    return {
      items: page.map((r) => toLiveChange(r, hook.name)),
      nextCursor: rows.length > input.limit && last ? encodeCursor([last.changedAt.toISOString(), last.id]) : null,
    };
  }

  async convention(principal: Principal, slug: string): Promise<Convention> {
    const row = await this.repo.findConvention(principal.tenantId, slug);
    if (!row) throw new DomainError('NOT_FOUND', `convention "${slug}" not found`);
    return toConvention(row);
  }

  private async hookRow(principal: Principal, name: string): Promise<HookRow> {
    const found = await this.repo.findHook(principal.tenantId, name);
    if (!found) throw new DomainError('NOT_FOUND', `hook "${name}" not found`);
    return found.hook;
  }
}
