import type { NatsConnection } from '@nats-io/transport-node';
import type { MessageHandler } from '@nestjs/microservices';
import { AgentplaneNatsServer } from '../src/index.js';
import { NATS_AUTH, NATS_URL, natsConnect, testPrefix } from './setup.js';

/** A request being answered when its server stops still gets its answer: the connection closes after it. */
describe('AgentplaneNatsServer.close()', () => {
  const prefix = testPrefix('srvstop');
  let client: NatsConnection;

  beforeAll(async () => {
    client = await natsConnect('srvstop-client');
  });
  afterAll(async () => {
    await client?.drain();
  });

  async function serving(handler: MessageHandler, drainTimeoutMs?: number): Promise<AgentplaneNatsServer> {
    const server = new AgentplaneNatsServer({ servers: NATS_URL, prefix, name: 'srvstop-server', auth: NATS_AUTH, queue: 'srvstop', ...(drainTimeoutMs ? { drainTimeoutMs } : {}) });
    server.addHandler('slow', handler);
    await new Promise<void>((resolve, reject) => server.listen((err?: unknown) => (err ? reject(err as Error) : resolve())));
    await server.unwrap<NatsConnection>().flush(); // its subscription is on the server
    return server;
  }

  it('answers the requests in hand before it closes, and takes no new one', async () => {
    let started = 0;
    const server = await serving(async (data: { n: number }) => {
      started++;
      await new Promise((r) => setTimeout(r, 400));
      return { n: data.n };
    });
    const asked = [1, 2, 3].map((n) => client.request(`${prefix}slow`, JSON.stringify({ n }), { timeout: 5_000 }).then((m) => m.json()));
    while (started < 3) await new Promise((r) => setTimeout(r, 10));
    const t = Date.now();
    await server.close();
    const closedAfter = Date.now() - t;
    expect(await Promise.all(asked)).toEqual([1, 2, 3].map((n) => ({ ok: true, data: { n } })));
    expect(closedAfter).toBeGreaterThanOrEqual(250); // it waited for them
    // stopped: nobody takes the subject now
    await expect(client.request(`${prefix}slow`, JSON.stringify({ n: 4 }), { timeout: 1_000 })).rejects.toThrow(/no responders|timeout/i);
  });

  it('waits at most its drain timeout for a request that does not end', async () => {
    let started = false;
    let release!: () => void;
    const server = await serving(async () => {
      started = true;
      await new Promise<void>((r) => (release = r));
      return {};
    }, 300);
    const asked = client.request(`${prefix}slow`, '{}', { timeout: 2_000 }).catch((e: Error) => e.message);
    while (!started) await new Promise((r) => setTimeout(r, 10));
    const t = Date.now();
    await server.close();
    expect(Date.now() - t).toBeLessThan(2_000);
    expect(await asked).toMatch(/timeout/i);
    release(); // its answer, too late, goes nowhere
  });
});
