import { Controller, Get, Header, Global, Injectable, Module, type CallHandler, type DynamicModule, type ExecutionContext, type NestInterceptor } from '@nestjs/common';
import { APP_INTERCEPTOR } from '@nestjs/core';
import { Observable, tap } from 'rxjs';
import { Public } from '@agentplane/auth';
import { getRpcInfo } from 'nestjs-pino';
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

/** Counts and times every NATS request a service handles: `rpc_server_requests_total{subject,outcome}`. */
@Injectable()
export class RpcMetricsInterceptor implements NestInterceptor {
  private readonly requests: Counter<'subject' | 'outcome'>;
  private readonly duration: Histogram<'subject'>;

  constructor(registry: MetricsRegistry) {
    this.requests = new Counter({ name: 'rpc_server_requests_total', help: 'NATS requests handled, by subject and outcome (ok|error)', labelNames: ['subject', 'outcome'], registers: [registry] });
    this.duration = new Histogram({ name: 'rpc_server_duration_seconds', help: 'NATS handler time in seconds', labelNames: ['subject'], buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5], registers: [registry] });
  }

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    if (context.getType() !== 'rpc') return next.handle();
    // The handler's pattern, not the wire subject (which may carry a deployment prefix).
    const subject = String(getRpcInfo(context).pattern ?? 'unknown');
    const end = this.duration.startTimer({ subject });
    return next.handle().pipe(
      tap({
        next: () => undefined,
        complete: () => {
          end();
          this.requests.inc({ subject, outcome: 'ok' });
        },
        error: () => {
          end();
          this.requests.inc({ subject, outcome: 'error' });
        },
      }),
    );
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
      providers: [{ provide: MetricsRegistry, useValue: registry }, { provide: APP_INTERCEPTOR, useClass: RpcMetricsInterceptor }],
      exports: [MetricsRegistry],
    };
  }
}
