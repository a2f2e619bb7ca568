import { Inject, Injectable, Logger, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import type { NatsConnection } from '@nats-io/transport-node';
import { AUTHZ_REVISION_SUBJECT, type RevisionNotice } from '@agentplane/contracts';
import { NATS_CONNECTION, NATS_OPTIONS } from '@agentplane/messaging';
import { AUTHZ_SETTINGS, decisionEpoch, type AuthzSettings } from '../config.js';
import { TuplesRepository, type TenantRevision } from './tuples.repository.js';

const FLUSH_TIMEOUT_MS = 1_000;

/**
 * Tells the services that cache decisions when one may no longer hold (DESIGN §3, the decision cache): each tenant
 * revision a commit of this process bumped, as soon as it has committed (before the change's own reply goes out, on
 * the same connection, so a caller told "revoked" who asks again through a service finds the service told first),
 * and every `everyMs` a beacon with the revisions bumped in the last `windowMs` by any instance. The beacon is the
 * services' proof that announcements flow: without one lately they ask authz-proxy every time. A beacon is sent only
 * after the database answered, so an authz-proxy that cannot read its database keeps no cache alive.
 */
@Injectable()
export class RevisionAnnouncer implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('authz-revision');
  private timer?: NodeJS.Timeout;
  private beaconing = false;
  private readonly subject: string;
  private readonly epoch: string;

  constructor(
    @Inject(NATS_CONNECTION) private readonly nc: NatsConnection,
    @Inject(NATS_OPTIONS) nats: { prefix: string },
    @Inject(AUTHZ_SETTINGS) private readonly settings: AuthzSettings,
    private readonly tuples: TuplesRepository,
  ) {
    this.subject = `${nats.prefix}${AUTHZ_REVISION_SUBJECT}`;
    this.epoch = decisionEpoch(settings);
    tuples.onRevision((revisions) => this.announce(revisions));
  }

  onApplicationBootstrap(): void {
    this.timer = setInterval(() => void this.beacon(), this.settings.revisionBeacon.everyMs);
    this.timer.unref();
    void this.beacon();
  }

  beforeApplicationShutdown(): void {
    clearInterval(this.timer);
  }

  /**
   * A commit's bumps: published, then flushed (nats-server has routed them when the flush returns), so the change's
   * reply, sent after this on the service's other connection, cannot reach a caller before the services have them.
   */
  private async announce(revisions: TenantRevision[]): Promise<void> {
    if (!this.publish(revisions, false)) return;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([this.nc.flush(), new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('flush timed out')), FLUSH_TIMEOUT_MS)))]);
    } catch (err) {
      // Not flushed in time (nats-server unreachable): the services stop hearing beacons too, so stop using their cache.
      this.logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'announcing a revision: the flush failed');
    } finally {
      clearTimeout(timer);
    }
  }

  private async beacon(): Promise<void> {
    if (this.beaconing) return; // the last one's read is still out: no second read piles up behind it
    this.beaconing = true;
    try {
      this.publish(await this.tuples.recentRevisions(this.settings.revisionBeacon.windowMs), true);
    } catch (err) {
      this.logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'no revision beacon: reading the revisions failed');
    } finally {
      this.beaconing = false;
    }
  }

  private publish(revisions: TenantRevision[], beacon: boolean): boolean {
    if (this.nc.isClosed()) return false;
    const notice: RevisionNotice = { revisions, beacon, epoch: this.epoch };
    try {
      this.nc.publish(this.subject, JSON.stringify(notice));
      return true;
    } catch (err) {
      // A lost announcement is heard with the next beacons (they repeat the last windowMs of bumps).
      this.logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'announcing a revision failed');
      return false;
    }
  }
}
