import { headers as natsHeaders, type MsgHdrs, type NatsConnection } from '@nats-io/transport-node';
import { AgentplaneNatsServer } from '../src/index.js';
import { natsConnect, NATS_AUTH, NATS_URL, testPrefix } from './setup.js';

/**
 * A header block nats.js cannot decode (a value with a bare line feed: another language's client may send one, and
 * nats-server passes header bytes on) is the caller's error, answered VALIDATION, never an INTERNAL without an errorId.
 */
function rawHeaders(lines: Array<[string, string]>): MsgHdrs {
  const h = natsHeaders();
  // past nats.js's own check of values, as another client's encoder may be
  const map = (h as unknown as { headers: Map<string, string[]> }).headers;
  for (const [k, v] of lines) map.set(k, [v]);
  return h;
}

describe('a request whose headers cannot be read', () => {
  let server: AgentplaneNatsServer;
  let caller: NatsConnection;
  const prefix = testPrefix('hdr');
  let ran = 0;

  beforeAll(async () => {
    server = new AgentplaneNatsServer({ servers: NATS_URL, prefix, name: 'headers', queue: 'headers', auth: NATS_AUTH });
    const handler = async () => {
      ran++;
      return { fine: true };
    };
    server.addHandler('svc.v1.echo', handler as never, false);
    await new Promise<void>((resolve, reject) => server.listen((err?: unknown) => (err ? reject(err as Error) : resolve())));
    await server.unwrap<NatsConnection>().flush();
    caller = await natsConnect('headers-caller');
  });

  afterAll(async () => {
    await caller?.close();
    await server?.close();
  });

  const ask = async (h: MsgHdrs) => JSON.parse((await caller.request(`${prefix}svc.v1.echo`, '{}', { headers: h, timeout: 3000 })).string()) as unknown;

  it('is answered VALIDATION naming the headers, and its handler does not run', async () => {
    expect(await ask(rawHeaders([['x-request-id', 'r-1']]))).toEqual({ ok: true, data: { fine: true } });
    expect(await ask(rawHeaders([['authorization', 'Bearer abc'], ['x-request-id', 'r-2\nmore']]))).toEqual({
      ok: false,
      error: { code: 'VALIDATION', message: expect.stringContaining("the request's headers cannot be read"), details: { issues: [{ path: 'header', message: 'not a valid NATS header block' }] } },
    });
    expect(ran).toBe(1);
  });
});
