import { resourceRef, subjectOf, type Principal } from '@agentplane/domain';
import { hooksEvents } from '@agentplane/contracts';
import { writeOutboxEvent } from '@agentplane/messaging';
import type { Tx } from './hooks.repository.js';

/**
 * Registers a hook, release or run with authz-proxy through the outbox: the event commits with the row, the relay
 * publishes it, authz-proxy applies it idempotently. A release's parent is its hook, a run's its release, so a grant
 * on a hook covers both.
 */
export async function registerResource(
  tx: Tx,
  principal: Principal,
  resource: { type: 'hook' | 'release' | 'run'; id: string },
  parent?: { type: 'hook' | 'release'; id: string },
): Promise<void> {
  await writeOutboxEvent(tx, hooksEvents.resourceRegistered, {
    resource: resourceRef(resource.type, resource.id),
    tenant: principal.tenantId,
    ...(principal.kind === 'system' ? {} : { owner: subjectOf(principal) }),
    ...(parent ? { parent: resourceRef(parent.type, parent.id) } : {}),
  });
}
