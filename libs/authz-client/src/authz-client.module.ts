import { Global, Inject, Module, type DynamicModule, type OnApplicationShutdown } from '@nestjs/common';
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import { Counter } from 'prom-client';
import { NATS_CONNECTION, NATS_OPTIONS, RpcClient } from '@agentplane/messaging';
import { MetricsRegistry } from '@agentplane/observability';
import { AuthzClient } from './authz-client.js';
import { DecisionCache, type DecisionCacheOptions } from './decision-cache.js';

const DECISION_SUBSCRIPTION = Symbol('DECISION_SUBSCRIPTION');

/** `authz_decision_cache_total{outcome}`, read from the cache's counters at each scrape. */
function countAnswers(cache: DecisionCache, registry: MetricsRegistry): void {
  new Counter({
    name: 'authz_decision_cache_total',
    help: 'Allowed authz decisions answered from the decision cache (hit), asked of authz-proxy (miss), or asked because no revision announcement was heard lately (unheard)',
    labelNames: ['outcome'],
    registers: [registry],
    collect() {
      this.reset();
      this.inc({ outcome: 'hit' }, cache.stats.hits);
      this.inc({ outcome: 'miss' }, cache.stats.misses);
      this.inc({ outcome: 'unheard' }, cache.stats.unheard);
    },
  });
}

export interface AuthzClientModuleOptions {
  /** Keep allowed decisions until authz-proxy announces a change (DESIGN §3, the decision cache); off: ask every time. */
  decisionCache: ({ enabled: true } & DecisionCacheOptions) | { enabled: false };
}

/**
 * Provides AuthzClient over the app's RpcClient (MessagingModule must be imported), with its decision cache listening
 * to authz-proxy's revision announcements on the app's NATS connection.
 */
@Global()
@Module({})
export class AuthzClientModule implements OnApplicationShutdown {
  constructor(@Inject(DECISION_SUBSCRIPTION) private readonly sub: { sub?: Subscription }) {}

  static forRoot(opts: AuthzClientModuleOptions): DynamicModule {
    return {
      module: AuthzClientModule,
      providers: [
        {
          provide: DECISION_SUBSCRIPTION,
          useFactory: (nc: NatsConnection, nats: { prefix: string }, registry?: MetricsRegistry) => {
            if (!opts.decisionCache.enabled) return {};
            const subscribed = DecisionCache.subscribe(nc, nats.prefix, opts.decisionCache);
            if (registry) countAnswers(subscribed.cache, registry);
            return subscribed;
          },
          inject: [NATS_CONNECTION, NATS_OPTIONS, { token: MetricsRegistry, optional: true }],
        },
        {
          provide: AuthzClient,
          useFactory: (rpc: RpcClient, s: { cache?: DecisionCache }) => new AuthzClient(rpc, s.cache),
          inject: [RpcClient, DECISION_SUBSCRIPTION],
        },
      ],
      exports: [AuthzClient],
    };
  }

  onApplicationShutdown(): void {
    if (this.sub.sub && !this.sub.sub.isClosed()) this.sub.sub.unsubscribe();
  }
}
