import { DEV_JWT_SECRET } from '@agentplane/auth';
import { CONSOLE_DEV_SUB, consoleLink } from './console-link.js';
import { ensureDatabase, migrate } from '@agentplane/migrate';
import { startDevNats } from '@agentplane/nats-security';
import { ensureDevIssuer, withDevIssuer } from './dev-issuer.js';
import { createEventsStream } from './nats-stream.js';
import { REPO_ROOT, SERVICES, databaseUrl, migrationsDir, startStack } from './stack.js';
import { join } from 'node:path';

/**
 * `npm start`: creates each service's database if missing, migrates it, creates the EVENTS stream as the ops
 * identity (npm run nats:stream), starts all five apps on their default
 * ports and prints the gateway URL and a console link carrying a development admin token in its fragment
 * (STACK_CONSOLE_TENANT, default `dev`). Ctrl-C stops them (each drains its NATS subscriptions first).
 */
async function main(): Promise<void> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v;
  if (!env.AUTH_JWT_SECRET) {
    env.AUTH_JWT_SECRET = DEV_JWT_SECRET;
    console.log('stack: AUTH_JWT_SECRET not set, using the development secret (never in production)');
  }
  if (env.STACK_DEV_ISSUER !== 'off') {
    // A development M2M issuer (Ed25519, key under the git-ignored .dev/), so `npm run demo` can act as CI.
    const dev = ensureDevIssuer();
    env.AUTH_EXTRA_ISSUERS = withDevIssuer(env.AUTH_EXTRA_ISSUERS, dev.config);
    console.log(`stack: trusting the development CI issuer ${dev.config.issuer} (key ${dev.created ? 'created in' : 'read from'} ${dev.keyFile}; STACK_DEV_ISSUER=off drops it)`);
  }
  // The stack owns its NATS (DESIGN §2.1): a nats-server of its own with the project's secured config, development
  // identities and (STACK_NATS_TLS=1) a development CA, all under the git-ignored .dev/nats; the machine's NATS is
  // left alone. NATS_PORT picks its port (default 4223).
  const nats = await startDevNats({
    dir: join(REPO_ROOT, '.dev', 'nats'),
    port: Number(env.NATS_PORT ?? 4223),
    tls: env.STACK_NATS_TLS === '1',
    keepStore: true,
  });
  console.log(`stack: NATS of its own on ${nats.url} (config ${nats.state.configFile}; anonymous connections refused)`);
  console.log('stack: a caller identity for your backend or the nats CLI: npm run -s nats:caller -- --name <name>');
  env.NATS_URL = nats.url;
  delete env.NATS_SUBJECT_PREFIX;
  const base = env.DATABASE_BASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
  const serviceEnv: Record<string, Record<string, string>> = {};
  for (const s of SERVICES) {
    if (!s.database) continue;
    const url = env[`${s.name.toUpperCase().replace(/-/g, '_')}_DATABASE_URL`] ?? databaseUrl(s.database, base);
    const { created } = await ensureDatabase(url);
    console.log(`stack: ${s.name}: database ${new URL(url).pathname.slice(1)}${created ? ' created' : ''}`);
    const { applied } = await migrate({ databaseUrl: url, dir: migrationsDir(s.name), log: (line) => console.log(`stack: ${s.name}: ${line}`) });
    console.log(`stack: ${s.name}: ${applied.length} migration(s) applied`);
    serviceEnv[s.name] = { DATABASE_URL: url };
  }
  for (const s of SERVICES) serviceEnv[s.name] = { ...(serviceEnv[s.name] ?? {}), ...(await nats.env(s.name)) };
  // Operators' step before the services (DESIGN §2.1): the EVENTS stream, as the ops identity (npm run nats:stream);
  // no service may create or update a stream, each only checks it at start.
  await createEventsStream({ ...env, ...(await nats.env('ops')) }, (line) => console.log(`stack: ${line}`)).catch(async (err: unknown) => {
    await nats.stop();
    throw err;
  });
  const ports = Object.fromEntries(SERVICES.map((s) => [s.name, Number(env[`${s.name.toUpperCase().replace(/-/g, '_')}_PORT`] ?? s.port)]));
  if (env.GATEWAY_PORT) ports.gateway = Number(env.GATEWAY_PORT);
  const stack = await startStack({ env, serviceEnv, ports, echo: env.STACK_QUIET !== '1' }).catch(async (err: unknown) => {
    await nats.stop();
    throw err;
  });
  for (const [name, app] of Object.entries(stack.apps)) console.log(`stack: ${name} ready on ${app.url}`);
  console.log(`\nAgentplane is up. Gateway: ${stack.gatewayUrl}  (docs: ${stack.gatewayUrl}/docs)`);
  console.log(`Console (signed in as ${CONSOLE_DEV_SUB}, admin of tenant ${env.STACK_CONSOLE_TENANT || 'dev'}, for 8 h): ${await consoleLink(stack.gatewayUrl, env)}\n`);
  let stopping = false;
  const shutdown = async () => {
    if (stopping) return;
    stopping = true;
    console.log('stack: stopping');
    await stack.stop();
    await nats.stop();
    process.exit(0);
  };
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
  for (const app of Object.values(stack.apps)) {
    app.child.once('exit', (code) => {
      if (!stopping) {
        console.error(`stack: ${app.spec.name} exited with code ${code}; stopping the stack`);
        void shutdown().then(() => process.exit(1));
      }
    });
  }
}

main().catch((err: unknown) => {
  console.error(`stack: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
