import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { nkeys } from '@nats-io/nats-core';
import { assertIdentityName, inboxPrefixOf } from './permissions.js';

/** A NATS identity: an nkey user whose seed stays in a 0600 file; the server config holds only its public key. */
export interface NatsIdentity {
  name: string;
  publicKey: string;
  seedFile: string;
  inboxPrefix: string;
}

/** The environment a process takes its identity from (validated at start by every app). */
export function identityEnv(id: NatsIdentity): Record<string, string> {
  return { NATS_NKEY_SEED_FILE: id.seedFile, NATS_INBOX_PREFIX: id.inboxPrefix };
}

/** Reads a seed file and returns the user's public key; throws naming the file when it holds no user seed. */
export function publicKeyOfSeedFile(file: string): string {
  const seed = readFileSync(file, 'utf8').trim();
  try {
    return nkeys.fromSeed(new TextEncoder().encode(seed)).getPublicKey();
  } catch {
    throw new Error(`${file} does not hold an nkey seed`);
  }
}

/** Creates the identity's seed file under `dir` (`<name>.nk`), or reuses the one already there. */
export function ensureIdentity(dir: string, name: string): NatsIdentity & { created: boolean } {
  assertIdentityName(name);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const seedFile = join(dir, `${name}.nk`);
  let created = false;
  if (!existsSync(seedFile)) {
    const user = nkeys.createUser();
    writeFileSync(seedFile, `${new TextDecoder().decode(user.getSeed())}\n`, { mode: 0o600 });
    created = true;
  }
  chmodSync(seedFile, 0o600);
  return { name, publicKey: publicKeyOfSeedFile(seedFile), seedFile, inboxPrefix: inboxPrefixOf(name), created };
}
