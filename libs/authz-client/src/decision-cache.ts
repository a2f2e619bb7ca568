import type { Subscription, NatsConnection } from '@nats-io/transport-node';
import { AUTHZ_REVISION_SUBJECT, RevisionNotice } from '@agentplane/contracts';

export interface DecisionCacheOptions {
  /** Cached decisions are used only while a revision notice or beacon was heard within this many milliseconds. */
  freshMs: number;
  /** At most this many decisions are kept (the oldest go first). */
  maxEntries: number;
}

export const DECISION_CACHE_DEFAULTS: DecisionCacheOptions = { freshMs: 500, maxEntries: 10_000 };

interface Entry {
  tenant: string;
  rev: bigint;
  epoch: string;
  reason: string;
}

/**
 * Allowed authz decisions kept by a service until the events that could change them say otherwise (DESIGN §3, the
 * decision cache; issue 19: no time-to-live). authz-proxy answers an allowed check read from the tuples alone with the
 * revision of the tenant's decisions it was read at; every change that can take access away in a tenant bumps that
 * revision in the change's own transaction, and authz-proxy announces the new revision as the change commits (before
 * the change's reply) and repeats the recent ones in a beacon every 100 ms. A decision is answered from here only
 *
 * - if its revision is not older than the latest this process has heard of for its tenant (so a revocation, a
 *   deregistration, a reparent or a mode change holds from the moment its announcement arrives), and
 * - while announcements are heard at all: with no notice or beacon for `freshMs` (nats-server or authz-proxy down,
 *   the subscription lost) every check goes to authz-proxy again, and once they are heard after such a gap everything
 *   kept before it is forgotten (a bump announced during the gap would otherwise be missed).
 *
 * - if it was made in the epoch last heard of (authz-proxy's AUTHZ_DEFAULT_MODE and AUTHZ_MAX_DEPTH, which can take
 *   access away without a revision): another epoch heard forgets everything kept.
 *
 * Denials are never kept: a registration landing grants access without a new revision.
 */
export class DecisionCache {
  private readonly entries = new Map<string, Entry>();
  /** Tenant → the latest revision heard of. */
  private readonly known = new Map<string, bigint>();
  private heardAt = Number.NEGATIVE_INFINITY;
  private epoch: string | undefined;
  /** Counters for tests and metrics: answered here, asked of authz-proxy, or asked because announcements were not heard. */
  readonly stats = { hits: 0, misses: 0, unheard: 0 };

  constructor(
    private readonly opts: DecisionCacheOptions = DECISION_CACHE_DEFAULTS,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Subscribes to authz-proxy's revision announcements on `nc` (every instance hears them: no queue group). */
  static subscribe(nc: NatsConnection, prefix: string, opts: DecisionCacheOptions = DECISION_CACHE_DEFAULTS): { cache: DecisionCache; sub: Subscription } {
    const cache = new DecisionCache(opts);
    const sub = nc.subscribe(`${prefix}${AUTHZ_REVISION_SUBJECT}`, {
      callback: (err, msg) => {
        if (err) return;
        let notice: RevisionNotice;
        try {
          notice = RevisionNotice.parse(msg.json());
        } catch {
          return; // not an announcement (only authz-proxy may publish here): ignored, as a beacon not heard
        }
        cache.hear(notice);
      },
    });
    return { cache, sub };
  }

  /** A notice or beacon from authz-proxy. */
  hear(notice: RevisionNotice): void {
    const now = this.now();
    if (now - this.heardAt > this.opts.freshMs || notice.epoch !== this.epoch) this.entries.clear();
    this.heardAt = now;
    this.epoch = notice.epoch;
    for (const { tenant, rev } of notice.revisions) {
      const r = BigInt(rev);
      if (r > (this.known.get(tenant) ?? 0n)) this.known.set(tenant, r);
    }
  }

  /** The reason of a kept allowed decision, or undefined: ask authz-proxy. */
  get(key: string): string | undefined {
    if (!this.fresh()) {
      this.stats.unheard++;
      return undefined;
    }
    const e = this.entries.get(key);
    if (e && e.epoch === this.epoch && e.rev >= (this.known.get(e.tenant) ?? 0n)) {
      this.stats.hits++;
      return e.reason;
    }
    if (e) this.entries.delete(key);
    this.stats.misses++;
    return undefined;
  }

  /**
   * Keeps an allowed decision stamped `<revision>.<epoch>` for `tenant` (unless a later revision of the tenant or
   * another epoch is already known).
   */
  put(key: string, tenant: string, stamp: string, reason: string): void {
    const dot = stamp.indexOf('.');
    if (dot <= 0) return;
    const rev = BigInt(stamp.slice(0, dot));
    const epoch = stamp.slice(dot + 1);
    if (!this.fresh() || epoch !== this.epoch || rev < (this.known.get(tenant) ?? 0n)) return;
    if (this.entries.size >= this.opts.maxEntries && !this.entries.has(key)) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
    this.entries.set(key, { tenant, rev, epoch, reason });
  }

  get size(): number {
    return this.entries.size;
  }

  private fresh(): boolean {
    return this.now() - this.heardAt <= this.opts.freshMs;
  }
}
