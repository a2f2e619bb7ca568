import type { NatsConnection } from '@nats-io/transport-node';
import { DomainError } from '@agentplane/domain';
import { RequestMux, RpcClient, coalesceWrites } from '../src/index.js';
import { natsConnect, testPrefix } from './setup.js';

/** The per-request path of issue 19: RequestMux (no Error per request) and coalesceWrites (one socket write per turn). */
describe('the request path on a real NATS server', () => {
  const prefix = testPrefix('rpcpath');
  let server: NatsConnection;
  let client: NatsConnection;

  beforeAll(async () => {
    server = await natsConnect('rpcpath-server');
    client = await natsConnect('rpcpath-client');
    // echoes {n} after a delay that reverses the order of arrival, so replies come back out of order
    server.subscribe(`${prefix}echo`, {
      callback: (_err, msg) => {
        const { n, delay } = msg.json<{ n: number; delay: number }>();
        setTimeout(() => msg.respond(JSON.stringify({ ok: true, data: { n } })), delay);
      },
    });
    server.subscribe(`${prefix}silent`, { callback: () => undefined });
    // answers the raw reply it is asked for
    server.subscribe(`${prefix}raw`, { callback: (_err, msg) => void msg.respond(msg.json<{ reply: string }>().reply) });
    await server.flush();
  });

  afterAll(async () => {
    await client?.drain();
    await server?.drain();
  });

  it('hands each of many concurrent requests its own reply, whatever the order replies arrive in', async () => {
    const mux = new RequestMux(client);
    const replies = await Promise.all(
      Array.from({ length: 200 }, (_, n) => mux.request(`${prefix}echo`, JSON.stringify({ n, delay: (200 - n) % 17 }), { timeout: 5_000 })),
    );
    expect(replies.map((m) => m.json<{ data: { n: number } }>().data.n)).toEqual(Array.from({ length: 200 }, (_, n) => n));
    mux.close();
  });

  it('rejects with `timeout` near the deadline when nobody answers, and ignores a reply that comes later', async () => {
    const mux = new RequestMux(client);
    const t = Date.now();
    await expect(mux.request(`${prefix}silent`, '{}', { timeout: 200 })).rejects.toThrow(/^timeout$/);
    const took = Date.now() - t;
    expect(took).toBeGreaterThanOrEqual(200);
    expect(took).toBeLessThan(2_000); // near the deadline: room for a loaded machine's timers, far from never
    // a late answer to an expired request is dropped; the next request still gets its own
    const late = mux.request(`${prefix}echo`, JSON.stringify({ n: 7, delay: 300 }), { timeout: 100 });
    await expect(late).rejects.toThrow(/timeout/);
    await new Promise((r) => setTimeout(r, 300));
    const next = await mux.request(`${prefix}echo`, JSON.stringify({ n: 8, delay: 0 }), { timeout: 1_000 });
    expect(next.json<{ data: { n: number } }>().data.n).toBe(8);
    mux.close();
  });

  it('says "no responders" at once for a subject nobody serves; RpcClient maps both to UNAVAILABLE', async () => {
    const mux = new RequestMux(client);
    const t = Date.now();
    await expect(mux.request(`${prefix}nobody`, '{}', { timeout: 5_000 })).rejects.toThrow(`no responders: '${prefix}nobody'`);
    expect(Date.now() - t).toBeLessThan(2_500); // at once, not at the 5 s deadline
    mux.close();
    const rpc = new RpcClient(client, prefix, 300);
    const err = (await rpc.request('nobody', {}).catch((e: unknown) => e)) as DomainError;
    expect(err).toBeInstanceOf(DomainError);
    // nobody got it: nothing was done; no answer in time: it may have been done
    expect([err.code, err.message, err.details]).toEqual(['UNAVAILABLE', 'nobody is unavailable: no instance serves it now, and nothing was done', { outcome: 'not_taken' }]);
    const slow = (await rpc.request('silent', {}).catch((e: unknown) => e)) as DomainError;
    expect([slow.code, slow.message, slow.details]).toEqual(['UNAVAILABLE', 'silent did not answer (timeout): whether it took effect is unknown', { outcome: 'unknown' }]);
    const ok = await rpc.request('echo', { n: 3, delay: 0 });
    expect(ok).toEqual({ data: { n: 3 }, replayed: false });
  });

  it('RpcClient takes {ok: true, data} as the data, an error envelope as its DomainError, anything else as a malformed reply', async () => {
    const rpc = new RpcClient(client, prefix, 2_000);
    const ask = (reply: string) => rpc.request('raw', { reply }).catch((e: unknown) => e as DomainError);
    expect(await ask('{"ok":true,"data":{"a":[1]}}')).toEqual({ data: { a: [1] }, replayed: false });
    expect(await ask('{"ok":true,"data":null}')).toEqual({ data: null, replayed: false });
    const denied = (await ask('{"ok":false,"error":{"code":"NOT_FOUND","message":"task not found"}}')) as DomainError;
    expect(denied).toMatchObject({ code: 'NOT_FOUND', message: 'task not found' });
    for (const bad of ['not json', '{"ok":true}', '{"ok":"yes","data":1}', '{"ok":false,"error":{"code":"NOPE"}}', '[]']) {
      const err = (await ask(bad)) as DomainError;
      expect(err).toBeInstanceOf(DomainError);
      expect(err).toMatchObject({ code: 'INTERNAL', message: 'raw sent a malformed reply' });
    }
  });

  it('rejects what is outstanding when the connection closes', async () => {
    const nc = await natsConnect('rpcpath-closing');
    const mux = new RequestMux(nc);
    const pending = mux.request(`${prefix}silent`, '{}', { timeout: 10_000 });
    await nc.close();
    await expect(pending).rejects.toThrow(/closed/);
    await expect(mux.request(`${prefix}echo`, '{}', { timeout: 1_000 })).rejects.toThrow(/closed/);
  });

  it('coalesceWrites: messages published across many microtask checkpoints of one turn leave in one socket write', async () => {
    const count = async (coalesced: boolean): Promise<number> => {
      const nc = await natsConnect(`rpcpath-writes-${coalesced}`);
      if (coalesced) expect(coalesceWrites(nc)).toBe(true); // false would mean nats.js's internals changed under us
      const transport = (nc as unknown as { protocol: { transport: { send(frame: Uint8Array): void } } }).protocol.transport;
      let sends = 0;
      const send = transport.send.bind(transport);
      transport.send = (frame) => {
        sends++;
        send(frame);
      };
      // like a service answering requests whose results arrive one after another within a turn of the loop
      for (let i = 0; i < 20; i++) {
        nc.publish(`${prefix}sink`, `m${i}`);
        await Promise.resolve();
      }
      await new Promise((r) => setImmediate(r));
      const n = sends;
      await nc.close();
      return n;
    };
    expect(await count(true)).toBe(1);
    expect(await count(false)).toBeGreaterThanOrEqual(10);
  });
});
