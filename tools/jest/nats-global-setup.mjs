// Jest globalSetup (every project): one NATS server of our own for this jest run, started with the project's
// secured config (docker/nats/permissions.json, nkey identities, no anonymous access). Test files share it, each
// under its own subject prefix, so the config is rendered for the prefix '*.'. Workers find it through the
// environment (libs/testing reads AGENTPLANE_TEST_NATS_URL and AGENTPLANE_TEST_NATS_DIR).
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDevNats } from '@agentplane/nats-security';

export default async function setup() {
  const dir = mkdtempSync(join(tmpdir(), 'agentplane-test-nats-'));
  const dev = await startDevNats({
    dir,
    prefix: '*.',
    callers: ['test-caller', 'test-caller-b'],
    // The messaging library's own tests exercise the outbox and JetStream mechanics with made-up subjects and
    // streams: an identity for them alone, on this test server only (never in the committed table).
    extraIdentities: { 'lib-test': { publish: ['>'], subscribe: ['>'], allow_responses: true } },
  });
  process.env.AGENTPLANE_TEST_NATS_URL = dev.url;
  process.env.AGENTPLANE_TEST_NATS_DIR = dir;
  globalThis.__AGENTPLANE_TEST_NATS__ = { dev, dir };
}
