/**
 * `npm run -s nats:stream`: creates the EVENTS stream, or brings it to the platform's config, as the `ops` identity.
 * No service identity may create or update a stream (DESIGN §2.1: a stream's config names any subjects, so it could
 * capture another service's requests); each service checks the stream at start and waits while it is missing or
 * wrong. Deploy order: this first, then the services; again after an upgrade that changes the stream's config.
 * It reads the services' NATS variables, with the ops identity's files: NATS_URL, NATS_NKEY_SEED_FILE (or
 * NATS_CREDS_FILE), NATS_INBOX_PREFIX (_INBOX_ops), NATS_TLS_CA/CERT/KEY, NATS_SUBJECT_PREFIX, NATS_STREAM_REPLICAS.
 * The stack (`npm start`), the e2e harness and the chaos run call createEventsStream before their apps.
 */
import { pathToFileURL } from 'node:url';
import { connectNats, ensureEventsStream, eventsStreamName, retryJetStreamSetup } from '@agentplane/messaging';
import { parseEnv, serviceEnvSchema, toNatsConfig } from '@agentplane/observability';

/** Creates or updates the events stream with the NATS_* variables of `env` (the ops identity's); returns its name. */
export async function createEventsStream(env: Record<string, string | undefined>, log: (line: string) => void = () => undefined): Promise<string> {
  const natsEnv = Object.fromEntries(Object.entries(env).filter(([k]) => k.startsWith('NATS_')));
  const nats = toNatsConfig(parseEnv(serviceEnvSchema({ httpPort: 0 }), natsEnv));
  const nc = await connectNats({ servers: nats.servers, prefix: nats.prefix, name: 'ops-nats-stream', auth: nats.auth });
  try {
    const logger = { warn: (obj: object, msg: string) => log(`${msg} ${JSON.stringify(obj)}`) };
    await retryJetStreamSetup('events stream', () => ensureEventsStream(nc, nats.prefix, { replicas: nats.streamReplicas }), { logger });
    const name = eventsStreamName(nats.prefix);
    log(`events stream ${name} ready (subjects ${nats.prefix}events.>, ${nats.streamReplicas} replica(s))`);
    return name;
  } finally {
    await nc.close();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  createEventsStream(process.env, (line) => console.log(`nats:stream: ${line}`)).catch((err: unknown) => {
    console.error(`nats:stream: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  });
}
