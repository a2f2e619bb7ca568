// After each test file: delete the JetStream streams of the subject prefixes it used (startTestService creates one
// per prefix, as ops), so repeated test runs leave nothing behind on the NATS server.
import { deleteEventsStream } from '@agentplane/messaging';
import { connectAs, usedPrefixes } from '@agentplane/testing';

afterAll(async () => {
  if (usedPrefixes.size === 0) return;
  const nc = await connectAs('ops', 'test-cleanup');
  try {
    for (const prefix of usedPrefixes) await deleteEventsStream(nc, prefix).catch(() => undefined);
  } finally {
    usedPrefixes.clear();
    await nc.close();
  }
});
