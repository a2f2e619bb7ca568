import { Inject, Injectable, Logger, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import { PeriodicJob } from '@agentplane/persistence';
import { HEARTBEAT_SETTINGS, type HeartbeatSettings } from '../config.js';
import { WorkspacesRepository } from './workspaces.repository.js';

/**
 * Stores `offline` on workspaces silent for longer than HEARTBEAT_SILENCE_SECONDS, every
 * HEARTBEAT_SWEEP_INTERVAL_SECONDS. Reads never wait for it (they compute the status), so it only keeps the
 * stored column honest for SQL readers. Every replica may run it: the UPDATE is idempotent.
 */
@Injectable()
export class HeartbeatSweeper implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(HeartbeatSweeper.name);
  private readonly job: PeriodicJob;

  constructor(
    private readonly repo: WorkspacesRepository,
    @Inject(HEARTBEAT_SETTINGS) private readonly settings: HeartbeatSettings,
  ) {
    this.job = new PeriodicJob(() => this.sweepOnce(), settings.sweepIntervalSeconds * 1000, (err) =>
      this.logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'heartbeat sweep failed; retrying next interval'),
    );
  }

  onApplicationBootstrap(): void {
    if (this.settings.sweeperEnabled) this.job.start();
  }

  async beforeApplicationShutdown(): Promise<void> {
    await this.job.stop();
  }

  /** One sweep; returns how many workspaces went offline. */
  async sweepOnce(): Promise<number> {
    const n = await this.repo.sweepSilent();
    if (n > 0) this.logger.log({ offline: n }, 'heartbeat sweep: silent workspaces marked offline');
    return n;
  }
}
