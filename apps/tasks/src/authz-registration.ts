import { Inject, Injectable, Logger } from '@nestjs/common';
import { ExponentialBackoff, fullJitterGenerator, handleWhen, retry } from 'cockatiel';
import { Counter } from 'prom-client';
import { authzContract, tasksEvents, type RequestOf } from '@agentplane/contracts';
import { isDomainError } from '@agentplane/domain';
import { RpcClient, outboxEventRow, writeOutboxEvent, type OutboxRow, type OutboxSql } from '@agentplane/messaging';
import { MetricsRegistry } from '@agentplane/observability';
import { currentRequestContext } from '@agentplane/auth';

export const REGISTRATION_MODE = Symbol('REGISTRATION_MODE');
export type RegistrationMode = 'off' | 'outbox' | 'sync';

/** `resource` (`task:<id>`), tenant, owner (`user:…`/`service_account:…`), parent (`agent:<id>`). */
export type ResourceRegisteredEvent = RequestOf<typeof authzContract.register>;

type Op = 'register' | 'deregister';
type Outcome = 'attempt' | 'success' | 'retry' | 'failure';

/** Transient: the authz proxy did not answer (timeout, no responders). Anything else will not change on retry. */
export function isTransient(err: unknown): boolean {
  return isDomainError(err) && err.code === 'UNAVAILABLE';
}

/**
 * Registers tasks and agents with the authz proxy without lost or duplicate work (DESIGN §4): the event is written to
 * the outbox in the business transaction; in `sync` mode the register call is also tried inline after commit, with
 * exponential backoff and full jitter on transient errors (3 retries, 4 attempts). A failure after commit is only
 * logged and counted: the committed row stands and the relay completes the registration. Register and deregister
 * are idempotent at the authz proxy, so the relay's copy of an inline success is harmless.
 */
@Injectable()
export class AuthzRegistration {
  private readonly logger = new Logger('AuthzRegistration');
  private readonly counter: Counter<'op' | 'outcome' | 'exception_class'>;

  constructor(
    @Inject(REGISTRATION_MODE) readonly mode: RegistrationMode,
    private readonly rpc: RpcClient,
    registry: MetricsRegistry,
  ) {
    this.counter = new Counter({
      name: 'tasks_authz_registration_total',
      help: 'Inline (sync mode) authz registrations by op and outcome (attempt|success|retry|failure)',
      labelNames: ['op', 'outcome', 'exception_class'],
      registers: [registry],
    });
  }

  /** In the business transaction: the registration event commits with the row, or neither does. */
  async enqueueRegister(tx: OutboxSql, event: ResourceRegisteredEvent): Promise<void> {
    if (this.mode === 'off') return;
    await writeOutboxEvent(tx, tasksEvents.resourceRegistered, event, { headers: this.headers() });
  }

  /**
   * The same registration event as an outbox row, for a use case that writes it in a statement of its own (still in
   * the business transaction); undefined when registration is off.
   */
  registerRow(event: ResourceRegisteredEvent): OutboxRow | undefined {
    if (this.mode === 'off') return undefined;
    return outboxEventRow(tasksEvents.resourceRegistered, event, { headers: this.headers() });
  }

  async enqueueDeregister(tx: OutboxSql, resource: string): Promise<void> {
    if (this.mode === 'off') return;
    await writeOutboxEvent(tx, tasksEvents.resourceDeregistered, { resource }, { headers: this.headers() });
  }

  /** After commit, in `sync` mode: register inline. Never throws. */
  async registerNow(event: ResourceRegisteredEvent): Promise<boolean> {
    if (this.mode !== 'sync') return false;
    return this.inline('register', () => this.rpc.call(authzContract.register, event, this.callContext()));
  }

  async deregisterNow(resource: string): Promise<boolean> {
    if (this.mode !== 'sync') return false;
    return this.inline('deregister', () => this.rpc.call(authzContract.deregister, { resource }, this.callContext()));
  }

  private async inline(op: Op, call: () => Promise<unknown>): Promise<boolean> {
    const policy = retry(handleWhen(isTransient), {
      maxAttempts: 3,
      backoff: new ExponentialBackoff({ generator: fullJitterGenerator, initialDelay: 50, maxDelay: 1_000 }),
    });
    policy.onRetry(() => this.count(op, 'retry'));
    try {
      await policy.execute(async () => {
        this.count(op, 'attempt');
        await call();
      });
      this.count(op, 'success');
      return true;
    } catch (err) {
      const exceptionClass = isDomainError(err) ? err.code : err instanceof Error ? err.name : 'unknown';
      this.count(op, 'failure', exceptionClass);
      this.logger.warn({ op, exceptionClass }, `inline authz ${op} failed; the outbox relay will complete it`);
      return false;
    }
  }

  private count(op: Op, outcome: Outcome, exceptionClass = ''): void {
    this.counter.inc({ op, outcome, exception_class: exceptionClass });
  }

  private callContext() {
    const ctx = currentRequestContext();
    return { token: ctx?.token, requestId: ctx?.requestId };
  }

  private headers(): Record<string, string> {
    const id = currentRequestContext()?.requestId;
    return id ? { 'x-request-id': id } : {};
  }
}
