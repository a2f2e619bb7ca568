import { Controller, Get, Inject, Module, Res, ServiceUnavailableException, type DynamicModule, type Provider } from '@nestjs/common';
import { HealthCheck, HealthCheckService, HealthIndicatorService, TerminusModule, type HealthIndicatorResult } from '@nestjs/terminus';
import { Public } from '@agentplane/auth';

/** A dependency the app cannot serve without (its database, NATS). */
export interface ReadinessCheck {
  name: string;
  check(): Promise<void>;
}

export const READINESS_CHECKS = Symbol('READINESS_CHECKS');

@Controller()
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly indicators: HealthIndicatorService,
    @Inject(READINESS_CHECKS) private readonly checks: ReadinessCheck[],
  ) {}

  /** Liveness: the process answers. */
  @Public()
  @Get('healthz')
  @HealthCheck()
  healthz() {
    return this.health.check([]);
  }

  /**
   * Readiness: every dependency answers within a second. Not ready is 503 with terminus' own body, so an operator
   * sees which dependency is down (the app's error filter would otherwise reduce it to a bare error code).
   */
  @Public()
  @Get('readyz')
  @HealthCheck()
  async readyz(@Res({ passthrough: true }) res: { status(code: number): unknown }) {
    try {
      return await this.health.check(this.checks.map((c) => () => this.probe(c)));
    } catch (err) {
      if (!(err instanceof ServiceUnavailableException)) throw err;
      res.status(503);
      return err.getResponse();
    }
  }

  private async probe(c: ReadinessCheck): Promise<HealthIndicatorResult> {
    const session = this.indicators.check(c.name);
    try {
      await Promise.race([
        c.check(),
        new Promise((_, reject) => setTimeout(() => reject(new Error('timed out after 1000 ms')), 1000).unref()),
      ]);
      return session.up();
    } catch (err) {
      return session.down({ message: err instanceof Error ? err.message : String(err) });
    }
  }
}

@Module({})
export class HealthModule {
  /** `checks` is a provider of READINESS_CHECKS (usually a factory over the app's own connections). */
  static forRoot(checks: Provider): DynamicModule {
    return {
      module: HealthModule,
      imports: [TerminusModule.forRoot({ logger: false })],
      controllers: [HealthController],
      providers: [checks],
    };
  }
}
