import { randomUUID } from 'node:crypto';
import { RequestMethod, type DynamicModule } from '@nestjs/common';
import { LoggerModule } from 'nestjs-pino';
import type { IncomingMessage } from 'node:http';
import { wellFormedRequestId } from '@agentplane/domain';

/** Paths whose values never reach a log line: tokens, keys and cookies. */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["idempotency-key"]',
  'headers.authorization',
  'authorization',
  'token',
  '*.token',
  'password',
  '*.password',
  'secret',
  '*.secret',
];

/** The caller's request id if it is well-formed, else a new one. */
export function requestIdFrom(value: unknown): string {
  return wellFormedRequestId(value) ?? randomUUID();
}

interface NatsHeadersLike {
  get(name: string): string;
}

function natsHeaderOf(ctx: unknown, name: string): string | undefined {
  const headers = (ctx as { getHeaders?: () => NatsHeadersLike | undefined }).getHeaders?.();
  const v = headers?.get(name);
  return v ? v : undefined;
}

/** The code of a DomainError other than INTERNAL, else undefined. */
function expectedCode(err: unknown): string | undefined {
  const e = err as { name?: unknown; code?: unknown } | undefined;
  return e && e.name === 'DomainError' && typeof e.code === 'string' && e.code !== 'INTERNAL' ? e.code : undefined;
}

export interface LoggingOptions {
  service: string;
  level: string;
  /** Pretty output is for people at a terminal; JSON is the default. */
  destination?: NodeJS.WritableStream;
}

/** pino's levels, most verbose first. */
const VERBOSITY = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'];

/**
 * Whether a service at LOG_LEVEL `level` writes lines of level `line` (pino's names; `silent` or an unknown level
 * writes none). No level given: every line, as for a caller that did not say.
 */
export function writesAt(level: string | undefined, line: 'debug' | 'info'): boolean {
  if (level === undefined) return true;
  const at = VERBOSITY.indexOf(level);
  return at !== -1 && at <= VERBOSITY.indexOf(line);
}

/** Probes and scrapes, not requests: never an access log line. */
const UNLOGGED_PATHS = new Set(['/healthz', '/readyz', '/metrics']);

/** A request's path as the client sent it: under Fastify the middleware sees `url` relative to its mount. */
export function pathOf(req: { url?: string; originalUrl?: string }): string {
  const url = req.originalUrl ?? req.url ?? '';
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}

/** A query parameter whose name says it holds a secret (`access_token`, `api_key`, `password`, `sig`, …). */
const SECRET_PARAM = /token|secret|passw|pwd|api[-_]?key|^key$|auth|credential|session|signature|^sig$/i;

/**
 * A request's URL as the access log writes it: the value of a query parameter whose name says it holds a secret is
 * `[redacted]`. No route takes a token in its query (it would end up in logs like this one), but a client may still
 * send one, and the line is written before any route refuses it.
 */
export function loggedUrl(url: string | undefined): string | undefined {
  const q = url?.indexOf('?') ?? -1;
  if (url === undefined || q === -1) return url;
  const query = url
    .slice(q + 1)
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=');
      const name = eq === -1 ? pair : pair.slice(0, eq);
      let decoded = name;
      try {
        decoded = decodeURIComponent(name.replace(/\+/g, ' '));
      } catch {
        // a malformed escape: judge the name as it came
      }
      return eq !== -1 && SECRET_PARAM.test(decoded) ? `${name}=[redacted]` : pair;
    })
    .join('&');
  return `${url.slice(0, q)}?${query}`;
}

/** Every HTTP route (/healthz, /readyz and /metrics are left out by `autoLogging.ignore`). */
const HTTP_LOGGED_ROUTES = [{ path: '{*splat}', method: RequestMethod.ALL }];

export function loggingModule(opts: LoggingOptions): DynamicModule {
  // The microservice hook writes one line per NATS message at info and builds three child loggers per message to do
  // so, whatever the level. At warn and above it would write nothing (an unexpected error is logged by the
  // ErrorFilter with its errorId) and its child loggers were ~7 % of a service's CPU per request (issue 19): left out.
  const perRequest = writesAt(opts.level, 'info'); // a line per request ("request completed") is written at info
  return LoggerModule.forRoot({
    // The HTTP middleware, named outright: nestjs-pino's default route (`{/*splat}`) matches no request under Nest
    // 12's Fastify adapter, so no HTTP request was logged. Below info it would write nothing: left out, as the hook is.
    forRoutes: perRequest ? HTTP_LOGGED_ROUTES : [],
    pinoHttp: {
      name: opts.service,
      level: opts.level,
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      genReqId: (req: IncomingMessage) => requestIdFrom(req.headers['x-request-id']),
      customProps: () => ({ service: opts.service }),
      serializers: {
        req: (req: { id?: unknown; method?: string; url?: string }) => ({ id: req.id, method: req.method, url: loggedUrl(req.url) }),
      },
      autoLogging: { ignore: (req: IncomingMessage) => UNLOGGED_PATHS.has(pathOf(req)) },
      ...(opts.destination ? { stream: opts.destination } : {}),
    },
    microservice: perRequest && {
      genReqId: (context) => requestIdFrom(natsHeaderOf(context.switchToRpc().getContext(), 'x-request-id')),
      customProps: () => ({ service: opts.service }),
      // An expected outcome (bad input, not found, denied) is no error of ours: info, and no stack.
      customLogLevel: (_context, err) => (err === undefined ? 'info' : expectedCode(err) ? 'info' : 'error'),
      customErrorObject: (_context, err, value) => {
        const code = expectedCode(err);
        return code ? { ...value, err: undefined, code } : value;
      },
    },
  } as Parameters<typeof LoggerModule.forRoot>[0]);
}
