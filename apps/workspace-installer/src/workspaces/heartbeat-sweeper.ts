import { Inject, Injectable, Logger, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
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
  private timer?: NodeJS.Timeout;
  private running?: Promise<unknown>;

  constructor(
    private readonly repo: WorkspacesRepository,
    @Inject(HEARTBEAT_SETTINGS) private readonly settings: HeartbeatSettings,
  ) {}

  onApplicationBootstrap(): void {
    if (!this.settings.sweeperEnabled) return;
    this.timer = setInterval(() => void this.tick(), this.settings.sweepIntervalSeconds * 1000);
    this.timer.unref();
  }

  async beforeApplicationShutdown(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }

  /** One sweep; returns how many workspaces went offline. */
  async sweepOnce(): Promise<number> {
    const n = await this.repo.sweepSilent();
    if (n > 0) this.logger.log({ offline: n }, 'heartbeat sweep: silent workspaces marked offline');
    return n;
  }

  private async tick(): Promise<void> {
    if (this.running) return;
    this.running = this.sweepOnce()
      .catch((err: unknown) => this.logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'heartbeat sweep failed; retrying next interval'))
      .finally(() => (this.running = undefined));
    await this.running;
  }
}
