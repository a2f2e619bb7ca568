import { Controller, Get, Header, Global, Injectable, Module, type DynamicModule } from '@nestjs/common';
import { Public } from '@agentplane/auth';
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** One registry per app instance (several apps may share a test process). */
export class MetricsRegistry extends Registry {}

@Controller()
export class MetricsController {
  constructor(private readonly registry: MetricsRegistry) {}

  @Public()
  @Get('metrics')
  @Header('content-type', 'text/plain; version=0.0.4; charset=utf-8')
  metrics(): Promise<string> {
    return this.registry.metrics();
  }
}

/**
 * `rpc_server_requests_total{subject,outcome}` and `rpc_server_duration_seconds{subject}`: every NATS request a
 * service answers, counted and timed by the transport that answers it (the NATS server of libs/messaging, and
 * authz-proxy's check responder) rather than by a Nest interceptor, whose rxjs pipeline cost more per request than
 * the counting (issue 19). `subject` is the handler's pattern, not the wire subject (which may carry a deployment
 * prefix).
 */
@Injectable()
export class RpcServerMetrics {
  readonly requests: Counter<'subject' | 'outcome'>;
  readonly duration: Histogram<'subject'>;

  constructor(registry: MetricsRegistry) {
    this.requests = new Counter({ name: 'rpc_server_requests_total', help: 'NATS requests handled, by subject and outcome (ok|error)', labelNames: ['subject', 'outcome'], registers: [registry] });
    this.duration = new Histogram({ name: 'rpc_server_duration_seconds', help: 'NATS handler time in seconds', labelNames: ['subject'], buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5], registers: [registry] });
  }

  /** Starts timing one request of `subject`; call the result once with whether it answered ok. */
  start(subject: string): (ok: boolean) => void {
    const t0 = process.hrtime.bigint();
    return (ok) => {
      this.duration.observe({ subject }, Number(process.hrtime.bigint() - t0) / 1e9);
      this.requests.inc({ subject, outcome: ok ? 'ok' : 'error' });
    };
  }
}

@Global()
@Module({})
export class MetricsModule {
  static forRoot(service: string): DynamicModule {
    const registry = new MetricsRegistry();
    registry.setDefaultLabels({ service });
    collectDefaultMetrics({ register: registry });
    return {
      module: MetricsModule,
      controllers: [MetricsController],
      providers: [{ provide: MetricsRegistry, useValue: registry }, RpcServerMetrics],
      exports: [MetricsRegistry, RpcServerMetrics],
    };
  }
}
