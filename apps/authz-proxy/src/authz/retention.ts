import { Inject, Injectable, Logger, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import { PeriodicJob } from '@agentplane/persistence';
import { AUTHZ_SETTINGS, type AuthzSettings } from '../config.js';
import { TuplesRepository } from './tuples.repository.js';

const PRUNE_INTERVAL_MS = 10 * 60_000;

/**
 * What authz-proxy keeps only for a while, pruned at start (in the background) and every 10 minutes by every
 * instance (the batches skip rows another one holds):
 * - applied event ids and deregistrations, past AUTHZ_APPLIED_EVENTS_RETENTION_HOURS: kept only as long as a copy of
 *   an event could still arrive;
 * - grant changes (the audit `grant_history` reads), past AUTHZ_GRANT_HISTORY_RETENTION_HOURS when it is set (0, the
 *   default, keeps them all).
 * A failure is logged and retried at the next run.
 */
@Injectable()
export class AuthzRetention implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('authz-retention');
  private readonly job = new PeriodicJob(() => this.pruneOnce(), PRUNE_INTERVAL_MS, (err) =>
    this.logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'pruning failed; retrying at the next run'),
  );

  constructor(
    @Inject(AUTHZ_SETTINGS) private readonly settings: AuthzSettings,
    private readonly tuples: TuplesRepository,
  ) {}

  onApplicationBootstrap(): void {
    this.job.start({ atOnce: true });
  }

  /** Before the pool closes, so a run under way ends first. */
  async beforeApplicationShutdown(): Promise<void> {
    await this.job.stop();
  }

  /** One pruning of each; returns how many rows of each went. */
  async pruneOnce(): Promise<{ appliedEvents: number; deregistrations: number; grantChanges: number }> {
    const applied = this.settings.events.appliedRetentionHours;
    const out = {
      appliedEvents: await this.tuples.pruneAppliedEvents(applied),
      deregistrations: await this.tuples.pruneDeregistered(applied),
      grantChanges: await this.tuples.pruneGrantChanges(this.settings.grantHistoryRetentionHours),
    };
    if (out.appliedEvents + out.deregistrations + out.grantChanges > 0) this.logger.log(out, 'pruned past their retention');
    return out;
  }
}
