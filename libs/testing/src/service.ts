import { TEST_AUTH_ENV } from './tokens.js';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { startService } from '@agentplane/messaging';
import { NATS_URL, ensureTestEventsStream, testNatsAuth, testNatsEnv } from './nats-caller.js';

export interface RunningService {
  app: NestFastifyApplication;
  url: string;
  close(): Promise<void>;
}

/**
 * Boots one service in this process on a free port, serving its handlers over NATS under `prefix`. The prefix's
 * events stream is created first as the `ops` identity (a deploy's order: services only check it); `stream: false`
 * leaves it out (a test of a service waiting for a missing stream).
 */
export async function startTestService(
  module: unknown,
  opts: { service: string; prefix: string; nats?: boolean; identity?: string; stream?: boolean },
): Promise<RunningService> {
  if (opts.nats !== false && opts.stream !== false) await ensureTestEventsStream(opts.prefix);
  const app = await startService(module, {
    service: opts.service,
    http: { host: '127.0.0.1', port: 0 },
    nats: opts.nats === false ? undefined : { servers: NATS_URL, prefix: opts.prefix, name: opts.service, auth: testNatsAuth(opts.identity ?? opts.service) },
  });
  const address = app.getHttpServer().address() as { port: number };
  return { app, url: `http://127.0.0.1:${address.port}`, close: () => app.close() };
}

/**
 * The environment of a test app (silent logs unless a test captures them), connecting to the test NATS server as
 * `identity` (the service's own; without one, anonymously, which the secured server refuses).
 */
export function testEnv(extra: Record<string, string | undefined>, identity?: string): Record<string, string | undefined> {
  return { LOG_LEVEL: 'warn', NATS_URL, ...(identity ? testNatsEnv(identity) : {}), ...TEST_AUTH_ENV, ...extra };
}
