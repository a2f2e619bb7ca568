/**
 * `npm run -s nats:config -- --identities <dir> [--port 4222] [--store /data] [--tls-cert f --tls-key f --tls-ca f]
 * [--verify-clients] [--out nats.conf]`: renders the nats-server config of a deployment from the committed permission
 * table (docker/nats/permissions.json) and the identities in <dir> (one `<name>.nk` seed per identity: the platform's
 * own and one per caller; only their public keys go into the config). Missing platform identities are created there.
 * Compose and production run the server with it (docs/operations.md, "Securing NATS").
 */
import { writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { SERVICE_IDENTITIES, ensureIdentity, identitiesIn, renderServerConfig } from '@agentplane/nats-security';

export function configFromArgs(argv: string[]): { text: string; out?: string } {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      identities: { type: 'string' },
      port: { type: 'string', default: '4222' },
      host: { type: 'string', default: '0.0.0.0' },
      store: { type: 'string', default: '/data/jetstream' },
      'tls-cert': { type: 'string' },
      'tls-key': { type: 'string' },
      'tls-ca': { type: 'string' },
      'verify-clients': { type: 'boolean', default: false },
      'monitor-port': { type: 'string' },
      out: { type: 'string' },
    },
  });
  if (!values.identities) throw new Error('--identities <dir> is required');
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error('--port must be a TCP port');
  const { 'tls-cert': cert, 'tls-key': key, 'tls-ca': ca } = values;
  const tls = cert && key && ca ? { cert, key, ca, verifyClients: values['verify-clients'] } : undefined;
  if (!tls && (cert || key || ca)) throw new Error('TLS needs --tls-cert, --tls-key and --tls-ca together');
  for (const name of SERVICE_IDENTITIES) ensureIdentity(values.identities, name);
  const text = renderServerConfig({
    host: values.host,
    port,
    storeDir: values.store,
    identities: identitiesIn(values.identities),
    ...(values['monitor-port'] ? { monitorPort: Number(values['monitor-port']) } : {}),
    ...(tls ? { tls } : {}),
  });
  return { text, out: values.out };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  try {
    const { text, out } = configFromArgs(process.argv.slice(2));
    if (out) writeFileSync(out, text, { mode: 0o600 });
    else process.stdout.write(text);
  } catch (err) {
    console.error(`nats:config: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  }
}
