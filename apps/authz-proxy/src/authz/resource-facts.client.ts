import { Inject, Injectable, Logger } from '@nestjs/common';
import { Counter } from 'prom-client';
import { currentRequestContext } from '@agentplane/auth';
import { PENDING_REGISTRATIONS_BY_TYPE, RESOURCE_COUNTS_TYPES, RESOURCE_FACTS_BY_TYPE, resourceTypeOf, type RequestOf } from '@agentplane/contracts';
import { isDomainError } from '@agentplane/domain';
import { RpcClient } from '@agentplane/messaging';
import { MetricsRegistry } from '@agentplane/observability';
import { AUTHZ_SETTINGS, type AuthzSettings } from '../config.js';
import type { Registration } from './tuples.repository.js';

/**
 * The committed row of a resource authz-proxy has no registration for yet, asked of its owning service over that
 * service's internal facts subject (DESIGN §3: a fresh resource answers like an old one). Only authz-proxy may ask
 * and only the owner answers (the bus permissions); the caller's token goes along, so the owner answers only about
 * its tenant. The facts are used for one decision and never stored: the registration event stays the only writer.
 */
@Injectable()
export class ResourceFactsClient {
  private readonly logger = new Logger('authz-resource-facts');
  private readonly asked: Counter<'type' | 'outcome'>;
  private readonly pendingAsked: Counter<'type' | 'outcome'>;

  constructor(
    private readonly rpc: RpcClient,
    @Inject(AUTHZ_SETTINGS) private readonly settings: AuthzSettings,
    registry: MetricsRegistry,
  ) {
    this.asked = new Counter({
      name: 'authz_resource_facts_total',
      help: 'Facts of unregistered resources asked of their owning service, by type and outcome (found|absent|unavailable|no_responders|skipped)',
      labelNames: ['type', 'outcome'],
      registers: [registry],
    });
    this.pendingAsked = new Counter({
      name: 'authz_pending_registrations_total',
      help: 'Lookups that asked the owning service for its registrations on their way, by type and outcome (answered|truncated|unavailable|no_responders)',
      labelNames: ['type', 'outcome'],
      registers: [registry],
    });
  }

  /** The resource's facts, or null: no owner serves its type, no row, or no answer in time (decided as unregistered). */
  async of(resource: string, token?: string): Promise<Registration | null> {
    const type = resourceTypeOf(resource);
    const contract = RESOURCE_FACTS_BY_TYPE[type];
    const bearer = token ?? currentRequestContext()?.token;
    if (!contract || !bearer) {
      this.asked.inc({ type, outcome: 'skipped' });
      return null;
    }
    // Fail closed: without the owner's answer the resource is what it is without a registration (not_found).
    const answer = await this.orNull(
      async () => contract.reply.parse((await this.rpc.call(contract, { resource }, this.callOptions(bearer))).data),
      (absent, message) => {
        this.asked.inc({ type, outcome: absent ? 'no_responders' : 'unavailable' });
        if (!absent) this.logger.warn({ type, err: message }, 'the owning service did not answer in time for an unregistered resource');
      },
    );
    if (!answer) return null;
    this.asked.inc({ type, outcome: answer.facts ? 'found' : 'absent' });
    return answer.facts ? { resource, ...answer.facts } : null;
  }

  /**
   * The registrations of `type` in the caller's tenant still on their way here (after `after`, in resource order, at
   * most `limit`), from the owning service's outbox; null when it does not answer in time (the lookup then lists the
   * registered ones alone, as it did before it asked).
   */
  async pending(type: string, after: string, limit: number, token?: string): Promise<{ registrations: Registration[]; truncated: boolean } | null> {
    const contract = PENDING_REGISTRATIONS_BY_TYPE[type];
    const bearer = token ?? currentRequestContext()?.token;
    if (!contract || !bearer) return null;
    // a type with an owner's contract is one of the grantable types that contract takes
    const request = { type: type as RequestOf<typeof contract>['type'], ...(after ? { after } : {}), publishedWithinMs: this.settings.lookupPendingWindowMs, limit };
    const reply = await this.orNull(
      async () => contract.reply.parse((await this.rpc.call(contract, request, this.callOptions(bearer))).data),
      (absent, message) => {
        this.pendingAsked.inc({ type, outcome: absent ? 'no_responders' : 'unavailable' });
        if (!absent) this.logger.warn({ type, err: message }, 'the owning service did not list its pending registrations in time: the lookup lists the registered resources only');
      },
    );
    if (reply) this.pendingAsked.inc({ type, outcome: reply.truncated ? 'truncated' : 'answered' });
    return reply;
  }

  /**
   * The owning services' row counts per resource type in the caller's tenant (tenant_status); a type whose owner
   * does not answer in time counts null.
   */
  async rowCounts(token?: string): Promise<Record<string, number | null>> {
    const bearer = token ?? currentRequestContext()?.token;
    const out: Record<string, number | null> = {};
    await Promise.all(
      RESOURCE_COUNTS_TYPES.map(async ({ contract, types }) => {
        const answer = bearer
          ? await this.orNull(
              async () => contract.reply.parse((await this.rpc.call(contract, {}, this.callOptions(bearer))).data),
              (absent, message) => {
                if (!absent) this.logger.warn({ subject: contract.subject, err: message }, 'an owning service did not count its rows in time');
              },
            )
          : null;
        for (const type of types) out[type] = answer?.counts[type] ?? null;
      }),
    );
    return out;
  }

  private callOptions(token: string) {
    return { token, timeoutMs: this.settings.resourceFactsTimeoutMs, requestId: currentRequestContext()?.requestId };
  }

  /**
   * `ask()`'s answer, or null when the owner gave none (UNAVAILABLE): `noAnswer` hears whether nobody serves the
   * subject (`absent`: the owning service is not deployed here, nothing to say) or the answer was late.
   */
  private async orNull<T>(ask: () => Promise<T>, noAnswer: (absent: boolean, message: string) => void): Promise<T | null> {
    try {
      return await ask();
    } catch (err) {
      if (!isDomainError(err) || err.code !== 'UNAVAILABLE') throw err;
      noAnswer(/no responders/i.test(err.message), err.message);
      return null;
    }
  }
}
