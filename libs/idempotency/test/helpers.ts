import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isDomainError, type Principal } from '@agentplane/domain';
import { idempotencyTableSql } from '../src/index.js';

/** A migrations folder with the lib's own DDL snippet plus `effects`, a table standing in for a business change. */
export function storeMigrations(): string {
  const dir = mkdtempSync(join(tmpdir(), 'idem-mig-'));
  mkdirSync(join(dir, '20260101000000_idempotency_keys'));
  writeFileSync(join(dir, '20260101000000_idempotency_keys', 'migration.sql'), `${idempotencyTableSql()}\nCREATE TABLE effects (id serial PRIMARY KEY, label text NOT NULL);\n`);
  return dir;
}

export const user = (tenantId: string, userId: string): Principal => ({ kind: 'user', tenantId, userId, roles: [], scopes: [], issuer: 'agentplane' });
export const alice = user('acme', 'alice');
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The DomainError code a call fails with (undefined when it succeeds; anything else named as unexpected). */
export async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
    return undefined;
  } catch (err) {
    return isDomainError(err) ? err.code : `unexpected: ${String(err)}`;
  }
}
