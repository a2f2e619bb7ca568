import { Inject, Injectable, Logger, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import { PeriodicJob } from '@agentplane/persistence';
import { PLUGIN_HISTORY_SETTINGS, type PluginHistorySettings } from '../config.js';
import { WorkspacesRepository } from '../workspaces/workspaces.repository.js';

const PRUNE_INTERVAL_MS = 10 * 60_000;

/**
 * Forgets the plugin changes older than PLUGIN_HISTORY_RETENTION_HOURS, at start (in the background) and every 10
 * minutes, when it is set (0, the default, keeps every one). Every instance may run it: the batches skip rows another
 * one holds. A failure is logged and retried at the next run.
 */
@Injectable()
export class PluginHistoryRetention implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('plugin-history-retention');
  private readonly job = new PeriodicJob(() => this.pruneOnce(), PRUNE_INTERVAL_MS, (err) =>
    this.logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'pruning plugin changes failed; retrying at the next run'),
  );

  constructor(
    private readonly repo: WorkspacesRepository,
    @Inject(PLUGIN_HISTORY_SETTINGS) private readonly settings: PluginHistorySettings,
  ) {}

  onApplicationBootstrap(): void {
    if (this.settings.retentionHours > 0) this.job.start({ atOnce: true });
  }

  /** Before the pool closes, so a run under way ends first. */
  async beforeApplicationShutdown(): Promise<void> {
    await this.job.stop();
  }

  /** One pruning; returns how many lines went. */
  async pruneOnce(): Promise<number> {
    const n = await this.repo.prunePluginChanges(this.settings.retentionHours);
    if (n > 0) this.logger.log({ deleted: n }, 'plugin changes pruned past their retention');
    return n;
  }
}
