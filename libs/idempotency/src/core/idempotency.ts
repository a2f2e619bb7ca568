import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import { DomainError, type Principal } from '@agentplane/domain';
import type { IdempotencyConfig } from './config.js';
import { payloadHash } from './hash.js';
import { assertIdempotencyKey, keyLabel, scopeKeyOf, scopeLabel } from './scope.js';
import { PostgresIdempotencyStore, type SqlClient, type StoredResponse } from './store.js';

/** pino-shaped: fields first, then the message. Fields never carry a raw tenant, principal or full key. */
export interface IdempotencyLogger {
  debug(fields: Record<string, unknown>, msg: string): void;
  info(fields: Record<string, unknown>, msg: string): void;
  warn(fields: Record<string, unknown>, msg: string): void;
}

const silent: IdempotencyLogger = { debug: () => undefined, info: () => undefined, warn: () => undefined };

export interface IdempotentRequest {
  /** The caller; a key without one is refused (fail closed). */
  principal: Principal | undefined;
  /** The `idempotency-key` header, undefined when absent. */
  key: string | undefined;
  /** The subject (or route) the payload is for: part of the payload hash. */
  subject: string;
  /** The request body as received. */
  payload: unknown;
}

export interface IdempotentOutcome {
  /** True when `response` is the stored response of an earlier request with this key. */
  replayed: boolean;
  response: StoredResponse;
}

/** The claim a running request holds, carried through its async calls so a use case can complete it in its transaction. */
interface Ticket {
  owner: Idempotency;
  scopeKey: string;
  key: string;
  claimId: string;
  completed: boolean;
  who: string;
}

const tickets = new AsyncLocalStorage<Ticket>();

/**
 * Idempotency keys, framework-free (DESIGN §7). `handle()` wraps one request: the first caller with a key claims it
 * and runs the handler; a caller with the same key and payload gets the stored response (`replayed`); a different
 * payload is IDEMPOTENCY_MISMATCH; a key whose first request is still running is IDEMPOTENCY_IN_PROGRESS.
 * A use case writes the response in its own transaction with `completeWithin(tx, response)`; a handler that does
 * not is completed after it returns. A failure releases the key: failures are never replayed.
 */
export class Idempotency {
  readonly store: PostgresIdempotencyStore;

  constructor(
    db: SqlClient,
    readonly config: IdempotencyConfig,
    private readonly logger: IdempotencyLogger = silent,
  ) {
    this.store = new PostgresIdempotencyStore(db, config.table);
  }

  /** `handler` runs the request and returns its reply data (and reply headers, if any). */
  async handle(req: IdempotentRequest, handler: () => Promise<StoredResponse>): Promise<IdempotentOutcome> {
    if (req.key === undefined) {
      if (this.config.required) {
        throw new DomainError('VALIDATION', 'idempotency-key is required on this call', {
          issues: [{ path: 'header.idempotency-key', message: 'required' }],
        });
      }
      return { replayed: false, response: await handler() };
    }
    const key = assertIdempotencyKey(req.key);
    const scopeKey = scopeKeyOf(req.principal);
    const hash = payloadHash(req.subject, req.payload);
    // Not JSON: nothing to remember; the handler's own validation answers it.
    if (hash === undefined) return { replayed: false, response: await handler() };
    // `scope=sha256:<12 hex> key=<prefix>…` names the request in every line; raw ids never reach a log.
    const who = `scope=${scopeLabel(scopeKey)} key=${keyLabel(key)}`;
    const log = { subject: req.subject };

    const claimId = randomUUID();
    const claim = await this.store.claim({ scopeKey, key, payloadHash: hash, claimId, leaseSeconds: this.config.leaseSeconds, ttlSeconds: this.config.ttlSeconds });
    if (claim.kind !== 'claimed') {
      if (claim.payloadHash !== hash) {
        this.logger.info(log, `idempotency key reused with another payload ${who}`);
        throw new DomainError('IDEMPOTENCY_MISMATCH', 'this idempotency key was used with a different request');
      }
      if (claim.kind === 'in_progress') {
        this.logger.info(log, `idempotency key in progress ${who}`);
        throw new DomainError('IDEMPOTENCY_IN_PROGRESS', 'a request with this idempotency key is still in progress; retry later');
      }
      this.logger.info(log, `idempotent replay ${who}`);
      return { replayed: true, response: claim.response };
    }
    if (claim.takeover) this.logger.info(log, `idempotency key taken over: the earlier claim or response had expired ${who}`);
    else this.logger.debug(log, `idempotency key claimed ${who}`);

    const ticket: Ticket = { owner: this, scopeKey, key, claimId, completed: false, who };
    let result: StoredResponse;
    try {
      result = await tickets.run(ticket, handler);
    } catch (err) {
      // Deletes only a row this claim still holds in progress: a response committed in-transaction stays.
      await this.store.release(ticket).catch((releaseErr: unknown) => {
        // The claim then lapses with its lease.
        this.logger.warn({ ...log, err: releaseErr }, `could not release an idempotency key after a failure ${who}`);
      });
      this.logger.debug(log, `idempotency key released after a failure ${who}`);
      throw err;
    }
    if (!ticket.completed) {
      const stored = await this.store.complete(ticket, normalise(result));
      if (!stored) this.logger.warn(log, `idempotency claim lapsed before the response was stored ${who}`);
    }
    return { replayed: false, response: result };
  }

  /**
   * Stores `response` as the result of the current request, inside the caller's transaction (`tx`), so the
   * response commits or rolls back with the business change. A no-op outside an idempotent request. Throws
   * IDEMPOTENCY_IN_PROGRESS (rolling the transaction back) when the claim lapsed and another request took the key.
   */
  async completeWithin(tx: SqlClient, data: unknown, headers?: Record<string, string>): Promise<void> {
    const ticket = tickets.getStore();
    if (!ticket || ticket.owner !== this) return;
    const stored = await this.store.complete(ticket, normalise({ data, headers }), tx);
    if (!stored) {
      this.logger.warn({}, `idempotency claim lapsed before completion, rolling back ${ticket.who}`);
      throw new DomainError('IDEMPOTENCY_IN_PROGRESS', 'the idempotency claim of this request lapsed; retry');
    }
    // If the transaction still rolls back, the handler throws and the claim is released.
    ticket.completed = true;
  }

  /** Deletes expired rows (lapsed claims and responses past their TTL) in batches. */
  async sweep(): Promise<number> {
    const n = await this.store.sweep(this.config.sweepBatchSize);
    if (n > 0) this.logger.info({ deleted: n }, 'idempotency keys swept');
    return n;
  }
}

/** What is kept: JSON data (undefined → null) and headers only when there are some. */
function normalise(r: StoredResponse): StoredResponse {
  const data = r.data === undefined ? null : r.data;
  return r.headers && Object.keys(r.headers).length > 0 ? { data, headers: r.headers } : { data };
}
