import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TimeoutError } from '@nats-io/nats-core';
import { JetStreamApiError, jetstream } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { startDevNats, type DevNats } from '@agentplane/nats-security';
import { connectWithRetry, consumeDurable, ensureEventsStream, eventSubject, eventsStreamName, natsConnectionOptions, retryJetStreamSetup } from '../src/index.js';
import { waitFor } from './setup.js';

/**
 * A process's JetStream set-up at start (the events stream, a durable's consumers) while JetStream does not answer:
 * it waits and retries instead of failing (authz-proxy exited with code 1 when one such call timed out under CI's
 * load). The server is a private one with the project's secured config, paused with SIGSTOP: the shared test
 * server cannot be.
 */
describe('JetStream set-up while JetStream does not answer', () => {
  let dir: string;
  let dev: DevNats;
  let nc: NatsConnection;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'agentplane-setup-retry-'));
    dev = await startDevNats({ dir, prefix: '*.', extraIdentities: { 'lib-test': { publish: ['>'], subscribe: ['>'], allow_responses: true } } });
    nc = await connect(
      natsConnectionOptions({ servers: dev.url, prefix: '', name: 'setup-retry', auth: { nkeySeedFile: join(dir, 'identities', 'lib-test.nk'), inboxPrefix: '_INBOX_lib-test' } }),
    );
  }, 30_000);

  afterAll(async () => {
    if (dev?.child.pid) process.kill(dev.child.pid, 'SIGCONT');
    await nc?.close();
    await dev?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('retries a durable\'s set-up that timed out while the server was paused, then consumes', async () => {
    const prefix = 'paused_1.';
    await ensureEventsStream(nc, prefix);
    const pid = dev.child.pid!;
    const warnings: Array<{ obj: object; msg: string }> = [];
    const seen: unknown[] = [];
    // paused past one JetStream API timeout (5 s): the first attempt of the first step cannot be answered
    process.kill(pid, 'SIGSTOP');
    const resume = setTimeout(() => process.kill(pid, 'SIGCONT'), 6_500);
    try {
      const consumer = await consumeDurable({
        nc,
        prefix,
        durable: 'paused',
        filterSubjects: ['events.paused.>'],
        handler: (_subject, payload) => void seen.push(payload),
        logger: { warn: (obj, msg) => void warnings.push({ obj, msg }), error: (obj, msg) => void warnings.push({ obj, msg }) },
      });
      expect(warnings.map((w) => w.msg)).toContain('JetStream set-up step failed transiently; retrying');
      // The pause lands on the first step that asks the server, the account's (one CI run under load saw it land on
      // the consumers', the account's answered): either way a step timed out, was retried, and the consumer runs.
      expect(warnings[0]!.obj).toMatchObject({ step: expect.stringMatching(/^paused: (JetStream account|consumers)$/), attempt: 1, err: 'timeout' });
      await jetstream(nc).publish(eventSubject(prefix, 'events.paused.done'), JSON.stringify({ n: 1 }), { msgID: 'paused-1' });
      await waitFor(() => seen.length === 1, 10_000, 'the event, consumed after the set-up was retried');
      expect(seen).toEqual([{ n: 1 }]);
      await consumer.stop();
    } finally {
      clearTimeout(resume);
      process.kill(pid, 'SIGCONT');
    }
  }, 40_000);

  it('retries the events stream\'s set-up (authz-proxy\'s first step at start) while the server is paused', async () => {
    const prefix = 'paused_2.';
    const pid = dev.child.pid!;
    const warnings: object[] = [];
    process.kill(pid, 'SIGSTOP');
    const resume = setTimeout(() => process.kill(pid, 'SIGCONT'), 6_500);
    try {
      await retryJetStreamSetup('events stream', () => ensureEventsStream(nc, prefix), { logger: { warn: (obj) => void warnings.push(obj) } });
    } finally {
      clearTimeout(resume);
      process.kill(pid, 'SIGCONT');
    }
    expect(warnings[0]).toMatchObject({ step: 'events stream', attempt: 1, err: 'timeout' });
    expect((await (await jetstream(nc).jetstreamManager()).streams.info(eventsStreamName(prefix))).config.subjects).toEqual([`${prefix}events.>`]);
  }, 40_000);

  describe('the first connect', () => {
    const asLibTest = (natsDir: string, port: number) =>
      natsConnectionOptions({ servers: `nats://127.0.0.1:${port}`, prefix: '', name: 'connect-retry', auth: { nkeySeedFile: join(natsDir, 'identities', 'lib-test.nk'), inboxPrefix: '_INBOX_lib-test' } });

    it('waits for a server that is not up yet (an app started before NATS), then connects', async () => {
      const lateDir = mkdtempSync(join(tmpdir(), 'agentplane-late-nats-'));
      const options = { dir: lateDir, prefix: '*.', extraIdentities: { 'lib-test': { publish: ['>'], subscribe: ['>'], allow_responses: true } } };
      // the server's identities and port, then nothing listening on it
      const first = await startDevNats(options);
      const port = first.port;
      await first.stop();
      let late: DevNats | undefined;
      const warnings: Array<{ attempt?: number; err?: string }> = [];
      try {
        const connecting = connectWithRetry(asLibTest(lateDir, port), { initialDelayMs: 100, logger: { warn: (obj) => void warnings.push(obj) } });
        await new Promise((r) => setTimeout(r, 1_500));
        late = await startDevNats({ ...options, port });
        const lateNc = await connecting;
        expect(lateNc.info?.port).toBe(port);
        await lateNc.flush();
        await lateNc.close();
        expect(warnings.length).toBeGreaterThan(0);
        expect(warnings[0]).toMatchObject({ attempt: 1, err: 'connection refused' });
      } finally {
        await late?.stop();
        rmSync(lateDir, { recursive: true, force: true });
      }
    }, 40_000);

    it('gives up when no server answers, naming the servers and the attempts; a refused identity fails at once', async () => {
      const nobody = 1; // nothing listens on port 1
      const warnings: object[] = [];
      await expect(connectWithRetry(asLibTest(dir, nobody), { maxAttempts: 3, initialDelayMs: 1, logger: { warn: (o) => void warnings.push(o) } })).rejects.toThrow(
        'NATS at nats://127.0.0.1:1 did not answer in 3 attempts: connection refused',
      );
      expect(warnings).toHaveLength(2);
      warnings.length = 0;
      // no identity at all: the secured server refuses it, which waiting does not change
      const anonymous = { servers: `nats://127.0.0.1:${dev.port}`, name: 'anonymous' };
      await expect(connectWithRetry(anonymous, { maxAttempts: 3, initialDelayMs: 1, logger: { warn: (o) => void warnings.push(o) } })).rejects.toThrow(/Authorization/i);
      expect(warnings).toEqual([]);
    });
  });

  it('gives up after its attempts with the last error, and at once on an error that does not pass', async () => {
    let calls = 0;
    const timingOut = () => {
      calls++;
      return Promise.reject(new TimeoutError());
    };
    await expect(retryJetStreamSetup('always late', timingOut, { maxAttempts: 3, initialDelayMs: 1 })).rejects.toBeInstanceOf(TimeoutError);
    expect(calls).toBe(3);

    calls = 0;
    const refused = () => {
      calls++;
      return Promise.reject(new JetStreamApiError({ code: 400, err_code: 10052, description: 'invalid stream config' }));
    };
    await expect(retryJetStreamSetup('bad config', refused, { maxAttempts: 3, initialDelayMs: 1 })).rejects.toThrow('invalid stream config');
    expect(calls).toBe(1);

    calls = 0;
    const unavailable = () => (++calls < 3 ? Promise.reject(new JetStreamApiError({ code: 503, err_code: 10008, description: 'JetStream system temporarily unavailable' })) : Promise.resolve('up'));
    await expect(retryJetStreamSetup('electing', unavailable, { maxAttempts: 3, initialDelayMs: 1 })).resolves.toBe('up');
    expect(calls).toBe(3);
  });
});
