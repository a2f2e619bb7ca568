import { assertTableName, DEFAULT_TABLE } from './table.js';

/**
 * What the store needs of a database client: Prisma's raw methods, which a service's client and its interactive
 * transaction client (`tx`) both have. Parameters are always bound; only the checked table name is in the text.
 */
export interface SqlClient {
  $queryRawUnsafe<T = unknown>(query: string, ...values: unknown[]): PromiseLike<T>;
  $executeRawUnsafe(query: string, ...values: unknown[]): PromiseLike<number>;
}

/** The response kept for replay: the handler's data and the reply headers it set. */
export interface StoredResponse {
  data: unknown;
  headers?: Record<string, string>;
}

/**
 * A response stored in its use case's compact form: the name of the ResponseCodec that unpacks it, and its value
 * (with the reply headers, if any, as they were).
 */
export interface PackedResponse {
  packed: string;
  value: unknown;
  headers?: Record<string, string>;
}

/** What a completed row holds: a response whole, or packed. */
export type StoredRecord = StoredResponse | PackedResponse;

export type ClaimResult =
  /** This caller owns the key now (a new row, or an expired row taken over). */
  | { kind: 'claimed'; claimId: string; takeover: boolean }
  | { kind: 'completed'; payloadHash: string; response: StoredRecord }
  | { kind: 'in_progress'; payloadHash: string };

/** A live row (not expired) as a request other than its holder finds it. */
export type FoundRow = Exclude<ClaimResult, { kind: 'claimed' }>;

export interface ClaimInput {
  scopeKey: string;
  key: string;
  payloadHash: string;
  claimId: string;
  /** How long an in-progress claim holds the key, from the moment it was taken. */
  leaseSeconds: number;
  /** How long the row (and the response it will hold) is kept, from the same moment. */
  ttlSeconds: number;
}

interface ExistingRow {
  payload_hash: string;
  status: 'in_progress' | 'completed';
  response: unknown;
  expired: boolean;
}

/** A row that held a key, as a statement read it (heldManyCte). */
export interface HeldRow {
  payload_hash: string;
  status: string;
  response: unknown;
}

/** A live row as read → what a request that finds it is answered from. */
export function foundRowOf(row: HeldRow): FoundRow {
  if (row.status === 'completed') return { kind: 'completed', payloadHash: row.payload_hash, response: asStoredResponse(row.response) };
  return { kind: 'in_progress', payloadHash: row.payload_hash };
}

function asStoredResponse(value: unknown): StoredRecord {
  const v = (typeof value === 'string' ? JSON.parse(value) : value) as Partial<StoredResponse & PackedResponse> | null;
  if (v && typeof v === 'object' && typeof v.packed === 'string' && 'value' in v) return v as PackedResponse;
  return v && typeof v === 'object' && 'data' in v ? (v as StoredResponse) : { data: null };
}

/**
 * Transaction mode's store: the row is written once, completed, in the business transaction; the same first-writer-wins
 * rule as the claim decides whether an existing row may be taken over. `rows` is the VALUES or SELECT that yields the
 * new rows, `lease` the SQL of the lease in seconds; `returning` goes before `takeover` in the RETURNING list.
 */
function storeSql(t: string, rows: string, lease: string, returning = ''): string {
  return `INSERT INTO ${t} AS existing (scope_key, key, payload_hash, status, claim_id, response, expires_at)
${rows}
ON CONFLICT (scope_key, key) DO UPDATE
   SET payload_hash = EXCLUDED.payload_hash, status = 'completed', claim_id = EXCLUDED.claim_id,
       response = EXCLUDED.response, created_at = now(), expires_at = EXCLUDED.expires_at
 WHERE ${expiredSql('existing', lease)}
RETURNING ${returning}(xmax <> 0) AS takeover`;
}

/** Whether the row `alias` has expired: its TTL passed, or it is in progress and its lease (from created_at) lapsed. */
function expiredSql(alias: string, lease: string): string {
  return `${alias}.expires_at <= now() OR (${alias}.status = 'in_progress' AND ${alias}.created_at <= now() - make_interval(secs => ${lease}::float8))`;
}

/** A request's row for storeManyCte's `source`, as JSON (jsonb_to_recordset reads it). */
export interface StoreManyRow {
  scope_key: string;
  key: string;
  payload_hash: string;
  claim_id: string;
  response: StoredRecord;
  ttl_seconds: number;
}

/** The PostgreSQL store: one row per `(scope_key, key)`; see idempotencyTableSql for the table. */
export class PostgresIdempotencyStore {
  private readonly sql: {
    claim: string;
    read: string;
    complete: string;
    store: string;
    release: string;
    sweep: string;
  };

  /** storeManyCte's and heldManyCte's SQL by their shape (the same few shapes, built once each). */
  private readonly storeCtes = new Map<string, string>();
  private readonly table: string;

  constructor(
    private readonly db: SqlClient,
    table = DEFAULT_TABLE,
  ) {
    const t = assertTableName(table);
    this.table = t;
    this.sql = {
      // First writer wins; an existing row is taken over only once it has expired: its TTL passed, or it is still in
      // progress and its lease (counted from the claim, created_at) lapsed. expires_at is final from the claim on, so
      // the completion changes no indexed column and is a HOT update (no new index entries, the old version pruned
      // in the page).
      // The claim commits asynchronously (no WAL flush wait): WAL is flushed in order, so the business transaction's
      // own durable commit also makes this earlier claim durable; a claim lost with a server crash died with the
      // worker's connection, and its completion could not pass the claim_id fence anyway.
      claim: `INSERT INTO ${t} AS existing (scope_key, key, payload_hash, status, claim_id, response, expires_at)
SELECT $1, $2, $3, 'in_progress', $4::uuid, NULL, now() + make_interval(secs => $6::float8)
  FROM (SELECT set_config('synchronous_commit', 'off', true)) AS async_commit
ON CONFLICT (scope_key, key) DO UPDATE
   SET payload_hash = EXCLUDED.payload_hash, status = 'in_progress', claim_id = EXCLUDED.claim_id,
       response = NULL, created_at = now(), expires_at = EXCLUDED.expires_at
 WHERE ${expiredSql('existing', '$5')}
RETURNING (xmax <> 0) AS takeover`,
      store: storeSql(t, `VALUES ($1, $2, $3, 'completed', $4::uuid, $5::jsonb, now() + make_interval(secs => $7::float8))`, '$6'),
      read: `SELECT payload_hash, status, response,
       ${expiredSql(t, '$3')} AS expired
  FROM ${t} WHERE scope_key = $1 AND key = $2`,
      complete: `UPDATE ${t} SET status = 'completed', response = $4::jsonb
 WHERE scope_key = $1 AND key = $2 AND claim_id = $3::uuid AND status = 'in_progress'`,
      release: `DELETE FROM ${t} WHERE scope_key = $1 AND key = $2 AND claim_id = $3::uuid AND status = 'in_progress'`,
      sweep: `DELETE FROM ${t} WHERE (scope_key, key) IN (
  SELECT scope_key, key FROM ${t} WHERE expires_at <= now() ORDER BY expires_at LIMIT $1::int FOR UPDATE SKIP LOCKED)`,
    };
  }

  /** Claims the key, or reports the row that holds it. */
  async claim(input: ClaimInput): Promise<ClaimResult> {
    // A row can vanish between the two statements (released by a failed request, swept): then claim again.
    for (let attempt = 0; attempt < 5; attempt++) {
      const claimed = await this.db.$queryRawUnsafe<Array<{ takeover: boolean }>>(
        this.sql.claim,
        input.scopeKey,
        input.key,
        input.payloadHash,
        input.claimId,
        input.leaseSeconds,
        input.ttlSeconds,
      );
      if (claimed.length > 0) return { kind: 'claimed', claimId: input.claimId, takeover: claimed[0].takeover === true };
      const found = await this.find(input);
      if (found) return found;
    }
    throw new Error('idempotency: the key changed hands five times in a row while claiming it');
  }

  /** The live row that holds the key, if any (an expired one counts as none). */
  async find(k: { scopeKey: string; key: string; leaseSeconds: number }, db: SqlClient = this.db): Promise<FoundRow | undefined> {
    const rows = await db.$queryRawUnsafe<ExistingRow[]>(this.sql.read, k.scopeKey, k.key, k.leaseSeconds);
    const row = rows[0];
    if (!row || row.expired) return undefined;
    return foundRowOf(row);
  }

  /**
   * Transaction mode: writes the completed row inside the business transaction `tx`, unless a live row holds the key
   * (then false, and the caller rolls back). Another transaction's uncommitted row for the key makes this wait for
   * it, like any unique insert.
   */
  async store(tx: SqlClient, input: ClaimInput & { response: StoredResponse }): Promise<{ takeover: boolean } | undefined> {
    const rows = await tx.$queryRawUnsafe<Array<{ takeover: boolean }>>(
      this.sql.store,
      input.scopeKey,
      input.key,
      input.payloadHash,
      input.claimId,
      JSON.stringify(input.response),
      input.leaseSeconds,
      input.ttlSeconds,
    );
    return rows.length > 0 ? { takeover: rows[0].takeover === true } : undefined;
  }

  /**
   * Transaction mode inside a caller's own statement (Idempotency.inStatement), which may write many requests at once
   * (each with its own key): the store as a CTE
   * writing one row per row of `source`, a relation with the columns of StoreManyRow (`scope_key`, `key`,
   * `payload_hash`, `claim_id` uuid, `response` jsonb, `ttl_seconds` float8), each by the same first-writer-wins rule;
   * `lease` is the SQL (a parameter) of the lease in seconds, which all rows share. It returns, for each row it wrote,
   * `claim_id` (which identifies the request) and `takeover`. Two rows of `source` must not name the same key (the
   * statement would fail: an upsert may not touch a row twice).
   */
  storeManyCte(source: string, lease: string): string {
    const shape = `store\u0000${source}\u0000${lease}`;
    let sql = this.storeCtes.get(shape);
    if (sql === undefined) {
      sql = storeSql(
        this.table,
        `SELECT s.scope_key, s.key, s.payload_hash, 'completed', s.claim_id, s.response, now() + make_interval(secs => s.ttl_seconds) FROM ${source} s`,
        lease,
        'existing.claim_id, ',
      );
      this.storeCtes.set(shape, sql);
    }
    return sql;
  }

  /**
   * Beside storeManyCte in the same statement: the live rows that held the keys of `source` when the statement began
   * (`claim_id` of the source row, `payload_hash`, `status`, `response`), so that a request whose key was taken is
   * answered from them (a replay) without reading its row again. A row written after the statement began is not
   * seen; its request reads it then (Idempotency.handle).
   */
  heldManyCte(source: string, lease: string): string {
    const shape = `held\u0000${source}\u0000${lease}`;
    let sql = this.storeCtes.get(shape);
    if (sql === undefined) {
      // One primary-key probe per source row, whatever plan the connection keeps for the statement (LIMIT keeps the
      // LATERAL subquery from being flattened into a join the planner may turn into a scan of the whole table).
      sql = `SELECT s.claim_id, k.payload_hash, k.status, k.response
  FROM ${source} s
 CROSS JOIN LATERAL (SELECT x.payload_hash, x.status, x.response FROM ${this.table} x
                      WHERE x.scope_key = s.scope_key AND x.key = s.key AND NOT (${expiredSql('x', lease)})
                      LIMIT 1) k`;
      this.storeCtes.set(shape, sql);
    }
    return sql;
  }

  /**
   * Stores the response (kept until the TTL the claim set). Pass the business transaction's client so both commit
   * together. False when this claim no longer holds the key (its lease lapsed and another request took it over).
   */
  async complete(claim: { scopeKey: string; key: string; claimId: string }, response: StoredResponse, db: SqlClient = this.db): Promise<boolean> {
    const n = await db.$executeRawUnsafe(this.sql.complete, claim.scopeKey, claim.key, claim.claimId, JSON.stringify(response));
    return n > 0;
  }

  /** Gives the key up after a failure, so a retry runs afresh (only while this claim still holds it). */
  async release(claim: { scopeKey: string; key: string; claimId: string }): Promise<void> {
    await this.db.$executeRawUnsafe(this.sql.release, claim.scopeKey, claim.key, claim.claimId);
  }

  /** Deletes expired rows in batches of `batchSize` (at most `maxBatches` statements); returns how many. */
  async sweep(batchSize: number, maxBatches = 100): Promise<number> {
    let total = 0;
    for (let i = 0; i < maxBatches; i++) {
      const n = await this.db.$executeRawUnsafe(this.sql.sweep, batchSize);
      total += n;
      if (n < batchSize) break;
    }
    return total;
  }
}
