import { Inject, Injectable, Logger, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node';
import { TOKEN_VERIFIER, bearerToken, readHeader, type TokenVerifier } from '@agentplane/auth';
import { HEADERS, authzContract, type Envelope } from '@agentplane/contracts';
import { DomainError } from '@agentplane/domain';
import { InvalidPayload, NATS_CONNECTION, NATS_OPTIONS, fromZodError, normaliseError, parseJsonPayload } from '@agentplane/messaging';
import { RpcServerMetrics } from '@agentplane/observability';
import { SERVICE } from '../config.js';
import { CheckAccess } from './check-access.js';

const SUBJECT = authzContract.check.subject;

/** A header of the message, matched case-insensitively like the AccessGuard does. */
const header = (msg: Msg, name: string) => readHeader({ getHeaders: () => msg.headers }, name);

/**
 * `authz.v1.check` answered straight off the NATS subscription, without Nest's microservice pipeline: every request
 * of every service pays for this call, and the pipeline (context objects, rxjs, interceptor chain) cost about as
 * much as the query itself. It keeps the wire contract of every other handler: the caller's bearer token is verified
 * (UNAUTHENTICATED otherwise), the body is parsed with the contract schema (VALIDATION with field paths), errors are
 * the same envelope (INTERNAL with an errorId that is logged), and `rpc_server_*` metrics count it as usual.
 */
@Injectable()
export class CheckResponder implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('authz-check');
  private sub?: Subscription;

  constructor(
    @Inject(NATS_CONNECTION) private readonly nc: NatsConnection,
    @Inject(NATS_OPTIONS) private readonly nats: { prefix: string },
    @Inject(TOKEN_VERIFIER) private readonly verifier: TokenVerifier,
    private readonly checkAccess: CheckAccess,
    // The same series the NATS server keeps for every other subject.
    private readonly metrics: RpcServerMetrics,
  ) {}

  onApplicationBootstrap(): void {
    this.sub = this.nc.subscribe(`${this.nats.prefix}${SUBJECT}`, {
      queue: SERVICE,
      callback: (err, msg) => {
        if (!err) void this.handle(msg);
      },
    });
  }

  /** In-flight checks finish before the database pool closes. */
  async beforeApplicationShutdown(): Promise<void> {
    if (this.sub && !this.sub.isClosed()) await this.sub.drain().catch(() => undefined);
  }

  private async handle(msg: Msg): Promise<void> {
    const done = this.metrics.start(SUBJECT);
    let envelope: Envelope;
    try {
      envelope = { ok: true, data: await this.answer(msg) };
    } catch (err) {
      const n = normaliseError(err);
      if (n.unexpected !== undefined) {
        this.logger.error({ errorId: n.body.errorId, err: n.unexpected, requestId: header(msg, HEADERS.requestId) }, `unexpected error, errorId ${n.body.errorId}`);
      }
      envelope = { ok: false, error: n.body };
    }
    done(envelope.ok);
    if (msg.reply) msg.respond(JSON.stringify(envelope));
  }

  private async answer(msg: Msg): Promise<unknown> {
    const token = bearerToken(header(msg, HEADERS.authorization));
    if (!token) throw new DomainError('UNAUTHENTICATED', 'missing bearer token');
    const principal = await this.verifier.verify(token);
    const body = msg.data.length === 0 ? {} : parseJsonPayload(msg.data);
    if (body instanceof InvalidPayload) throw body.toError();
    const parsed = authzContract.check.request.safeParse(body);
    if (!parsed.success) throw fromZodError(parsed.error);
    return this.checkAccess.execute(principal, parsed.data, token);
  }
}
