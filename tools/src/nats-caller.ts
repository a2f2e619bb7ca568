/**
 * `npm run -s nats:caller -- --name <name>`: creates (or reuses) an internal caller's NATS identity for the running
 * development stack (DESIGN §2.1) and prints one line of JSON: where to connect and with what.
 *   {"servers":"nats://127.0.0.1:4223","nkeySeedFile":"…/.dev/nats/identities/<name>.nk","inboxPrefix":"_INBOX_<name>"[,"tls":{"ca":"…"}]}
 * A new identity is added to the server's config, which the server reloads (SIGHUP); callers may publish the public
 * request subjects and receive replies on their own inbox prefix, nothing else (docker/nats/permissions.json).
 */
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { SERVICE_IDENTITIES, addCallerToRunningServer } from '@agentplane/nats-security';
import { REPO_ROOT } from './stack.js';

const USAGE = 'usage: npm run -s nats:caller -- --name <name>   (letters, digits, _ and -; not a service\'s name)';

export function callerFromArgs(argv: string[], dir = join(REPO_ROOT, '.dev', 'nats')): string {
  const { values } = parseArgs({ args: argv, strict: true, options: { name: { type: 'string' }, dir: { type: 'string' } } });
  if (!values.name) throw new Error('--name is required');
  if ((SERVICE_IDENTITIES as readonly string[]).includes(values.name)) throw new Error(`"${values.name}" is a platform identity, not a caller`);
  const { identity, state } = addCallerToRunningServer(values.dir ?? dir, values.name);
  return JSON.stringify({
    servers: state.url,
    nkeySeedFile: identity.seedFile,
    inboxPrefix: identity.inboxPrefix,
    ...(state.tls ? { tls: { ca: state.tls.ca } } : {}),
  });
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  try {
    console.log(callerFromArgs(process.argv.slice(2)));
  } catch (err) {
    console.error(`nats:caller: ${err instanceof Error ? err.message : String(err)}\n${USAGE}`);
    process.exit(1);
  }
}
