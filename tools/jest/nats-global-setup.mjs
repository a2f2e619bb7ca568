// Jest globalSetup (every project): one NATS server of our own for this jest run, started with the project's
// secured config (docker/nats/permissions.json, nkey identities, no anonymous access). Test files share it, each
// under its own subject prefix, so the config is rendered for the prefix '*.'. Workers find it through the
// environment (libs/testing reads AGENTPLANE_TEST_NATS_URL and AGENTPLANE_TEST_NATS_DIR).
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
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
  const state = { dev, dir, stopping: false };
  globalThis.__AGENTPLANE_TEST_NATS__ = state;
  // A server that ends before the teardown stops it fails every test after it: say so in the run's output, with how
  // it ended and its log's last lines (the teardown deletes its directory). One CI run saw two projects' servers stop
  // answering mid-run, with nothing to tell why.
  dev.child.once('exit', (code, signal) => {
    if (state.stopping) return;
    const log = join(dir, 'nats.log');
    const tail = existsSync(log) ? readFileSync(log, 'utf8').split('\n').slice(-30).join('\n') : '(no log)';
    process.stderr.write(`\njest's NATS server for this project (pid ${dev.child.pid}, ${dev.url}) ended during the run: code ${code}, signal ${signal}\n${tail}\n`);
  });
}
