import { Injectable } from '@nestjs/common';
import { z } from 'zod';
import { DomainError, type Principal } from '@agentplane/domain';
import { CursorInstant, CursorPositiveInt4, decodeCursor, encodeCursor, HookName, itemsWithinBudget, Uuid, type Convention, type Hook, type LiveChange, type Release } from '@agentplane/contracts';
import { toConvention, toHook, toLiveChange, toRelease, type HookRow } from './hook.js';
import { HooksRepository } from './hooks.repository.js';

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

/** Each list's cursor, the last item of its page: a hook's name, a release's version, a live change's time and id. */
const HooksCursor = z.tuple([HookName]);
const ReleasesCursor = z.tuple([CursorPositiveInt4]);
const LiveChangesCursor = z.tuple([
  // `changed_at` to the microsecond (`….000700Z`), or to the millisecond as cursors given before are: kept as text,
  // as a Date would drop the microseconds
  z.string().regex(/^.{23}(?:[0-9]{3})?Z$/).refine((s) => CursorInstant.safeParse(`${s.slice(0, 23)}Z`).success),
  Uuid,
]);

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
    const after = input.cursor === undefined ? undefined : decodeCursor(input.cursor, HooksCursor)[0];
    const rows = await this.repo.listHooks(principal.tenantId, input.limit + 1, after);
    const items = rows.slice(0, input.limit).map((r) => toHook(r.hook, r.liveVersion));
    const last = items[items.length - 1];
    return { items, nextCursor: rows.length > input.limit && last ? encodeCursor([last.name]) : null };
  }

  async releases(principal: Principal, input: { name: string; limit: number; cursor?: string }): Promise<Page<Release>> {
    const hook = await this.hookRow(principal, input.name);
    const before = input.cursor === undefined ? undefined : decodeCursor(input.cursor, ReleasesCursor)[0];
    const rows = await this.repo.listReleases(hook.id, input.limit + 1, before);
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
    const before = input.cursor === undefined ? undefined : decodeCursor(input.cursor, LiveChangesCursor);
    const rows = await this.repo.listLiveChanges(hook.id, input.limit + 1, before && { changedAt: before[0], id: before[1] });
    const page = rows.slice(0, input.limit);
    const last = page[page.length - 1];
    return {
      items: page.map((r) => toLiveChange(r, hook.name)),
      nextCursor: rows.length > input.limit && last ? encodeCursor([last.changedAtText, last.id]) : null,
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
