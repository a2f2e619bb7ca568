import { ModuleRef, NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { Logger } from 'nestjs-pino';
import { HEADERS } from '@agentplane/contracts';
import { DomainError, validationError, type ErrorBody } from '@agentplane/domain';
import { ConfigError, RpcServerMetrics, requestIdFrom } from '@agentplane/observability';
import { AgentplaneNatsServer } from './server.js';
import { parseJsonBody } from './json-body.js';
import type { NatsOptions } from './nats.js';

export interface ServiceOptions {
  service: string;
  http: { host: string; port: number; bodyLimitBytes?: number };
  /** Serve this app's @MessagePattern handlers over NATS in the queue group `service` (absent for the gateway). */
  nats?: NatsOptions;
  /** Last wiring before the port opens (e.g. the gateway's /docs). */
  beforeListen?: (app: NestFastifyApplication) => void | Promise<void>;
}

/** The longest path parameter the router takes; a longer one is VALIDATION before any route runs. */
const MAX_PATH_PARAM_LENGTH = 2048;

/** What Fastify rejects before any route (and so any exception filter) runs, said without echoing the URL. */
const FRAMEWORK_ERRORS: Record<string, string> = {
  FST_ERR_MAX_PARAM_LENGTH: `a path parameter is longer than ${MAX_PATH_PARAM_LENGTH} characters`,
  FST_ERR_BAD_URL: 'the URL is not valid (its percent-encoding)',
};

/** The error envelope for such a rejection: VALIDATION naming the URL. */
function frameworkErrorBody(code: string): { error: ErrorBody } {
  const message = FRAMEWORK_ERRORS[code] ?? 'the request is not valid';
  return { error: validationError([{ path: 'url', message }], message).toBody() };
}

/**
 * What Node's HTTP parser refuses before Fastify has a request (a request line and headers over Node's limit, a request
 * that is not HTTP, one too slow to arrive), answered in the API's envelope instead of Fastify's own body, and the
 * connection closed as Fastify does. The status stays the one HTTP has for it.
 */
function clientErrorHandler(err: Error & { code?: string }, socket: Duplex): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, reason, message] =
    err.code === 'HPE_HEADER_OVERFLOW'
      ? [431, 'Request Header Fields Too Large', 'the request line and headers are larger than the server accepts (16 KiB)']
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'Request Timeout', 'the request did not arrive in time']
        : [400, 'Bad Request', 'the request is not valid HTTP'];
  const body = JSON.stringify({ error: validationError([{ path: status === 431 ? 'header' : '', message }], message).toBody() });
  if (socket.writable) {
    socket.write(`HTTP/1.1 ${status} ${reason}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nContent-Type: application/json; charset=utf-8\r\nConnection: close\r\n\r\n${body}`);
  }
  socket.destroy(err);
}

/**
 * Starts a service: Fastify for health/metrics (and the gateway's REST routes), the NATS server in its queue group,
 * pino as Nest's logger, and shutdown hooks that drain NATS before the process exits.
 */
export async function startService(module: unknown, opts: ServiceOptions): Promise<NestFastifyApplication> {
  const bodyLimit = opts.http.bodyLimitBytes ?? 1_048_576;
  const adapter = new FastifyAdapter({
    bodyLimit,
    // A request's id is the caller's `x-request-id` when well-formed, else a new one: the access log line (pino-http
    // takes the request's id as it finds it) and the NATS requests the gateway makes for it carry the same.
    genReqId: (req: IncomingMessage) => requestIdFrom(req.headers['x-request-id']),
    // A path parameter is bounded by its contract (a name may be 200 characters), not by the router's default of 100.
    routerOptions: { maxParamLength: MAX_PATH_PARAM_LENGTH },
    // while stopping, a new request gets the API's own 503 envelope (stopAcceptingOnClose), not Fastify's
    return503OnClosing: false,
    clientErrorHandler,
    frameworkErrors: (err: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
      // before the onRequest hook (a URL it cannot decode): that hook's headers here too
      void reply.header(HEADERS.requestId, request.id).headers(EVERY_REPLY).code(400).type('application/json; charset=utf-8').send(frameworkErrorBody(err.code));
    },
  });
  // JSON is the only body a route reads (DESIGN §11): no form parser, so a form post is 415, never read as fields; nor
  // Fastify's own text/plain one, which handed a route the text as a string ("expected object, received string" for
  // JSON sent as text/plain): 415 naming the content type says what to change.
  const app = await NestFactory.create<NestFastifyApplication>(module as never, adapter, { bufferLogs: true, bodyParser: false });
  app.getHttpAdapter().getInstance().removeContentTypeParser('text/plain');
  app.useBodyParser('application/json', { bodyLimit }, parseJsonBody);
  onEveryRequest(app);
  app.useLogger(app.get(Logger));
  app.flushLogs();
  if (opts.nats) {
    app.connectMicroservice(
      { strategy: new AgentplaneNatsServer({ ...opts.nats, queue: opts.service }, optional(app, RpcServerMetrics)) },
      { inheritAppConfig: true },
    );
    await app.startAllMicroservices();
  }
  app.enableShutdownHooks();
  await opts.beforeListen?.(app);
  await app.listen(opts.http.port, opts.http.host);
  // The runtime is part of what an operator checks first (DESIGN §1); /metrics has it too (nodejs_version_info).
  app.get(Logger).log({ msg: `${opts.service} started`, node: process.version, pid: process.pid, port: opts.http.port }, 'Bootstrap');
  return app;
}

/**
 * What every reply says besides its request id (OWASP's REST headers): an answer is never cached (it is a tenant's data,
 * read with a token), never sniffed as another type, never framed. The console's files say their own cache-control,
 * and their own Content-Security-Policy (apps/gateway console-static).
 */
const EVERY_REPLY = { 'cache-control': 'no-store', 'x-content-type-options': 'nosniff', 'x-frame-options': 'DENY' } as const;

/**
 * The one hook every HTTP request passes (one, not one per concern: issue 19).
 *
 * Every reply says which request it answers (`x-request-id`: the caller's when well-formed, else the one made for it),
 * so a caller can quote it and one grep finds the request in every process's log, and EVERY_REPLY's headers. The raw
 * request carries the same id, which pino-http's access line and the gateway's NATS requests take (`req.id ||
 * genReqId`): one id throughout.
 *
 * A stop is not held up by keep-alive connections. Node's `server.close()` closes the connections idle at that moment
 * only; one busy then (a request being answered, an event stream ending) stayed open until its keep-alive timeout
 * (Fastify's 72 s) and kept the process alive that long after its last answer. From the moment the server closes,
 * connections that fall idle are closed every 100 ms until it is gone, and a request that still arrives on a
 * kept-alive connection is 503 UNAVAILABLE in the API's envelope (`Connection: close`): the caller retries, on another
 * instance.
 */
function onEveryRequest(app: NestFastifyApplication): void {
  const fastify = app.getHttpAdapter().getInstance();
  let closing = false;
  fastify.addHook('preClose', (done) => {
    closing = true;
    const sweep = setInterval(() => fastify.server.closeIdleConnections(), 100).unref();
    fastify.server.once('close', () => clearInterval(sweep));
    done();
  });
  fastify.addHook('onRequest', (request, reply, done) => {
    (request.raw as IncomingMessage & { id?: string }).id = request.id;
    void reply.header(HEADERS.requestId, request.id).headers(EVERY_REPLY); // no object made per request
    if (!closing) return done();
    void reply
      .header('connection', 'close')
      .header('retry-after', '1')
      .code(503)
      .type('application/json; charset=utf-8')
      .send({ error: new DomainError('UNAVAILABLE', 'this instance is stopping: nothing was done; retry the request', { outcome: 'not_taken' }).toBody() });
  });
}

/**
 * The app's provider of `token`, or undefined when no module provides it (an app without MetricsModule). Through
 * ModuleRef: the app object itself exits the process on a failed lookup (Nest's abortOnError).
 */
function optional<T>(app: NestFastifyApplication, token: abstract new (...args: never[]) => T): T | undefined {
  try {
    return app.get(ModuleRef).get(token, { strict: false });
  } catch {
    return undefined;
  }
}

/**
 * A service's process entry: runs `main`; a bad configuration prints its message (which names every variable at
 * fault, without a stack) and exits 1, as does any other start-up failure.
 */
export function runMain(service: string, main: () => Promise<unknown>): void {
  main().catch((err: unknown) => {
    console.error(err instanceof ConfigError ? `${service}: ${err.message}` : err);
    process.exit(1);
  });
}
