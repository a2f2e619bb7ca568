import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import { DomainError, type Principal } from '@agentplane/domain';
import { TransactionLockBusyError, withTransactionLock } from '@agentplane/persistence';
import type { IdempotencyConfig } from './config.js';
import { payloadHash } from './hash.js';
import { assertIdempotencyKey, keyLabel, lockKeyOf, scopeKeyOf, scopeLabel } from './scope.js';
import {
  PostgresIdempotencyStore,
  foundRowOf,
  type FoundRow,
  type HeldRow,
  type PackedResponse,
  type SqlClient,
  type StoreManyRow,
  type StoredRecord,
  type StoredResponse,
} from './store.js';

/**
 * pino-shaped: fields first, then the message. Fields never carry a raw tenant, principal or full key. `debug` and
 * `info` are absent when their lines are off: a keyed request then builds none of them (issue 19: every keyed create
 * wrote a debug line, and at LOG_LEVEL=info or above the call through Nest's Logger and nestjs-pino that wrote
 * nothing was ~1 % of tasks' CPU per keyed create in a profile).
 */
export interface IdempotencyLogger {
  debug?(fields: Record<string, unknown>, msg: string): void;
  info?(fields: Record<string, unknown>, msg: string): void;
  warn(fields: Record<string, unknown>, msg: string): void;
}

const silent: IdempotencyLogger = { warn: () => undefined };

/** How log lines name a request: `scope=sha256:<12 hex> key=<prefix>…`, built only for a line that is written. */
function whoOf(t: { scopeKey: string; key: string }): string {
  return `scope=${scopeLabel(t.scopeKey)} key=${keyLabel(t.key)}`;
}

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

/**
 * A use case's compact form of the responses it stores (issue 19: a created task's whole JSON was most of its key
 * row, and of what a key cost a create). `unpack` turns a stored value back into the reply data as first answered.
 * It must read every value ever stored under its `name`: a new form needs a new name, and the old codec stays
 * registered until the old rows have expired (IDEMPOTENCY_TTL_SECONDS). A service registers its codecs at start
 * (Idempotency.registerCodec), before it answers any request.
 */
export interface ResponseCodec {
  /** Stored with each value, e.g. `tasks.task-created/1`. */
  name: string;
  /** The reply data of a stored value; throws for a value it cannot read. */
  unpack(value: unknown): unknown;
}

/** A response as a use case hands it over: its data, reply headers, and optionally its compact form. */
export interface ResponseToStore {
  data: unknown;
  headers?: Record<string, string>;
  /** What to store instead of `data`, which `codec.unpack(value)` turns back into `data`. */
  packed?: { codec: ResponseCodec; value: unknown };
}

/**
 * How a handler's key is held while it runs.
 * - `claim` (the default, for any handler): a committed in-progress row is written before the handler runs and
 *   completed (or released) after; a crashed worker's row blocks the key until its lease lapses.
 * - `transaction`: for a handler whose whole effect is one `SqlPool` transaction that calls `completeWithin`. Nothing
 *   is written ahead: that transaction takes the key's advisory lock in its BEGIN round trip and writes the completed
 *   row with the same first-writer-wins rule, so a key costs one statement instead of two plus a commit. A request
 *   whose key is locked gets IN_PROGRESS; a request that finds the key already taken (the row at the end, or any
 *   failure of its own) rolls back and answers from the stored row: replay, MISMATCH or IN_PROGRESS. A worker that
 *   dies mid-transaction holds nothing: no lease to wait out.
 */
export type IdempotencyMode = 'claim' | 'transaction';

/**
 * What a one-statement handler needs of the key it holds (Idempotency.inStatement). The statement may write many
 * requests, each with its own key (group commit): `row` is this request's row of the store's source (identified in
 * what the store returns by its `claim_id`), and all the keys of one statement must share `leaseSeconds`.
 */
export interface StatementKey {
  lockKey: bigint;
  row: StoreManyRow;
  leaseSeconds: number;
  /** The store as a CTE over the rows of `source` (PostgresIdempotencyStore.storeManyCte). */
  store(source: string, lease: string): string;
  /** The rows that held the keys of `source` when the statement began (PostgresIdempotencyStore.heldManyCte). */
  held(source: string, lease: string): string;
}

/** The key a running request holds, carried through its async calls so a use case can complete it in its transaction. */
type Ticket = ClaimTicket | TransactionTicket;

interface ClaimTicket {
  owner: Idempotency;
  mode: 'claim';
  scopeKey: string;
  key: string;
  payloadHash: string;
  claimId: string;
  completed: boolean;
}

interface TransactionTicket extends Omit<ClaimTicket, 'mode'> {
  mode: 'transaction';
  /** The advisory lock the business transaction must hold. */
  lockKey: bigint;
}

/** Transaction mode: a live row holds the key; thrown inside the business transaction so it rolls back. */
class KeyTaken extends Error {
  /** The row that held the key, when the statement that found it taken read it too (StatementKey.held). */
  constructor(readonly found?: FoundRow) {
    super('the idempotency key is taken');
    this.name = 'KeyTaken';
  }
}

const tickets = new AsyncLocalStorage<Ticket>();

/**
 * Idempotency keys, framework-free (DESIGN §7). `handle()` wraps one request (IdempotencyMode: how the key is held):
 * the first caller with a key runs the handler; a caller with the same key and payload gets the stored response
 * (`replayed`); a different payload is IDEMPOTENCY_MISMATCH; a key whose first request is still running is
 * IDEMPOTENCY_IN_PROGRESS. A use case writes the response in its own transaction with `completeWithin(tx, response)`;
 * in claim mode a handler that does not is completed after it returns. Failures are never replayed.
 */
export class Idempotency {
  readonly store: PostgresIdempotencyStore;
  private readonly codecs = new Map<string, ResponseCodec>();

  constructor(
    db: SqlClient,
    readonly config: IdempotencyConfig,
    private readonly logger: IdempotencyLogger = silent,
  ) {
    this.store = new PostgresIdempotencyStore(db, config.table);
  }

  /** `handler` runs the request and returns its reply data (and reply headers, if any). */
  async handle(req: IdempotentRequest, handler: () => Promise<StoredResponse>, mode: IdempotencyMode = 'claim'): Promise<IdempotentOutcome> {
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
    // whoOf names the request in every line; raw ids never reach a log.
    const log = { subject: req.subject };
    const claimId = randomUUID();
    if (mode === 'transaction') {
      const ticket: Ticket = { owner: this, mode, scopeKey, key, payloadHash: hash, lockKey: lockKeyOf(scopeKey, key), claimId, completed: false };
      return this.handleInTransaction(ticket, log, handler);
    }

    const claim = await this.store.claim({ scopeKey, key, payloadHash: hash, claimId, leaseSeconds: this.leaseOf(req.payload), ttlSeconds: this.config.ttlSeconds });
    if (claim.kind !== 'claimed') return this.answer(claim, hash, log, { scopeKey, key });
    if (claim.takeover) this.logger.info?.(log, `idempotency key taken over: the earlier claim or response had expired ${whoOf({ scopeKey, key })}`);
    else this.logger.debug?.(log, `idempotency key claimed ${whoOf({ scopeKey, key })}`);

    const ticket: Ticket = { owner: this, mode, scopeKey, key, payloadHash: hash, claimId, completed: false };
    let result: StoredResponse;
    try {
      result = await tickets.run(ticket, handler);
    } catch (err) {
      // Deletes only a row this claim still holds in progress: a response committed in-transaction stays.
      await this.store.release(ticket).catch((releaseErr: unknown) => {
        // The claim then lapses with its lease.
        this.logger.warn({ ...log, err: releaseErr }, `could not release an idempotency key after a failure ${whoOf(ticket)}`);
      });
      this.logger.debug?.(log, `idempotency key released after a failure ${whoOf(ticket)}`);
      throw err;
    }
    if (!ticket.completed) {
      const stored = await this.store.complete(ticket, normalise(result));
      if (!stored) this.logger.warn(log, `idempotency claim lapsed before the response was stored ${whoOf(ticket)}`);
    }
    return { replayed: false, response: result };
  }

  /**
   * How long a claim holds its key in progress: the lease, and a request that may wait (`waitMs`: a long-poll claim)
   * its wait on top, else a same-key retry would take over a request still waiting and run it a second time. A
   * same-key request has the same payload, so it reads the same lease; another payload is a mismatch anyway.
   */
  private leaseOf(payload: unknown): number {
    const given = typeof payload === 'object' && payload !== null ? (payload as { waitMs?: unknown }).waitMs : undefined;
    // as received: a JSON number, or its digits (a query string's, forwarded)
    const waitMs = typeof given === 'number' ? given : typeof given === 'string' && /^\d{1,9}$/.test(given) ? Number(given) : 0;
    return this.config.leaseSeconds + (Number.isFinite(waitMs) && waitMs > 0 ? Math.ceil(waitMs / 1000) : 0);
  }

  /** The answer to a request whose key a live row holds: MISMATCH for another payload, IN_PROGRESS, or the replay. */
  private answer(row: FoundRow, hash: string, log: Record<string, unknown>, names: { scopeKey: string; key: string }): IdempotentOutcome {
    if (row.payloadHash !== hash) {
      this.logger.info?.(log, `idempotency key reused with another payload ${whoOf(names)}`);
      throw new DomainError('IDEMPOTENCY_MISMATCH', 'this idempotency key was used with a different request');
    }
    if (row.kind === 'in_progress') {
      this.logger.info?.(log, `idempotency key in progress ${whoOf(names)}`);
      throw new DomainError('IDEMPOTENCY_IN_PROGRESS', 'a request with this idempotency key is still in progress; retry later');
    }
    this.logger.info?.(log, `idempotent replay ${whoOf(names)}`);
    return { replayed: true, response: this.unpacked(row.response, log, names) };
  }

  /**
   * Lets this service read the responses `codec` packs (ResponseCodec). Register every codec at start: a replay may
   * reach an instance before any request of the kind that stores it.
   */
  registerCodec(codec: ResponseCodec): void {
    if (!/^[\x21-\x7e]{1,100}$/.test(codec.name)) throw new Error(`idempotency codec name must be 1-100 printable ASCII characters: got "${codec.name}"`);
    const known = this.codecs.get(codec.name);
    if (known && known !== codec) throw new Error(`idempotency codec "${codec.name}" is registered already, as another codec`);
    this.codecs.set(codec.name, codec);
  }

  /** A stored response as replied: a packed one unpacked by its codec; one this service cannot read fails loudly. */
  private unpacked(r: StoredRecord, log: Record<string, unknown>, names: { scopeKey: string; key: string }): StoredResponse {
    if (!('packed' in r)) return r;
    const codec = this.codecs.get(r.packed);
    if (!codec) {
      this.logger.warn({ ...log, codec: r.packed }, `idempotency key holds a response packed by a codec this service does not know ${whoOf(names)}`);
      // Never a replay of something else (null, say): an INTERNAL error the caller may retry once a version that
      // knows the codec answers.
      throw new Error(`idempotency: the stored response is packed by "${r.packed}", which this service does not know`);
    }
    const data = codec.unpack(r.value);
    return r.headers ? { data, headers: r.headers } : { data };
  }

  /** What a row stores of `response`: its packed form where it has one (and packing is on), else normalise's. */
  private toStore(response: ResponseToStore): StoredRecord {
    if (!response.packed || !this.config.packResponses) return normalise(response);
    const { codec, value } = response.packed;
    if (this.codecs.get(codec.name) !== codec) {
      // A row no instance could read: refused before anything is written.
      throw new Error(`idempotency codec "${codec.name}" is not registered (Idempotency.registerCodec at start)`);
    }
    const packed: PackedResponse = { packed: codec.name, value };
    if (response.headers && Object.keys(response.headers).length > 0) packed.headers = response.headers;
    return packed;
  }

  /** Transaction mode (see IdempotencyMode): the handler's transaction holds the key's lock and stores the response. */
  private async handleInTransaction(ticket: TransactionTicket, log: Record<string, unknown>, handler: () => Promise<StoredResponse>): Promise<IdempotentOutcome> {
    const { scopeKey, key, payloadHash: hash } = ticket;
    let result: StoredResponse;
    try {
      result = await tickets.run(ticket, () => withTransactionLock(ticket.lockKey, handler));
    } catch (err) {
      // The key already taken, or a failure an earlier request with this key may explain (its task now holds the
      // name, its cancel already ended the task): the stored row answers. So does it when the lock is busy, which
      // may be another replay of a finished request. Without a row, the failure is the answer.
      const found =
        err instanceof KeyTaken && err.found ? err.found : await this.store.find({ scopeKey, key, leaseSeconds: this.config.leaseSeconds }).catch(() => undefined);
      if (found) return this.answer(found, hash, log, ticket);
      if (err instanceof TransactionLockBusyError || err instanceof KeyTaken) {
        this.logger.info?.(log, `idempotency key in progress ${whoOf(ticket)}`);
        throw new DomainError('IDEMPOTENCY_IN_PROGRESS', 'a request with this idempotency key is still in progress; retry later');
      }
      throw err;
    }
    if (!ticket.completed) {
      // Storing the response now, outside the lock, could race a request that holds it: a handler bug, made loud.
      this.logger.warn(log, `idempotent handler returned without completeWithin in transaction mode ${whoOf(ticket)}`);
      throw new Error(
        'idempotency transaction mode: the handler returned without completeWithin in its transaction; its key holds nothing (use claim mode for such a handler)',
      );
    }
    return { replayed: false, response: result };
  }

  private storeInput(t: Ticket) {
    const { leaseSeconds, ttlSeconds } = this.config;
    return { scopeKey: t.scopeKey, key: t.key, payloadHash: t.payloadHash, claimId: t.claimId, leaseSeconds, ttlSeconds };
  }

  /**
   * Stores `response` as the result of the current request, inside the caller's transaction (`tx`), so the
   * response commits or rolls back with the business change. A no-op outside an idempotent request. Throws
   * IDEMPOTENCY_IN_PROGRESS (rolling the transaction back) when the claim lapsed and another request took the key;
   * in transaction mode, an error (rolling back) when a live row holds the key, which `handle` then answers from.
   */
  async completeWithin(tx: SqlClient, data: unknown, headers?: Record<string, string>): Promise<void> {
    const ticket = tickets.getStore();
    if (!ticket || ticket.owner !== this) return;
    if (ticket.mode === 'transaction') {
      // Without the lock, a concurrent request could not tell this one is running (no 409, a wait instead): refuse.
      if ((tx as { transactionLock?: bigint }).transactionLock !== ticket.lockKey) {
        throw new Error('idempotency transaction mode: completeWithin needs the SqlPool transaction the request started (it holds the key lock)');
      }
      const stored = await this.store.store(tx, { ...this.storeInput(ticket), response: normalise({ data, headers }) });
      if (!stored) throw new KeyTaken();
      if (stored.takeover) this.logger.info?.({}, `idempotency key taken over: the earlier claim or response had expired ${whoOf(ticket)}`);
      else this.logger.debug?.({}, `idempotency key stored with its response ${whoOf(ticket)}`);
      ticket.completed = true;
      return;
    }
    const stored = await this.store.complete(ticket, normalise({ data, headers }), tx);
    if (!stored) {
      this.logger.warn({}, `idempotency claim lapsed before completion, rolling back ${whoOf(ticket)}`);
      throw new DomainError('IDEMPOTENCY_IN_PROGRESS', 'the idempotency claim of this request lapsed; retry');
    }
    // If the transaction still rolls back, the handler throws and the claim is released.
    ticket.completed = true;
  }

  /**
   * Transaction mode for a handler whose whole effect is ONE statement (issue 19: one round trip instead of BEGIN with
   * the lock, the statement, the store and COMMIT): `statement` gets the key (StatementKey): its advisory lock
   * (`lockKey`, to take with `pg_try_advisory_xact_lock` in a CTE that yields `got`), its row for the store, and the
   * store as a CTE writing only the rows it is given (those whose lock was taken), and must make every other write
   * of the statement depend on the store's RETURNING row, so that nothing is written unless the key was free. It
   * answers whether the lock was taken and the store wrote, and may answer the row that held a taken key (`held`,
   * read by the same statement), which then answers the request without reading it again. A busy lock or a taken key
   * throws as in transaction mode, and `handle` answers from the stored row. Outside a transaction-mode key it runs
   * `statement` with no key (`undefined`): the caller then writes without the store. A response with `packed` is
   * stored in that form (ResponseCodec) unless the config's packResponses is off.
   */
  async inStatement<R>(
    response: ResponseToStore,
    statement: (key: StatementKey | undefined) => Promise<{ result: R; locked: boolean; stored?: { takeover: boolean }; held?: HeldRow }>,
  ): Promise<R> {
    const ticket = tickets.getStore();
    if (!ticket || ticket.owner !== this || ticket.mode !== 'transaction') return (await statement(undefined)).result;
    const input = { ...this.storeInput(ticket), response: this.toStore(response) };
    const out = await statement({
      lockKey: ticket.lockKey,
      row: { scope_key: input.scopeKey, key: input.key, payload_hash: input.payloadHash, claim_id: input.claimId, response: input.response, ttl_seconds: input.ttlSeconds },
      leaseSeconds: input.leaseSeconds,
      store: (source, lease) => this.store.storeManyCte(source, lease),
      held: (source, lease) => this.store.heldManyCte(source, lease),
    });
    if (!out.locked) throw new TransactionLockBusyError();
    if (!out.stored) throw new KeyTaken(out.held ? foundRowOf(out.held) : undefined);
    if (out.stored.takeover) this.logger.info?.({}, `idempotency key taken over: the earlier claim or response had expired ${whoOf(ticket)}`);
    else this.logger.debug?.({}, `idempotency key stored with its response ${whoOf(ticket)}`);
    ticket.completed = true;
    return out.result;
  }

  /** Deletes expired rows (lapsed claims and responses past their TTL) in batches. */
  async sweep(): Promise<number> {
    const n = await this.store.sweep(this.config.sweepBatchSize);
    if (n > 0) this.logger.info?.({ deleted: n }, 'idempotency keys swept');
    return n;
  }
}

/** What is kept: JSON data (undefined → null) and headers only when there are some. */
function normalise(r: StoredResponse): StoredResponse {
  const data = r.data === undefined ? null : r.data;
  return r.headers && Object.keys(r.headers).length > 0 ? { data, headers: r.headers } : { data };
}
